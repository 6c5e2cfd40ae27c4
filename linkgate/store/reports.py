"""Visitors' reports of a link: how many said a destination site is broken, looks unsafe or is the wrong
site, per County day. Counts only: never who reported, from where, from which page or with what address.

Keyed by the destination's site (its host, with a port that is not the default: the Sites page's key),
not its registrable domain, so that a report about ``forms.example.org`` is not blamed on
``www.example.org`` and links to that site's entry in the console. Bounded by the click counts' own
code (:func:`linkgate.store.counts.bound_per_day`): a day keeps at most ``max_hosts_per_day`` sites, any
other is counted under :data:`~linkgate.store.counts.OTHER_DOMAIN`, writers take turns at a day's last
places, and days older than the caller keeps are removed (:meth:`Reports.trim`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from linkgate.store.counts import DayKey, bound_per_day, take_writers_turn
from linkgate.store.engine import Database
from linkgate.store.schema import destination_reports, sites

# What a visitor may report, in the order the pages offer them.
CHOICES = ("broken", "unsafe", "wrong_site")
# pg_advisory_xact_lock's key for writing reports, so that writers take turns at a day's last sites
# ("linkrprt" in ASCII).
REPORTS_LOCK_KEY = 0x6C696E6B72707274

ReportKey = DayKey  # day, site, choice


@dataclass(frozen=True)
class ReportedSite:
    """A destination site's reports over some days: by choice, in all, and whether the Sites page has it."""

    host: str
    by_choice: Mapping[str, int]
    total: int
    has_site: bool


class Reports:
    """The reports' repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, reports: Mapping[ReportKey, int], max_hosts_per_day: int) -> int:
        """Add report counts in one transaction, a day keeping at most ``max_hosts_per_day`` sites (the
        reports of a site a full day does not hold yet go under OTHER_DOMAIN, the batch's most reported
        sites taking the last places). Returns how many reports went under OTHER_DOMAIN.

        Raises :class:`StoreUnavailable` when the database cannot be reached or written and
        :class:`StoreRefused` when it refuses a row; nothing is written then, and neither message holds a
        value of the batch."""
        if not reports:
            return 0
        with self._db.begin(refused="the reports") as conn:
            take_writers_turn(self._db, conn, REPORTS_LOCK_KEY)
            bounded, other = bound_per_day(conn, destination_reports.c.host, reports, max_hosts_per_day)
            insert = self._db.insert(destination_reports)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["day", "host", "choice"],
                    set_={"count": destination_reports.c.count + insert.excluded.count},
                ),
                [{"day": d, "host": h, "choice": c, "count": n} for (d, h, c), n in bounded.items()],
            )
        return other

    def trim(self, before: date) -> int:
        """Remove every day before ``before``; returns how many rows went."""
        with self._db.begin() as conn:
            result = conn.execute(sa.delete(destination_reports).where(destination_reports.c.day < before))
        return int(result.rowcount or 0)

    def top(self, start: date, end: date, limit: int = 10) -> list[ReportedSite]:
        """The ``limit`` most reported sites from ``start`` to ``end``, most reports first."""
        table = destination_reports
        in_days = sa.and_(table.c.day >= start, table.c.day <= end)
        total = sa.func.sum(table.c.count).label("total")
        with self._db.connect() as conn:
            ranked = conn.execute(
                sa.select(table.c.host, total)
                .where(in_days)
                .group_by(table.c.host)
                .order_by(total.desc(), table.c.host)
                .limit(limit)
            ).all()
            hosts = [row.host for row in ranked]
            if not hosts:
                return []
            per_choice = conn.execute(
                sa.select(table.c.host, table.c.choice, sa.func.sum(table.c.count))
                .where(in_days, table.c.host.in_(hosts))
                .group_by(table.c.host, table.c.choice)
            ).all()
            known = set(conn.execute(sa.select(sites.c.host).where(sites.c.host.in_(hosts))).scalars())
        by_host: dict[str, dict[str, int]] = {host: dict.fromkeys(CHOICES, 0) for host in hosts}
        for host, choice, count in per_choice:
            by_host[host][choice] = int(count)
        return [
            ReportedSite(row.host, by_host[row.host], int(row.total), row.host in known) for row in ranked
        ]
