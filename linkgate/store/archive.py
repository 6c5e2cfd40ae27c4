"""What the web archive answered for each destination (``archive_copies``): its closest snapshot or none,
kept until it expires so that an address is not asked about again on every audit or rewrite, and whether
the last audit found the destination broken (the notice offers the snapshot of those).

One row per address, keyed by a digest of it; at most the caller's bound, the oldest answers removed first.
Nothing here comes from a visitor: the addresses are the County's links, the snapshots the archive's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from linkgate.store.bounds import TrimSchedule, trim_oldest
from linkgate.store.engine import Database
from linkgate.store.records import as_utc, now
from linkgate.store.schema import archive_copies

__all__ = ["ArchiveCache", "ArchiveEntry"]

BATCH = 500  # addresses named in one statement


@dataclass(frozen=True)
class ArchiveEntry:
    """The archive's answer for ``url``: a snapshot (``snapshot_url`` and ``snapshot_at``) or none."""

    url: str
    snapshot_url: str | None
    snapshot_at: datetime | None
    checked_at: datetime
    expires_at: datetime
    broken: bool


def _key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


class ArchiveCache:
    """The archive answers' repository."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._trims = TrimSchedule()

    def get(self, url: str) -> ArchiveEntry | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(archive_copies).where(archive_copies.c.url_key == _key(url))).first()
        return None if row is None else _entry(row)

    def save(
        self,
        url: str,
        snapshot_url: str | None,
        snapshot_at: datetime | None,
        expires_at: datetime,
        *,
        broken: bool | None,
        keep: int,
    ) -> None:
        """Keep the archive's answer for ``url`` (replacing an earlier one), then trim the table to
        ``keep`` rows, the oldest answers first. ``broken`` None keeps what an earlier answer recorded
        (false for a new row)."""
        values = {
            "url_key": _key(url),
            "url": url,
            "snapshot_url": snapshot_url,
            "snapshot_at": snapshot_at,
            "checked_at": now(),
            "expires_at": expires_at,
            "broken": bool(broken),
        }
        insert = self._db.insert(archive_copies).values(values)
        kept = ("url_key",) if broken is not None else ("url_key", "broken")
        replaced = {name: insert.excluded[name] for name in values if name not in kept}
        with self._db.begin() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["url_key"], set_=replaced))
            if self._trims.due(keep):
                newest_first = (archive_copies.c.checked_at.desc(), archive_copies.c.url_key.desc())
                trim_oldest(conn, archive_copies.c.url_key, newest_first, keep)

    def mark_working(self, urls: Iterable[str]) -> None:
        """The destinations ``urls`` answered well: the notice no longer offers their snapshots."""
        keys = [_key(url) for url in urls]
        with self._db.begin() as conn:
            for start in range(0, len(keys), BATCH):
                conn.execute(
                    sa.update(archive_copies)
                    .where(archive_copies.c.url_key.in_(keys[start : start + BATCH]), archive_copies.c.broken)
                    .values(broken=False)
                )

    def broken_copies(self, limit: int) -> list[ArchiveEntry]:
        """The snapshots of destinations the last audit found broken, the newest answers first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(archive_copies)
                .where(archive_copies.c.broken, archive_copies.c.snapshot_url.is_not(None))
                .order_by(archive_copies.c.checked_at.desc())
                .limit(limit)
            ).all()
        return [_entry(row) for row in rows]

    def count(self) -> int:
        with self._db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(archive_copies)).scalar() or 0)


def _entry(row: sa.Row[tuple[object, ...]]) -> ArchiveEntry:
    return ArchiveEntry(
        url=row.url,
        snapshot_url=row.snapshot_url,
        snapshot_at=as_utc(row.snapshot_at),
        checked_at=as_utc(row.checked_at) or row.checked_at,
        expires_at=as_utc(row.expires_at) or row.expires_at,
        broken=bool(row.broken),
    )
