"""The console's Sites pages and ``linkgate sites``, against a real server and real local sites."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from linkgate.store import Store
from tests.conftest import AppServer, LiveServer
from tests.console import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    Browser,
    change_log,
    create_account,
    csrf_token,
    query,
    signed_in,
)

# Names the test server resolves to 127.0.0.1, where pytest-httpserver answers for them.
LOCAL_NAMES = ("sa-recheck.test", "sa-notice.test", "sa-down.test", "sa-form.test", "sa-viewer.test")

HOME = """<!doctype html><html><head><title>A site</title></head><body><main><p>Welcome.</p></main>
<footer><a href="/about">About</a> <a href="{href}">Privacy Policy</a></footer></body></html>"""
NO_LINK = "<!doctype html><html><head><title>A site</title></head><body><p>Hello.</p></body></html>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """In process: one application, so that what it remembers of a site is the only memory there is."""
    live = AppServer(
        tmp_path_factory.mktemp("sites-console"),
        {
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": [f"{name}=127.0.0.1" for name in LOCAL_NAMES],
                "privacy_wait_ms": 2000,
            }
        },
    )
    create_account(live, "admin", ADMIN_PASSWORD)
    create_account(live, "viewer", VIEWER_PASSWORD, role="viewer")
    live.start()
    yield live
    live.stop()


@pytest.fixture
def store(server: LiveServer) -> Store:
    return server.store()


def checked(store: Store, host: str, **values: object) -> None:
    """A finished lookup, as the site cache would record it."""
    store.sites.save_check(host, {"checked_at": datetime.now(UTC), **values})


def site_path(host: str) -> str:
    return f"/admin/sites/{host}"


def fact(page: httpx.Response, name: str) -> str:
    match = re.search(rf'<dd data-fact="{name}">(.*?)</dd>', page.text, re.S)
    assert match, f"no fact {name}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200
    return re.findall(r'<tr data-site="([^"]+)"', page.text)


def notice_privacy_link(server: LiveServer, url: str) -> str | None:
    response = server.get("/go?url=" + quote(url, safe=""))
    assert response.status_code == 200
    match = re.search(r'<a id="privacy-link" href="([^"]*)"', response.text)
    return None if match is None else html.unescape(match.group(1))


def post(browser: Browser, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    """POST one of a site page's forms, with the CSRF token from that page."""
    host_page = path.rsplit("/", 1)[0]
    return browser.post(path, {"csrf_token": browser.token(host_page), **(data or {})})


def overrides(server: LiveServer, host: str) -> list[tuple[str, dict, dict]]:
    return [
        (actor, json.loads(before), json.loads(after))
        for actor, target, before, after in change_log(server, "site.override")
        if target == host
    ]


# ---- the list -------------------------------------------------------------------------------------


