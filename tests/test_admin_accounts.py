"""Accounts in the console: an administrator adds, removes, sets roles, sets new passwords and unlocks;
everyone changes their own password. The rules and the log are the command line's."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from linkgate.accounts import password_matches
from tests.console import ADMIN_PASSWORD, VIEWER_PASSWORD, Browser, create_account, query, signed_in

pytestmark = pytest.mark.server

NEW_PASSWORD = "a brand new passphrase"


def text_of(response: httpx.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def logged(server, action: str, target: str) -> list[tuple[str, dict | None, dict | None]]:
    rows = query(
        server,
        "SELECT actor, before, after FROM change_log WHERE action = ? AND target = ? ORDER BY id",
        action,
        target,
    )
    return [
        (actor, before and json.loads(before), after and json.loads(after)) for actor, before, after in rows
    ]


def role_of(server, name: str) -> list[tuple]:
    return query(server, "SELECT role FROM accounts WHERE name = ?", name)


def add(browser: Browser, name: str, role: str = "viewer", password: str = ADMIN_PASSWORD) -> httpx.Response:
    return browser.submit("/admin/accounts/", {"name": name, "role": role, "password": password})


def test_every_account_is_listed_and_the_add_form_is_for_administrators(console):
    admin_page = signed_in(console).get("/admin/accounts/")
    assert admin_page.status_code == 200
    assert re.findall(r'<tr data-account="([^"]+)">', admin_page.text)[:2] == ["admin", "viewer"]
    assert 'id="account-add"' in admin_page.text
    assert "argon2" not in admin_page.text
    viewer_page = signed_in(console, "viewer", VIEWER_PASSWORD).get("/admin/accounts/")
    assert viewer_page.status_code == 200 and 'id="account-add"' not in viewer_page.text
    assert 'href="/admin/accounts/"' in viewer_page.text  # in the menu


def test_an_administrator_adds_an_account_that_can_sign_in_and_it_is_logged(console):
    admin = signed_in(console)
    done = add(admin, "Added.Person", "viewer")
    assert done.status_code == 302
    assert "Added the viewer account added.person." in text_of(admin.get("/admin/accounts/"))
    assert role_of(console, "added.person") == [("viewer",)]
    assert logged(console, "account.add", "added.person") == [
        ("web:admin", None, {"name": "added.person", "role": "viewer"})
    ]
    assert Browser(console).log_in("added.person", ADMIN_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "", "role": "viewer", "password": ADMIN_PASSWORD}, "name", "Enter a name for the account."),
        ({"name": "has space", "role": "viewer", "password": ADMIN_PASSWORD}, "name", "An account name is"),
        ({"name": "short-pw", "role": "viewer", "password": "short"}, "password", "at least 12 characters"),
        ({"name": "same-as-name", "role": "viewer", "password": "same-as-name"}, "password", "not be the"),
        (
            {"name": "same-as-name-1", "role": "viewer", "password": "Same-As-Name-1"},
            "password",
            "not be the",
        ),
        ({"name": "bad-role", "role": "owner", "password": ADMIN_PASSWORD}, "role", 'not "owner"'),
        ({"name": "admin", "role": "viewer", "password": ADMIN_PASSWORD}, "name", "already an account"),
    ],
)
def test_a_bad_new_account_is_named_next_to_its_field_and_in_the_summary(console, fields, field, message):
    admin = signed_in(console)
    before = query(console, "SELECT COUNT(*) FROM accounts")
    refused = admin.submit("/admin/accounts/", fields)
    assert refused.status_code == 400
    assert "<title>Error:" in refused.text
    summary = refused.text.split('class="error-summary"')[1].split("</div>")[0]
    assert 'tabindex="-1" autofocus' in refused.text.split("<h2")[0].split('class="error-summary"')[1]
    assert message in html.unescape(summary)
    ids = {"name": "account-name", "role": "account-role-admin", "password": "account-password"}
    assert f'href="#{ids[field]}"' in summary
    assert query(console, "SELECT COUNT(*) FROM accounts") == before
    assert 'name="password" type="password" autocomplete="new-password" required' in refused.text  # empty


def test_an_administrator_changes_a_role_and_the_account_is_signed_out(console):
    create_account(console, "to-promote", ADMIN_PASSWORD, role="viewer")
    theirs = signed_in(console, "to-promote")
    admin = signed_in(console)
    page = "/admin/accounts/to-promote"
    assert admin.submit(page + "/role", {"role": "admin"}, form_path=page).status_code == 302
    assert role_of(console, "to-promote") == [("admin",)]
    assert theirs.get("/admin/").status_code == 302  # their session ended
    assert logged(console, "account.role", "to-promote") == [
        ("web:admin", {"role": "viewer"}, {"role": "admin"})
    ]
    same = admin.submit(page + "/role", {"role": "admin"}, form_path=page)
    assert "already has the role admin" in text_of(admin.get(page)) and same.status_code == 302
    assert len(logged(console, "account.role", "to-promote")) == 1


def test_an_administrator_sets_a_new_password_which_also_unlocks(make_app):
    server = make_app({"admin": {"login_slow_after": 50, "login_lock_after": 2}}, start=False)
    create_account(server, "admin", ADMIN_PASSWORD)
    create_account(server, "forgetful", ADMIN_PASSWORD, role="viewer")
    server.start()
    for attempt in ("wrong password 1", "wrong password 2"):
        Browser(server).log_in("forgetful", attempt)
    admin = signed_in(server)
    page = "/admin/accounts/forgetful"
    assert "locked after 2 failed sign-ins" in text_of(admin.get(page))
    short = admin.submit(page + "/password", {"password": "short"}, form_path=page)
    assert short.status_code == 400 and "at least 12 characters" in html.unescape(short.text)
    assert admin.submit(page + "/password", {"password": NEW_PASSWORD}, form_path=page).status_code == 302
    assert Browser(server).log_in("forgetful", NEW_PASSWORD).status_code == 302
    entries = logged(server, "account.password", "forgetful")
    assert entries == [("web:admin", {"password": "old"}, {"password": "new"})]
    assert NEW_PASSWORD not in json.dumps(query(server, "SELECT before, after FROM change_log"))


def test_an_administrator_unlocks_an_account(make_app):
    server = make_app({"admin": {"login_slow_after": 50, "login_lock_after": 2}}, start=False)
    create_account(server, "admin", ADMIN_PASSWORD)
    create_account(server, "locked-out", ADMIN_PASSWORD, role="viewer")
    server.start()
    admin = signed_in(server)
    page = "/admin/accounts/locked-out"
    assert 'id="account-unlock"' not in admin.get(page).text
    for attempt in ("wrong password 1", "wrong password 2"):
        Browser(server).log_in("locked-out", attempt)
    assert Browser(server).log_in("locked-out", ADMIN_PASSWORD).status_code == 429
    listing = admin.get("/admin/accounts/").text
    assert "locked after failed sign-ins" in listing.split('data-account="locked-out"')[1].split("</tr>")[0]
    assert 'id="account-unlock"' in admin.get(page).text
    assert admin.submit(page + "/unlock", {}, form_path=page).status_code == 302
    assert "Unlocked locked-out" in text_of(admin.get(page))
    assert Browser(server).log_in("locked-out", ADMIN_PASSWORD).status_code == 302
    assert [actor for actor, _, _ in logged(server, "account.unlock", "locked-out")] == ["web:admin"]


def test_removing_an_account_asks_first_then_signs_it_out(console):
    create_account(console, "leaving-soon", ADMIN_PASSWORD, role="viewer")
    theirs = signed_in(console, "leaving-soon")
    admin = signed_in(console)
    asked = admin.get("/admin/accounts/leaving-soon/remove")
    assert asked.status_code == 200
    assert "Remove the account leaving-soon?" in text_of(asked)
    assert "can no longer sign in" in text_of(asked)
    first_post = admin.post(
        "/admin/accounts/leaving-soon/remove", {"csrf_token": admin.token("/admin/accounts/")}
    )
    assert first_post.status_code == 200 and 'id="remove-confirm"' in first_post.text  # still asks
    assert role_of(console, "leaving-soon") == [("viewer",)]
    done = admin.submit(
        "/admin/accounts/leaving-soon/remove",
        {"confirmed": "1"},
        form_path="/admin/accounts/leaving-soon/remove",
    )
    assert done.status_code == 302 and done.headers["location"] == "/admin/accounts/"
    assert role_of(console, "leaving-soon") == []
    assert theirs.get("/admin/").status_code == 302
    assert logged(console, "account.remove", "leaving-soon") == [
        ("web:admin", {"name": "leaving-soon", "role": "viewer"}, None)
    ]
    assert admin.get("/admin/accounts/leaving-soon").status_code == 404
    for no_such in ("nobody-here", "a%00b", "%C3%A9t%C3%A9", "x" * 300):
        assert admin.get(f"/admin/accounts/{no_such}").status_code == 404, no_such


def test_the_last_administrator_cannot_be_removed_or_demoted(make_app):
    server = make_app(start=False)
    create_account(server, "only-admin", ADMIN_PASSWORD)
    create_account(server, "a-viewer", ADMIN_PASSWORD, role="viewer")
    server.start()
    admin = signed_in(server, "only-admin")
    page = "/admin/accounts/only-admin"
    demoted = admin.submit(page + "/role", {"role": "viewer"}, form_path=page)
    assert demoted.status_code == 400
    assert '"only-admin" is the last admin account; make another admin first.' in html.unescape(demoted.text)
    removed = admin.submit(page + "/remove", {"confirmed": "1"}, form_path=page + "/remove")
    assert removed.status_code == 409
    assert "the last admin account" in html.unescape(removed.text)
    assert role_of(server, "only-admin") == [("admin",)]
    assert admin.get("/admin/").status_code == 200  # still signed in


def test_an_administrator_changing_their_own_role_keeps_this_session(console):
    create_account(console, "self-demoting", ADMIN_PASSWORD)
    me = signed_in(console, "self-demoting")
    page = "/admin/accounts/self-demoting"
    assert me.submit(page + "/role", {"role": "viewer"}, form_path=page).status_code == 302
    assert me.get("/admin/").status_code == 200  # this session goes on, now as a viewer
    assert me.get("/admin/rules/new").status_code == 403


def test_everyone_changes_their_own_password_with_the_current_one(console):
    create_account(console, "own-changer", VIEWER_PASSWORD, role="viewer")
    me = signed_in(console, "own-changer", VIEWER_PASSWORD)
    elsewhere = signed_in(console, "own-changer", VIEWER_PASSWORD)
    form = me.get("/admin/password")
    assert form.status_code == 200 and 'autocomplete="current-password"' in form.text
    wrong = me.submit(
        "/admin/password", {"current": "not my password", "password": NEW_PASSWORD, "again": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    assert "The current password is not right." in html.unescape(wrong.text)
    assert 'href="#own-current"' in wrong.text
    mismatch = me.submit(
        "/admin/password", {"current": VIEWER_PASSWORD, "password": NEW_PASSWORD, "again": "other"}
    )
    assert mismatch.status_code == 400 and "Type the same new password twice." in mismatch.text
    assert logged(console, "account.password", "own-changer") == []

    done = me.submit(
        "/admin/password", {"current": VIEWER_PASSWORD, "password": NEW_PASSWORD, "again": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert me.get("/admin/").status_code == 200  # this session goes on
    assert elsewhere.get("/admin/").status_code == 302  # the other one ended
    (stored,) = query(console, "SELECT password_hash FROM accounts WHERE name = 'own-changer'")[0]
    assert stored.startswith("$argon2id$") and password_matches(stored, NEW_PASSWORD)
    assert logged(console, "account.password", "own-changer") == [
        ("web:own-changer", {"password": "old"}, {"password": "new"})
    ]


def test_viewers_cannot_change_accounts(console):
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    token = viewer.token("/admin/accounts/")
    page = viewer.get("/admin/accounts/admin")
    assert page.status_code == 200 and "<form" not in page.text.split("</nav>", 1)[1]
    for path, data in (
        ("/admin/accounts/", {"name": "sneaky", "role": "admin", "password": ADMIN_PASSWORD}),
        ("/admin/accounts/viewer/role", {"role": "admin"}),
        ("/admin/accounts/admin/password", {"password": NEW_PASSWORD}),
        ("/admin/accounts/admin/unlock", {}),
        ("/admin/accounts/admin/remove", {"confirmed": "1"}),
    ):
        response = viewer.post(path, {"csrf_token": token, **data})
        assert response.status_code == 403, path
    assert viewer.get("/admin/accounts/admin/remove").status_code == 403
    assert role_of(console, "viewer") == [("viewer",)] and role_of(console, "sneaky") == []


def test_account_changes_need_the_forms_csrf_token(console):
    admin = signed_in(console)
    for path, data in (
        ("/admin/accounts/", {"name": "no-token", "role": "admin", "password": ADMIN_PASSWORD}),
        ("/admin/accounts/viewer/role", {"role": "admin"}),
        ("/admin/accounts/viewer/password", {"password": NEW_PASSWORD}),
        ("/admin/accounts/viewer/remove", {"confirmed": "1"}),
        ("/admin/password", {"current": ADMIN_PASSWORD, "password": NEW_PASSWORD, "again": NEW_PASSWORD}),
    ):
        for token in ({}, {"csrf_token": "forged"}):
            assert admin.post(path, {**data, **token}).status_code == 400, path
    assert role_of(console, "no-token") == [] and role_of(console, "viewer") == [("viewer",)]
    assert Browser(console).log_in("admin", ADMIN_PASSWORD).status_code == 302


def test_anonymous_visitors_are_sent_to_sign_in(console):
    for method, path in (
        ("GET", "/admin/accounts/"),
        ("GET", "/admin/password"),
        ("POST", "/admin/accounts/"),
    ):
        response = Browser(console).request(method, path)
        assert response.status_code == 302 and response.headers["location"].startswith("/admin/login")


def test_guessing_the_current_password_is_throttled_as_signing_in_is(make_app):
    server = make_app({"admin": {"login_slow_after": 50, "login_lock_after": 2}}, start=False)
    create_account(server, "admin", ADMIN_PASSWORD)
    server.start()
    me = signed_in(server)
    change = {"password": NEW_PASSWORD, "again": NEW_PASSWORD}
    for guess in ("guess number one", "guess number two"):
        refused = me.submit("/admin/password", {"current": guess, **change})
        assert refused.status_code == 400
    locked = me.submit("/admin/password", {"current": ADMIN_PASSWORD, **change})
    assert locked.status_code == 400
    assert "This account is locked for a while" in html.unescape(locked.text)
    (stored,) = query(server, "SELECT password_hash FROM accounts WHERE name = 'admin'")[0]
    assert password_matches(stored, ADMIN_PASSWORD)
    assert logged(server, "account.lock", "admin") and not logged(server, "account.password", "admin")
