"""The change log: who changed what and when. Every repository's writes to rules, accounts and sites
record themselves here, in their own transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate.store.engine import Database, holds
from linkgate.store.records import LogEntry, LogPage, as_utc, now
from linkgate.store.schema import change_log


class ChangeLog:
    """The change log's repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, conn: Connection, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        """Add an entry in the transaction of ``conn``: ``before`` and ``after`` as JSON (None: none)."""
        conn.execute(
            sa.insert(change_log).values(
                at=now(),
                actor=actor,
                action=action,
                target=target,
                before=None if before is None else json.dumps(before, sort_keys=True),
                after=None if after is None else json.dumps(after, sort_keys=True),
            )
        )

    def page(
        self,
        *,
        actor: str = "",
        action: str = "",
        target: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> LogPage:
        """Change-log entries, newest first. ``actor`` and ``target`` match anywhere (any case);
        ``action`` is a prefix (``rule`` for every rule change, ``rule.add`` for additions);
        ``start`` and ``end`` bound the time (start inclusive, end exclusive)."""
        conditions = []
        if actor:
            conditions.append(holds(change_log.c.actor, actor))
        if target:
            conditions.append(holds(change_log.c.target, target))
        if action:
            conditions.append(change_log.c.action.startswith(action, autoescape=True))
        if start is not None:
            conditions.append(change_log.c.at >= start)
        if end is not None:
            conditions.append(change_log.c.at < end)
        with self._db.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(change_log).where(*conditions)
            ).scalar()
            rows = conn.execute(
                sa.select(change_log)
                .where(*conditions)
                .order_by(change_log.c.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return LogPage(int(total or 0), [_log_from_row(row) for row in rows])


def _log_from_row(row: Any) -> LogEntry:
    return LogEntry(
        id=row.id,
        at=as_utc(row.at) or now(),
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
    )