def test_the_list_shows_every_column_and_links_only_web_addresses(server, store):
    checked(
        store,
        "www.sa-columns.example",
        status="found",
        privacy_url="https://www.sa-columns.example/privacy",
        found_by="home page",
        reason='the link text says "Privacy Policy"',
        https=True,
        gpc=True,
    )
    checked(
        store, "bad-link.sa-columns.example", status="found", privacy_url="javascript:alert(1)", https=False
    )
    checked(
        store,
        "markup.sa-columns.example",
        status="found",
        privacy_url='https://markup.sa-columns.example/p?"><script>alert(1)</script>',
    )
    checked(store, "down.sa-columns.example", status="error", error="the home page answered HTTP 503")
    store.sites.set_override("pinned.sa-columns.example", "https://policies.example/pinned", "test")
    browser = signed_in(server)
    page = browser.get("/admin/sites/?q=sa-columns")
    assert sorted(listed(page)) == sorted(
        [
            "www.sa-columns.example",
            "bad-link.sa-columns.example",
            "markup.sa-columns.example",
            "down.sa-columns.example",
            "pinned.sa-columns.example",
        ]
    )
    text = page.text
    assert '<caption id="sites-caption">5 sites found; page 1 of 1</caption>' in text
    row = re.search(r'<tr data-site="www.sa-columns.example".*?</tr>', text, re.S).group(0)
    cells = [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    ]
    assert cells[0] == "www.sa-columns.example"
    assert cells[1] == "found"
    assert cells[2] == "https://www.sa-columns.example/privacy"
    assert cells[3] == "a link on the home page"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d M[SD]T", cells[4])  # County time, its zone named
    assert cells[5:] == ["yes", "yes", "none"]
    assert '<a href="https://www.sa-columns.example/privacy" rel="noopener noreferrer">' in row
    assert 'href="javascript:' not in text
    bad = re.search(r'<tr data-site="bad-link.sa-columns.example".*?</tr>', text, re.S).group(0)
    assert "javascript:alert(1)" not in bad  # visitors are never shown it, so the list does not either
    lookup = browser.get(site_path("bad-link.sa-columns.example")).text  # the lookup's record, as text
    assert "javascript:alert(1)" in lookup and 'href="javascript:' not in lookup
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text
    pinned = re.search(r'<tr data-site="pinned.sa-columns.example".*?</tr>', text, re.S).group(0)
    assert 'data-status="unknown"' in pinned and 'data-override="url"' in pinned
    assert "privacy link set by hand" in pinned and "set by hand" in pinned and "never" in pinned
    down = re.search(r'<tr data-site="down.sa-columns.example".*?</tr>', text, re.S).group(0)
    assert "lookup failed" in down


def test_the_list_filters_by_status_and_override_and_searches_by_name(server, store):
    checked(store, "found.sa-filter.example", status="found", privacy_url="https://found.sa-filter.example/p")
    checked(store, "none.sa-filter.example", status="none")
    checked(store, "error.sa-filter.example", status="error", error="timeout")
    store.sites.try_lease("unknown.sa-filter.example", "test", datetime.now(UTC) - timedelta(seconds=1))
    checked(store, "pinned.sa-filter.example", status="error", error="timeout")
    store.sites.set_override("pinned.sa-filter.example", None, "test")
    browser = signed_in(server)
    expected = {
        "found": ["found.sa-filter.example"],
        "none": ["none.sa-filter.example"],
        "error": ["error.sa-filter.example", "pinned.sa-filter.example"],
        "unknown": ["unknown.sa-filter.example"],
        "override": ["pinned.sa-filter.example"],
    }
    for status, hosts in expected.items():
        page = browser.get(f"/admin/sites/?q=sa-filter&status={status}")
        assert listed(page) == hosts, status
        assert f'<option value="{status}" selected>' in page.text
    assert len(listed(browser.get("/admin/sites/?q=SA-FILTER"))) == 5
    assert len(listed(browser.get("/admin/sites/?q=sa-filter&status=bogus"))) == 5
    assert listed(browser.get("/admin/sites/?q=%25")) == []  # a LIKE wildcard is only a character
    empty = browser.get("/admin/sites/?q=sa-filter-nothing-like-this")
    assert "No sites match." in empty.text


def test_the_list_pages_through_many_sites(server, store):
    for number in range(30):
        checked(store, f"p{number:02d}.sa-pages.example", status="none")
    browser = signed_in(server)
    first = listed(browser.get("/admin/sites/?q=sa-pages"))
    assert first == sorted(first)
    assert len(first) == 25
    second_page = browser.get("/admin/sites/?q=sa-pages&page=2")
    second = listed(second_page)
    assert second == [f"p{number:02d}.sa-pages.example" for number in range(25, 30)]
    assert "30 sites found; page 2 of 2" in second_page.text
    assert 'rel="prev" href="/admin/sites/?page=1&amp;q=sa-pages"' in second_page.text
    assert browser.get("/admin/sites/?q=sa-pages&page=zz").status_code == 400  # a page is a number


