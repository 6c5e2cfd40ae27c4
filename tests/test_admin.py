"""The admin console against real running servers: access, throttling, CSRF, roles, rules pages."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

import linkgate.accounts
import linkgate.web.admin.auth
from linkgate.classify import make_rule
from tests.console import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    Browser,
    change_log,
    create_account,
    csrf_token,
    query,
    signed_in,
    wait_for,
)

pytestmark = pytest.mark.server

# ---- accounts on the command line -----------------------------------------------------------------


def test_create_admin_stores_an_argon2id_hash_and_logs_the_change(console):
    rows = query(console, "SELECT name, role, password_hash FROM accounts ORDER BY name")
    assert [(name, role) for name, role, _ in rows] == [("admin", "admin"), ("viewer", "viewer")]
    assert all(hashed.startswith("$argon2id$") for _, _, hashed in rows)
    assert all(ADMIN_PASSWORD not in hashed and VIEWER_PASSWORD not in hashed for _, _, hashed in rows)
    logged = {target for _, target, _, _ in change_log(console, "account.add")}
    assert logged == {"admin", "viewer"}
    assert all("password" not in (after or "") for *_, after in change_log(console, "account.add"))


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (("someone",), "too short", "at least 12 characters"),
        (("admin",), "another long password", 'already an account named "admin"'),
        (("Admin",), "another long password", 'already an account named "admin"'),
        (("someone", "--role", "boss"), "another long password", 'not "boss"'),
        (("bad name!",), "another long password", "An account name is"),
        (("someone12345",), "someone12345", "must not be the account name"),
    ],
)
def test_create_admin_refuses_bad_input_with_one_line_and_status_2(console, args, password, message):
    result = console.cli("create-admin", *args, "--password-stdin", input=password + "\n", check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---- login, logout, cookies -----------------------------------------------------------------------


def test_login_gives_a_strict_httponly_secure_cookie_for_admin_only(console):
    browser = Browser(console)
    response = browser.log_in("admin", ADMIN_PASSWORD)
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/"
    cookie = response.headers["set-cookie"]
    assert "Path=/admin" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" in cookie
    page = browser.get("/admin/")
    assert page.status_code == 200
    assert "Signed in as" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_login_returns_to_the_page_asked_for_but_never_off_site(console):
    browser = Browser(console)
    first = browser.get("/admin/rules/?kind=block")
    assert first.status_code == 302
    login_url = first.headers["location"]
    assert urlsplit(login_url).path == "/admin/login"
    token = browser.token(login_url)
    back = browser.post(
        "/admin/login",
        {
            "csrf_token": token,
            "name": "admin",
            "password": ADMIN_PASSWORD,
            "next": "/admin/rules/?kind=block",
        },
    )
    assert back.headers["location"] == "/admin/rules/?kind=block"
    for target in ("//evil.example/admin", "https://evil.example/admin", "/\\evil.example", "/go?url=x"):
        other = Browser(console)
        token = other.token("/admin/login")
        response = other.post(
            "/admin/login",
            {"csrf_token": token, "name": "admin", "password": ADMIN_PASSWORD, "next": target},
        )
        assert response.headers["location"] == "/admin/", target


def test_logout_ends_the_session_and_needs_a_post(console):
    browser = signed_in(console)
    assert browser.get("/admin/logout").status_code == 405
    response = browser.submit("/admin/logout", {}, form_path="/admin/")
    assert response.status_code == 302
    assert response.headers["location"] == "/admin/login"
    assert "You are signed out." in browser.get("/admin/login").text
    assert browser.get("/admin/").status_code == 302


def test_wrong_password_and_unknown_name_get_the_same_answer(console):
    wrong = Browser(console).log_in("viewer", "not the password at all")
    unknown = Browser(console).log_in("nobody-here", "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "The name or password is not right." in response.text
        assert 'aria-describedby="login-password-error"' in response.text
        assert "There is a problem" in response.text
    Browser(console).log_in("viewer", VIEWER_PASSWORD)  # reset the viewer's failure count


def test_unknown_name_costs_the_same_password_check_as_a_known_one(console, monkeypatch):
    """An unknown name must take as long as a known one, or the time of an answer tells which names have
    accounts: both cost one argon2 verification with the same parameters (the work that takes the time),
    counted instead of timed."""
    checked: list[str] = []
    matches = linkgate.accounts.password_matches

    def counted(password_hash: str, password: str) -> bool:
        checked.append(password_hash.rsplit("$", 2)[0])  # the algorithm and its parameters, not the salt
        return matches(password_hash, password)

    monkeypatch.setattr(linkgate.accounts, "password_matches", counted)

    def attempt(name: str) -> list[str]:
        checked.clear()
        browser = Browser(console)
        token = browser.token("/admin/login")
        response = browser.post(
            "/admin/login", {"csrf_token": token, "name": name, "password": "wrong password 123"}
        )
        assert "The name or password is not right." in response.text
        return list(checked)

    create_account(console, "timing", ADMIN_PASSWORD)
    known = attempt("timing")
    assert len(known) == 1
    assert attempt("no-such-account") == known


def test_empty_fields_are_named_next_to_each_field(console):
    response = Browser(console).submit("/admin/login", {"name": "", "password": ""})
    assert "Enter your account name." in response.text
    assert "Enter your password." in response.text
    assert 'href="#login-name"' in response.text
    assert 'id="login-name-error"' in response.text


def test_no_cookie_outside_the_console_even_when_signed_in(console):
    browser = signed_in(console)
    session_cookie = {"Cookie": f"session={browser.cookie}"}
    for path in ("/go?url=" + quote("https://example.org/", safe=""), "/healthz", "/api/site/example.org"):
        response = console.get(path, headers=session_cookie)
        assert "set-cookie" not in response.headers, path
    response = console.get("/go?url=" + quote("https://example.org/", safe=""))
    assert "set-cookie" not in response.headers


# ---- throttling -----------------------------------------------------------------------------------


def test_failed_logins_slow_then_lock_the_account_on_every_server(make_app, monkeypatch):
    """Two servers on one database; the sign-in clock is moved on instead of slept on."""
    config = {"admin": {"login_slow_after": 2, "login_lock_after": 4, "login_lock_minutes": 15}}
    server = make_app(config, start=False)
    create_account(server, "webmaster", ADMIN_PASSWORD)
    server.start()
    other = make_app({**config, "database": {"url": server.database_url}})
    clock = {"now": datetime.now(UTC)}
    monkeypatch.setattr(linkgate.accounts, "now", lambda: clock["now"])

    def attempt(password: str, on: Any = server) -> httpx.Response:
        browser = Browser(on)
        data = {"csrf_token": browser.token("/admin/login"), "name": "webmaster", "password": password}
        return browser.post("/admin/login", data)

    first = attempt("wrong password one")
    assert first.status_code == 200
    assert "The name or password is not right." in first.text
    second = attempt("wrong password two", other)
    assert "wait 1 second before you try again" in second.text
    too_soon = attempt(ADMIN_PASSWORD)
    assert too_soon.status_code == 429
    assert "Too many failed sign-in attempts" in too_soon.text
    assert int(too_soon.headers["retry-after"]) >= 1
    clock["now"] += timedelta(seconds=1.1)
    third = attempt("wrong password three", other)
    assert "wait 2 seconds" in third.text
    clock["now"] += timedelta(seconds=2.1)
    fourth = attempt("wrong password four")
    assert fourth.status_code == 429
    assert "This account is locked for a while after too many failed sign-in attempts" in fourth.text
    assert int(fourth.headers["retry-after"]) > 14 * 60
    still_locked = attempt(ADMIN_PASSWORD, other)
    assert still_locked.status_code == 429
    assert "locked" in still_locked.text
    assert query(server, "SELECT failed_count, locked_until IS NOT NULL FROM accounts") == [(4, 1)]
    assert [target for _, target, _, _ in change_log(server, "account.lock")] == ["webmaster"]
    wait_for(
        lambda: (
            query(server, "SELECT SUM(count) FROM security_events WHERE kind = 'login_failure'")[0][0] == 6
        )
    )


# ---- CSRF -----------------------------------------------------------------------------------------


def test_post_without_a_valid_csrf_token_is_refused(console):
    anonymous = Browser(console)
    anonymous.get("/admin/login")
    response = anonymous.post("/admin/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert anonymous.get("/admin/").status_code == 302

    browser = signed_in(console)
    data = {"name": "csrf.example", "scope": "domain", "kind": "block", "action": "", "note": ""}
    assert browser.post("/admin/rules/new", data).status_code == 400
    assert browser.post("/admin/rules/new", {**data, "csrf_token": "forged"}).status_code == 400
    other = signed_in(console)
    foreign = other.token("/admin/rules/new")  # a real token, but from another session
    assert browser.post("/admin/rules/new", {**data, "csrf_token": foreign}).status_code == 400
    assert query(console, "SELECT COUNT(*) FROM rules WHERE name = 'csrf.example'") == [(0,)]


# ---- every route needs a session ------------------------------------------------------------------


def admin_routes(tmp_path: Path) -> list[tuple[str, str]]:
    from linkgate.web import create_app

    app = create_app(None, **{"database.url": f"sqlite:///{tmp_path / 'map.db'}"})
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint == "admin.auth.login":
            continue
        path = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1))
        routes.extend((method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return routes


def test_every_admin_route_sends_anonymous_visitors_to_login(console, tmp_path, monkeypatch):
    monkeypatch.setenv("LINKGATE_INSTANCE", str(tmp_path / "instance"))
    routes = admin_routes(tmp_path)
    assert ("POST", "/admin/rules/new") in routes
    assert ("GET", "/admin/") in routes
    assert len(routes) >= 10
    for method, path in routes:
        response = Browser(console).request(method, path)
        if path.startswith("/admin/api/"):  # scripts get an answer they can read, not a login page
            assert response.status_code == 401, (method, path, response.status_code)
            assert set(response.json()) == {"error"}, (method, path)
            continue
        assert response.status_code == 302, (method, path, response.status_code)
        assert urlsplit(response.headers["location"]).path == "/admin/login", (method, path)


def test_a_forged_cookie_is_no_session(console):
    forged = {"Cookie": "session=eyJhY2NvdW50IjoiYWRtaW4ifQ.AAAAAA.forged"}
    response = console.get("/admin/", headers=forged)
    assert response.status_code == 302


def test_idle_session_is_signed_out(make_app, monkeypatch):
    server = make_app({"admin": {"idle_minutes": 0.05}}, start=False)  # 3 s
    create_account(server, "admin", ADMIN_PASSWORD)
    server.start()
    clock = [time.time()]
    monkeypatch.setattr(linkgate.web.admin.auth, "time", SimpleNamespace(time=lambda: clock[0]))
    browser = signed_in(server)
    assert browser.get("/admin/").status_code == 200
    clock[0] += 2.5
    assert browser.get("/admin/").status_code == 200  # use keeps it alive
    clock[0] += 2.5
    assert browser.get("/admin/").status_code == 200
    clock[0] += 3.5
    response = browser.get("/admin/")
    assert response.status_code == 302
    login = browser.get(response.headers["location"])
    assert "signed out because the console was not used" in login.text


# ---- what gunicorn takes from a request ----------------------------------------------------------


# ---- single sign-on -------------------------------------------------------------------------------


def test_trusted_header_is_believed_only_from_trusted_proxies(make_app):
    trusting = make_app(
        {"admin": {"trusted_header": "X-Remote-User", "trusted_proxies": ["127.0.0.1/32"]}}, start=False
    )
    create_account(trusting, "jsmith", ADMIN_PASSWORD, role="viewer")
    trusting.start()
    response = Browser(trusting).get("/admin/", headers={"X-Remote-User": "JSmith"})
    assert response.status_code == 200
    assert "<strong>jsmith</strong> (viewer)" in response.text
    unknown = Browser(trusting).get("/admin/", headers={"X-Remote-User": "mallory"})
    assert unknown.status_code == 403
    assert "no console account named mallory" in unknown.text
    assert Browser(trusting).get("/admin/").status_code == 302

    distrusting = make_app(
        {"admin": {"trusted_header": "X-Remote-User", "trusted_proxies": ["10.0.0.0/8"]}}, start=False
    )
    create_account(distrusting, "jsmith", ADMIN_PASSWORD)
    distrusting.start()
    ignored = Browser(distrusting).get("/admin/", headers={"X-Remote-User": "jsmith"})
    assert ignored.status_code == 302


def test_trusted_header_without_proxies_is_a_configuration_error(make_app):
    server = make_app({"admin": {"trusted_header": "X-Remote-User"}}, start=False)
    result = server.cli("rules", check=False)
    assert result.returncode == 2
    assert "admin.trusted_header" in result.stderr


# ---- roles ----------------------------------------------------------------------------------------


def test_viewer_reads_but_cannot_change(console):
    console.store().rules.add(make_rule("viewer-target.example", "allow"), "test")
    rule_id = query(console, "SELECT id FROM rules WHERE name = 'viewer-target.example'")[0][0]
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    assert viewer.get("/admin/").status_code == 200
    listing = viewer.get("/admin/rules/?q=viewer-target")
    assert listing.status_code == 200
    assert "viewer-target.example" in listing.text
    assert "Add a rule" not in listing.text
    assert viewer.get("/admin/rules/test?url=https%3A%2F%2Fexample.org%2F").status_code == 200
    token = csrf_token(viewer.get("/admin/"))
    data = {"csrf_token": token, "name": "viewer.example", "scope": "domain", "kind": "block"}
    for method, path in (
        ("GET", "/admin/rules/new"),
        ("POST", "/admin/rules/new"),
        ("GET", f"/admin/rules/{rule_id}/edit"),
        ("POST", f"/admin/rules/{rule_id}/edit"),
        ("GET", f"/admin/rules/{rule_id}/delete"),
        ("POST", f"/admin/rules/{rule_id}/delete"),
    ):
        response = viewer.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 403, (method, path)
        assert "Only administrators can do this" in response.text
    assert query(console, "SELECT COUNT(*) FROM rules WHERE name = 'viewer-target.example'") == [(1,)]
    assert query(console, "SELECT COUNT(*) FROM rules WHERE name = 'viewer.example'") == [(0,)]


# ---- rules: validation ----------------------------------------------------------------------------

GOOD = {"name": "valid.example", "scope": "domain", "kind": "allow", "action": "", "note": ""}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "rule-name", "Enter a domain"),
        ({"name": "co.uk"}, "rule-name", "is a public suffix"),
        ({"name": "com"}, "rule-name", "is a public suffix"),
        ({"name": "exa mple.org"}, "rule-name", ""),
        ({"name": "dup.example"}, "rule-name", "There is already a block rule for *.dup.example"),
        ({"scope": "everything"}, "rule-scope", "Choose whether the rule covers"),
        ({"kind": "maybe"}, "rule-kind", "Choose allow or block."),
        ({"action": "explode"}, "rule-action", "Choose what visitors get"),
        ({"kind": "block", "action": "notice"}, "rule-action", "A block rule always blocks"),
        ({"note": "x" * 501}, "rule-note", "Keep the note to 500 characters"),
    ],
)
def test_adding_a_bad_rule_says_what_is_wrong_next_to_the_field(console, changes, field, message):
    store = console.store()
    if not query(console, "SELECT 1 FROM rules WHERE name = 'dup.example'"):
        store.rules.add(make_rule("dup.example", "block"), "test")
    before = query(console, "SELECT COUNT(*) FROM rules")
    browser = signed_in(console)
    response = browser.submit("/admin/rules/new", {**GOOD, **changes})
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert message in text
    assert "There is a problem" in text
    assert f'id="{field}-error"' in response.text
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', text, re.S)
    assert error and message in error.group(1)
    described = re.findall(r'aria-describedby="([^"]*)"', response.text)
    assert any(f"{field}-error" in ids.split() for ids in described)
    assert query(console, "SELECT COUNT(*) FROM rules") == before


def test_every_problem_is_listed_at_the_top_in_the_order_of_the_fields(console):
    browser = signed_in(console)
    response = browser.submit(
        "/admin/rules/new", {"name": "co.uk", "scope": "x", "kind": "block", "action": "notice", "note": ""}
    )
    assert response.status_code == 400
    summary = re.search(r'<div class="error-summary".*?</div>', response.text, re.S)
    assert summary
    assert re.findall(r'href="#([a-z-]+)"', summary.group(0)) == [
        "rule-name",
        "rule-scope-domain",
        "rule-action",
    ]
    assert re.search(r'<fieldset[^>]*aria-describedby="rule-scope-error"', response.text)
    assert not re.search(r"<fieldset[^>]*aria-invalid", response.text)
    assert response.text.startswith("<!doctype html>")
    assert "<title>Error: Add a rule" in response.text


def test_the_form_keeps_what_was_typed_after_an_error(console):
    browser = signed_in(console)
    response = browser.submit("/admin/rules/new", {**GOOD, "name": "co.uk", "note": "keep <me>"})
    assert 'value="co.uk"' in response.text
    assert "keep &lt;me&gt;" in response.text


# ---- rules: add, edit, delete, change log ---------------------------------------------------------


def test_add_edit_delete_a_rule_with_change_log_entries(console):
    browser = signed_in(console)
    added = browser.submit(
        "/admin/rules/new", {**GOOD, "name": "CRUD.Example", "kind": "block", "note": "scam"}
    )
    assert added.status_code == 302
    listing = browser.get(added.headers["location"])
    assert "Added the block rule *.crud.example." in listing.text
    assert 'data-rule="*.crud.example"' in listing.text
    rule_id = query(console, "SELECT id FROM rules WHERE name = 'crud.example'")[0][0]
    assert change_log(console, "rule.add")[-1][:2] == ("web:admin", "*.crud.example")

    edit_path = f"/admin/rules/{rule_id}/edit"
    form = browser.get(edit_path)
    assert 'value="crud.example"' in form.text
    edited = browser.submit(
        edit_path,
        {"name": "www.crud.example", "scope": "exact", "kind": "allow", "action": "notice", "note": "ok"},
    )
    assert edited.status_code == 302
    assert query(console, "SELECT name, exact, kind, action, note FROM rules WHERE id = ?", rule_id) == [
        ("www.crud.example", 1, "allow", "notice", "ok")
    ]
    actor, target, before, after = change_log(console, "rule.update")[-1]
    assert (actor, target) == ("web:admin", "www.crud.example")
    assert '"kind": "block"' in before and '"kind": "allow"' in after

    confirm = browser.get(f"/admin/rules/{rule_id}/delete")
    assert "Delete the rule www.crud.example?" in confirm.text
    deleted = browser.submit(f"/admin/rules/{rule_id}/delete", {})
    assert deleted.status_code == 302
    assert "Removed the allow rule www.crud.example." in browser.get("/admin/rules/").text
    assert query(console, "SELECT COUNT(*) FROM rules WHERE id = ?", rule_id) == [(0,)]
    assert change_log(console, "rule.remove")[-1][:2] == ("web:admin", "www.crud.example")
    assert browser.get(f"/admin/rules/{rule_id}/edit").status_code == 404


def test_editing_into_a_duplicate_is_refused(console):
    store = console.store()
    store.rules.add(make_rule("first-dup.example", "allow"), "test")
    second = store.rules.add(make_rule("second-dup.example", "allow"), "test")
    browser = signed_in(console)
    response = browser.submit(f"/admin/rules/{second.id}/edit", {**GOOD, "name": "first-dup.example"})
    assert response.status_code == 400
    assert "There is already an allow rule for *.first-dup.example" in html.unescape(response.text)
    assert query(console, "SELECT name FROM rules WHERE id = ?", second.id) == [("second-dup.example",)]


def test_an_edit_that_changes_nothing_is_not_logged(console):
    store = console.store()
    rule = store.rules.add(make_rule("same.example", "allow", note="n"), "test")
    before = len(change_log(console, "rule.update"))
    browser = signed_in(console)
    response = browser.submit(f"/admin/rules/{rule.id}/edit", {**GOOD, "name": "same.example", "note": "n"})
    assert response.status_code == 302
    assert len(change_log(console, "rule.update")) == before


def test_conflicting_rules_are_shown(console):
    console.store().rules.add(make_rule("conflict.example", "block"), "test")
    browser = signed_in(console)
    added = browser.submit("/admin/rules/new", {**GOOD, "name": "conflict.example", "scope": "exact"})
    listing = browser.get(added.headers["location"]).text
    assert "conflict.example is blocked by rule *.conflict.example" in listing
    wider = browser.submit(
        "/admin/rules/new", {**GOOD, "name": "deep.inner.conflict.example", "kind": "block"}
    )
    assert wider.status_code == 302
    console.store().rules.add(make_rule("x.deep.inner.conflict.example", "allow"), "t")
    outer = browser.submit("/admin/rules/new", {**GOOD, "name": "inner.conflict.example", "kind": "allow"})
    text = browser.get(outer.headers["location"]).text
    assert "deep.inner.conflict.example is blocked by rule *.deep.inner.conflict.example" in text


# ---- rules: list ----------------------------------------------------------------------------------


def test_rules_list_searches_filters_sorts_and_pages(console):
    store = console.store()
    for number in range(30):
        store.rules.add(make_rule(f"page{number:02d}.listing.example", "allow", note="bulk"), "test")
    store.rules.add(make_rule("blocked.listing.example", "block", note="listing block"), "test")
    browser = signed_in(console)

    def patterns(path: str) -> list[str]:
        response = browser.get(path)
        assert response.status_code == 200
        return re.findall(r'data-rule="([^"]+)"', response.text)

    first = patterns("/admin/rules/?q=listing.example")
    assert len(first) == 25
    assert first == sorted(first)
    second_page = browser.get("/admin/rules/?q=listing.example&page=2").text
    assert "31 rules found; page 2 of 2" in second_page
    second = re.findall(r'data-rule="([^"]+)"', second_page)
    assert len(second) == 6
    assert not set(first) & set(second)
    assert 'rel="prev" href="/admin/rules/?page=1&amp;q=listing.example"' in second_page
    assert patterns("/admin/rules/?q=LISTING.EXAMPLE&kind=block") == ["*.blocked.listing.example"]
    assert patterns("/admin/rules/?q=listing+block") == ["*.blocked.listing.example"]  # notes too
    assert patterns("/admin/rules/?q=page0&sort=-updated")[0] == "*.page09.listing.example"
    assert patterns("/admin/rules/?q=listing.example&sort=kind")[0] == "*.page00.listing.example"
    assert patterns("/admin/rules/?q=%25") == []  # LIKE wildcards are taken literally
    assert "No rules match." in browser.get("/admin/rules/?q=nothing-like-this").text
    assert patterns("/admin/rules/?q=listing.example&sort=bogus&kind=odd")[0] == "*.blocked.listing.example"
    assert browser.get("/admin/rules/?q=listing.example&page=zz").status_code == 400  # a page is a number


# ---- test a link ----------------------------------------------------------------------------------


def test_test_a_link_shows_category_flags_action_and_rule(console):
    console.store().rules.add(make_rule("preview.example", "block"), "test")
    browser = signed_in(console)
    blocked = browser.get("/admin/rules/test?url=" + quote("http://www.preview.example/x", safe=""))
    assert blocked.status_code == 200
    text = html.unescape(blocked.text)
    assert re.search(r'data-fact="category">a website Missoula County has blocked<', text)
    assert re.search(r'data-fact="trusted">shown the block page<', text)
    assert "*.preview.example</a> (block)" in text
    assert 'data-flag="insecure"' in text
    county = html.unescape(browser.get("/admin/rules/test?url=https%3A%2F%2Fwww.missoulacounty.us%2F").text)
    assert re.search(r'data-fact="trusted">sent straight on<', county)
    assert re.search(r'data-fact="rule">none<', county)
    bad = browser.get("/admin/rules/test?url=javascript%3Aalert(1)")
    assert bad.status_code == 400
    assert 'id="test-url-error"' in bad.text
    assert 'aria-invalid="true"' in bad.text


# ---- dashboard ------------------------------------------------------------------------------------


def test_dashboard_shows_clicks_destinations_events_and_cache(console):
    for _ in range(3):
        console.get("/go?url=" + quote("https://www.dashboard-target.example/", safe=""))
    console.get("/go?url=not-a-url")
    Browser(console).log_in("admin", "wrong password again")
    browser = signed_in(console)
    wait_for(lambda: "dashboard-target.example" in browser.get("/admin/").text)
    text = browser.get("/admin/").text
    top = re.search(r'<table class="data" id="top-destinations">.*?</table>', text, re.S)
    assert top and re.search(r"dashboard-target\.example</a></th><td class=\"number\">3<", top.group(0))
    wait_for(lambda: "Failed console sign-ins" in browser.get("/admin/").text)
    assert "Links that could not be understood" in browser.get("/admin/").text
    assert re.search(r'data-fact="entries">\d+<', text)
    assert re.search(r"<caption[^>]*>Clicks by what visitors got</caption>", text)


# ---- propagation ----------------------------------------------------------------------------------
