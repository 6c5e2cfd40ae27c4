"""The one trim of the store's bounded tables (linkgate.store.bounds), through each table that uses it: the
newest rows are kept, the trim is one DELETE that never counts the table, and a save of a large table
trims only on the saves the schedule picks. On SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from linkgate.store.bounds import MAX_SAVES_BETWEEN_TRIMS, TrimSchedule
from linkgate.store.schema import sites
from tests.test_audit_recheck import kept as kept_result

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@contextmanager
def statements(store: Any) -> Iterator[list[str]]:
    """The SQL statements the store sends while the block runs, as text in lower case."""
    sent: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.lower().split()))

    sa.event.listen(store.db.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", keep)


def save_destination(store: Any, number: int, keep: int) -> None:
    host = f"site{number}.example"
    store.destinations.record(
        host, {}, AT + timedelta(minutes=number), moved_to=None, parked=None, changed=None
    )
    store.destinations.trim(keep, when_due=True)


def save_site(store: Any, number: int, keep: int) -> None:
    store.sites.save_check(
        f"site{number}.example", {"status": "none", "checked_at": AT + timedelta(minutes=number)}
    )
    store.sites.trim(keep, when_due=True)


def save_archive(store: Any, number: int, keep: int) -> None:
    expires = AT + timedelta(days=30)
    store.archive.save(f"https://site{number}.example/", None, None, expires, broken=False, keep=keep)


def save_result(store: Any, number: int, keep: int) -> None:
    url = f"https://site{number}.example/"
    store.results.save([kept_result(url, AT + timedelta(minutes=number))], keep=keep)


def kept(store: Any, table: str) -> set[int]:
    """The numbers of the sites whose rows ``table`` keeps."""
    with store.db.connect() as conn:
        if table == "results":
            urls = conn.execute(sa.text("SELECT url FROM link_results")).scalars()
        elif table == "archive":
            urls = conn.execute(sa.text("SELECT url FROM archive_copies")).scalars()
        else:
            urls = conn.execute(sa.text(f"SELECT host FROM {table}")).scalars()
        return {int(url.split("site")[1].split(".")[0]) for url in urls}


SAVES: dict[str, Callable[[Any, int, int], None]] = {
    "destinations": save_destination,
    "sites": save_site,
    "archive": save_archive,
    "results": save_result,
}


def test_each_bounded_table_keeps_its_newest_rows_and_trims_without_counting_itself(store):
    for table, save in SAVES.items():
        with statements(store) as sent:
            for number in range(6):
                save(store, number, 3)
        assert kept(store, table) == {3, 4, 5}, table
        assert not [text for text in sent if "count(" in text], table
        deletes = [text for text in sent if text.startswith("delete")]
        assert len(deletes) == 6, table  # a bound this small is kept after every save, in one statement
        assert all(" offset " in text for text in deletes), table


def test_a_large_bound_is_trimmed_on_one_save_in_a_hundred_and_passes_it_by_no_more(store):
    keep = 150 * MAX_SAVES_BETWEEN_TRIMS  # one save in MAX_SAVES_BETWEEN_TRIMS trims
    with store.db.begin() as conn:
        conn.execute(
            sa.insert(sites),
            [
                {"host": f"site{number}.example", "status": "none", "used_on": AT.date()}
                for number in range(keep)
            ],
        )
    with statements(store) as sent:
        for number in range(keep, keep + MAX_SAVES_BETWEEN_TRIMS):
            save_site(store, number, keep)
    assert len([text for text in sent if text.startswith("delete")]) == 1  # the first save's
    assert store.sites.page().total == keep + MAX_SAVES_BETWEEN_TRIMS - 1  # the most it passes the bound by
    save_site(store, keep + MAX_SAVES_BETWEEN_TRIMS, keep)  # the 101st save trims again
    assert store.sites.page().total == keep
    save_site(store, keep + MAX_SAVES_BETWEEN_TRIMS + 1, keep)
    assert store.sites.trim(keep) == 1  # asked outright, it trims at once
    assert store.sites.page().total == keep


def test_the_schedule_trims_a_small_bound_every_time_and_a_large_one_every_hundredth_save():
    small, large = TrimSchedule(), TrimSchedule()
    assert all(small.due(199) for _ in range(300))
    picked = [number for number in range(1, 302) if large.due(1_000_000)]
    assert picked == [1, 101, 201, 301]