def test_searching_for_a_site_nothing_is_stored_for_offers_its_page(server):
    browser = signed_in(server)
    page = browser.get("/admin/sites/?q=Never-Seen.sa-open.example")
    assert 'href="/admin/sites/never-seen.sa-open.example"' in page.text
    assert "to look it up now or set its privacy link" in page.text
    assert 'id="unknown-host"' not in browser.get("/admin/sites/?q=not%20a%20host").text
    site_page = browser.get("/admin/sites/never-seen.sa-open.example")
    assert site_page.status_code == 200
    assert 'id="not-cached"' in site_page.text
    assert 'id="set-override"' in site_page.text
    assert 'id="forget"' not in site_page.text


# ---- a site's page --------------------------------------------------------------------------------


def test_a_sites_page_shows_every_fact_of_the_lookup_and_what_visitors_see(server, store):
    host = "www.sa-facts.example"
    checked(
        store,
        host,
        status="found",
        privacy_url="https://www.sa-facts.example/privacy",
        found_by="fallback path",
        reason="the page at https://www.sa-facts.example/privacy is about privacy",
        final_url="https://www.sa-facts.example/",
        https=True,
        gpc=False,
        elapsed_ms=321,
    )
    browser = signed_in(server)
    page = browser.get(site_path(host))
    assert page.status_code == 200
    assert "<h1>Site www.sa-facts.example</h1>" in page.text
    assert fact(page, "privacy_url") == "https://www.sa-facts.example/privacy"
    assert fact(page, "found_by") == "a usual address for privacy policies"
    assert fact(page, "reason").startswith("the page at https://www.sa-facts.example/privacy")
    assert fact(page, "override") == "none"
    assert fact(page, "status") == "found"
    assert fact(page, "final_url") == "https://www.sa-facts.example/"
    assert fact(page, "https") == "yes"
    assert fact(page, "gpc") == "no"
    assert fact(page, "elapsed_ms") == "321 ms"
    assert fact(page, "error") == "–"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d M[SD]T", fact(page, "checked_at"))
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d M[SD]T$", fact(page, "expires"))  # a week on: not due
    for button in ("recheck", "set-override", "no-policy", "forget"):
        assert f'id="{button}"' in page.text
    assert 'id="remove-override"' not in page.text  # there is none to remove
    assert page.text.count('name="csrf_token"') >= 5


@pytest.mark.parametrize(
    "path",
    [
        "/admin/sites/exa%20mple.org",
        "/admin/sites/user@example.org",
        "/admin/sites/example.org%3Fx",
        "/admin/sites/example.org:99999",
    ],
)
def test_a_name_that_is_not_a_host_has_no_page(server, path):
    browser = signed_in(server)
    assert browser.get(path).status_code == 404
    token = browser.token("/admin/sites/")
    assert browser.post(path + "/recheck", {"csrf_token": token}).status_code == 404
    assert browser.post(path + "/no-policy", {"csrf_token": token}).status_code == 404


def test_a_host_written_differently_goes_to_its_own_page(server):
    browser = signed_in(server)
    response = browser.get("/admin/sites/WWW.SA-Case.Example")
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/sites/www.sa-case.example"


# ---- changes --------------------------------------------------------------------------------------


