"""Keeping a table within its bound: the one trim every bounded table of the store uses.

A trim deletes the rows past the ``keep`` newest in one statement (``DELETE ... WHERE key IN (SELECT key
... ORDER BY newest first OFFSET keep)``), which walks the table's index on its order instead of counting
the whole table first, the same on SQLite and PostgreSQL. A repository that trims after each save asks
:class:`TrimSchedule` first: the first save of a process trims, then one save in every 1 % of the bound
(at most one in :data:`MAX_SAVES_BETWEEN_TRIMS`), so a large table passes its bound by at most that many
rows per process between two trims, and a bound of 199 rows or fewer is kept after every save.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["MAX_SAVES_BETWEEN_TRIMS", "TrimSchedule", "trim_oldest"]

MAX_SAVES_BETWEEN_TRIMS = 100


def trim_oldest(
    conn: Connection,
    key: sa.Column[Any],
    newest_first: Sequence[sa.ColumnElement[Any]],
    keep: int,
    where: sa.ColumnElement[bool] | None = None,
) -> int:
    """Delete the rows of ``key``'s table (those matching ``where``, when given) past the ``keep`` first in
    the ``newest_first`` order, which should end with ``key`` so that ties go the same way each time; how
    many went."""
    past = sa.select(key).order_by(*newest_first).offset(max(keep, 0))
    if where is not None:
        past = past.where(where)
    result = conn.execute(sa.delete(key.table).where(key.in_(past.scalar_subquery())))
    return int(result.rowcount or 0)


class TrimSchedule:
    """Which saves of one table trim it (see the module's docstring). Safe to share between threads."""

    def __init__(self) -> None:
        self._saves = itertools.count()

    def due(self, keep: int) -> bool:
        """True when this save, one of a table bounded to ``keep`` rows, should trim it."""
        every = min(max(keep // 100, 1), MAX_SAVES_BETWEEN_TRIMS)
        return next(self._saves) % every == 0
