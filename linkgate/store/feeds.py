"""The subscribed known-bad lists (feeds): where each comes from, how its last update went, and its
compiled list, which every server on the database shares.

A list is replaced whole or not at all: a successful update writes the new compiled list and its facts in
one statement; a failed one writes only when it was tried and why it failed, so the list before it stays.
Adding and removing a feed, and every update that changed a list, go to the change log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Row

from linkgate.errors import LinkgateError
from linkgate.store.changes import ChangeLog
from linkgate.store.engine import Database
from linkgate.store.records import as_utc, now
from linkgate.store.schema import feeds

MAX_FEEDS = 16  # lists a County subscribes to: each one is probed on every click to a listed-able host
MAX_ERROR = 1000  # characters of a failure's account kept


class FeedError(LinkgateError, ValueError):
    """A feed that cannot be added, found, loaded or kept, with a message a webmaster can act on."""


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A feed as stored, without its compiled list."""

    name: str
    source: str
    format: str
    action: str
    created_by: str
    created_at: datetime
    checked_at: datetime | None
    loaded_at: datetime | None
    error: str | None
    names: int | None
    skipped: int | None
    size: int | None
    skipped_lines: tuple[str, ...]
    digest: str | None

    def as_json(self) -> dict[str, object]:
        """The feed as ``linkgate feeds list --json`` gives it."""
        return {
            "name": self.name,
            "source": self.source,
            "format": self.format,
            "action": self.action,
            "names": self.names,
            "skipped": self.skipped,
            "bytes": self.size,
            "skipped_lines": list(self.skipped_lines),
            "loaded_at": None if self.loaded_at is None else self.loaded_at.isoformat(),
            "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
            "error": self.error,
        }

    def change_json(self) -> dict[str, object]:
        """What the change log keeps of the feed: where it comes from, what it does, how many names."""
        whole = self.as_json()
        return {key: whole[key] for key in ("name", "source", "format", "action", "names")}


_COLUMNS = [column for column in feeds.c if column.name != "data"]


@dataclass(frozen=True, slots=True)
class LoadedList:
    """A list that loaded: its compiled form (compressed) and what was read to make it."""

    digest: str
    data: bytes
    names: int
    skipped: int
    size: int
    skipped_lines: tuple[str, ...]


class Feeds:
    """The feeds' repository."""

    def __init__(self, db: Database, changes: ChangeLog) -> None:
        self._db = db
        self._changes = changes

    def all(self) -> list[FeedRow]:
        with self._db.connect() as conn:
            rows = conn.execute(sa.select(*_COLUMNS).order_by(feeds.c.name)).all()
        return [_row(row) for row in rows]

    def get(self, name: str) -> FeedRow | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(*_COLUMNS).where(feeds.c.name == name)).first()
        return None if row is None else _row(row)

    def states(self) -> tuple[tuple[str, str, str], ...]:
        """(name, action, digest) of every loaded feed: what each worker polls to know when to swap."""
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(feeds.c.name, feeds.c.action, feeds.c.digest)
                .where(feeds.c.digest.is_not(None))
                .order_by(feeds.c.name)
            ).all()
        return tuple((row.name, row.action, row.digest) for row in rows)

    def data(self, name: str, digest: str) -> bytes | None:
        """The compiled list of feed ``name`` when it is still the one of ``digest``, else None."""
        with self._db.connect() as conn:
            value = conn.execute(
                sa.select(feeds.c.data).where(feeds.c.name == name, feeds.c.digest == digest)
            ).scalar()
        return None if value is None else bytes(value)

    def add(self, name: str, source: str, format: str, action: str, actor: str) -> FeedRow:
        with self._db.begin() as conn:
            if conn.execute(sa.select(feeds.c.id).where(feeds.c.name == name)).first() is not None:
                raise FeedError(
                    f"There is already a feed named {name}; remove it first or pick another name."
                )
            count = conn.execute(sa.select(sa.func.count()).select_from(feeds)).scalar() or 0
            if count >= MAX_FEEDS:
                raise FeedError(f"linkgate keeps at most {MAX_FEEDS} feeds; remove one first.")
            conn.execute(
                sa.insert(feeds).values(
                    name=name, source=source, format=format, action=action, created_by=actor, created_at=now()
                )
            )
            row = _row(conn.execute(sa.select(*_COLUMNS).where(feeds.c.name == name)).one())
            self._changes.record(conn, actor, "feed.add", name, None, row.change_json())
        return row

    def remove(self, name: str, actor: str) -> FeedRow:
        with self._db.begin() as conn:
            found = conn.execute(sa.select(*_COLUMNS).where(feeds.c.name == name)).first()
            if found is None:
                raise FeedError(f"There is no feed named {name}.")
            row = _row(found)
            conn.execute(sa.delete(feeds).where(feeds.c.name == name))
            self._changes.record(conn, actor, "feed.remove", name, row.change_json(), None)
        return row

    def loaded(self, name: str, loaded: LoadedList, actor: str) -> FeedRow:
        """Keep ``loaded`` as feed ``name``'s list (one statement: the list and its facts together)."""
        stamp = now()
        with self._db.begin() as conn:
            found = conn.execute(sa.select(*_COLUMNS).where(feeds.c.name == name)).first()
            if found is None:
                raise FeedError(f"There is no feed named {name} (removed meanwhile?).")
            before = _row(found)
            values: dict[str, object] = {
                "checked_at": stamp,
                "loaded_at": stamp,
                "error": None,
                "names": loaded.names,
                "skipped": loaded.skipped,
                "size": loaded.size,
                "skipped_lines": json.dumps(list(loaded.skipped_lines)),
            }
            if before.digest != loaded.digest:  # not for the same list again: its table is already here
                values |= {"digest": loaded.digest, "data": loaded.data}
            conn.execute(sa.update(feeds).where(feeds.c.name == name).values(**values))
            after = _row(conn.execute(sa.select(*_COLUMNS).where(feeds.c.name == name)).one())
            if before.digest != loaded.digest:
                self._changes.record(
                    conn, actor, "feed.update", name, before.change_json(), after.change_json()
                )
        return after

    def failed(self, name: str, why: str) -> FeedRow | None:
        """Note that updating feed ``name`` failed and why; its list stays as it was."""
        with self._db.begin() as conn:
            conn.execute(
                sa.update(feeds).where(feeds.c.name == name).values(checked_at=now(), error=why[:MAX_ERROR])
            )
            found = conn.execute(sa.select(*_COLUMNS).where(feeds.c.name == name)).first()
        return None if found is None else _row(found)


def _row(row: Row[tuple[object, ...]]) -> FeedRow:
    values = row._mapping
    skipped_lines = json.loads(values["skipped_lines"]) if values["skipped_lines"] else []
    return FeedRow(
        name=values["name"],
        source=values["source"],
        format=values["format"],
        action=values["action"],
        created_by=values["created_by"],
        created_at=as_utc(values["created_at"]) or now(),
        checked_at=as_utc(values["checked_at"]),
        loaded_at=as_utc(values["loaded_at"]),
        error=values["error"],
        names=values["names"],
        skipped=values["skipped"],
        size=values["size"],
        skipped_lines=tuple(str(line) for line in skipped_lines),
        digest=values["digest"],
    )
