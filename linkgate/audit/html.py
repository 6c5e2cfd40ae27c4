"""``report.html``: the audit report as one self-contained, accessible page that works offline.

No external assets: the stylesheet and a small script are inline (the file is opened from disk, never
served by linkgate, so the gate's CSP does not apply). Without JavaScript every table is there in full;
the script only adds sorting, filtering and a count of the rows shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

import jinja2
from markupsafe import Markup, escape

from linkgate.clock import county_time

__all__ = ["write_html"]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WRITE_PIECES = 4096  # the template yields tens of thousands of small pieces: write them in batches
APPEARANCES_SHOWN = 200  # per link; links.csv has them all


def _templates() -> Path:
    inside = PACKAGE_DIR / "templates"
    return inside if inside.is_dir() else PACKAGE_DIR.parent / "templates"


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(_templates())),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    cache_size=0,  # one report a run: the compiled template is not kept for the rest of it
)

_ENVIRONMENT.filters["county_time"] = lambda stamp, timezone: county_time(
    datetime.fromisoformat(stamp), timezone, seconds=True
)

PROBLEM_LABELS = {
    "broken": "Broken",
    "unverified": "Could not verify",
    "soft_404": "Looks missing",
    "insecure": "Insecure",
    "blocked": "Blocked",
    "moved_away": "Moved away",
    "parked": "Parked or for sale",
    "changed": "Changed hands",
    "bypass": "Bypasses the gate",
    "no_privacy": "No privacy policy",
    "link_text": "Unhelpful link text",
    "target_blank": "New window without noopener",
}


# The Category column: the gate's categories and risk flags (linkgate.classify) in words, not codes.
CATEGORY_LABELS = {
    "county": "County site",
    "partner": "Partner",
    "government": "Government",
    "education": "Education",
    "external": "Other site",
    "blocked": "Blocked",
}
FLAG_LABELS = {
    "credentials": "user name or password in the address",
    "ip_address": "IP address instead of a name",
    "lookalike": "looks like a County address",
    "mixed_script": "mixed alphabets in the name",
    "insecure": "not encrypted (http)",
    "port": "unusual port",
    "idn": "international characters in the name",
}
# Flags the audit adds to the gate's: a move to another domain that an allow rule covers (not moved away).
AUDIT_FLAG_LABELS = {"expected_move": "moved to a domain an allow rule covers"}


_LABELS = {code: str(escape(label)) for code, label in PROBLEM_LABELS.items()}


class _AppearanceItems:
    """The ``<li>`` of each of a link's first :data:`APPEARANCES_SHOWN` appearances, then how many more.

    Made here rather than in the template: appearances are most of a report's rows, and one format
    string per row costs a fraction of the template's pieces and tests. Every value is escaped, each
    page, text and list of problems once per report (a site repeats the same few on every page).
    """

    def __init__(self) -> None:
        self._pages: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._problems: dict[tuple[str, ...], str] = {}

    def __call__(self, appearances: Sequence[dict[str, Any]]) -> Markup:
        pages, texts, problems_of = self._pages, self._texts, self._problems
        items = []
        for appearance in islice(appearances, APPEARANCES_SHOWN):
            link = pages.get(appearance["page"])
            if link is None:
                address = escape(appearance["page"])
                link = pages[appearance["page"]] = f'<a href="{address}">{address}</a>'
            text = texts.get(appearance["text"])
            if text is None:
                text = texts[appearance["text"]] = f"\u201c{escape(appearance['text'] or '(no text)')}\u201d"
            problems = tuple(appearance["problems"])
            labels = problems_of.get(problems)
            if labels is None:
                labels = problems_of[problems] = (
                    " \u2013 " + ", ".join(_LABELS[code] for code in problems) if problems else ""
                )
            routed = f" ({escape(appearance['routed'])})" if appearance["routed"] else ""
            items.append(f"<li>{link}, line {int(appearance['line'])}: {text}{routed}{labels}</li>\n")
        if len(appearances) > APPEARANCES_SHOWN:
            items.append(f"<li>and {len(appearances) - APPEARANCES_SHOWN} more (see links.csv)</li>\n")
        return Markup("".join(items))  # noqa: S704 (every value in it was escaped above)


def write_html(report: dict[str, Any], handle: IO[str], timezone: str = "UTC") -> None:
    """The report, written piece by piece (a large site's report is never one string in memory); its
    times in ``timezone`` (the County's, ``county.timezone``), named."""
    pieces: list[str] = []
    for piece in _ENVIRONMENT.get_template("audit/report.html").generate(
        report=report,
        labels=PROBLEM_LABELS,
        categories=CATEGORY_LABELS,
        flags={**FLAG_LABELS, **AUDIT_FLAG_LABELS},
        appearance_items=_AppearanceItems(),
        timezone=timezone,
    ):
        pieces.append(piece)
        if len(pieces) >= WRITE_PIECES:
            handle.write("".join(pieces))
            pieces.clear()
    handle.write("".join(pieces))