def test_recheck_looks_the_site_up_now_and_says_what_it_found(server, store, httpserver: HTTPServer):
    host = f"sa-recheck.test:{httpserver.port}"
    page = {"body": HOME.format(href="/legal/privacy"), "status": 200}
    httpserver.expect_request("/").respond_with_handler(
        lambda _request: Response(page["body"], status=page["status"], content_type="text/html")
    )
    browser = signed_in(server)

    response = post(browser, site_path(host) + "/recheck")
    assert response.status_code == 302
    assert response.headers["location"] == site_path(host)
    shown = browser.get(site_path(host))
    assert f"Looked up {host}: found its privacy link, http://{host}/legal/privacy." in html.unescape(
        shown.text
    )
    assert fact(shown, "privacy_url") == f"http://{host}/legal/privacy"
    assert fact(shown, "found_by") == "a link on the home page"
    assert fact(shown, "https") == "no"
    assert query(server, "SELECT status, privacy_url FROM sites WHERE host = ?", host) == [
        ("found", f"http://{host}/legal/privacy")
    ]

    page["body"] = NO_LINK
    post(browser, site_path(host) + "/recheck")
    shown = browser.get(site_path(host))
    assert f"Looked up {host}: no privacy policy was found." in html.unescape(shown.text)
    assert fact(shown, "status") == "no privacy policy found"
    assert query(server, "SELECT status, privacy_url FROM sites WHERE host = ?", host) == [("none", None)]

    page.update(body="down for maintenance", status=503)
    post(browser, site_path(host) + "/recheck")
    shown = browser.get(site_path(host))
    text = html.unescape(shown.text)
    assert f"Looked up {host}: the lookup failed (the home page answered HTTP 503)." in text
    assert 'class="message message--warning" role="alert"' in shown.text
    assert fact(shown, "error") == "the home page answered HTTP 503"


def test_recheck_of_a_site_with_an_override_says_the_override_still_applies(server, store, httpserver):
    host = f"sa-recheck.test:{httpserver.port}"
    httpserver.expect_request("/").respond_with_data(HOME.format(href="/p"), content_type="text/html")
    store.sites.set_override(host, "https://policies.example/sa-recheck", "test")
    browser = signed_in(server)
    post(browser, site_path(host) + "/recheck")
    shown = browser.get(site_path(host))
    assert "The override still applies" in shown.text
    assert fact(shown, "privacy_url") == "https://policies.example/sa-recheck"
    assert fact(shown, "lookup_privacy_url") == f"http://{host}/p"
    store.sites.remove_override(host, "test")


def test_overrides_beat_the_lookup_on_the_notice_at_once_and_every_change_is_logged(server, httpserver):
    host = f"sa-notice.test:{httpserver.port}"
    destination = f"http://{host}/news"
    httpserver.expect_request("/").respond_with_data(HOME.format(href="/privacy"), content_type="text/html")
    assert notice_privacy_link(server, destination) == f"http://{host}/privacy"  # looked up on the click
    browser = signed_in(server)

    pinned = post(
        browser, site_path(host) + "/override", {"privacy_url": "https://Policies.Example.org/SA notice"}
    )
    assert pinned.status_code == 302
    assert "are now shown the privacy link https://policies.example.org/SA%20notice" in html.unescape(
        browser.get(site_path(host)).text
    )
    assert notice_privacy_link(server, destination) == "https://policies.example.org/SA%20notice"

    post(browser, site_path(host) + "/no-policy", {"confirmed": "1"})  # it replaces a link set by hand
    notice = server.get("/go?url=" + quote(destination, safe=""))
    assert 'id="privacy-link"' not in notice.text
    assert "We could not find a privacy policy on this site" in notice.text
    page = browser.get(site_path(host))
    assert fact(page, "override") == "no privacy policy, set by hand"
    assert 'id="remove-override"' in page.text

    asked = post(browser, site_path(host) + "/remove-override")
    assert asked.status_code == 200 and 'id="remove-override-confirm"' in asked.text  # asks first
    assert overrides(server, host)[-1][2] == {"override_url": None, "override_none": True}  # kept meanwhile
    removed = post(browser, site_path(host) + "/remove-override", {"confirmed": "1"})
    assert removed.status_code == 302
    assert "Removed the override of" in browser.get(site_path(host)).text
    assert notice_privacy_link(server, destination) == f"http://{host}/privacy"

    assert overrides(server, host) == [
        (
            "web:admin",
            {"override_url": None, "override_none": False},
            {"override_url": "https://policies.example.org/SA%20notice", "override_none": False},
        ),
        (
            "web:admin",
            {"override_url": "https://policies.example.org/SA%20notice", "override_none": False},
            {"override_url": None, "override_none": True},
        ),
    ]
    assert [row[0] for row in change_log(server, "site.remove-override") if row[1] == host] == ["web:admin"]
    again = post(browser, site_path(host) + "/remove-override", {"confirmed": "1"})
    assert again.status_code == 302
    assert "had no override to remove" in browser.get(site_path(host)).text
    assert len(overrides(server, host)) == 2  # nothing logged: nothing changed

    hits = sum(1 for request, _ in httpserver.log if request.path == "/")
    asked = post(browser, site_path(host) + "/forget")
    assert asked.status_code == 200 and 'id="forget-confirm"' in asked.text  # asks first
    forgotten = post(browser, site_path(host) + "/forget", {"confirmed": "1"})
    assert forgotten.status_code == 302
    assert forgotten.headers["location"] == "/admin/sites/"
    assert "Forgot " + host in browser.get("/admin/sites/").text
    assert query(server, "SELECT COUNT(*) FROM sites WHERE host = ?", host) == [(0,)]
    cleared = [row for row in change_log(server, "site.clear") if row[1] == host]
    assert len(cleared) == 1 and cleared[0][0] == "web:admin"
    assert json.loads(cleared[0][2])["privacy_url"] == f"http://{host}/privacy"
    assert notice_privacy_link(server, destination) == f"http://{host}/privacy"  # looked up afresh
    assert sum(1 for request, _ in httpserver.log if request.path == "/") == hits + 1


