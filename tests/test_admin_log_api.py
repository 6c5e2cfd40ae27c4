"""The change log page and ``linkgate log``, the link builder, and the read-only JSON API, on real servers."""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.conftest import AppServer
from tests.console import ADMIN_PASSWORD, Browser, create_account, signed_in, wait_for

pytestmark = pytest.mark.server

TOKEN = "test-token-" + "x" * 40
TOKEN_HASH = hashlib.sha256(TOKEN.encode()).hexdigest()


def add_rule(browser: Browser, name: str, kind: str = "allow", note: str = "") -> None:
    data = {"name": name, "scope": "domain", "kind": kind, "action": "", "note": note}
    response = browser.submit("/admin/rules/new", data)
    assert response.status_code == 302, response.text


def rows(page: str) -> list[tuple[str, str]]:
    """(action, target) of every row of the change-log table, in order."""
    return re.findall(r'<tr data-action="([^"]+)" data-target="([^"]+)">', page)


# ---- the change log page ----------------------------------------------------------------------------


def test_change_log_lists_every_change_newest_first_with_before_and_after(console):
    browser = signed_in(console)
    add_rule(browser, "log-one.example", note="first note")
    rule_id = re.search(
        r'/admin/rules/(\d+)/edit">Edit<span class="visually-hidden"> \*\.log-one\.example',
        browser.get("/admin/rules/?q=log-one").text,
    ).group(1)
    edit = {"name": "log-one.example", "scope": "domain", "kind": "block", "action": "", "note": "second"}
    assert browser.submit(f"/admin/rules/{rule_id}/edit", edit).status_code == 302
    assert browser.submit(f"/admin/rules/{rule_id}/delete", {}).status_code == 302

    page = browser.get("/admin/log/?target=log-one")
    assert page.status_code == 200
    assert rows(page.text) == [
        ("rule.remove", "*.log-one.example"),
        ("rule.update", "*.log-one.example"),
        ("rule.add", "*.log-one.example"),
    ]
    text = html.unescape(page.text)
    assert "Changed a rule" in text and "Removed a rule" in text and "Added a rule" in text
    assert "web:admin" in text
    update_row = page.text.split('data-action="rule.update"')[1].split("</tr>")[0]
    assert "allow</del>" in update_row and "block</ins>" in update_row
    assert "first note</del>" in update_row and "second</ins>" in update_row
    assert "This host only" not in update_row  # unchanged fields are not listed
    assert '<span class="change-field">Kind</span>' in update_row  # labels, not field names


def test_change_log_speaks_in_labels_not_field_names(console):
    browser = signed_in(console)
    browser.submit(
        "/admin/sites/www.labels.example.org/override",
        {"privacy_url": "https://www.labels.example.org/privacy"},
        form_path="/admin/sites/www.labels.example.org",
    )
    row = browser.get("/admin/log/?target=www.labels.example.org").text.split('data-action="site.override"')[
        1
    ]
    row = html.unescape(row.split("</tr>")[0])
    assert "Privacy link set by hand</span>" in row and "https://www.labels.example.org/privacy</ins>" in row
    assert "override_url" not in row and "override_none" not in row
    plain = console.cli("log", "--target", "www.labels.example.org").stdout
    assert "Privacy link set by hand: (none) -> https://www.labels.example.org/privacy" in plain
    assert "override_url" not in plain
    entry = json.loads(
        console.cli("log", "--target", "www.labels.example.org", "--json").stdout.splitlines()[0]
    )
    assert entry["after"] == {
        "override_url": "https://www.labels.example.org/privacy",
        "override_none": False,
    }


