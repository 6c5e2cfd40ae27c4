"""Link results kept between audits: what the last check of each address found (its verdict, status, final
address, redirects, error, whether it looked missing, and when), so that the next run need not ask an
address again that answered well a moment ago.

One row per address, keyed by a digest of it; the table never holds more than the caller's bound, the
oldest checks trimmed first. It never holds a page's content, a cookie or anything a visitor sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from linkgate.store.bounds import trim_oldest
from linkgate.store.engine import Database
from linkgate.store.records import LinkResultRow, as_utc
from linkgate.store.schema import link_results

__all__ = ["BATCH", "LinkResults", "url_key"]

BATCH = 1000  # rows handed to the driver at once
MAX_PROBLEMS_TEXT = 255  # the problems column's size


def url_key(url: str) -> str:
    """The row's key for ``url``: its SHA-256 in hex (an address may be longer than a key entry may be)."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


class LinkResults:
    """The kept link results' repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, rows: Iterable[LinkResultRow], *, keep: int) -> int:
        """Keep ``rows`` (each replacing the address's earlier result, but for when it last answered well,
        which a failed check leaves as it was), then trim the table to ``keep`` rows, the oldest checks
        first; how many were trimmed."""
        # One row an address, in the order of their keys: two runs writing at once take their rows' locks
        # in the same order, so neither waits on the other in a circle (a deadlock on PostgreSQL).
        values = sorted(
            {row["url_key"]: row for row in map(_values, rows)}.values(), key=lambda row: row["url_key"]
        )
        insert = self._db.insert(link_results)
        replaced = {
            column.name: insert.excluded[column.name]
            for column in link_results.columns
            if column.name not in ("url_key", "last_ok_at")
        }
        replaced["last_ok_at"] = sa.func.coalesce(insert.excluded.last_ok_at, link_results.c.last_ok_at)
        upsert = insert.on_conflict_do_update(index_elements=["url_key"], set_=replaced)
        with self._db.begin() as conn:
            for start in range(0, len(values), BATCH):
                conn.execute(upsert, values[start : start + BATCH])
            newest_first = (link_results.c.checked_at.desc(), link_results.c.url_key.desc())
            return trim_oldest(conn, link_results.c.url_key, newest_first, keep)

    def checked_since(self, since: datetime, *, verdict: str | None = None) -> dict[str, LinkResultRow]:
        """The results checked at ``since`` or later (of one ``verdict`` when given), by address."""
        conditions = [link_results.c.checked_at >= since]
        if verdict is not None:
            conditions.append(link_results.c.verdict == verdict)
        with self._db.connect() as conn:
            rows = conn.execute(sa.select(link_results).where(*conditions)).all()
        return {row.url: _row(row) for row in rows}

    def get(self, url: str) -> LinkResultRow | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(link_results).where(link_results.c.url_key == url_key(url))).first()
        return None if row is None else _row(row)

    def count(self) -> int:
        with self._db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(link_results)).scalar() or 0)


def _values(row: LinkResultRow) -> dict[str, Any]:
    return {
        "url_key": url_key(row.url),
        "url": row.url,
        "verdict": row.verdict,
        "status": row.status,
        "final_url": row.final_url,
        "redirects": json.dumps([[url, status] for url, status in row.redirects]),
        "method": row.method[:8],
        "attempts": row.attempts,
        "error": row.error,
        "reason": row.reason[:32] if row.reason else None,
        "soft_404": row.soft_404,
        "problems": " ".join(row.problems)[:MAX_PROBLEMS_TEXT],
        "checked_at": row.checked_at,
        "last_ok_at": row.checked_at if row.verdict == "ok" else row.last_ok_at,
    }


def _row(row: Any) -> LinkResultRow:
    return LinkResultRow(
        url=row.url,
        verdict=row.verdict,
        status=row.status,
        final_url=row.final_url,
        redirects=tuple((str(url), int(status)) for url, status in json.loads(row.redirects)),
        method=row.method,
        attempts=int(row.attempts),
        error=row.error,
        reason=row.reason,
        soft_404=bool(row.soft_404),
        problems=tuple(row.problems.split()),
        checked_at=as_utc(row.checked_at) or row.checked_at,
        last_ok_at=as_utc(row.last_ok_at),
    )
