"""Click counts and security events: one row the database refuses never holds back the others, an outage
keeps the batch, and every table and buffer has a bound. On a real database of the run's kind."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from linkgate.counts import ClickCounter
from linkgate.store import OTHER_DOMAIN, Store
from tests.conftest import ON_POSTGRES, in_process_app

DENVER = ZoneInfo("America/Denver")


def refuse(store: Store, table: str, column: str, value: str, sqlstate: str = "23514") -> None:
    """Make the database itself refuse the rows of ``table`` whose ``column`` is ``value``, as a broken
    constraint does (SQLite enforces no VARCHAR length, so a trigger is the refusal both databases make).
    ``sqlstate`` (PostgreSQL) picks the error: 23514 a check violation, 57P01 the server shutting down."""
    name = f"refuse_{table}_{sqlstate}"
    with store.db.engine.begin() as conn:
        if store.db.is_sqlite:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN NEW.{column} = '{value}' "
                f"BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            conn.exec_driver_sql(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '{sqlstate}'; "
                f"END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            )


def rename(store: Store, table: str, new_name: str) -> None:
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {new_name}")


def stored_clicks(store: Store, counter: ClickCounter) -> dict[tuple[str, str], int]:
    today = counter.today()
    return {
        (domain, outcome): count for _day, domain, outcome, count in store.counts.click_totals(today, today)
    }


def stored_events(store: Store, counter: ClickCounter) -> dict[str, int]:
    today = counter.today()
    return store.counts.events_by_kind(today, today)


# ---- one bad row ----------------------------------------------------------------------------------


def test_rows_the_database_refuses_are_dropped_and_logged_and_the_others_written(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    refuse(store, "click_counts", "domain", "refused.example")
    refuse(store, "security_events", "kind", "bad_api_token")
    counter = ClickCounter(store, DENVER)
    reported: list[tuple[str, str, int]] = []
    counter.report = lambda *figures: reported.append(figures)
    for domain, outcome, times in [
        ("first.example", "notice", 2),
        ("refused.example", "notice", 3),
        ("last.example", "redirect", 1),
    ]:
        for _ in range(times):
            counter.click(domain, outcome)
    counter.event("login_failure")
    counter.event("bad_api_token")
    counter.event("bad_api_token")

    with caplog.at_level(logging.INFO, logger="linkgate.counts"):
        assert counter.flush() is True

    assert stored_clicks(store, counter) == {("first.example", "notice"): 2, ("last.example", "redirect"): 1}
    assert stored_events(store, counter) == {"login_failure": 1}
    assert counter.pending == 0
    assert counter.can_write
    assert counter.dropped == {"refused": 5}
    assert reported == [("dropped", "refused", 3), ("dropped", "refused", 2)]
    # The log says what was dropped by its shape, never by the destination it names.
    assert "the click row of a 15-character domain, outcome notice, 3 clicks" in caplog.text
    assert "the security-event row of kind bad_api_token, 2 events" in caplog.text
    assert "refused.example" not in caplog.text
    assert counter.flush() is True  # nothing is left to try again


def test_a_domain_too_long_for_its_column_does_not_hold_back_the_other_counts(store: Store) -> None:
    """The issue's failure at the writer: the gate no longer sends such a domain (it is refused when
    parsed), but a row PostgreSQL refuses must not stop every count after it, as it did."""
    counter = ClickCounter(store, DENVER)
    too_long = "a" * 300 + ".com"
    counter.click("missoulian.com", "notice")
    counter.click(too_long, "notice")
    counter.event("login_failure")
    assert counter.flush() is True
    clicks = stored_clicks(store, counter)
    assert clicks[("missoulian.com", "notice")] == 1
    assert stored_events(store, counter) == {"login_failure": 1}
    if ON_POSTGRES:  # click_counts.domain is VARCHAR(253)
        assert (too_long, "notice") not in clicks
        assert counter.dropped == {"refused": 1}
    else:  # SQLite keeps any length
        assert clicks[(too_long, "notice")] == 1


@pytest.mark.skipif(not ON_POSTGRES, reason="a trigger cannot make SQLite fail as a lost server does")
def test_rows_not_yet_written_one_by_one_are_kept_when_the_database_goes_away(store: Store) -> None:
    refuse(store, "click_counts", "domain", "refused.example")
    refuse(store, "click_counts", "domain", "away.example", sqlstate="57P01")  # the server shutting down
    counter = ClickCounter(store, DENVER)
    for domain in ("first.example", "refused.example", "away.example", "last.example"):
        counter.click(domain, "notice")
    counter.event("invalid_url")

    assert counter.flush() is False
    assert stored_clicks(store, counter) == {("first.example", "notice"): 1}
    assert counter.dropped == {"refused": 1}
    assert counter.pending == 3  # away.example, last.example and the event, for the next flush
    assert not counter.can_write

    with store.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_click_counts_57P01 ON click_counts")
    assert counter.flush() is True
    assert stored_clicks(store, counter) == {
        ("first.example", "notice"): 1,
        ("away.example", "notice"): 1,
        ("last.example", "notice"): 1,
    }
    assert stored_events(store, counter) == {"invalid_url": 1}
    assert counter.can_write


# ---- the database away, or unable to write counts -------------------------------------------------


def test_a_batch_the_database_cannot_write_is_kept_and_written_when_it_can(store: Store) -> None:
    counter = ClickCounter(store, DENVER)
    counter.click("missoulian.com", "notice")
    counter.event("login_failure")
    rename(store, "click_counts", "click_counts_away")
    store.ping()  # the database answers: only the counts cannot be written

    assert counter.flush() is False
    assert not counter.can_write
    assert counter.pending == 2
    assert counter.dropped == {}

    rename(store, "click_counts_away", "click_counts")
    assert counter.flush() is True
    assert counter.can_write
    assert stored_clicks(store, counter) == {("missoulian.com", "notice"): 1}
    assert stored_events(store, counter) == {"login_failure": 1}


def test_healthz_is_degraded_while_counts_cannot_be_written(tmp_path: Path, database_url: str) -> None:
    app = in_process_app(tmp_path, database_url, SERVER_COUNTS_FLUSH_SECONDS="300")
    runtime = app.extensions["linkgate"]
    client = app.test_client()
    # Renamed before the first request starts the worker's upkeep, whose first flush could come any time.
    rename(runtime.store, "click_counts", "click_counts_away")
    try:
        assert client.get("/go", query_string={"url": "https://www.missoulacounty.us/"}).status_code == 302
        assert runtime.counts.flush() is False
        health = client.get("/healthz").get_json()
        assert (health["db"], health["counts"]) == ("degraded", "degraded")
    finally:
        rename(runtime.store, "click_counts_away", "click_counts")
    assert runtime.counts.flush() is True
    health = client.get("/healthz").get_json()
    assert (health["db"], health["counts"]) == ("ok", "ok")
    assert runtime.counts.pending == 0
    today = runtime.counts.today()
    assert runtime.store.counts.click_totals(today, today) == [(today, "missoulacounty.us", "redirect", 1)]
    runtime.shutdown()


# ---- bounds -----------------------------------------------------------------------------------------


def test_a_day_keeps_at_most_its_domains_and_counts_the_others_under_other(store: Store) -> None:
    counter = ClickCounter(store, DENVER, max_domains_per_day=3)
    for domain, times in [("a.example", 1), ("b.example", 4), ("c.example", 2), ("d.example", 3)]:
        for _ in range(times):
            counter.click(domain, "notice")
    assert counter.flush() is True
    # The batch's most clicked domains take the day's places; the least clicked goes under "(other)".
    assert stored_clicks(store, counter) == {
        ("b.example", "notice"): 4,
        ("d.example", "notice"): 3,
        ("c.example", "notice"): 2,
        (OTHER_DOMAIN, "notice"): 1,
    }
    counter.click("c.example", "block")  # a domain the day holds keeps being counted under its name
    counter.click("e.example", "notice")
    counter.click("e.example", "redirect")
    assert counter.flush() is True
    assert stored_clicks(store, counter) == {
        ("b.example", "notice"): 4,
        ("d.example", "notice"): 3,
        ("c.example", "notice"): 2,
        ("c.example", "block"): 1,
        (OTHER_DOMAIN, "notice"): 2,
        (OTHER_DOMAIN, "redirect"): 1,
    }
    assert counter.other == {"day_full": 3}


def test_servers_flushing_at_once_stay_within_the_days_bound(store: Store, database_url: str) -> None:
    stores = [store, *(Store(database_url) for _ in range(3))]
    counters = [ClickCounter(each, DENVER, max_domains_per_day=50) for each in stores]
    for number, counter in enumerate(counters):
        for index in range(40):
            counter.click(f"host{number}-{index}.example", "notice")
    start = threading.Barrier(len(counters))

    def flush(counter: ClickCounter) -> None:
        start.wait()
        assert counter.flush() is True

    threads = [threading.Thread(target=flush, args=(counter,)) for counter in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clicks = stored_clicks(store, counters[0])
    assert len([domain for domain, _ in clicks if domain != OTHER_DOMAIN]) == 50
    assert sum(clicks.values()) == 160
    assert clicks[(OTHER_DOMAIN, "notice")] == 110
    for other in stores[1:]:
        other.dispose()


def test_a_full_buffer_counts_new_domains_under_other(store: Store) -> None:
    counter = ClickCounter(store, DENVER, max_keys=2)
    reported: list[tuple[str, str, int]] = []
    counter.report = lambda *figures: reported.append(figures)
    for domain in ("a.example", "b.example", "c.example", "a.example", "d.example"):
        counter.click(domain, "notice")
    assert counter.other == {"buffer_full": 2}
    assert reported == [("other", "buffer_full", 1), ("other", "buffer_full", 1)]
    assert counter.flush() is True
    assert stored_clicks(store, counter) == {
        ("a.example", "notice"): 2,
        ("b.example", "notice"): 1,
        (OTHER_DOMAIN, "notice"): 2,
    }
    assert counter.dropped == {}


def test_only_known_security_event_kinds_are_counted(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    counter = ClickCounter(store, DENVER)
    counter.event("port_refused")  # what the fetcher reports besides ssrf_refused
    counter.event("credentials_refused")
    counter.event("x" * 200)
    assert counter.flush() is True
    assert stored_events(store, counter) == {"port_refused": 1, "credentials_refused": 1}
    assert "is not a security event kind" in caplog.text