def test_change_log_filters_by_who_area_and_day(console):
    browser = signed_in(console)
    add_rule(browser, "log-filter.example")
    create_account(console, "logged-account", ADMIN_PASSWORD)

    accounts = browser.get("/admin/log/?area=account").text
    assert ("account.add", "logged-account") in rows(accounts)
    assert all(action.startswith("account.") for action, _ in rows(accounts))
    by_cli = rows(browser.get("/admin/log/?who=cli:").text)
    assert ("account.add", "logged-account") in by_cli
    assert ("rule.add", "*.log-filter.example") not in by_cli
    assert rows(browser.get("/admin/log/?who=web:admin&target=log-filter").text) == [
        ("rule.add", "*.log-filter.example")
    ]
    assert rows(browser.get("/admin/log/?target=log-filter&from=2001-01-01&to=2001-12-31").text) == []
    assert "No changes match." in browser.get("/admin/log/?target=log-filter&to=2001-12-31").text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "Enter a date as year-month-day"),
        ("to=2026-02-30", "Enter a date as year-month-day"),
        ("from=2026-05-02&to=2026-05-01", "The end date must be on or after the start date."),
        ("area=passwords", "Choose one of the kinds of change in the list."),
    ],
)
def test_change_log_bad_filters_are_named_next_to_the_field(console, query, message):
    response = signed_in(console).get("/admin/log/?" + query)
    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert "There is a problem" in response.text


def test_change_log_cannot_be_changed_through_any_route(console):
    from linkgate.web import create_app

    app = create_app(None, **{"database.url": console.database_url})
    changing = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/admin/log/", "/admin/api/"))
        and set(rule.methods or ()) - {"GET", "HEAD", "OPTIONS"}
    }
    assert changing == {"/admin/log/<int:entry_id>/revert"}  # a revert adds an entry; none is edited
    browser = signed_in(console)
    token = browser.token("/admin/log/")
    assert browser.post("/admin/log/", {"csrf_token": token}).status_code == 405


def test_viewer_reads_the_change_log(console):
    response = signed_in(console, "viewer", "viewer password 1234").get("/admin/log/")
    assert response.status_code == 200
    assert "Change log" in response.text


def test_linkgate_log_prints_and_filters_changes(console):
    console.cli("allow", "cli-log.example", "--note", "from the command line")
    lines = console.cli("log", "--target", "cli-log", "--json").stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["action"], e["target"]) for e in entries] == [("rule.add", "*.cli-log.example")]
    assert entries[0]["after"]["note"] == "from the command line"
    assert entries[0]["actor"].startswith("cli")
    plain = console.cli("log", "--area", "rule", "--target", "cli-log").stdout
    assert "rule.add" in plain and "*.cli-log.example" in plain
    bad = console.cli("log", "--from", "31/12/2026", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("linkgate: error: --from:")
    assert len(bad.stderr.strip().splitlines()) == 1


# ---- the link builder ---------------------------------------------------------------------------------


def test_link_builder_gives_a_signed_link_the_gate_trusts(console):
    console.cli("allow", "builder-partner.example")
    browser = signed_in(console)
    destination = "https://www.builder-partner.example/forms?id=7&x=1"
    page = browser.get("/admin/links/?url=" + quote(destination, safe=""))
    assert page.status_code == 200
    link = html.unescape(re.search(r'id="gate-link-value"[^>]*value="([^"]+)"', page.text).group(1))
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == console.url  # on server.public_url
    assert parse_qs(parts.query)["url"] == [destination]
    assert "sent straight on" in page.text
    # The signed link is trusted without a County Referer: a partner is sent straight on.
    followed = console.get(link)
    assert followed.status_code == 302
    assert followed.headers["location"] == destination
    unsigned = console.get(link.split("&sig=")[0])
    assert unsigned.status_code == 200  # the notice
    snippet = html.unescape(
        page.text.split('id="gate-link-html"')[1].split(">", 1)[1].split("</textarea>")[0]
    )
    assert snippet.startswith('<a href="') and "&amp;sig=" in snippet  # what the webmaster copies


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", "javascript"),
        ("/relative/path", ""),
        ("https://exa mple.org/", ""),
    ],
)
def test_link_builder_refuses_what_the_gate_refuses(console, url, message):
    response = signed_in(console).get("/admin/links/?url=" + quote(url, safe=""))
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert message in response.text
    assert 'id="gate-link-value"' not in response.text


