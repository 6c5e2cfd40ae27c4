"""Click counts made presentable: every day of a range (zeros included), an SVG chart, spreadsheet-safe CSV.

Pure: dates, numbers and already-translated words in, text out; no Flask, no database. The SVG is meant
to be inserted into a page as it is, so every piece of text is escaped here, and it must never carry a
``style`` attribute or element (the CSP forbids inline style): presentation attributes only. Colours
contrast at least 3:1 with white, and each outcome also has its own pattern, so the chart can be read
without telling colours apart.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import overload

from linkgate.classify import ACTIONS

OUTCOMES = ACTIONS  # what a click got: redirect, notice or block
MAX_DAYS = 366  # the longest range the console and ``linkgate stats`` show (a leap year)
DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)

INK = "#1b1b1b"
GRID = "#c9c9c9"
PAPER = "#ffffff"


@dataclass(frozen=True)
class Look:
    """How one outcome is drawn: a colour that contrasts 3:1 with white, and a pattern of its own."""

    colour: str
    pattern: str  # solid | stripes | dots


LOOKS: Mapping[str, Look] = {
    "redirect": Look("#17463a", "solid"),
    "notice": Look("#005ea2", "stripes"),
    "block": Look("#b04a00", "dots"),
}

WIDTH = 720
HEIGHT = 340
LEFT = 64
RIGHT = 16
BOTTOM = 56
CHAR_WIDTH = 7.0  # a rough width of a 12-unit character, to lay out the legend
MAX_X_LABELS = 8


@dataclass(frozen=True)
class DayClicks:
    """One day's clicks by outcome."""

    day: date
    counts: Mapping[str, int]

    def count(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def parse_day(text: str) -> date | None:
    """A day written YYYY-MM-DD (and nothing else: no week dates, no times), or None."""
    text = text.strip()
    if not DAY_PATTERN.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def daily_clicks(start: date, end: date, rows: Iterable[tuple[date, str, int]]) -> list[DayClicks]:
    """(day, outcome, count) rows as one entry per day of the range: a day with no rows counts zero."""
    table: dict[date, dict[str, int]] = {day: dict.fromkeys(OUTCOMES, 0) for day in days_between(start, end)}
    for day, outcome, count in rows:
        if day in table:
            table[day][outcome] = table[day].get(outcome, 0) + count
    return [DayClicks(day, counts) for day, counts in table.items()]


def clicks_json(counts: Mapping[str, int]) -> dict[str, int]:
    """Clicks by outcome and their total, as ``GET /admin/api/stats`` and ``linkgate stats --format
    json`` give a day, a domain or a whole range (docs/api.md)."""
    shown = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    return {**shown, "total": sum(shown.values())}


def totals(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Clicks by outcome over several counts by outcome (the days of a range, its domains)."""
    summed = dict.fromkeys(OUTCOMES, 0)
    for each in counts:
        for outcome, count in each.items():
            summed[outcome] = summed.get(outcome, 0) + count
    return summed


# ---- the chart ----


def clicks_chart(
    days: Sequence[DayClicks],
    *,
    labels: Mapping[str, str],
    title: str,
    description: str,
    x_title: str,
    y_title: str,
    id_prefix: str = "clicks-chart",
    day_label: Callable[[date], str] = date.isoformat,
    number_label: Callable[[int], str] = "{:,}".format,
) -> str:
    """A stacked bar chart of clicks per day by outcome, as an inline ``<svg>`` element.

    ``labels`` names each outcome (for the legend and each bar's tooltip). The SVG is one image to
    assistive technology (``role="img"``, named by its ``<title>`` and ``<desc>``): the page must show
    the same numbers in a table. One ``<g class="chart-day">`` per day; inside it one ``<rect>`` per
    outcome with clicks.
    """
    if not days:
        raise ValueError("a chart needs at least one day")
    legend, top = _legend(labels, id_prefix)
    plot_left, plot_right, plot_top, plot_bottom = LEFT, WIDTH - RIGHT, top, HEIGHT - BOTTOM
    plot_height = plot_bottom - plot_top
    step = _nice_step(max(day.total for day in days))
    axis_top = step * max(1, -(-max(day.total for day in days) // step))
    band = (plot_right - plot_left) / len(days)
    bar = max(band * 0.7, min(band, 1.0))

    def y_of(value: float) -> float:
        return plot_bottom - value / axis_top * plot_height

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{id_prefix}-title {id_prefix}-desc" focusable="false" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="12">',
        f'<title id="{id_prefix}-title">{escape(title)}</title>',
        f'<desc id="{id_prefix}-desc">{escape(description)}</desc>',
        _patterns(id_prefix),
        '<g class="chart-grid">',
    ]
    for tick in range(0, axis_top + 1, step):
        level = _n(y_of(tick))
        parts.append(
            f'<line x1="{plot_left}" y1="{level}" x2="{plot_right}" y2="{level}" stroke="{GRID}" '
            f'stroke-width="1"/><text x="{plot_left - 8}" y="{level}" dy="0.35em" text-anchor="end" '
            f'fill="{INK}">'
            f"{escape(number_label(tick))}</text>"
        )
    parts.append("</g>")
    parts.append('<g class="chart-bars">')
    for index, day in enumerate(days):
        x = plot_left + index * band + (band - bar) / 2
        tip = f"{day_label(day.day)}: " + ", ".join(
            f"{labels.get(outcome, outcome)} {number_label(day.count(outcome))}" for outcome in OUTCOMES
        )
        parts.append(
            f'<g class="chart-day" data-day="{day.day.isoformat()}" data-total="{day.total}">'
            f"<title>{escape(tip)}</title>"
        )
        base = 0.0
        for outcome in OUTCOMES:
            count = day.count(outcome)
            if count <= 0:
                continue
            height = max(count / axis_top * plot_height, 1.0)  # one click still shows
            y = y_of(base) - height
            base += height / plot_height * axis_top
            parts.append(
                f'<rect class="chart-bar" data-outcome="{outcome}" data-count="{count}" '
                f'x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(height)}" '
                f'fill="{_fill(outcome, id_prefix)}" stroke="{PAPER}" stroke-width="0.5"/>'
            )
        parts.append("</g>")
    parts.append("</g>")
    parts.append(
        f'<line x1="{plot_left}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" '
        f'stroke="{INK}" stroke-width="1.5"/>'
        f'<line x1="{plot_left}" y1="{plot_top}" x2="{plot_left}" y2="{plot_bottom}" '
        f'stroke="{INK}" stroke-width="1.5"/>'
    )
    parts.append('<g class="chart-x-labels">')
    every = -(-len(days) // MAX_X_LABELS)
    for index in range(0, len(days), every):
        at = _n(plot_left + (index + 0.5) * band)
        parts.append(
            f'<line x1="{at}" y1="{plot_bottom}" x2="{at}" y2="{plot_bottom + 5}" stroke="{INK}"/>'
            f'<text x="{at}" y="{plot_bottom + 20}" text-anchor="middle" fill="{INK}">'
            f"{escape(day_label(days[index].day))}</text>"
        )
    parts.append("</g>")
    parts.append(
        f'<text x="{_n((plot_left + plot_right) / 2)}" y="{HEIGHT - 10}" text-anchor="middle" '
        f'fill="{INK}" font-weight="700">{escape(x_title)}</text>'
        f'<text x="0" y="0" transform="translate(16 {_n((plot_top + plot_bottom) / 2)}) rotate(-90)" '
        f'text-anchor="middle" fill="{INK}" font-weight="700">{escape(y_title)}</text>'
    )
    parts.append(legend)
    parts.append("</svg>")
    return "".join(parts)


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _nice_step(largest: int, ticks: int = 4) -> int:
    """A step of 1, 2 or 5 times a power of ten giving about ``ticks`` gridlines up to ``largest``."""
    raw = max(1, -(-largest // ticks))
    magnitude = 10 ** (len(str(raw)) - 1)
    for multiple in (1, 2, 5):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude


def _fill(outcome: str, id_prefix: str) -> str:
    look = LOOKS[outcome]
    return look.colour if look.pattern == "solid" else f"url(#{id_prefix}-{outcome})"


def _patterns(id_prefix: str) -> str:
    """White stripes or dots over each outcome's colour: tell the outcomes apart without colour."""
    defs = ["<defs>"]
    for outcome, look in LOOKS.items():
        if look.pattern == "stripes":
            defs.append(
                f'<pattern id="{id_prefix}-{outcome}" width="6" height="6" patternUnits="userSpaceOnUse" '
                f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{look.colour}"/>'
                f'<rect width="1.5" height="6" fill="{PAPER}"/></pattern>'
            )
        elif look.pattern == "dots":
            defs.append(
                f'<pattern id="{id_prefix}-{outcome}" width="5" height="5" patternUnits="userSpaceOnUse">'
                f'<rect width="5" height="5" fill="{look.colour}"/>'
                f'<circle cx="2.5" cy="2.5" r="1.1" fill="{PAPER}"/></pattern>'
            )
    defs.append("</defs>")
    return "".join(defs)


def _legend(labels: Mapping[str, str], id_prefix: str) -> tuple[str, int]:
    """The legend (a swatch and a name per outcome, wrapping as needed) and where the plot may start."""
    items = []
    x, row = float(LEFT), 0
    for outcome in OUTCOMES:
        label = labels.get(outcome, outcome)
        width = 16 + 6 + len(label) * CHAR_WIDTH + 24
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, row = float(LEFT), row + 1
        y = 12 + row * 22
        items.append(
            f'<g class="chart-legend-item" data-outcome="{outcome}">'
            f'<rect x="{_n(x)}" y="{y}" width="16" height="16" fill="{_fill(outcome, id_prefix)}" '
            f'stroke="{LOOKS[outcome].colour}" stroke-width="1"/>'
            f'<text x="{_n(x + 22)}" y="{y + 8}" dy="0.35em" fill="{INK}">{escape(label)}</text></g>'
        )
        x += width
    legend = '<g class="chart-legend">' + "".join(items) + "</g>"
    return legend, 12 + (row + 1) * 22 + 14


# ---- CSV ----

# A spreadsheet runs a cell that starts with one of these as a formula (after a line break or carriage
# return too: some read the cell from its next line). spreadsheet_safe puts an apostrophe before such a
# cell, and before one that already starts with apostrophes and then such a character, so that a reader
# (linkgate.rulesio's import) can take exactly one apostrophe off every cell that matches ESCAPED_FORMULA.
FORMULA_START = re.compile(r"'*[=+\-@\t\r\n]")
ESCAPED_FORMULA = re.compile(r"'+[=+\-@\t\r\n]")


@overload
def spreadsheet_safe(cell: str) -> str: ...
@overload
def spreadsheet_safe(cell: object) -> object: ...
def spreadsheet_safe(cell: object) -> object:
    """A text cell that a spreadsheet will not run as a formula (a leading ``'``); numbers as they are.
    The one such guard of every CSV linkgate writes (click counts, rules, the audit's links.csv)."""
    if isinstance(cell, str) and FORMULA_START.match(cell):
        return "'" + cell
    return cell


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV (RFC 4180 line ends) with every text cell made safe for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return buffer.getvalue()