def test_forgetting_a_site_nothing_is_stored_for_says_so(server):
    browser = signed_in(server)
    before = len(change_log(server, "site.clear"))
    response = post(browser, site_path("nothing.sa-forget.example") + "/forget", {"confirmed": "1"})
    assert response.status_code == 302
    assert "Nothing was stored about nothing.sa-forget.example." in browser.get("/admin/sites/").text
    assert len(change_log(server, "site.clear")) == before


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the web address of the site's privacy policy"),
        ("   ", "Enter the web address of the site's privacy policy"),
        ("javascript:alert(1)", 'this one is a "javascript:" address'),
        ("/privacy", "it must start with http:// or https://"),
        ("ftp://files.example/privacy", 'this one is a "ftp:" address'),
        ("https://user:secret@policies.example/p", "must not contain a user name or password"),
        ("http://192.168.1.1/cgi-bin/reset?factory=1", "must be on a public internet host"),
        ("http://127.0.0.1:18009/privacy", "must be on a public internet host"),
        ("https://printer.internal/privacy", "must be on a public internet host"),
        ("https://exa mple.org/", "The web address is not valid"),
    ],
)
def test_a_bad_privacy_link_is_refused_next_to_the_field(server, store, typed, message):
    host = "sa-form.test"
    browser = signed_in(server)
    before = len(overrides(server, host))
    response = post(browser, site_path(host) + "/override", {"privacy_url": typed})
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert "There is a problem" in text
    assert "<title>Error: Site sa-form.test" in text
    error = re.search(r'<p class="field-error" id="site-privacy-url-error">(.*?)</p>', text, re.S)
    assert error and message in error.group(1)
    assert 'href="#site-privacy-url"' in response.text
    field = re.search(r'<input id="site-privacy-url"[^>]*>', response.text).group(0)
    assert 'aria-invalid="true"' in field
    assert "site-privacy-url-error" in re.search(r'aria-describedby="([^"]*)"', field).group(1)
    assert html.unescape(re.search(r'value="([^"]*)"', field).group(1)) == typed.strip()
    assert len(overrides(server, host)) == before
    row = store.sites.get(host)
    assert row is None or (row.override_url is None and not row.override_none)