# ---- the JSON API -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    server = AppServer(tmp_path_factory.mktemp("api"), {"admin": {"api_tokens": [TOKEN_HASH]}})
    create_account(server, "admin", ADMIN_PASSWORD)
    server.cli("allow", "api-partner.example", "--note", "api note")
    server.cli("block", "api-blocked.example", "--exact")
    server.cli("site", "set-privacy", "api-site.example", "https://api-site.example.org/privacy")
    server.start()
    yield server
    server.stop()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_token_reads_rules_sites_and_log_without_a_cookie(api_server):
    rules = api_server.get("/admin/api/rules", headers=bearer())
    assert rules.status_code == 200
    assert "set-cookie" not in rules.headers
    body = rules.json()
    assert {(r["pattern"], r["kind"]) for r in body["rules"]} == {
        ("*.api-partner.example", "allow"),
        ("api-blocked.example", "block"),
    }
    assert body["version"] >= 3
    sites = api_server.get("/admin/api/sites?q=api-site", headers=bearer()).json()
    assert sites["total"] == 1
    assert sites["sites"][0]["privacy_url"] == "https://api-site.example.org/privacy"
    assert sites["sites"][0]["found_by"] == "override"
    log = api_server.get("/admin/api/log?area=site", headers=bearer()).json()
    assert [(e["action"], e["target"]) for e in log["entries"]] == [("site.override", "api-site.example")]
    assert log["entries"][0]["after"]["override_url"] == "https://api-site.example.org/privacy"


def test_the_api_and_the_command_line_give_each_record_as_the_same_json(api_server):
    rules = api_server.get("/admin/api/rules", headers=bearer()).json()
    assert json.loads(api_server.cli("rules", "list", "--json").stdout) == rules
    assert set(rules["rules"][0]) == {"pattern", "name", "exact", "kind", "action", "note"}

    sites = api_server.get("/admin/api/sites?q=api-site", headers=bearer()).json()
    assert json.loads(api_server.cli("sites", "list", "--search", "api-site", "--json").stdout) == sites
    shown = json.loads(api_server.cli("sites", "show", "api-site.example", "--json").stdout)
    assert sites["sites"] == [shown]
    assert shown["override"] == shown["privacy_url"] == "https://api-site.example.org/privacy"
    assert (shown["lookup_status"], shown["lookup_privacy_url"]) == ("unknown", None)

    entries = api_server.get("/admin/api/log?area=rule", headers=bearer()).json()["entries"]
    printed = api_server.cli("log", "--area", "rule", "--json").stdout.splitlines()
    assert [json.loads(line) for line in printed] == entries
    # The change log records a rule as the API and the command line give it.
    assert {entry["target"]: entry["after"] for entry in entries} == {
        rule["pattern"]: rule for rule in rules["rules"]
    }

    day = date(2025, 3, 2)
    api_server.store().counts.add(
        {(day, "parity.example", "notice"): 4, (day, "parity.example", "block"): 1}, {}
    )
    api = api_server.get("/admin/api/stats?from=2025-03-01&to=2025-03-03", headers=bearer()).json()
    cli = json.loads(
        api_server.cli("stats", "--from", "2025-03-01", "--to", "2025-03-03", "--format", "json").stdout
    )
    assert cli["rows"] == api["days"]
    assert cli["totals"] == api["totals"] == {"redirect": 0, "notice": 4, "block": 1, "total": 5}


def test_api_answers_401_without_credentials_and_for_a_wrong_token(api_server):
    for headers in ({}, bearer("wrong-token"), {"Authorization": "Basic YWRtaW46eA=="}):
        response = api_server.get("/admin/api/rules", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "error" in response.json()
        assert "rules" not in response.json()


def test_a_wrong_token_is_counted_as_a_security_event(api_server):
    for _ in range(3):
        api_server.get("/admin/api/rules", headers=bearer("guessed-token"))
    store = api_server.store()

    def counted() -> int:
        today = date.today()
        return store.counts.events_by_kind(today - timedelta(days=1), today + timedelta(days=1)).get(
            "bad_api_token", 0
        )

    wait_for(lambda: counted() >= 3)


def test_api_token_cannot_change_anything(api_server):
    response = api_server.request(
        "POST",
        "/admin/rules/new",
        headers=bearer(),
        data={"name": "token-write.example", "scope": "domain", "kind": "block"},
    )
    assert response.status_code == 302  # outside the API a token is no session: off to the login page
    assert "/admin/login" in response.headers["location"]
    rules = api_server.get("/admin/api/rules", headers=bearer()).json()["rules"]
    assert "token-write.example" not in {r["name"] for r in rules}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/admin/api/rules", 405),
        ("DELETE", "/admin/api/sites", 405),
        ("PUT", "/admin/api/log", 405),
        ("GET", "/admin/api/nothing-here", 404),
        ("POST", "/admin/api/nothing-here", 404),
    ],
)
def test_every_api_error_is_json_a_write_included(api_server, method, path, status):
    for headers in (bearer(), {}):
        response = api_server.request(method, path, headers=headers)
        assert response.status_code in (status, 401), (method, path, response.status_code)
        assert response.headers["content-type"] == "application/json", response.text[:200]
        assert response.json()["error"]
    if status == 405:
        assert api_server.request(method, path, headers=bearer()).headers["allow"] == "GET, HEAD"
    # Outside the API the same errors are the County's HTML pages.
    assert api_server.request(method, "/admin/nothing-here").headers["content-type"].startswith("text/html")


