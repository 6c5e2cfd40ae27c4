"""The console against requests an attacker shapes, in process: copied and old session cookies, ``next``,
numbers too large for anything, SCRIPT_NAME and Host headers, and names probed after failed sign-ins.

Each test builds the application on a database of the run's kind (SQLite or PostgreSQL) and talks to it
through Flask's test client. What needs a running server (an accounts command beside it, gunicorn's own
reading of headers) is in tests/test_accounts.py and tests/test_admin.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import linkgate.accounts
import linkgate.store.accounts
from linkgate.accounts import create_account
from linkgate.web.app_runtime import WebRuntime
from tests.conftest import in_process_app
from tests.console import ADMIN_PASSWORD, csrf_token, database_query

HUGE = "99999999999999999999999"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    made = in_process_app(tmp_path / "instance", database_url)
    runtime: WebRuntime = made.extensions["linkgate"]
    create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
    create_account(runtime.store, "second", ADMIN_PASSWORD, "admin", "test")
    yield made
    runtime.shutdown()


def csrf(client: FlaskClient, path: str = "/admin/login") -> str:
    return csrf_token(client.get(path))  # type: ignore[arg-type]  # a Werkzeug response has .text too


def sign_in(app: Flask, name: str = "admin", **form: str) -> FlaskClient:
    client = app.test_client()
    response = client.post(
        "/admin/login", data={"csrf_token": csrf(client), "name": name, "password": ADMIN_PASSWORD, **form}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session", path="/admin")
    assert cookie is not None
    return cookie.value


def replay(app: Flask, cookie: str, path: str = "/admin/") -> Any:
    """A request from elsewhere carrying a copy of the Cookie header."""
    return app.test_client(use_cookies=False).get(path, headers={"Cookie": f"session={cookie}"})


def aged(app: Flask, cookie: str, **changes: Any) -> str:
    """The session cookie ``cookie`` with ``changes`` made, signed with the application's key: what the
    application itself would have made at another moment."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return str(serializer.dumps({**serializer.loads(cookie), **changes}))


# ---- sessions end when the account says so ------------------------------------------------------------


def test_signing_out_ends_every_session_of_the_account_copied_cookies_included(app):
    browser = sign_in(app)
    copied = session_cookie(browser)
    elsewhere = sign_in(app)
    other_account = sign_in(app, "second")
    assert replay(app, copied).status_code == 200
    response = browser.post("/admin/logout", data={"csrf_token": csrf(browser, "/admin/")})
    assert response.status_code == 302
    for cookie in (copied, session_cookie(elsewhere)):
        refused = replay(app, cookie)
        assert refused.status_code == 302
        assert refused.headers["Location"].startswith("/admin/login")
    assert elsewhere.get("/admin/").status_code == 302
    assert other_account.get("/admin/").status_code == 200  # another account's sessions go on


def test_a_session_ends_session_max_hours_after_sign_in_however_much_it_is_used(app):
    cookie = session_cookie(sign_in(app))
    at = time.time()
    assert replay(app, aged(app, cookie, since=at - 11.9 * 3600, seen=at)).status_code == 200
    client = app.test_client()
    client.set_cookie("session", aged(app, cookie, since=at - 12.1 * 3600, seen=at), path="/admin")
    refused = client.get("/admin/")
    assert refused.status_code == 302
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "You were signed out because you signed in more than 12 hours ago." in page


def test_the_session_lifetime_is_a_setting(tmp_path, database_url):
    short = in_process_app(tmp_path / "instance", database_url, ADMIN_SESSION_MAX_HOURS="0.5")
    runtime: WebRuntime = short.extensions["linkgate"]
    try:
        create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
        cookie = session_cookie(sign_in(short))
        at = time.time()
        assert replay(short, aged(short, cookie, since=at - 25 * 60, seen=at)).status_code == 200
        assert replay(short, aged(short, cookie, since=at - 35 * 60, seen=at)).status_code == 302
    finally:
        runtime.shutdown()


# ---- a name with no account answers as an account does ----------------------------------------------------


