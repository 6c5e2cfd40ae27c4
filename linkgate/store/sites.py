"""The site cache's rows (each site's privacy link as last looked up, and any override), the refresh
leases that let one worker of many look a site up, and the trim that keeps the table bounded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate.store.bounds import TrimSchedule, trim_oldest
from linkgate.store.changes import ChangeLog
from linkgate.store.engine import Database, holds
from linkgate.store.records import CacheHealth, SitePage, SiteRow, as_utc, now
from linkgate.store.schema import destinations, sites

SITE_STATUSES = ("found", "none", "error", "unknown")
SITE_SORTS = ("host", "status", "checked")  # each either way: ascending, or with descending


class Sites:
    """The site cache's repository; overrides and clearing are logged, lookups are not."""

    def __init__(self, db: Database, changes: ChangeLog) -> None:
        self._db = db
        self._changes = changes
        self._trims = TrimSchedule()

    def health(self, found_ttl: timedelta, not_found_ttl: timedelta, error_ttl: timedelta) -> CacheHealth:
        """How many sites are cached, how many failed their last lookup, how many are past their freshness."""
        stamp = now()
        stale = sa.or_(
            sites.c.checked_at.is_(None),
            sa.and_(sites.c.status == "found", sites.c.checked_at < stamp - found_ttl),
            sa.and_(sites.c.status == "none", sites.c.checked_at < stamp - not_found_ttl),
            sa.and_(sites.c.status.not_in(("found", "none")), sites.c.checked_at < stamp - error_ttl),
        )
        with self._db.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count().filter(sites.c.status == "error"),
                    sa.func.count().filter(stale),
                    sa.func.count().filter(
                        sa.or_(sites.c.override_url.is_not(None), sites.c.override_none.is_(True))
                    ),
                ).select_from(sites)
            ).one()
        return CacheHealth(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def get(self, host: str) -> SiteRow | None:
        """A site's row with its health (moved away, parked, changed hands), in one query."""
        health = (
            destinations.c.moved_to,
            destinations.c.parked,
            destinations.c.changed,
            destinations.c.seen_at.label("health_at"),
        )
        joined = sites.outerjoin(destinations, destinations.c.host == sites.c.host)
        query = sa.select(sites, *health).select_from(joined).where(sites.c.host == host)
        with self._db.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _site_from_row(row)

    def page(
        self,
        *,
        search: str = "",
        status: str | None = None,
        shown: str | None = None,
        overrides_only: bool = False,
        offset: int = 0,
        limit: int = 50,
        sort: str = "host",
        descending: bool = False,
    ) -> SitePage:
        """Cached sites whose host holds ``search`` (any case), by host: of one lookup ``status`` (the
        console's and ``linkgate sites list``'s "lookup" column) or one ``shown`` status (the API's
        ``status``, :func:`linkgate.sites.facts_from_row`: a webmaster's override first, a link being
        ``found`` and "none" ``none``, else the lookup's), or all."""
        conditions = []
        if search:
            conditions.append(holds(sites.c.host, search))
        if status is not None:
            conditions.append(sites.c.status == status)
        if shown is not None:
            no_override = sa.and_(sites.c.override_url.is_(None), sites.c.override_none.is_not(True))
            by_override = {
                "found": sites.c.override_url.is_not(None),
                "none": sa.and_(sites.c.override_url.is_(None), sites.c.override_none.is_(True)),
            }
            looked_up = sa.and_(no_override, sites.c.status == shown)
            conditions.append(sa.or_(by_override[shown], looked_up) if shown in by_override else looked_up)
        if overrides_only:
            conditions.append(sa.or_(sites.c.override_url.is_not(None), sites.c.override_none.is_(True)))
        column = {"host": sites.c.host, "status": sites.c.status, "checked": sites.c.checked_at}[sort]
        ordered = column.desc() if descending else column.asc()
        order = (ordered.nulls_last(), sites.c.host)  # never checked: last either way
        with self._db.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(sites).where(*conditions)).scalar()
            rows = conn.execute(
                sa.select(sites).where(*conditions).order_by(*order).offset(offset).limit(limit)
            ).all()
        return SitePage(int(total or 0), [_site_from_row(row) for row in rows])

    def all(self, limit: int = 1000) -> list[SiteRow]:
        with self._db.connect() as conn:
            rows = conn.execute(sa.select(sites).order_by(sites.c.host).limit(limit)).all()
        return [_site_from_row(row) for row in rows]

    def save_check(self, host: str, values: Mapping[str, Any]) -> None:
        """Record the outcome of a lookup (status, privacy URL, ...) and release the host's lease.

        The check's time is kept to the second (the precision of the freshness times), rounded up so that
        nothing goes stale before its time: it follows a visitor's click by milliseconds, and nothing
        needs it finer."""
        allowed = {
            "status",
            "privacy_url",
            "found_by",
            "reason",
            "final_url",
            "https",
            "gpc",
            "error",
            "checked_at",
            "elapsed_ms",
        }
        update: dict[str, Any] = {key: value for key, value in values.items() if key in allowed}
        checked = update.get("checked_at")
        if isinstance(checked, datetime) and checked.microsecond:
            update["checked_at"] = checked.replace(microsecond=0) + timedelta(seconds=1)
        update.update(lease_owner=None, lease_until=None, checks=sites.c.checks + 1)
        with self._db.begin() as conn:
            self._ensure(conn, host)
            conn.execute(sa.update(sites).where(sites.c.host == host).values(**update))

    def set_override(self, host: str, url: str | None, actor: str) -> None:
        """Pin a site's privacy link (``url``), or say it has none (``url=None``)."""
        with self._db.begin() as conn:
            self._ensure(conn, host)
            before = conn.execute(
                sa.select(sites.c.override_url, sites.c.override_none).where(sites.c.host == host)
            ).one()
            conn.execute(
                sa.update(sites)
                .where(sites.c.host == host)
                .values(override_url=url, override_none=url is None)
            )
            self._changes.record(
                conn,
                actor,
                "site.override",
                host,
                {"override_url": before.override_url, "override_none": before.override_none},
                {"override_url": url, "override_none": url is None},
            )

    def remove_override(self, host: str, actor: str) -> bool:
        """Let lookups decide a site's privacy link again; False when it had no override."""
        with self._db.begin() as conn:
            before = conn.execute(
                sa.select(sites.c.override_url, sites.c.override_none).where(sites.c.host == host)
            ).first()
            if before is None or (before.override_url is None and not before.override_none):
                return False
            conn.execute(
                sa.update(sites).where(sites.c.host == host).values(override_url=None, override_none=False)
            )
            self._changes.record(
                conn,
                actor,
                "site.remove-override",
                host,
                {"override_url": before.override_url, "override_none": bool(before.override_none)},
                {"override_url": None, "override_none": False},
            )
        return True

    def clear(self, host: str, actor: str) -> bool:
        with self._db.begin() as conn:
            row = conn.execute(sa.select(sites).where(sites.c.host == host)).first()
            if row is None:
                return False
            conn.execute(sa.delete(sites).where(sites.c.host == host))
            self._changes.record(
                conn,
                actor,
                "site.clear",
                host,
                {
                    "privacy_url": row.privacy_url,
                    "override_url": row.override_url,
                    "override_none": row.override_none,
                },
                None,
            )
        return True

    def try_lease(self, host: str, owner: str, until: datetime) -> bool:
        """Take the refresh lease on ``host`` unless someone else holds an unexpired one."""
        stamp = now()
        with self._db.begin() as conn:
            self._ensure(conn, host)
            result = conn.execute(
                sa.update(sites)
                .where(
                    sites.c.host == host,
                    sa.or_(
                        sites.c.lease_until.is_(None),
                        sites.c.lease_until < stamp,
                        sites.c.lease_owner == owner,
                    ),
                )
                .values(lease_owner=owner, lease_until=until)
            )
            return bool(result.rowcount == 1)

    def release_lease(self, host: str, owner: str) -> None:
        """Give back ``owner``'s refresh lease on ``host`` (someone else's is left alone)."""
        with self._db.begin() as conn:
            conn.execute(
                sa.update(sites)
                .where(sites.c.host == host, sites.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def touch(self, hosts: list[str], day: date) -> None:
        """Mark ``hosts`` as used by a notice on ``day`` (what the trim keeps longest)."""
        batch = sorted(hosts)
        for start in range(0, len(batch), 500):
            with self._db.begin() as conn:
                conn.execute(
                    sa.update(sites)
                    .where(sites.c.host.in_(batch[start : start + 500]), sites.c.used_on < day)
                    .values(used_on=day)
                )

    def trim(self, keep: int, *, when_due: bool = False) -> int:
        """Delete the looked-up sites beyond the ``keep`` most recently used (by day, then check time);
        how many went. A site with an override is never deleted nor counted, nor one being looked up.
        With ``when_due`` (after one lookup), only on the saves
        :class:`~linkgate.store.bounds.TrimSchedule` picks."""
        if when_due and not self._trims.due(keep):
            return 0
        evictable = sa.and_(
            sites.c.override_url.is_(None),
            sites.c.override_none.is_(False),
            sa.or_(sites.c.lease_until.is_(None), sites.c.lease_until < now()),
        )
        newest_first = (sites.c.used_on.desc(), sites.c.checked_at.desc().nulls_last(), sites.c.host.desc())
        with self._db.begin() as conn:
            return trim_oldest(conn, sites.c.host, newest_first, keep, evictable)

    def _ensure(self, conn: Connection, host: str) -> None:
        insert = self._db.insert(sites)
        conn.execute(
            insert.values(
                host=host, status="unknown", override_none=False, used_on=now().date()
            ).on_conflict_do_nothing(index_elements=["host"])
        )


def _site_from_row(row: Any) -> SiteRow:
    return SiteRow(
        host=row.host,
        status=row.status,
        privacy_url=row.privacy_url,
        found_by=row.found_by,
        reason=row.reason,
        final_url=row.final_url,
        https=row.https,
        gpc=row.gpc,
        error=row.error,
        checked_at=as_utc(row.checked_at),
        elapsed_ms=row.elapsed_ms,
        override_url=row.override_url,
        override_none=bool(row.override_none),
        checks=int(row.checks or 0),
        used_on=row.used_on,
        **_health(row._mapping),
    )


def _health(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A site's health, when its row was read with it (:meth:`Sites.get`)."""
    if "health_at" not in mapping:
        return {}
    return {
        "moved_to": mapping["moved_to"],
        "parked": mapping["parked"],
        "changed": mapping["changed"],
        "health_at": as_utc(mapping["health_at"]),
    }
