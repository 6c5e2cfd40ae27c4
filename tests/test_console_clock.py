"""One clock: the County's time zone (``county.timezone``) for every time shown and every day filtered, in
the console, its JSON and the command line, labelled with the zone; in process, on the run's database.

An entry made at 19:30 in Denver on 6 December 2026 is stored as 02:30 UTC on the 7th: it is an entry of
the County's 6 December, and a filter for that day finds it.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from linkgate.classify import make_rule
from linkgate.cli import main
from linkgate.clock import county_day_bounds, county_time, county_today
from linkgate.store.schema import change_log, rules, sites
from linkgate.web.app_runtime import WebRuntime
from tests.conftest import signed_in_client

EVENING = datetime(2026, 12, 7, 2, 30, 15, tzinfo=UTC)  # 19:30:15 MST on 6 December
SUMMER = datetime(2026, 7, 1, 18, 5, tzinfo=UTC)  # 12:05 MDT


def test_county_time_shows_the_zone_it_is_in():
    assert county_time(EVENING, "America/Denver") == "2026-12-06 19:30 MST"
    assert county_time(EVENING, "America/Denver", seconds=True) == "2026-12-06 19:30:15 MST"
    assert county_time(SUMMER, "America/Denver") == "2026-07-01 12:05 MDT"
    assert county_time(EVENING.replace(tzinfo=None), "America/Denver") == "2026-12-06 19:30 MST"  # naive: UTC
    assert county_time(EVENING, "UTC") == "2026-12-07 02:30 UTC"


def test_a_county_day_is_bounded_in_utc():
    start, end = county_day_bounds(date(2026, 12, 6), date(2026, 12, 6), "America/Denver")
    assert (start, end) == (datetime(2026, 12, 6, 7, tzinfo=UTC), datetime(2026, 12, 7, 7, tzinfo=UTC))
    assert start is not None and start.utcoffset() is not None and start.tzinfo is UTC
    assert county_day_bounds(None, None, "America/Denver") == (None, None)
    # the day the clocks go back is 25 hours long
    start, end = county_day_bounds(date(2026, 11, 1), date(2026, 11, 1), "America/Denver")
    assert start is not None and end is not None and (end - start).total_seconds() == 25 * 3600


def test_the_county_date_is_not_the_utc_date_in_the_evening():
    assert county_today("America/Denver", EVENING) == date(2026, 12, 6)


# ---- the console ----------------------------------------------------------------------------------------


@pytest.fixture
def app(console_app: Flask) -> Flask:
    return console_app


def admin(app: Flask) -> FlaskClient:
    return signed_in_client(app)  # type: ignore[no-any-return]


def runtime_of(app: Flask) -> WebRuntime:
    return app.extensions["linkgate"]  # type: ignore[no-any-return]


def rule_made_in_the_evening(app: Flask) -> None:
    """A rule, and its change-log entry, made at 19:30 Denver time on 6 December 2026."""
    store = runtime_of(app).store
    store.rules.add(make_rule("evening.example", "allow"), "test")
    with store.db.begin() as conn:
        conn.execute(
            sa.update(change_log).where(change_log.c.target == "*.evening.example").values(at=EVENING)
        )
        conn.execute(sa.update(rules).values(created_at=EVENING, updated_at=EVENING))


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return html.unescape(response.get_data(as_text=True))


def test_the_change_log_filters_by_county_days(app):
    rule_made_in_the_evening(app)
    client = admin(app)
    found = page(client, "/admin/log/?from=2026-12-06&to=2026-12-06")
    assert "*.evening.example" in found
    assert "2026-12-06 19:30:15 MST" in found
    assert "*.evening.example" not in page(client, "/admin/log/?from=2026-12-07&to=2026-12-07")
    assert "*.evening.example" in page(client, "/admin/log/?to=2026-12-06")
    assert "*.evening.example" not in page(client, "/admin/log/?to=2026-12-05")


def test_the_change_logs_json_filters_by_county_days_and_keeps_utc(app):
    rule_made_in_the_evening(app)
    client = admin(app)
    found = client.get("/admin/api/log?from=2026-12-06&to=2026-12-06").get_json()
    targets = [entry["target"] for entry in found["entries"]]
    assert targets == ["*.evening.example"]
    assert found["entries"][0]["at"].startswith("2026-12-07T02:30:15")
    later = client.get("/admin/api/log?from=2026-12-07&to=2026-12-07&target=evening").get_json()
    assert later["entries"] == []


def test_the_date_fields_are_text_with_a_hint_that_matches_them(app):
    text = page(admin(app), "/admin/log/")
    for key in ("from", "to"):
        assert f'id="log-{key}" name="{key}" type="text" inputmode="numeric"' in text
        assert f'aria-describedby="log-{key}-hint"' in text
    assert "A County day (America/Denver) as year-month-day, for example 2026-03-31." in text
    assert 'type="date"' not in text
    assert 'type="date"' not in page(admin(app), "/admin/stats/")


def test_rules_and_sites_show_county_time_with_the_zone(app):
    rule_made_in_the_evening(app)
    store = runtime_of(app).store
    store.sites.set_override("evening.example", None, "test")
    with store.db.begin() as conn:
        conn.execute(sa.update(sites).values(checked_at=EVENING))
    client = admin(app)
    assert "2026-12-06 19:30 MST" in page(client, "/admin/rules/")
    listed = page(client, "/admin/sites/")
    assert "2026-12-06 19:30 MST" in listed and " UTC" not in listed
    assert "2026-12-06 19:30:15 MST" in page(client, "/admin/sites/evening.example")


# ---- the command line -----------------------------------------------------------------------------------


def run_cli(app: Flask, tmp_path: Path, *args: str) -> Any:
    env = {
        "LINKGATE_INSTANCE": str(tmp_path / "instance"),
        "LINKGATE_DATABASE_URL": runtime_of(app).settings.database_url,
        "LINKGATE_CONFIG": "",
    }
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_command_line_shows_and_filters_county_time(app, tmp_path):
    rule_made_in_the_evening(app)
    store = runtime_of(app).store
    store.sites.set_override("evening.example", None, "test")
    with store.db.begin() as conn:
        conn.execute(sa.update(sites).values(checked_at=EVENING))
    logged = run_cli(app, tmp_path, "log", "--from", "2026-12-06", "--to", "2026-12-06")
    assert logged.startswith("2026-12-06 19:30:15 MST  ")
    assert "*.evening.example" in logged
    later = run_cli(
        app, tmp_path, "log", "--from", "2026-12-07", "--to", "2026-12-07", "--target", "*.evening"
    )
    assert "*.evening.example" not in later
    assert "2026-12-06 19:30 MST" in run_cli(app, tmp_path, "sites", "list")
    assert "2026-12-06 19:30:15 MST" in run_cli(app, tmp_path, "sites", "show", "evening.example")


def test_accounts_list_shows_a_lock_in_county_time(app, tmp_path):
    store = runtime_of(app).store
    later = datetime(2099, 1, 15, 20, 0, tzinfo=UTC)
    with store.db.begin() as conn:
        conn.execute(
            sa.text("UPDATE accounts SET locked_until = :until WHERE name = 'admin'"), {"until": later}
        )
    assert "admin                    admin    locked until 2099-01-15 13:00 MST" in run_cli(
        app, tmp_path, "accounts", "list"
    )


# ---- the audit's report ---------------------------------------------------------------------------------


def test_the_audit_report_shows_county_time_with_the_zone(tmp_path):
    from linkgate.audit import write_reports
    from tests.test_audit_report import written_report

    (tmp_path / "first").mkdir()
    document, _ = written_report(tmp_path / "first")
    (tmp_path / "denver").mkdir()
    (path,) = write_reports(document, tmp_path / "denver", ["html"], timezone="America/Denver")
    text = path.read_text(encoding="utf-8")
    started = datetime.fromisoformat(document["started_at"])
    shown = county_time(started, "America/Denver", seconds=True)
    assert shown.endswith((" MST", " MDT"))
    assert f'Started <time datetime="{document["started_at"]}">{shown}</time>' in text
    assert f"– {shown[:10]}</title>" in text


def test_the_sign_in_page_says_when_a_lock_ends_in_county_time_with_the_zone(app):
    from linkgate.accounts import LoginResult
    from linkgate.web.admin.auth import failure_message

    settings = app.extensions["linkgate"].settings
    with app.test_request_context("/admin/login"):
        message = failure_message(LoginResult(wait_seconds=900, locked_until=EVENING), settings)
    assert message.endswith("Try again after 2026-12-06 19:30 MST.")