def test_an_unknown_name_is_slowed_and_locked_exactly_as_an_account_is(tmp_path, database_url, monkeypatch):
    throttled = in_process_app(
        tmp_path / "instance",
        database_url,
        ADMIN_LOGIN_SLOW_AFTER="2",
        ADMIN_LOGIN_LOCK_AFTER="4",
        ADMIN_LOGIN_LOCK_MINUTES="15",
    )
    runtime: WebRuntime = throttled.extensions["linkgate"]
    create_account(runtime.store, "jsmith", ADMIN_PASSWORD, "admin", "test")
    started = linkgate.accounts.now()
    clock = {"now": started}
    monkeypatch.setattr(linkgate.accounts, "now", lambda: clock["now"])

    def answers(name: str) -> list[tuple[int, str | None, str]]:
        """Ten wrong passwords for ``name`` over a quarter of an hour, from the same moment each time."""
        seen = []
        for after in (0, 0, 0, 1.5, 1.5, 4, 5, 6, 15 * 60 + 7, 15 * 60 + 7):
            clock["now"] = started + timedelta(seconds=after)
            client = throttled.test_client()
            response = client.post(
                "/admin/login",
                data={"csrf_token": csrf(client), "name": name, "password": "wrong password 123"},
            )
            body = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
            seen.append(
                (response.status_code, response.headers.get("Retry-After"), body.replace(name, "NAME"))
            )
        return seen

    try:
        known, unknown = answers("jsmith"), answers("nobody-here")
        assert [status for status, _, _ in known] == [200, 200, 429, 200, 429, 429, 429, 429, 200, 200]
        assert "This account is locked for a while" in known[5][2]
        assert unknown == known
    finally:
        runtime.shutdown()


def test_failed_sign_ins_of_names_with_no_account_are_kept_bounded_and_never_by_name(
    tmp_path, database_url, monkeypatch
):
    from linkgate.store import Store

    store = Store(database_url)
    store.create_schema()
    monkeypatch.setattr(linkgate.store.accounts, "THROTTLE_ROWS", 3)
    at = linkgate.accounts.now()
    keys = [linkgate.accounts.name_key("secret", f"nobody-{number}") for number in range(5)]
    for number, key in enumerate(keys):
        moment = at + timedelta(seconds=number)
        assert store.accounts.begin_unknown_attempt(key, 0, moment, fresh=False, forget_before=at) == 1
    kept = {key for (key,) in database_query(database_url, "SELECT name_key FROM sign_in_throttle")}
    assert kept == set(keys[2:])  # at most three, the oldest gone first
    assert (
        store.accounts.begin_unknown_attempt(keys[4], 0, at, fresh=False, forget_before=at) is None
    )  # counted already
    later = at + timedelta(minutes=16)
    store.accounts.lock_unknown(keys[3], later + timedelta(minutes=1))
    store.accounts.begin_unknown_attempt(
        keys[0], 0, later, fresh=False, forget_before=later - timedelta(minutes=15)
    )
    kept = {key for (key,) in database_query(database_url, "SELECT name_key FROM sign_in_throttle")}
    assert kept == {keys[0], keys[3]}  # forgotten once they can change no answer; a lock in force is kept
    assert all("nobody" not in key for key in kept)


# ---- next: only a path of this console ----------------------------------------------------------------

OFF_THE_CONSOLE = [
    "/admin\r\nX:1",
    "/admin/\r\nSet-Cookie: session=x",
    "/admin/\nX:1",
    "/admin/\x00",
    "/admin/\x7f",
    "/admin/\t/evil.example",
    "/admin/%0d%0aX:1",
    "/admin/%0aX:1",
    "/admin/%09",
    "/admin/%00",
    "//evil.example/admin",
    "///evil.example/admin",
    "/\\evil.example",
    "/admin/\\evil.example",
    "/admin\\..\\..\\evil.example",
    "/admin/%5cevil.example",
    "/admin/%5Cevil.example",
    "/admin/%2f%2fevil.example",
    "/admin/%2F/evil.example",
    "/admin/../go?url=https://evil.example/",
    "/admin/./",
    "/admin/%2e%2e/go?url=https://evil.example/",
    "/admin/%2E%2E/%2e%2e/evil",
    "/admin/.%2e/go",
    "/admin/%252e%252e/go",
    "/admin/%252f%252fevil.example",
    "https://evil.example/admin",
    "https:/admin",
    "https:evil.example",
    "http://127.0.0.1/admin",
    "javascript:alert(1)",
    "data:text/html,x",
    " /admin/",
    "\t/admin/",
    "admin/",
    "/adminevil",
    "/admin.evil.example",
    "/admin@evil.example",
    "/admin/ rules",
    "/admin/règles",
    "/go?url=https://evil.example/",
    "/admin/" + "a" * 3000,
]
IN_THE_CONSOLE = [
    "/admin",
    "/admin/",
    "/admin/rules/?kind=block",
    "/admin/sites/?q=b%C3%BCcher.example&status=found",
    "/admin/log/?who=cli%3Aroot#entries",
    "/admin/sites/example.org",
]