def test_the_form_offers_the_current_override_and_keeps_what_was_typed_after_an_error(server, store):
    host = "www.sa-prefill.example"
    store.sites.set_override(host, "https://policies.example/prefill", "test")
    browser = signed_in(server)

    def typed(page: httpx.Response) -> str:
        field = re.search(r'<input id="site-privacy-url"[^>]*>', page.text).group(0)
        return html.unescape(re.search(r'value="([^"]*)"', field).group(1))

    assert typed(browser.get(site_path(host))) == "https://policies.example/prefill"
    refused = post(browser, site_path(host) + "/override", {"privacy_url": 'data:text/html,"<b>'})
    assert refused.status_code == 400
    assert typed(refused) == 'data:text/html,"<b>'
    assert "<b>" not in refused.text.split('id="site-privacy-url"', 1)[1].split(">", 1)[0]
    assert post(browser, site_path(host) + "/override", {"privacy_url": ""}).status_code == 400
    assert typed(post(browser, site_path(host) + "/override", {"privacy_url": ""})) == ""
    assert store.sites.get(host).override_url == "https://policies.example/prefill"


def test_a_viewer_sees_the_sites_but_cannot_change_them(server, store):
    host = "www.sa-viewer.example"
    checked(store, host, status="found", privacy_url="https://www.sa-viewer.example/privacy")
    store.sites.set_override(host, "https://policies.example/viewer", "test")
    viewer = signed_in(server, "viewer", VIEWER_PASSWORD)
    assert host in listed(viewer.get("/admin/sites/?q=sa-viewer"))
    page = viewer.get(site_path(host))
    assert page.status_code == 200
    assert fact(page, "privacy_url") == "https://policies.example/viewer"
    assert "<form" not in page.text.split("</nav>", 1)[1]
    assert "Recheck now" not in page.text
    token = csrf_token(page)
    log_before = query(server, "SELECT COUNT(*) FROM change_log")
    for action, data in (
        ("recheck", {}),
        ("override", {"privacy_url": "https://evil.example/"}),
        ("no-policy", {}),
        ("remove-override", {}),
        ("forget", {}),
    ):
        response = viewer.post(f"{site_path(host)}/{action}", {"csrf_token": token, **data})
        assert response.status_code == 403, action
        assert "Only administrators can do this" in response.text
    assert query(server, "SELECT COUNT(*) FROM change_log") == log_before
    row = store.sites.get(host)
    assert row is not None and row.override_url == "https://policies.example/viewer"
    assert row.privacy_url == "https://www.sa-viewer.example/privacy"


def test_changes_need_the_forms_csrf_token(server, store):
    host = "www.sa-csrf.example"
    browser = signed_in(server)
    assert browser.post(site_path(host) + "/no-policy", {}).status_code == 400
    assert browser.post(site_path(host) + "/no-policy", {"csrf_token": "forged"}).status_code == 400
    assert store.sites.get(host) is None


def test_anonymous_visitors_are_sent_to_sign_in(server):
    for method, path in (
        ("GET", "/admin/sites/"),
        ("GET", site_path("x.example")),
        ("POST", site_path("x.example") + "/forget"),
    ):
        response = Browser(server).request(method, path)
        assert response.status_code == 302
        assert response.headers["location"].startswith("/admin/login")


# ---- the command line -----------------------------------------------------------------------------


