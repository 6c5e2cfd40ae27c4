"""Pages rendered once per kind and then filled in per request: the gate's notice and block pages.

Every notice of one kind (language, category, trust, flags, what is known of the site's privacy policy) is
the same page except for a few strings: the destination, its address around the registrable domain, the
privacy link, the language-switch links. A :class:`Stencils` renders the template once for a kind with a
marker in each such place, cuts the page at the markers, and from then on joins the pieces with each
request's strings, escaped as Jinja's autoescape escapes them. A notice costs a few microseconds instead of
a template render (which is most of a notice's time: a few dozen translated strings, blocks and includes).

What it must never do: serve a page that the template would not render from the same context. So the
context is built by one function from the kind and the strings alone (never from the request), the kind
must name everything else the page depends on, and a stencil is kept only when two renders with different
markers (a number, then a longer text in letters) give the same page around the markers; otherwise (a
string that decides what the page shows, or passes through a filter) the template is rendered each time,
as it is when a string is empty (an empty hole cannot be found). Tests compare both ways page for page.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from markupsafe import escape

log = logging.getLogger(__name__)

Render = Callable[[str, Mapping[str, Any]], str]
Context = Callable[[Mapping[str, str]], dict[str, Any]]

# Private-use characters: no template text contains them and escaping leaves them alone.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_REFUSED = object()
_SPECIAL = re.compile("[&<>\"']")  # what markupsafe.escape replaces


class Stencil:
    """A page cut at its holes: ``pieces[0] + value(names[0]) + pieces[1] + ... + pieces[-1]``."""

    __slots__ = ("names", "pieces")

    def __init__(self, pieces: tuple[str, ...], names: tuple[str, ...]) -> None:
        self.pieces = pieces
        self.names = names

    def fill(self, values: Mapping[str, str]) -> str:
        pieces = self.pieces
        parts = [pieces[0]]
        for index, name in enumerate(self.names, 1):
            value = values[name]
            # Most values have nothing to escape: checking is cheaper than escaping.
            parts.append(value if _SPECIAL.search(value) is None else escape(value))
            parts.append(pieces[index])
        return "".join(parts)


def cut(page: str, names: tuple[str, ...]) -> Stencil | None:
    """The stencil of ``page`` rendered with digit markers for ``names``; None if a marker was altered."""
    pieces: list[str] = []
    order: list[str] = []
    start = 0
    for match in _MARKER.finditer(page):
        index = int(match.group(1))
        if index >= len(names):
            return None
        pieces.append(page[start : match.start()])
        order.append(names[index])
        start = match.end()
    pieces.append(page[start:])
    if any(_OPEN in piece or _CLOSE in piece for piece in pieces):
        return None
    return Stencil(tuple(pieces), tuple(order))


class Stencils:
    """Stencils by (template, kind), at most ``size`` of them: the one used longest ago goes first, so a
    stream of made-up kinds (flags and languages in every combination) cannot push out the kinds that
    real clicks keep using."""

    def __init__(self, render: Render, size: int = 512) -> None:
        self._render = render
        self._size = size
        self._stencils: OrderedDict[tuple[str, Hashable], Stencil | object] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, template: str, kind: Hashable, values: Mapping[str, str], context: Context) -> str:
        """``template`` rendered with ``context(values)``; ``kind`` names all else the context holds."""
        key = (template, kind)
        stencil = self._used(key)
        if stencil is None:
            stencil = self._make(template, tuple(values), context)
            with self._lock:
                while len(self._stencils) >= self._size:
                    self._stencils.popitem(last=False)
                self._stencils[key] = stencil
        if isinstance(stencil, Stencil) and all(values.values()):
            return stencil.fill(values)
        return self._render(template, context(values))

    def filled(self, template: str, kind: Hashable, values: Mapping[str, str]) -> str | None:
        """The page from the kind's stencil, or None when there is none yet (or it cannot be filled)."""
        stencil = self._used((template, kind))
        if isinstance(stencil, Stencil) and all(values.values()):
            return stencil.fill(values)
        return None

    def _used(self, key: tuple[str, Hashable]) -> Stencil | object | None:
        """The stencil for ``key``, marked as the one used last; None when there is none."""
        stencil = self._stencils.get(key)
        if stencil is not None:
            with contextlib.suppress(KeyError):  # evicted by another thread meanwhile: still good here
                self._stencils.move_to_end(key)
        return stencil

    def clear(self) -> None:
        with self._lock:
            self._stencils.clear()

    def _make(self, template: str, names: tuple[str, ...], context: Context) -> Stencil | object:
        digits = {name: f"{_OPEN}{index}{_CLOSE}" for index, name in enumerate(names)}
        letters = {name: f"{_OPEN}{name}-marker-letters{_CLOSE}" for name in names}
        stencil = cut(self._render(template, context(digits)), names)
        if stencil is not None:
            expected = Stencil(stencil.pieces, stencil.names).fill(letters)
            if self._render(template, context(letters)) == expected:
                return stencil
        log.warning("%s: its text depends on %s beyond showing them; rendered every time", template, names)
        return _REFUSED
