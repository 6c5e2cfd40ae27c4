"""Managing console accounts on the command line, and what a change does to a signed-in session."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.console import ADMIN_PASSWORD, Browser, create_account, query, signed_in

pytestmark = pytest.mark.server

GOOD_RULE = {"scope": "domain", "kind": "allow", "action": "", "note": ""}


def accounts(server) -> dict[str, dict]:
    listed = json.loads(server.cli("accounts", "list", "--json").stdout)["accounts"]
    return {row["name"]: row for row in listed}


def test_accounts_are_listed_with_role_and_lock(console):
    create_account(console, "listed-viewer", ADMIN_PASSWORD, role="viewer")
    found = accounts(console)
    assert found["listed-viewer"]["role"] == "viewer"
    assert found["listed-viewer"]["locked_until"] is None
    assert "password" not in json.dumps(found)  # never a hash
    assert "listed-viewer" in console.cli("accounts", "list").stdout


def test_changing_a_role_takes_effect_on_the_next_request(console):
    create_account(console, "demoted", ADMIN_PASSWORD)
    browser = signed_in(console, "demoted")
    assert (
        browser.submit("/admin/rules/new", {**GOOD_RULE, "name": "before-demotion.example"}).status_code
        == 302
    )
    console.cli("accounts", "set-role", "demoted", "viewer")
    assert browser.get("/admin/rules/").status_code == 302  # the change ends the session
    browser = signed_in(console, "demoted")
    token = browser.token("/admin/rules/")
    refused = browser.post(
        "/admin/rules/new", {**GOOD_RULE, "name": "after-demotion.example", "csrf_token": token}
    )
    assert refused.status_code == 403
    assert query(console, "SELECT COUNT(*) FROM rules WHERE name = 'after-demotion.example'") == [(0,)]
    log = query(
        console,
        "SELECT actor, before, after FROM change_log WHERE action = 'account.role' AND target = 'demoted'",
    )
    assert len(log) == 1
    assert log[0][0].startswith("cli")
    assert json.loads(log[0][1]) == {"role": "admin"} and json.loads(log[0][2]) == {"role": "viewer"}


def test_a_removed_account_is_signed_out_at_once(console):
    create_account(console, "leaving", ADMIN_PASSWORD)
    browser = signed_in(console, "leaving")
    assert browser.get("/admin/").status_code == 200
    assert console.cli("accounts", "remove", "leaving").stdout.strip() == "removed admin account leaving"
    assert browser.get("/admin/").status_code == 302
    assert query(
        console, "SELECT COUNT(*) FROM change_log WHERE action = 'account.remove' AND target = 'leaving'"
    ) == [(1,)]


@pytest.mark.parametrize(
    ("command", "stdin"),
    [
        (("accounts", "set-password", "{name}", "--password-stdin"), "an entirely new password\n"),
        (("accounts", "set-role", "{name}", "viewer"), None),
        (("accounts", "unlock", "{name}"), None),
        (("accounts", "remove", "{name}"), None),
    ],
    ids=["set-password", "set-role", "unlock", "remove-and-create-again"],
)
def test_an_account_command_ends_every_session_of_the_account_on_the_running_server(console, command, stdin):
    """A copy of the session's Cookie header, replayed after the command: signed out, no restart needed.
    A removed account made again under the same name does not bring its old sessions back."""
    name = f"copied-{command[1]}"
    create_account(console, name, ADMIN_PASSWORD)
    browser = signed_in(console, name)
    copied = {"Cookie": f"session={browser.cookie}"}
    assert console.get("/admin/", headers=copied).status_code == 200
    console.cli(*(part.format(name=name) for part in command), input=stdin)
    if command[1] == "remove":
        create_account(console, name, ADMIN_PASSWORD)
    replayed = console.get("/admin/rules/", headers=copied)
    assert replayed.status_code == 302
    assert urlsplit(replayed.headers["location"]).path == "/admin/login"
    assert browser.get("/admin/").status_code == 302


def test_a_new_password_replaces_the_old_and_is_never_logged(console):
    create_account(console, "renewed", ADMIN_PASSWORD)
    new_password = "an entirely new password"
    console.cli("accounts", "set-password", "renewed", "--password-stdin", input=new_password + "\n")
    assert Browser(console).log_in("renewed", ADMIN_PASSWORD).status_code == 200  # the old one fails
    assert Browser(console).log_in("renewed", new_password).status_code == 302
    rows = query(console, "SELECT before, after FROM change_log WHERE action = 'account.password'")
    assert rows and all(
        new_password not in (before + after) and "argon2" not in after for before, after in rows
    )


def test_unlock_lifts_a_lock_after_failed_sign_ins(make_app):
    server = make_app({"admin": {"login_slow_after": 50, "login_lock_after": 2}}, start=False)
    create_account(server, "locked-out", ADMIN_PASSWORD)
    server.start()
    for attempt in ("wrong password 1", "wrong password 2"):
        Browser(server).log_in("locked-out", attempt)
    assert accounts(server)["locked-out"]["locked_until"] is not None
    assert Browser(server).log_in("locked-out", ADMIN_PASSWORD).status_code == 429
    assert server.cli("accounts", "unlock", "locked-out").stdout.strip() == "locked-out: unlocked"
    assert Browser(server).log_in("locked-out", ADMIN_PASSWORD).status_code == 302
    assert server.cli("accounts", "unlock", "locked-out").stdout.strip() == "locked-out: was not locked"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ("accounts", "set-role", "nobody-at-all", "viewer"),
            None,
            'There is no account named "nobody-at-all".',
        ),
        (("accounts", "remove", "nobody-at-all"), None, 'There is no account named "nobody-at-all".'),
        (("accounts", "set-password", "admin", "--password-stdin"), "short\n", "at least 12 characters"),
    ],
)
def test_account_commands_refuse_bad_input_with_one_line_and_status_2(console, args, stdin, message):
    result = console.cli(*args, check=False, input=stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_last_admin_cannot_be_removed_or_demoted(make_app):
    server = make_app(start=False)
    create_account(server, "only-admin", ADMIN_PASSWORD)
    for args in (("accounts", "remove", "only-admin"), ("accounts", "set-role", "only-admin", "viewer")):
        result = server.cli(*args, check=False)
        assert result.returncode == 2
        assert "last admin account" in result.stderr
    assert accounts(server)["only-admin"]["role"] == "admin"
