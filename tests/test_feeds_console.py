"""The console's Known-bad lists page: linked from Rules, read-only for viewers; admins add a list from a real
local server, update it and remove it, with CSRF checked like every console form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from linkgate.counts import EVENT_KINDS
from linkgate.web.admin.dashboard import EVENT_TEXT
from tests.conftest import ROOT, AppServer
from tests.console import ADMIN_PASSWORD, VIEWER_PASSWORD, Browser, create_account

PAGE = "/admin/feeds/"


@pytest.fixture
def console_with_lists(make_app: Any, httpserver: HTTPServer) -> AppServer:
    server: AppServer = make_app(
        {"fetch": {"allow_networks": ["127.0.0.0/8"], "allowed_ports": [80, 443, httpserver.port]}},
        start=False,
    )
    create_account(server, "admin", ADMIN_PASSWORD)
    create_account(server, "viewer", VIEWER_PASSWORD, role="viewer")
    return server.start()


def signed_in(server: AppServer, name: str, password: str) -> Browser:
    browser = Browser(server)
    assert browser.log_in(name, password).status_code == 302
    return browser


def test_admins_add_update_and_remove_a_list(console_with_lists: AppServer, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/urlhaus.csv").respond_with_data(
        '# id,dateadded,url\n"1","2026-12-01","http://bad.example.org/x.exe"\n"2","x","not a url"\n'
    )
    admin = signed_in(console_with_lists, "admin", ADMIN_PASSWORD)
    rules = admin.get("/admin/rules/").text
    assert f'href="{PAGE}"' in rules
    source = f"http://127.0.0.1:{httpserver.port}/urlhaus.csv"
    form = {"name": "urlhaus", "source": source, "format": "urlhaus", "action": "notice"}
    assert admin.post(PAGE + "add", form).status_code == 400  # no CSRF token: refused, nothing added
    added = admin.submit(PAGE + "add", form, form_path=PAGE)
    assert added.status_code == 302
    page = admin.get(PAGE).text
    assert 'data-feed="urlhaus"' in page and "Updated the feed urlhaus: 1 names." in page
    assert "(1 lines skipped)" in page and "not a web address" in page
    assert console_with_lists.app.extensions["linkgate"].classifier.feeds.match("bad.example.org") is not None
    httpserver.clear()
    httpserver.expect_request("/urlhaus.csv").respond_with_data("gone", status=404)
    assert admin.submit(PAGE + "urlhaus/update", {}, form_path=PAGE).status_code == 302
    page = admin.get(PAGE).text
    assert "was not updated" in page and "answered 404" in page
    assert "1 (1 lines skipped)" in page  # the list before it, kept
    again = admin.submit(PAGE + "add", {**form, "source": "file:///etc/passwd"}, form_path=PAGE)
    assert again.status_code == 400 and "web address starting with https://" in again.text
    assert "Remove the feed urlhaus?" in admin.get(PAGE + "urlhaus/remove").text
    assert admin.submit(PAGE + "urlhaus/remove", {}, form_path=PAGE).status_code == 302
    assert "There are no feeds yet." in admin.get(PAGE).text
    assert console_with_lists.app.extensions["linkgate"].classifier.feeds.match("bad.example.org") is None


def test_viewers_see_the_lists_and_change_nothing(console_with_lists: AppServer, tmp_path: Any) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("bad.example.org\n", encoding="utf-8")
    console_with_lists.cli("feeds", "add", "local", str(listed))
    viewer = signed_in(console_with_lists, "viewer", VIEWER_PASSWORD)
    page = viewer.get(PAGE)
    assert page.status_code == 200 and 'data-feed="local"' in page.text
    assert "Add a feed" not in page.text and "Update now" not in page.text
    assert viewer.submit(PAGE + "local/update", {}, form_path=PAGE).status_code == 403
    assert viewer.submit(PAGE + "local/remove", {}, form_path=PAGE).status_code == 403
    assert viewer.get(PAGE + "local/remove").status_code == 403
    assert console_with_lists.cli("feeds", "list").stdout.startswith("local\t")
    # Test a link names the list that decides a destination, and "none" where no list does.
    tested = viewer.get("/admin/rules/test", params={"url": "https://www.bad.example.org/"}).text
    assert '<dd data-fact="listed"><a href="/admin/feeds/">local</a> (block)</dd>' in tested
    elsewhere = viewer.get("/admin/rules/test", params={"url": "https://www.good.example.org/"}).text
    assert '<dd data-fact="listed">none</dd>' in elsewhere


def test_the_dashboard_names_clicks_to_a_listed_destination(
    console_with_lists: AppServer, tmp_path: Any
) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("bad.example.org\n", encoding="utf-8")
    console_with_lists.cli("feeds", "add", "local", str(listed))
    console_with_lists.app.extensions["linkgate"].rules.refresh()
    assert console_with_lists.get("/go", params={"url": "https://www.bad.example.org/"}).status_code == 403
    admin = signed_in(console_with_lists, "admin", ADMIN_PASSWORD)
    events = re.search(
        r'<table class="data" id="security-events">.*?</table>', admin.get("/admin/").text, re.S
    )
    assert events is not None
    assert re.search(r"Destinations on a known-bad list</th>\s*<td[^>]*>1<", events.group(0)), events.group(0)
    assert "feed_listed" not in events.group(0)  # a label, not the code


def test_every_kind_of_security_event_has_a_label_and_a_row_in_the_metrics_table() -> None:
    """The dashboard labels each kind and docs/deploy.md names each in linkgate_security_events_total's row
    (the metric itself takes its kinds from EVENT_KINDS)."""
    assert set(EVENT_TEXT) == set(EVENT_KINDS)
    row = next(
        line
        for line in (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `linkgate_security_events_total`")
    )
    assert set(re.findall(r"`([a-z_]+)`", row.split("|")[3].split("(", 1)[1])) == set(EVENT_KINDS)
