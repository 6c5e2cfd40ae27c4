"""Hardening checks from the outside review of issue 14's work: new cases of each class the issue named
(hostile pages, over-long values, floods, what anonymous answers reveal, remote privacy links, sessions,
small input tricks), each of which failed before its fix."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from linkgate.accounts import AccountError, check_new_account, create_account
from linkgate.audit.extract import read_page
from linkgate.audit.history import diff_runs
from linkgate.classify import make_rule
from linkgate.cli import main
from linkgate.errors import RuleError
from linkgate.rulesio import read_rules_csv
from linkgate.store import Store
from tests.conftest import in_process_app
from tests.console import ADMIN_PASSWORD, csrf_token


def _attribute_flood(count: int) -> bytes:
    names = " ".join(f"d{i}" for i in range(count))
    return (
        "<html><head><title>Flood</title></head><body>\n"
        '<a href="/first" target="_blank">First page</a>\n'
        f'<a href="/flooded" rel="noopener" {names}>Flooded</a>\n'
        "<!-- a comment -->\n"
        '<p><a href="/last" aria-label="Last page">x</a></p></body></html>'
    ).encode()


def test_the_audit_reads_one_element_of_a_hundred_thousand_attributes_in_linear_time():
    # libxml2's tree adds each attribute by walking its element's attributes to the end: 2 MB of them took
    # 323 s in read_page, a County page (up to 5 MB) or a checked page could hold a crawl that long.
    page = _attribute_flood(100_000)
    started = time.process_time()
    reading = read_page(page, "https://site.test/dir/page")
    assert time.process_time() - started < 2.0
    assert [(link.url, link.line, link.text, link.target_blank_unsafe) for link in reading.links] == [
        ("https://site.test/first", 2, "First page", True),
        ("https://site.test/flooded", 3, "Flooded", False),
        ("https://site.test/last", 5, "Last page", False),
    ]
    assert reading.title == "Flood"
    assert reading == read_page(_attribute_flood(0), "https://site.test/dir/page")


def _console(tmp_path: Path, database_url: str, name: str) -> tuple[Any, FlaskClient]:
    app = in_process_app(tmp_path / "instance", database_url)
    runtime = app.extensions["linkgate"]
    create_account(runtime.store, name, ADMIN_PASSWORD, "admin", "test")
    client = app.test_client()
    form = {"name": name, "password": ADMIN_PASSWORD, "csrf_token": csrf_token(client.get("/admin/login"))}
    assert client.post("/admin/login", data=form).status_code == 302
    return runtime, client


def test_an_account_name_leaves_room_for_its_prefix_in_every_record_of_a_change(tmp_path, database_url):
    # Changes are recorded as "web:" + the account's name in 128-character columns: an admin named with
    # 125 to 128 characters could sign in but change nothing on PostgreSQL (every change failed).
    with pytest.raises(AccountError, match="1 to 124"):
        check_new_account("a" * 125, ADMIN_PASSWORD, "admin")
    longest = "b" * 124
    runtime, client = _console(tmp_path, database_url, longest)
    try:
        form = {"name": "long-name.example", "scope": "domain", "kind": "block", "action": "", "note": ""}
        form["csrf_token"] = csrf_token(client.get("/admin/rules/new"))
        assert client.post("/admin/rules/new", data=form).status_code == 302
        (record,) = runtime.store.rules.page(search="long-name.example").records
        assert record.created_by == f"web:{longest}"
    finally:
        runtime.shutdown()


def test_an_audit_link_of_thousands_of_characters_is_stored_with_the_run_and_compared_across_runs(
    database_url,
):
    # audit_problems is keyed on the link's address: PostgreSQL refuses an index entry over 2,704 bytes,
    # so one link of 5,000 characters on a County page lost the whole run ("the database is unavailable").
    store = Store(database_url)
    store.create_schema()
    long = "https://www.missoulacounty.us/search?q=" + "".join(f"{i:x}" for i in range(1500))
    other = long[:-1] + "z"  # the same first thousands of characters
    now = datetime.now(UTC)
    run = {"start_url": "https://www.missoulacounty.us/", "started_at": now, "finished_at": now}
    run |= {"partial": False, "pages": 1, "links": 3, "problems": {"broken": 3}}
    problems = [(url, "broken", long, "HTTP 404") for url in (long, other, "https://ok.example/")]
    first = store.audits.add(run, problems, "cli:test")
    second = store.audits.add(run, problems, "cli:test")
    stored = store.audits.problems(first)
    assert len(stored) == 3 and len({row.url for row in stored}) == 3
    assert all(row.url.startswith(long[:1950]) for row in stored if row.url != "https://ok.example/")
    assert {row.page for row in stored} == {long}
    change = diff_runs(store, store.audits.get(second))
    assert (change.new, change.fixed, change.unchanged) == ([], [], 3)


def test_a_rule_note_with_a_nul_character_is_refused_by_name_wherever_it_comes_from(tmp_path, database_url):
    # PostgreSQL's text cannot hold NUL: a note with one answered 503 "the database is unavailable" in the
    # console, and stopped an import, instead of saying what is wrong with the note.
    with pytest.raises(RuleError, match="note"):
        make_rule("nul.example", "block", note="a\x00b")
    parsed = read_rules_csv(b"pattern,exact,kind,action,note\r\n*.nul.example,,block,,a\x00b\r\n")
    assert parsed.rules == () and [str(problem) for problem in parsed.problems if "note" in str(problem)]
    runtime, client = _console(tmp_path, database_url, "admin")
    try:
        form = {"name": "nul.example", "scope": "domain", "kind": "block", "action": "", "note": "a\x00b"}
        form["csrf_token"] = csrf_token(client.get("/admin/rules/new"))
        response = client.post("/admin/rules/new", data=form)
        assert response.status_code == 400
        assert "control character" in response.get_data(as_text=True)
        assert runtime.store.rules.page(search="nul.example").total == 0
    finally:
        runtime.shutdown()


def test_a_nul_in_a_console_search_finds_nothing_and_in_a_sign_in_name_is_an_unknown_name(
    tmp_path, database_url
):
    # PostgreSQL cannot compare text holding NUL: the search boxes and the sign-in answered 503 ("the
    # database is unavailable"), the sign-in to anyone, where any other unknown name answers "not right".
    runtime, client = _console(tmp_path, database_url, "admin")
    try:
        runtime.store.rules.add(make_rule("nul.example", "block", note="a b"), "test")
        for path in ("/admin/rules/?q=a%00b", "/admin/sites/?q=a%00b", "/admin/log/?target=a%00b"):
            response = client.get(path)
            assert response.status_code == 200 and "nul.example" not in response.get_data(as_text=True), path
        assert client.get("/admin/rules/?q=nul").get_data(as_text=True).count("nul.example") >= 1
        assert client.get("/admin/api/sites?q=a%00b").get_json()["total"] == 0
        anonymous = client.application.test_client()
        answers = []
        for name in ("a\x00b", "nobody"):
            form = {"name": name, "password": "wrong password", "csrf_token": ""}
            form["csrf_token"] = csrf_token(anonymous.get("/admin/login"))
            response = anonymous.post("/admin/login", data=form)
            answers.append((response.status_code, "not right" in response.get_data(as_text=True)))
        assert answers[0] == answers[1] == (200, True)
    finally:
        runtime.shutdown()


def test_a_command_run_by_a_user_with_a_very_long_login_name_still_records_its_change(
    tmp_path, database_url, monkeypatch
):
    # The command's actor is "cli:" + the login name, in 128-character columns: a name from LOGNAME of
    # 200 characters made every change fail on PostgreSQL ("The database cannot be read: value too long").
    monkeypatch.setenv("LOGNAME", "u" * 200)
    environment = {"LINKGATE_INSTANCE": str(tmp_path / "instance"), "LINKGATE_DATABASE_URL": database_url}
    result = CliRunner(env=environment).invoke(main, ["block", "long-login.example"])
    assert result.exit_code == 0, result.output
    (record,) = Store(database_url).rules.page(search="long-login.example").records
    assert record.created_by.startswith("cli:uuu") and len(record.created_by) <= 128