def test_next_outside_the_console_leads_to_the_dashboard_signed_in_or_on_sign_in(app):
    browser = sign_in(app)
    assert browser.get("/admin/login?next=/admin%0d%0aX:1").headers["Location"] == "/admin/"
    token = csrf(browser, "/admin/rules/")
    for target in OFF_THE_CONSOLE:
        for answered in (
            browser.get("/admin/login", query_string={"next": target}),
            browser.post("/admin/login", data={"csrf_token": token, "next": target}),
        ):
            assert (answered.status_code, answered.headers["Location"]) == (302, "/admin/"), repr(target)
    for target in IN_THE_CONSOLE:
        assert browser.get("/admin/login", query_string={"next": target}).headers["Location"] == target


def test_sign_in_returns_to_next_only_when_it_is_a_console_path(app):
    """The sign-in page judges ``next`` as above (one judge); a few spellings here, as each costs a hash."""
    for target in OFF_THE_CONSOLE:
        page = app.test_client().get("/admin/login", query_string={"next": target}).get_data(as_text=True)
        assert 'name="next" value=""' in page, repr(target)
    for target in (
        "/admin\r\nX:1",
        "//evil.example/admin",
        "/admin/%2e%2e/go?url=x",
        "/admin/%5cevil.example",
    ):
        client = app.test_client()
        response = client.post(
            "/admin/login",
            data={"csrf_token": csrf(client), "name": "admin", "password": ADMIN_PASSWORD, "next": target},
        )
        assert (response.status_code, response.headers["Location"]) == (302, "/admin/"), repr(target)
    for target in IN_THE_CONSOLE[2:4]:
        client = app.test_client()
        response = client.post(
            "/admin/login",
            data={"csrf_token": csrf(client), "name": "admin", "password": ADMIN_PASSWORD, "next": target},
        )
        assert response.headers["Location"] == target


# ---- numbers too large for anything ---------------------------------------------------------------------

NOT_A_NUMBER_WE_USE = [HUGE, "2147483648", "-1", "abc", "1e3", " 1", "0x10", "١", "9" * 5000]


def test_every_number_in_a_console_address_is_bounded_and_never_a_500(app):
    browser = sign_in(app)
    pages = ["/admin/rules/", "/admin/sites/", "/admin/log/", "/admin/audits/"]
    for path in pages:
        for value in [*NOT_A_NUMBER_WE_USE, "0", "1000001"]:
            response = browser.get(path, query_string={"page": value})
            assert response.status_code == 400, (path, value, response.status_code)
            assert "page must be a whole number from 1 to 1000000" in response.get_data(as_text=True)
        assert browser.get(path, query_string={"page": "1000000"}).status_code == 200
    for template in ("/admin/audits/{}", "/admin/rules/{}/edit", "/admin/rules/{}/delete"):
        for value in [*NOT_A_NUMBER_WE_USE, "2147483647"]:
            path = template.format(value)
            assert browser.get(path).status_code == 404, path
    token = csrf(browser, "/admin/rules/import")
    for value in [*NOT_A_NUMBER_WE_USE, ""]:
        response = browser.post(
            "/admin/rules/import/confirm", data={"csrf_token": token, "csv": "", "version": value}
        )
        assert response.status_code == 400, (value, response.status_code)
    for path in ("/admin/api/sites", "/admin/api/log"):
        for name, high in (("offset", 1_000_000_000), ("limit", 500)):
            for value in [*NOT_A_NUMBER_WE_USE, str(high + 1)]:
                response = browser.get(path, query_string={name: value})
                assert response.status_code == 400, (path, name, value, response.status_code)
                low = 0 if name == "offset" else 1
                assert response.get_json() == {"error": f"{name}: a whole number from {low} to {high}"}
            assert browser.get(path, query_string={name: str(high)}).status_code == 200


