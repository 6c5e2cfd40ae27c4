"""Long lists in the console (Rules, Sites, the change log): the order asked for in the query string,
what each sortable column header links to, and which page numbers to offer (a few, however many pages).
Sorting is the server's, so it works without JavaScript; a header is a link (``sort=name``, ``sort=-name``
for the other way), and the sorted column says so to assistive technology with ``aria-sort``
(templates/admin/_sort.html).

Never sort by anything but a named column: the key is checked against the list's own columns, so a
query string cannot reach the database's ORDER BY.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Sort:
    """A list's order: one of its columns (``key``), either way; ``default`` is the list's own order."""

    key: str
    descending: bool
    default: tuple[str, bool]
    newest_first: frozenset[str] = frozenset()  # time columns: sorted newest first when first chosen

    @classmethod
    def read(
        cls,
        args: Mapping[str, str],
        keys: tuple[str, ...],
        default: str,
        *,
        descending: bool = False,
        newest_first: tuple[str, ...] = (),
    ) -> Sort:
        """The ``sort`` asked for (``name`` or ``-name``), or the default when it names no column."""
        text = args.get("sort", "")[:40]
        key = text.removeprefix("-")
        times = frozenset(newest_first)
        if key not in keys:
            return cls(default, descending, (default, descending), times)
        return cls(key, text.startswith("-"), (default, descending), times)

    @property
    def param(self) -> str | None:
        """The ``sort`` value that keeps this order in links (None for the default order)."""
        if (self.key, self.descending) == self.default:
            return None
        return f"-{self.key}" if self.descending else self.key

    def link(self, key: str) -> str:
        """The ``sort`` value of column ``key``'s header: this column the other way, or another one
        ascending (a time column newest first)."""
        if key == self.key:
            return key if self.descending else f"-{key}"
        return f"-{key}" if key in self.newest_first else key

    def aria(self, key: str) -> str | None:
        """``aria-sort`` for column ``key``: on the sorted column only."""
        if key != self.key:
            return None
        return "descending" if self.descending else "ascending"


def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """The page links to offer: the first, the last and a few around ``page``; None marks a gap."""
    wanted = {1, pages, *range(page - around, page + around + 1)}
    numbers: list[int | None] = []
    for number in sorted(n for n in wanted if 1 <= n <= pages):
        if numbers and numbers[-1] is not None and number > numbers[-1] + 1:
            numbers.append(None)
        numbers.append(number)
    return numbers