def test_the_status_filter_is_the_status_shown_an_override_included(api_server):
    store = api_server.store()
    store.sites.save_check("filter-pinned.example", {"status": "error", "error": "connect"})
    store.sites.set_override("filter-pinned.example", "https://filter-pinned.example/privacy", "test")
    store.sites.save_check("filter-none.example", {"status": "found", "privacy_url": "https://x.example/p"})
    store.sites.set_override("filter-none.example", None, "test")
    store.sites.save_check("filter-failed.example", {"status": "error", "error": "connect"})

    def listed(status: str) -> dict[str, str]:
        body = api_server.get(f"/admin/api/sites?q=filter-&status={status}", headers=bearer()).json()
        return {site["host"]: site["status"] for site in body["sites"]}

    assert listed("found") == {"filter-pinned.example": "found"}
    assert listed("none") == {"filter-none.example": "none"}
    assert listed("error") == {"filter-failed.example": "error"}


def test_the_api_names_a_bad_limit_or_offset(api_server):
    for query, name in (("offset=abc&limit=1", "offset"), ("limit=0", "limit"), ("limit=501", "limit")):
        response = api_server.get(f"/admin/api/sites?{query}", headers=bearer())
        assert response.status_code == 400
        assert response.json()["error"].startswith(f"{name}: ")


def test_a_signed_in_session_reads_the_api_too(api_server):
    browser = signed_in(api_server)
    response = browser.get("/admin/api/rules")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert browser.get("/admin/api/sites?status=bogus").status_code == 400
    assert browser.get("/admin/api/log?from=nope").status_code == 400


def test_a_server_without_tokens_refuses_every_token(console):
    response = console.get("/admin/api/rules", headers=bearer())
    assert response.status_code == 401
    assert "no API tokens" in response.json()["error"]


def test_api_token_command_prints_a_token_and_its_hash(console):
    output = console.cli("api-token").stdout
    token = re.search(r"^token: (\S+)$", output, re.M).group(1)
    digest = re.search(r'^api_tokens = \["([0-9a-f]{64})"\]$', output, re.M).group(1)
    assert hashlib.sha256(token.encode()).hexdigest() == digest
    assert len(token) >= 40


def test_api_stats_gives_every_day_of_the_range_with_totals(api_server):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("America/Denver")).date()
    yesterday = today - timedelta(days=1)
    api_server.store().counts.add(
        {(yesterday, "stats-api.example", "notice"): 5, (today, "stats-api.example", "redirect"): 2},
        {(today, "bad_signature"): 1},
    )
    query = f"/admin/api/stats?from={(today - timedelta(days=2)).isoformat()}&to={today.isoformat()}"
    body = api_server.get(query, headers=bearer()).json()
    assert [day["day"] for day in body["days"]] == [
        (today - timedelta(days=back)).isoformat() for back in (2, 1, 0)
    ]
    assert body["days"][0]["total"] == 0
    assert body["days"][1]["notice"] == 5
    assert body["days"][2]["redirect"] == 2
    assert body["totals"]["notice"] >= 5 and body["totals"]["total"] == sum(d["total"] for d in body["days"])
    assert {"domain": "stats-api.example", "clicks": 7} in body["top_domains"]
    assert body["events"].get("bad_signature", 0) >= 1
    bad = api_server.get("/admin/api/stats?from=2026-05-02&to=2026-05-01", headers=bearer())
    assert bad.status_code == 400
    assert "from" in bad.json()["error"]