def test_sites_list_prints_the_same_facts_as_the_page(server, store):
    checked(
        store,
        "a.sa-cli.example",
        status="found",
        privacy_url="https://a.sa-cli.example/privacy",
        found_by="home page",
        https=True,
        gpc=False,
    )
    checked(store, "b.sa-cli.example", status="error", error="timeout")
    store.sites.set_override("b.sa-cli.example", "https://policies.example/b", "test")
    checked(store, "c.sa-cli.example", status="none")

    result = json.loads(server.cli("sites", "list", "--search", "sa-cli", "--json").stdout)
    assert result["total"] == 3
    by_host = {site["host"]: site for site in result["sites"]}
    assert list(by_host) == ["a.sa-cli.example", "b.sa-cli.example", "c.sa-cli.example"]
    assert by_host["a.sa-cli.example"] | {"checked_at": None} == {
        "host": "a.sa-cli.example",
        "status": "found",
        "privacy_url": "https://a.sa-cli.example/privacy",
        "found_by": "home page",
        "reason": None,
        "https": True,
        "gpc": False,
        "checked_at": None,
        "error": None,
        "final_url": None,
        "elapsed_ms": None,
        "override": None,
        "lookup_status": "found",
        "lookup_privacy_url": "https://a.sa-cli.example/privacy",
    }
    assert datetime.fromisoformat(by_host["a.sa-cli.example"]["checked_at"]).tzinfo is not None
    pinned = by_host["b.sa-cli.example"]
    assert (pinned["status"], pinned["lookup_status"]) == ("found", "error")  # the override wins
    assert pinned["privacy_url"] == pinned["override"] == "https://policies.example/b"
    assert pinned["found_by"] == "override"
    assert by_host["c.sa-cli.example"]["override"] is None
    api = signed_in(server).get("/admin/api/sites?q=sa-cli").json()  # the JSON API's view of the same
    assert result["sites"] == api["sites"]

    only = json.loads(
        server.cli("sites", "list", "--search", "sa-cli", "--status", "override", "--json").stdout
    )
    assert [site["host"] for site in only["sites"]] == ["b.sa-cli.example"]
    none = json.loads(server.cli("sites", "list", "--search", "sa-cli", "--status", "none", "--json").stdout)
    assert [site["host"] for site in none["sites"]] == ["c.sa-cli.example"]

    lines = server.cli("sites", "list", "--search", "sa-cli").stdout.splitlines()
    assert lines[0].split("\t") == [
        "host",
        "lookup",
        "privacy link",
        "found by",
        "checked",
        "HTTPS",
        "GPC",
        "override",
    ]
    first = lines[1].split("\t")
    assert first[:4] == ["a.sa-cli.example", "found", "https://a.sa-cli.example/privacy", "home page"]
    assert first[5:] == ["yes", "no", "-"]
    assert len(lines) == 4
    assert server.cli("sites", "list", "--search", "sa-cli-nothing").stdout.strip() == "No sites."


def test_sites_show_and_the_site_commands_under_sites(server, store):
    host = "www.sa-show.example"
    checked(store, host, status="found", privacy_url="https://www.sa-show.example/p", elapsed_ms=12)
    shown = json.loads(server.cli("sites", "show", "WWW.SA-SHOW.EXAMPLE", "--json").stdout)
    assert shown["host"] == host
    assert shown["privacy_url"] == "https://www.sa-show.example/p"
    text = server.cli("sites", "show", host).stdout
    assert re.search(r"^shown\s+https://www.sa-show.example/p$", text, re.M)
    assert re.search(r"^time\s+12$", text, re.M)

    server.cli("sites", "set-privacy", host, "https://policies.example.org/show")
    assert json.loads(server.cli("sites", "show", host, "--json").stdout)["override"] == (
        "https://policies.example.org/show"
    )
    removed = server.cli("site", "remove-override", host)
    assert removed.stdout.strip() == f"{host}: override removed"
    after = json.loads(server.cli("sites", "show", host, "--json").stdout)
    assert after["override"] is None
    assert after["privacy_url"] == "https://www.sa-show.example/p"
    actor, _target, _before, logged = [
        row for row in change_log(server, "site.remove-override") if row[1] == host
    ][-1]
    assert json.loads(logged) == {"override_url": None, "override_none": False}
    assert actor.startswith("cli")

    again = server.cli("sites", "remove-override", host, check=False)
    assert again.returncode == 2
    assert again.stderr.strip() == f"linkgate: error: {host} has no override"
    server.cli("sites", "clear", host)
    assert store.sites.get(host) is None


@pytest.mark.parametrize(
    "args",
    [
        ("sites", "show", "never.sa-show.example"),
        ("sites", "show", "exa mple.org"),
        ("sites", "remove-override", "user@example.org"),
        ("sites", "list", "--status", "bogus"),
    ],
)
def test_site_commands_refuse_bad_input_with_status_2(server, args):
    result = server.cli(*args, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    if args[1] != "list":
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("linkgate: error:")
