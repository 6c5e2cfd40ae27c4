"""Aggregate counts: clicks per registrable domain, day and outcome, and security events per kind and
day. Never a visitor's address, user agent, cookie or full URL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate.errors import InvalidDestination
from linkgate.store.engine import Database
from linkgate.store.schema import click_counts, security_events
from linkgate.urls import normalise_rule_name

# pg_advisory_xact_lock's key for writing click counts, so that flushes take turns at a day's last domains
# ("linkcnts" in ASCII).
COUNTS_LOCK_KEY = 0x6C696E6B636E7473
# The domain under which a day's clicks are counted once it holds as many domains as it may: not a host
# name, so no destination can have it. Visitors' reports use it alike for the sites beyond a day's bound.
OTHER_DOMAIN = "(other)"

# A count's key in a table bounded per day: the day, the name counted (a domain, a site) and what of it
# (an outcome, a report's choice).
DayKey = tuple[date, str, str]


def counted_domain(typed: str) -> str | None:
    """A destination domain as the counts keep it (lower case, punycode), or None when ``typed`` cannot be
    one: such a name is never asked of the database (PostgreSQL cannot compare text holding NUL)."""
    if typed.strip().lower() == OTHER_DOMAIN:
        return OTHER_DOMAIN
    try:
        return normalise_rule_name(typed)
    except InvalidDestination:
        return None


def take_writers_turn(db: Database, conn: Connection, lock_key: int) -> None:
    """Hold off every other writer of a day-bounded table until this transaction ends, so that two cannot
    both see room for a day's last name (on SQLite this must be the transaction's first statement, and
    takes turns with every writer; on PostgreSQL the writers with the same ``lock_key`` take turns)."""
    if db.is_sqlite:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})


def bound_per_day(
    conn: Connection, name: sa.Column[str], counts: Mapping[DayKey, int], limit: int
) -> tuple[Mapping[DayKey, int], int]:
    """``counts`` with the names a day has no room for put under OTHER_DOMAIN, and how many were moved.

    ``name`` is the column of the names (its table has a ``day`` column): a day keeps at most ``limit``
    names besides OTHER_DOMAIN, and when a batch brings more new names than a day has room for, its most
    counted ones take the last places. Reads a day's stored names only when the batch could fill it. Call
    it after :func:`take_writers_turn`, in the transaction that writes the counts."""
    table = name.table
    totals: dict[date, dict[str, int]] = {}
    for (day, key_name, _what), count in counts.items():
        if key_name != OTHER_DOMAIN:
            per_day = totals.setdefault(day, {})
            per_day[key_name] = per_day.get(key_name, 0) + count
    held_names = sa.func.count(sa.distinct(name))
    no_room: dict[date, set[str]] = {}
    for day, batch in totals.items():
        of_day = sa.and_(table.c.day == day, name != OTHER_DOMAIN)
        held = conn.execute(sa.select(held_names).where(of_day)).scalar_one()
        if held + len(batch) <= limit:
            continue
        stored = set(conn.execute(sa.select(name).where(of_day).distinct()).scalars())
        new = sorted(batch.keys() - stored, key=lambda key_name: (-batch[key_name], key_name))
        no_room[day] = set(new[max(0, limit - held) :])
    if not no_room:
        return counts, 0
    bounded: dict[DayKey, int] = {}
    other = 0
    for (day, key_name, what), count in counts.items():
        key = (day, key_name, what)
        if key_name in no_room.get(day, ()):
            key = (day, OTHER_DOMAIN, what)
            other += count
        bounded[key] = bounded.get(key, 0) + count
    return bounded, other


class Counts:
    """The counts' repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        clicks: Mapping[DayKey, int],
        events: Mapping[tuple[date, str], int],
        max_domains_per_day: int | None = None,
    ) -> int:
        """Add click counts (day, domain, outcome) and security events (day, kind) in one transaction.

        With ``max_domains_per_day`` a day keeps at most that many domains (besides :data:`OTHER_DOMAIN`):
        once it is full, the clicks of a domain it does not hold yet are added to ``OTHER_DOMAIN``, the
        batch's most clicked domains taking the last places. Returns how many clicks that was.

        Raises :class:`StoreUnavailable` when the database cannot be reached or written, and
        :class:`StoreRefused` when it refuses a row (the same write would fail again); nothing is written
        then. Neither message holds a value of the batch.
        """
        other = 0
        with self._db.begin(refused="the counts") as conn:
            if clicks and max_domains_per_day is not None:
                take_writers_turn(self._db, conn, COUNTS_LOCK_KEY)
                clicks, other = bound_per_day(conn, click_counts.c.domain, clicks, max_domains_per_day)
            if clicks:
                self._upsert_add(
                    conn,
                    click_counts,
                    [
                        {"day": d, "domain": dom, "outcome": o, "count": n}
                        for (d, dom, o), n in clicks.items()
                    ],
                    ["day", "domain", "outcome"],
                )
            if events:
                self._upsert_add(
                    conn,
                    security_events,
                    [{"day": d, "kind": k, "count": n} for (d, k), n in events.items()],
                    ["day", "kind"],
                )
        return other

    def _upsert_add(
        self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        insert = self._db.insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=keys, set_={"count": table.c.count + insert.excluded.count}
        )
        conn.execute(statement, rows)

    def click_totals(
        self, start: date, end: date, domain: str | None = None
    ) -> list[tuple[date, str, str, int]]:
        """Every count from ``start`` to ``end``: day, domain, outcome, count (of one ``domain``, or all)."""
        conditions = _days_and_domain(start, end, domain)
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(
                    click_counts.c.day, click_counts.c.domain, click_counts.c.outcome, click_counts.c.count
                )
                .where(*conditions)
                .order_by(click_counts.c.day, click_counts.c.domain, click_counts.c.outcome)
            ).all()
        return [(row.day, row.domain, row.outcome, int(row[3])) for row in rows]

    def clicks_per_day(
        self, start: date, end: date, domain: str | None = None
    ) -> list[tuple[date, str, int]]:
        """Click totals per day and outcome, all destinations together or of one ``domain`` (days with no
        clicks are absent)."""
        total = sa.func.sum(click_counts.c.count)
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(click_counts.c.day, click_counts.c.outcome, total)
                .where(*_days_and_domain(start, end, domain))
                .group_by(click_counts.c.day, click_counts.c.outcome)
                .order_by(click_counts.c.day, click_counts.c.outcome)
            ).all()
        return [(row[0], row[1], int(row[2])) for row in rows]

    def clicks_by_outcome(self, start: date, end: date) -> dict[str, int]:
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(click_counts.c.outcome, sa.func.sum(click_counts.c.count))
                .where(click_counts.c.day >= start, click_counts.c.day <= end)
                .group_by(click_counts.c.outcome)
            ).all()
        return {row[0]: int(row[1]) for row in rows}

    def top_domains(self, start: date, end: date, limit: int = 10) -> list[tuple[str, int]]:
        total = sa.func.sum(click_counts.c.count).label("total")
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(click_counts.c.domain, total)
                .where(click_counts.c.day >= start, click_counts.c.day <= end)
                .group_by(click_counts.c.domain)
                .order_by(total.desc(), click_counts.c.domain)
                .limit(limit)
            ).all()
        return [(row[0], int(row[1])) for row in rows]

    def events_by_kind(self, start: date, end: date) -> dict[str, int]:
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(security_events.c.kind, sa.func.sum(security_events.c.count))
                .where(security_events.c.day >= start, security_events.c.day <= end)
                .group_by(security_events.c.kind)
                .order_by(security_events.c.kind)
            ).all()
        return {row[0]: int(row[1]) for row in rows}


def _days_and_domain(start: date, end: date, domain: str | None) -> list[Any]:
    conditions = [click_counts.c.day >= start, click_counts.c.day <= end]
    if domain is not None:
        conditions.append(click_counts.c.domain == domain)
    return conditions
