"""Numbers and days an address names (route parts, query and form fields): each one read here, bounded.

A number from a request reaches SQL (an id, an OFFSET) and date arithmetic; unbounded, a 23-digit page
number raised OverflowError and answered 500. Every ``<int:...>`` route part is a :class:`BoundedInt`
(registered as ``int``: a larger number matches no route, 404), every number field goes through
:func:`whole_number` (a :class:`BadParameter`, 400, naming the field) and every day through
:func:`usable_day`. Never call ``int()`` on request data anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

from linkgate.chart import parse_day

MAX_ID = 2**31 - 1  # an INTEGER column on PostgreSQL
MAX_PAGE = 1_000_000  # of a console list (its OFFSET is the page times at most a few hundred)
MAX_OFFSET = 1_000_000_000  # of an API list
MAX_VERSION = 2**62  # the rules' version (a counter far from a 64-bit integer's end)
# Days a form may name: wide enough for any record, narrow enough that a range or a day after can be
# counted without leaving what the date type holds.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9000, 12, 31)


class BoundedInt(IntegerConverter):
    """``<int:...>`` from 0 to :data:`MAX_ID` unless the rule says otherwise."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class BadParameter(BadRequest):
    """A number field that is missing, not a whole number, or out of its bounds."""

    def __init__(self, name: str, low: int, high: int) -> None:
        self.field = name
        self.problem = f"a whole number from {low} to {high}"
        super().__init__(f"{name}: {self.problem}")


def whole_number(values: Mapping[str, Any], name: str, *, default: int | None, low: int, high: int) -> int:
    """``values[name]`` as an int from ``low`` to ``high``; ``default`` when it is absent or empty (None:
    required). Only ASCII digits, at most as many as ``high`` has: the text is judged before ``int()``."""
    text = values.get(name)
    if not text and default is not None:
        return default
    if (
        not isinstance(text, str)
        or not text.isascii()
        or not text.isdigit()
        or len(text.lstrip("0")) > len(str(high))
    ):
        raise BadParameter(name, low, high)
    number = int(text.lstrip("0") or "0")
    if not low <= number <= high:
        raise BadParameter(name, low, high)
    return number


def usable_day(text: str) -> date | None:
    """A day written YYYY-MM-DD from :data:`FIRST_DAY` to :data:`LAST_DAY`, or None."""
    day = parse_day(text)
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None
