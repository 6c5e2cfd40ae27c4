"""Accounts for the console, and the sign-in throttle that holds across workers and servers: an
account's failed sign-ins in its own row, a name with no account's in ``sign_in_throttle``."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate.errors import AccountError
from linkgate.store.changes import ChangeLog
from linkgate.store.engine import Database
from linkgate.store.records import AccountRow, SignInThrottle, as_utc, now
from linkgate.store.schema import accounts, sign_in_throttle

# The most names with no account whose failed sign-ins are kept (the oldest go first).
THROTTLE_ROWS = 10_000


class Accounts:
    """The accounts' repository; every change but a sign-in's is logged."""

    def __init__(self, db: Database, changes: ChangeLog) -> None:
        self._db = db
        self._changes = changes

    def add(self, name: str, password_hash: str, role: str, actor: str) -> AccountRow:
        with self._db.begin() as conn:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first() is not None:
                raise AccountError(f'There is already an account named "{name}".')
            conn.execute(
                sa.insert(accounts).values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    created_at=now(),
                    failed_count=0,
                    session_stamp=_session_stamp(),
                )
            )
            self._changes.record(conn, actor, "account.add", name, None, {"name": name, "role": role})
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).one()
        return _account_from_row(row)

    def all(self) -> list[AccountRow]:
        with self._db.connect() as conn:
            rows = conn.execute(sa.select(accounts).order_by(accounts.c.name)).all()
        return [_account_from_row(row) for row in rows]

    def change(
        self,
        name: str,
        actor: str,
        *,
        role: str | None = None,
        password_hash: str | None = None,
        unlock: bool = False,
    ) -> AccountRow:
        """Change an account's role or password, or lift its lock; one change-log entry per change.

        A new password (or an unlock) also clears the account's failed sign-ins. Every call ends every
        session of the account (a new session stamp), whatever it changed. The password hash is never
        written to the log, only the fact that it changed.
        """
        with self._db.begin() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
            if row is None:
                raise AccountError(f'There is no account named "{name}".')
            if role is not None and role != row.role:
                if row.role == "admin" and self._is_last_admin(conn, row.id):
                    raise AccountError(f'"{name}" is the last admin account; make another admin first.')
                conn.execute(sa.update(accounts).where(accounts.c.id == row.id).values(role=role))
                self._changes.record(conn, actor, "account.role", name, {"role": row.role}, {"role": role})
            if password_hash is not None:
                conn.execute(
                    sa.update(accounts)
                    .where(accounts.c.id == row.id)
                    .values(
                        password_hash=password_hash, failed_count=0, last_failed_at=None, locked_until=None
                    )
                )
                self._changes.record(
                    conn, actor, "account.password", name, {"password": "old"}, {"password": "new"}
                )
            if unlock and (row.locked_until is not None or row.failed_count):
                conn.execute(
                    sa.update(accounts)
                    .where(accounts.c.id == row.id)
                    .values(failed_count=0, last_failed_at=None, locked_until=None)
                )
                self._changes.record(
                    conn,
                    actor,
                    "account.unlock",
                    name,
                    {"failed_count": row.failed_count, "locked_until": _iso(row.locked_until)},
                    {"failed_count": 0, "locked_until": None},
                )
            conn.execute(
                sa.update(accounts).where(accounts.c.id == row.id).values(session_stamp=_session_stamp())
            )
            changed = conn.execute(sa.select(accounts).where(accounts.c.id == row.id)).one()
        return _account_from_row(changed)

    def remove(self, name: str, actor: str) -> AccountRow:
        with self._db.begin() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
            if row is None:
                raise AccountError(f'There is no account named "{name}".')
            if row.role == "admin" and self._is_last_admin(conn, row.id):
                raise AccountError(f'"{name}" is the last admin account; make another admin first.')
            conn.execute(sa.delete(accounts).where(accounts.c.id == row.id))
            self._changes.record(conn, actor, "account.remove", name, {"name": name, "role": row.role}, None)
        return _account_from_row(row)

    def _is_last_admin(self, conn: Connection, account_id: int) -> bool:
        others = conn.execute(
            sa.select(sa.func.count())
            .select_from(accounts)
            .where(accounts.c.role == "admin", accounts.c.id != account_id)
        ).scalar()
        return not others

    def end_sessions(self, name: str) -> None:
        """Sign the account out everywhere: every session cookie made before now stops working."""
        with self._db.begin() as conn:
            conn.execute(
                sa.update(accounts).where(accounts.c.name == name).values(session_stamp=_session_stamp())
            )

    def get(self, name: str) -> AccountRow | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
        return None if row is None else _account_from_row(row)

    def sign_in_state(self, name: str, name_key: str) -> tuple[AccountRow | None, SignInThrottle | None]:
        """The account named ``name`` and the throttle of names with no account under ``name_key``.

        Both are always read, so that a sign-in costs the same queries whether the name exists or not.
        """
        with self._db.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
            throttle = conn.execute(
                sa.select(sign_in_throttle).where(sign_in_throttle.c.name_key == name_key)
            ).first()
        return (
            None if row is None else _account_from_row(row),
            None
            if throttle is None
            else SignInThrottle(
                failed_count=int(throttle.failed_count),
                last_failed_at=as_utc(throttle.last_failed_at),
                locked_until=as_utc(throttle.locked_until),
            ),
        )

    def begin_unknown_attempt(
        self, name_key: str, seen: int, at: datetime, *, fresh: bool, forget_before: datetime
    ) -> int | None:
        """:meth:`begin_attempt` for a name with no account: its new failure count, or None.

        ``seen`` is the count the attempt was judged on (0: no row), compared and set as an account's is.
        A first failure also forgets the rows that can no longer change an answer (last failure before
        ``forget_before`` and no lock in force) and, past :data:`THROTTLE_ROWS`, the oldest.
        """
        with self._db.begin() as conn:
            if seen:
                return _count_failure(
                    conn, sign_in_throttle, sign_in_throttle.c.name_key == name_key, seen, at, fresh=fresh
                )
            conn.execute(
                sa.delete(sign_in_throttle).where(
                    sign_in_throttle.c.last_failed_at < forget_before,
                    sa.or_(sign_in_throttle.c.locked_until.is_(None), sign_in_throttle.c.locked_until <= at),
                )
            )
            kept = conn.execute(sa.select(sa.func.count()).select_from(sign_in_throttle)).scalar() or 0
            if kept >= THROTTLE_ROWS:
                oldest = (
                    sa.select(sign_in_throttle.c.name_key)
                    .order_by(sign_in_throttle.c.last_failed_at)
                    .limit(kept - THROTTLE_ROWS + 1)
                )
                conn.execute(
                    sa.delete(sign_in_throttle).where(
                        sign_in_throttle.c.name_key.in_(oldest.scalar_subquery())
                    )
                )
            inserted = conn.execute(
                self._db.insert(sign_in_throttle)
                .values(name_key=name_key, failed_count=1, last_failed_at=at, locked_until=None)
                .on_conflict_do_nothing(index_elements=["name_key"])
                .returning(sign_in_throttle.c.name_key)  # psycopg's rowcount here is -1
            ).first()
        return 1 if inserted is not None else None  # a first failure, unless another attempt made the row

    def lock_unknown(self, name_key: str, until: datetime) -> None:
        with self._db.begin() as conn:
            conn.execute(
                sa.update(sign_in_throttle)
                .where(sign_in_throttle.c.name_key == name_key)
                .values(locked_until=until)
            )

    def begin_attempt(self, account: AccountRow, at: datetime, *, fresh: bool) -> int | None:
        """Count a login attempt before its password is checked; the account's new failure count.

        Compare-and-set on the count ``account`` was read with: None when another attempt (another
        thread, worker or server) got there first, so that parallel guesses cannot slip past the
        throttle. ``fresh`` starts the count again (a lock that has run out).
        """
        with self._db.begin() as conn:
            return _count_failure(
                conn, accounts, accounts.c.id == account.id, account.failed_count, at, fresh=fresh
            )

    def end_throttle(self, account_id: int) -> None:
        """A successful login: forget the failures."""
        with self._db.begin() as conn:
            conn.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_id)
                .values(failed_count=0, last_failed_at=None, locked_until=None)
            )

    def lock(self, account: AccountRow, until: datetime, failures: int) -> None:
        with self._db.begin() as conn:
            conn.execute(sa.update(accounts).where(accounts.c.id == account.id).values(locked_until=until))
            self._changes.record(
                conn,
                "linkgate",
                "account.lock",
                account.name,
                {"failed_count": failures - 1, "locked_until": None},
                {"failed_count": failures, "locked_until": until.isoformat()},
            )


def _count_failure(
    conn: Connection, table: sa.Table, row: sa.ColumnElement[bool], seen: int, at: datetime, *, fresh: bool
) -> int | None:
    """Count a failed sign-in on ``row`` of ``table`` (``accounts`` or ``sign_in_throttle``) by
    compare-and-set on the count ``seen`` it was judged on: the new count, or None when another attempt
    got there first. ``fresh`` starts the count again and lifts the lock (one that has run out)."""
    count = 1 if fresh else seen + 1
    result = conn.execute(
        sa.update(table)
        .where(row, table.c.failed_count == seen)
        .values(failed_count=count, last_failed_at=at, locked_until=None if fresh else table.c.locked_until)
    )
    return count if result.rowcount == 1 else None


def _account_from_row(row: Any) -> AccountRow:
    return AccountRow(
        id=row.id,
        name=row.name,
        password_hash=row.password_hash,
        role=row.role,
        created_at=as_utc(row.created_at) or now(),
        failed_count=int(row.failed_count or 0),
        last_failed_at=as_utc(row.last_failed_at),
        locked_until=as_utc(row.locked_until),
        session_stamp=row.session_stamp,
    )


def _session_stamp() -> str:
    return secrets.token_hex(16)


def _iso(value: datetime | None) -> str | None:
    stamp = as_utc(value)
    return None if stamp is None else stamp.isoformat()