def test_days_in_a_console_address_are_bounded_and_never_a_500(app):
    browser = sign_in(app)
    for path in (
        "/admin/stats/",
        "/admin/stats/clicks.csv",
        "/admin/api/stats",
        "/admin/log/",
        "/admin/api/log",
    ):
        for query in (
            {"to": "0001-01-01"},
            {"from": "0001-01-01", "to": "0001-01-02"},
            {"from": "9999-12-31", "to": "9999-12-31"},
            {"to": "9999-12-31"},
            {"from": "+99999-01-01"},
        ):
            response = browser.get(path, query_string=query)
            assert response.status_code == 400, (path, query, response.status_code)


# ---- the mount point and the host come from the configuration ---------------------------------------------


def test_a_script_name_from_the_request_never_becomes_the_mount_point(app):
    client = app.test_client()
    for path in ("/go", "/admin/login", "/healthz"):
        response = client.get(
            path,
            query_string={"url": "https://www.example.org/"},
            environ_overrides={"SCRIPT_NAME": "//evil.example"},
        )
        assert response.status_code == 404, path  # //evil.example/go is no address of the gate
        assert "evil.example" not in response.get_data(as_text=True), path
    notice = client.get(
        "/go", query_string={"url": "https://www.example.org/"}, environ_overrides={"SCRIPT_NAME": ""}
    )
    assert notice.status_code == 200
    assert 'href="/static/' in notice.get_data(as_text=True)


def test_redirects_never_name_the_host_a_request_says(app):
    client = app.test_client()
    for path, location in (("/admin/rules", "/admin/rules/"), ("/admin", "/admin/"), ("/admin/", None)):
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code in (302, 308), path
        assert "evil.example" not in response.headers["Location"], path
        if location is not None:
            assert response.headers["Location"] == location
    signed_in = sign_in(app)
    moved = signed_in.get("/admin/sites", query_string={"q": "x"}, headers={"Host": "evil.example:8443"})
    assert moved.headers["Location"] == "/admin/sites/?q=x"


def test_under_a_configured_mount_point_the_console_and_its_cookie_live_there(tmp_path, database_url):
    mounted = in_process_app(
        tmp_path / "instance", database_url, SERVER_PUBLIC_URL="https://gate.example/links/"
    )
    runtime: WebRuntime = mounted.extensions["linkgate"]
    try:
        create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
        client = mounted.test_client()
        assert 'action="/links/admin/login"' in client.get("/links/admin/login").get_data(as_text=True)
        response = client.post(
            "/links/admin/login",
            data={
                "csrf_token": csrf(client, "/links/admin/login"),
                "name": "admin",
                "password": ADMIN_PASSWORD,
                "next": "/admin/log/",
            },
        )
        assert response.headers["Location"] == "/links/admin/log/"
        assert "Path=/links/admin" in response.headers["Set-Cookie"]
        assert client.get("/links/admin/log/").status_code == 200
        assert client.get("/links/admin/rules").headers["Location"] == "/links/admin/rules/"
        # A proxy that strips the mount point: the same pages, links still under it.
        assert 'action="/links/admin/login"' in mounted.test_client().get("/admin/login").get_data(
            as_text=True
        )
    finally:
        runtime.shutdown()


def test_a_sign_in_with_a_name_no_account_can_have_is_not_right_never_a_503(app, caplog):
    """PostgreSQL cannot compare text holding NUL; the sign-in's log line looked such a name up (503)."""
    client = app.test_client()
    for name in ("ad\x00min", "ad min", "x" * 300):
        answer = client.post(
            "/admin/login", data={"csrf_token": csrf(client), "name": name, "password": "not the password"}
        )
        assert answer.status_code in (200, 429), name
        assert "not right" in answer.get_data(as_text=True) or answer.status_code == 429
    caplog.clear()
    with caplog.at_level("INFO", logger="linkgate.web.admin.auth"):
        client.post(
            "/admin/login", data={"csrf_token": csrf(client), "name": "Second", "password": "wrong one"}
        )
    (line,) = [record for record in caplog.records if getattr(record, "event", None) == "sign_in"]
    assert line.account == "second"  # named as the account is, whatever its case when typed
