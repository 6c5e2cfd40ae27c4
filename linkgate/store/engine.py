"""The database engine (SQLite or PostgreSQL) and the one place that says what its errors mean.

Every repository of the store reads through :meth:`Database.connect` and writes through
:meth:`Database.begin`; both turn a database that cannot be reached or read into
:class:`~linkgate.errors.StoreUnavailable`, so that callers handle one error whatever the driver, and
``begin(refused=...)`` turns a row the database refuses into :class:`~linkgate.errors.StoreRefused`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from linkgate.errors import StoreRefused, StoreUnavailable


class Database:
    """One engine for the whole store. One instance per process; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _make_engine(url)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (or for work that commits itself, such as a migration)."""
        with _database_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self, *, refused: str | None = None) -> Iterator[Connection]:
        """A connection in a transaction: committed when the block ends, rolled back if it raises.

        With ``refused`` (what is written, such as ``"the counts"``), a row the database refuses (a broken
        constraint, a value too long or out of range) raises :class:`StoreRefused`, for a writer that drops
        such a row rather than keep it; without, a broken constraint is the caller's to handle."""
        with _database_errors(refused), self.engine.begin() as conn:
            yield conn

    def insert(self, table: sa.Table) -> Any:
        """The database's own INSERT, for ON CONFLICT. Its dialect is imported only here: PostgreSQL's
        takes about a tenth of a second to import, which every command on SQLite would pay."""
        if self.is_sqlite:
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _database_errors(refused: str | None = None) -> Iterator[None]:
    """Map the driver's errors. A row the database refuses is :class:`StoreRefused` when the writer says
    what it writes (``refused``), else a broken constraint (IntegrityError) is the caller's to handle; any
    other database error means the database cannot be reached or read."""
    try:
        yield
    except (sa.exc.IntegrityError, sa.exc.DataError) as error:
        if refused is not None:
            # The driver's message may quote the row (PostgreSQL's "Failing row contains ..."): only the
            # kind of refusal is passed on.
            name = type(error.orig).__name__
            raise StoreRefused(f"The database refused {refused} ({name}).") from None
        if isinstance(error, sa.exc.IntegrityError):
            raise
        raise StoreUnavailable(f"The database cannot be read: {error.orig}") from error
    except sa.exc.OperationalError as error:
        raise StoreUnavailable(f"The database is unavailable: {error.orig}") from error
    except sa.exc.DatabaseError as error:
        raise StoreUnavailable(f"The database cannot be read: {error.orig}") from error


def holds(column: sa.ColumnElement[str], text: str) -> sa.ColumnElement[bool]:
    """``column`` holds ``text`` anywhere, in any case: a search box. Text with a NUL matches nothing
    (nothing stored holds one, and PostgreSQL refuses to compare it: the search answered 503)."""
    if "\x00" in text:
        return sa.false()
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


def engine_url(url: str) -> str:
    """``database.url`` as SQLAlchemy needs it: PostgreSQL always through psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        parsed = sa.make_url(url)
        path = parsed.database or ""
        if path in ("", ":memory:"):
            raise StoreUnavailable("linkgate needs a database file, not an in-memory SQLite database.")
        # mode=rw: a database file that has gone away is an error, not a new empty database.
        # NullPool: every use opens the file, so a replaced or removed file is noticed at once.
        engine = sa.create_engine(
            f"sqlite+pysqlite:///file:{Path(path).resolve()}?mode=rw&uri=true",
            poolclass=NullPool,
            connect_args={"timeout": 5, "check_same_thread": False},
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 5000")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(
        engine_url(url),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=3,
        connect_args={"connect_timeout": 3},
    )
