"""What each destination host looked like when last checked (its fingerprint), as of the last complete
audit (its baseline), and its health: moved away, parked, changed hands, each with when it was first seen.

The judgements are :mod:`linkgate.health`'s; this keeps their outcome. The site cache's refresh and the
audit write here, the site cache reads a host's health with its row (one query, :meth:`Sites.get`), and the
console lists the hosts whose health is in doubt. At most ``keep`` rows (the ``cache.max_sites`` setting),
the least recently checked trimmed first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from linkgate.store.bounds import TrimSchedule, trim_oldest
from linkgate.store.engine import Database
from linkgate.store.records import as_utc
from linkgate.store.schema import destinations

__all__ = ["HEALTH_KINDS", "DestinationPage", "DestinationRow", "Destinations"]

HEALTH_KINDS = ("moved", "parked", "changed")
MAX_FINGERPRINT = 2_000  # characters of a fingerprint's JSON (its texts are cut well before)
MAX_FIELD = 200  # characters a text of a fingerprint keeps when its JSON would be longer than that


@dataclass(frozen=True)
class DestinationRow:
    """A destination host's stored fingerprints and health (the fingerprints as their JSON objects)."""

    host: str
    fingerprint: dict[str, Any]
    seen_at: datetime | None
    baseline: dict[str, Any] | None
    baseline_at: datetime | None
    moved_to: str | None
    moved_since: datetime | None
    parked: str | None
    parked_since: datetime | None
    changed: str | None
    changed_since: datetime | None


@dataclass(frozen=True)
class DestinationPage:
    total: int
    rows: list[DestinationRow]


_SINCE = {"moved_to": "moved_since", "parked": "parked_since", "changed": "changed_since"}


def _since(value: str | None, mark: str, before: Any, at: datetime) -> datetime | None:
    """When the health ``mark`` was first seen: kept while it stays, ``at`` when it is new, None when
    gone."""
    if value is None:
        return None
    if before is not None and getattr(before, mark) is not None:
        return as_utc(getattr(before, _SINCE[mark])) or at
    return at


class Destinations:
    """The destinations' repository (not logged: these are observations, not a person's changes)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._trims = TrimSchedule()

    def get(self, host: str) -> DestinationRow | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(destinations).where(destinations.c.host == host)).first()
        return None if row is None else _row(row)

    def record(
        self,
        host: str,
        fingerprint: Mapping[str, Any],
        at: datetime,
        *,
        moved_to: str | None,
        parked: str | None,
        changed: str | None,
    ) -> None:
        """Keep ``host``'s fingerprint as checked ``at``, and its health: each mark keeps the time it was
        first seen while it stays, and is cleared when the check no longer finds it. A row another writer
        (the audit, the gate's site cache) made since it was read is replaced, not a broken constraint."""
        text = _fingerprint_text(fingerprint)
        with self._db.begin() as conn:
            before = conn.execute(sa.select(destinations).where(destinations.c.host == host)).first()
            values = {
                "fingerprint": text,
                "seen_at": at,
                "moved_to": moved_to[:253] if moved_to else None,
                "moved_since": _since(moved_to, "moved_to", before, at),
                "parked": parked[:300] if parked else None,
                "parked_since": _since(parked, "parked", before, at),
                "changed": changed[:500] if changed else None,
                "changed_since": _since(changed, "changed", before, at),
            }
            if before is None:
                insert = self._db.insert(destinations).values(host=host, **values)
                conn.execute(insert.on_conflict_do_update(index_elements=["host"], set_=values))
            else:
                conn.execute(sa.update(destinations).where(destinations.c.host == host).values(**values))

    def set_baseline(self, hosts: Iterable[str], at: datetime) -> int:
        """A complete audit looked at ``hosts``: their current fingerprints become their baselines, and
        what had changed since the last baseline is no longer news. How many hosts had a row."""
        batch = sorted(set(hosts))
        done = 0
        for start in range(0, len(batch), 500):
            with self._db.begin() as conn:
                result = conn.execute(
                    sa.update(destinations)
                    .where(destinations.c.host.in_(batch[start : start + 500]))
                    .values(
                        baseline=destinations.c.fingerprint,
                        baseline_at=at,
                        changed=None,
                        changed_since=None,
                    )
                )
                done += int(result.rowcount or 0)
        return done

    def page(self, kind: str | None = None, *, offset: int = 0, limit: int = 50) -> DestinationPage:
        """The hosts with a health mark (``kind``: one of :data:`HEALTH_KINDS`, or any), by host."""
        columns = {
            "moved": destinations.c.moved_to,
            "parked": destinations.c.parked,
            "changed": destinations.c.changed,
        }
        condition: sa.ColumnElement[bool]
        if kind is not None:
            condition = columns[kind].is_not(None)
        else:
            condition = sa.or_(*(column.is_not(None) for column in columns.values()))
        with self._db.connect() as conn:
            counted = sa.select(sa.func.count()).select_from(destinations).where(condition)
            total = conn.execute(counted).scalar()
            rows = conn.execute(
                sa.select(destinations)
                .where(condition)
                .order_by(destinations.c.host)
                .offset(offset)
                .limit(limit)
            ).all()
        return DestinationPage(int(total or 0), [_row(row) for row in rows])

    def counts(self) -> dict[str, int]:
        """How many hosts carry each health mark."""
        with self._db.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.count().filter(destinations.c.moved_to.is_not(None)),
                    sa.func.count().filter(destinations.c.parked.is_not(None)),
                    sa.func.count().filter(destinations.c.changed.is_not(None)),
                ).select_from(destinations)
            ).one()
        return {kind: int(count or 0) for kind, count in zip(HEALTH_KINDS, row, strict=True)}

    def trim(self, keep: int, *, when_due: bool = False) -> int:
        """Delete the rows beyond the ``keep`` most recently checked; how many went. With ``when_due`` (after
        one lookup), only on the saves :class:`~linkgate.store.bounds.TrimSchedule` picks."""
        if when_due and not self._trims.due(keep):
            return 0
        newest_first = (destinations.c.seen_at.desc(), destinations.c.host.desc())
        with self._db.begin() as conn:
            return trim_oldest(conn, destinations.c.host, newest_first, keep)


def _fingerprint_text(fingerprint: Mapping[str, Any]) -> str:
    """``fingerprint`` as JSON of at most :data:`MAX_FINGERPRINT` characters: its texts cut to
    :data:`MAX_FIELD` when it is longer, never the JSON itself (cut JSON would be read back as nothing);
    ``{}`` when even that is too long."""
    text = json.dumps(dict(fingerprint), ensure_ascii=False)
    if len(text) <= MAX_FINGERPRINT:
        return text
    cut = {
        name: value[:MAX_FIELD] if isinstance(value, str) else value for name, value in fingerprint.items()
    }
    text = json.dumps(cut, ensure_ascii=False)
    return text if len(text) <= MAX_FINGERPRINT else "{}"


def _json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _row(row: Any) -> DestinationRow:
    return DestinationRow(
        host=row.host,
        fingerprint=_json(row.fingerprint) or {},
        seen_at=as_utc(row.seen_at),
        baseline=_json(row.baseline),
        baseline_at=as_utc(row.baseline_at),
        moved_to=row.moved_to,
        moved_since=as_utc(row.moved_since),
        parked=row.parked,
        parked_since=as_utc(row.parked_since),
        changed=row.changed,
        changed_since=as_utc(row.changed_since),
    )
