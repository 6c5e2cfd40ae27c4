"""The audit's reports: one JSON document (``report.json``, schema in docs/audit.md), and from it
``links.csv`` and the self-contained ``report.html``.

Everything is built from :func:`build_report`'s document, so the three formats always agree. Values
that came from other sites (link text, addresses, error messages) are untrusted: the HTML template
escapes them, and the CSV neutralises cells that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar, overload

from linkgate.audit.checks import (
    APPEARANCE_PROBLEMS,
    HEALTH_PROBLEMS,
    PROBLEMS,
    appearance_problems,
    health_findings,
    link_problems,
    verdict,
)
from linkgate.audit.html import write_html
from linkgate.audit.records import Appearance, AuditResult, LinkRecord, PageRecord
from linkgate.chart import spreadsheet_safe
from linkgate.urls import parse_destination

__all__ = ["FORMATS", "SCHEMA_VERSION", "Lazy", "build_report", "csv_text", "write_reports"]

SCHEMA_VERSION = 1
_HEALTH = frozenset(HEALTH_PROBLEMS)  # a link's health is found again only when it has a problem of it
FORMATS = ("html", "csv", "json")
WORST_PAGES = 10
_Item = TypeVar("_Item")
_Made = TypeVar("_Made")
CSV_COLUMNS = (
    "page",
    "line",
    "link_text",
    "url",
    "internal",
    "category",
    "action",
    "flags",
    "routed",
    "status",
    "final_url",
    "redirects",
    "https",
    "privacy_url",
    "problems",
    "error",
    "checked_at",
    "from_earlier_run",
    "archived_url",
    "archived_date",
)


def _iso(value: Any) -> str:
    return str(value.isoformat(timespec="seconds"))


class Lazy(Sequence[_Made]):
    """``make(item)`` for each of ``items``, made each time it is read rather than kept: a large site's
    report has tens of thousands of links and pages and hundreds of thousands of appearances, and the
    crawl's records already hold what they are made of."""

    __slots__ = ("_items", "_make")

    def __init__(self, items: Sequence[_Item], make: Callable[[_Item], _Made]) -> None:
        self._items: Sequence[Any] = items
        self._make: Callable[[Any], _Made] = make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[_Made]:
        return map(self._make, self._items)

    @overload
    def __getitem__(self, index: int) -> _Made: ...

    @overload
    def __getitem__(self, index: slice) -> list[_Made]: ...

    def __getitem__(self, index: int | slice) -> _Made | list[_Made]:
        if isinstance(index, slice):
            return [self._make(item) for item in self._items[index]]
        return self._make(self._items[index])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def _plain(value: Any) -> Any:
    """For json.dumps: entries made when read, as lists."""
    if isinstance(value, Lazy):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One encoder for the whole file: json.dumps with options makes a new one each call (one a page and link).
_JSON = json.JSONEncoder(ensure_ascii=False, default=_plain)


def _write_json(report: dict[str, Any], handle: IO[str]) -> None:
    """``report.json``, one page or link a line: each encoded on its own by the C encoder (``json.dump``
    of the whole document takes the slow pure-Python path), so the file is never one string in memory."""
    handle.write("{")
    for number, (key, value) in enumerate(report.items()):
        handle.write(("," if number else "") + "\n" + json.dumps(key) + ": ")
        if key in ("pages", "links") and value:
            handle.write("[\n")
            for index, item in enumerate(value):
                text = _JSON.encode(item)
                handle.write(("," if index else "") + text + "\n")
            handle.write("]")
        else:
            handle.write(_JSON.encode(value))
    handle.write("\n}\n")


def _appearances_json(link: LinkRecord, link_level: list[str]) -> Lazy[dict[str, Any]]:
    """The link's appearances as the report gives them: each one's problems are the link's own
    (``link_level``) and :func:`appearance_problems`."""

    def entry(appearance: Appearance) -> dict[str, Any]:
        anchor = appearance.anchor
        return {
            "page": appearance.page.url,
            "line": appearance.line,
            "text": anchor.text,
            "text_problem": anchor.text_problem,
            "routed": anchor.routed or None,
            "problems": link_level + list(appearance_problems(link, appearance)),
        }

    return Lazy(link.appearances, entry)


def _link_json(
    link: LinkRecord,
    problems: list[str],
    state: str,
    hosts: dict[str, str],
    county: Sequence[str] = (),
    archived: Mapping[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    answer = link.answer
    final_url = answer.final_url if answer is not None else link.url
    final_host = hosts.get(final_url)
    if final_host is None:
        final_host = hosts[final_url] = parse_destination(final_url).host
    privacy = link.privacy
    routed = sum(1 for appearance in link.appearances if appearance.anchor.routed)
    return {
        "url": link.url,
        "internal": link.internal,
        "category": link.category,
        "action": link.action,
        "flags": list(link.flags),
        "rule": link.rule,
        "routed": "all" if routed == len(link.appearances) else "some" if routed else "none",
        "checked": answer is not None,
        "skipped": link.skipped or None,
        "method": answer.method if answer is not None else None,
        "status": answer.status if answer is not None else None,
        "verdict": state,
        "error": (answer.error if answer is not None else None) or None,
        "reason": answer.reason if answer is not None else None,
        "attempts": answer.attempts if answer is not None else 0,
        "checked_at": _iso(link.checked_at) if link.checked_at is not None else None,
        "from_earlier_run": link.from_earlier_run,
        "redirects": [{"url": hop.url, "status": hop.status} for hop in answer.redirects] if answer else [],
        "final_url": final_url,
        "final_host": final_host,
        "https": final_url.startswith("https://") and link.url.startswith("https://"),
        "soft_404": link.soft_404,
        "privacy_status": privacy.status if privacy is not None else None,
        "privacy_url": privacy.privacy_url if privacy is not None else None,
        "health": health_findings(link, county) if _HEALTH.intersection(problems) else {},
        "archived": archived.get(link.url) if archived else None,
        "problems": problems,
        "appearances": _appearances_json(
            link, [problem for problem in problems if problem not in APPEARANCE_PROBLEMS]
        ),
    }


def _page_json(page: PageRecord, problems: int, state: str) -> dict[str, Any]:
    answer = page.answer
    return {
        "url": page.url,
        "depth": page.depth,
        "status": answer.status if answer is not None else None,
        "final_url": answer.final_url if answer is not None else None,
        "error": answer.error if answer is not None else None,
        "verdict": state,
        "content_type": answer.content_type if answer is not None else None,
        "soft_404": page.soft_404,
        "links": page.links,
        "problems": problems,
        "rendered": page.rendered,
    }


def build_report(result: AuditResult, archived: Mapping[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """The whole run as one JSON-ready document (``schema_version`` 1, see docs/audit.md). Its links,
    pages and appearances are made as each format is written; each link's and page's verdict is found
    once here (it reads the answer's headers), not once per format. ``archived`` holds the closest
    archived copy (``url``, ``date``) of broken links, by address (linkgate.archive)."""
    options = result.options
    judged = [
        (link, link_problems(link, result.county_domains), verdict(link.answer).state)
        for link in result.links.values()
        if link.appearances
    ]
    judged.sort(key=lambda item: (not item[1], item[0].url))
    counts: Counter[str] = Counter()
    per_page: Counter[str] = Counter()  # problems shown on each page, by its address
    for link, problems, _ in judged:
        counts.update(problems)
        link_level = sum(1 for problem in problems if problem not in APPEARANCE_PROBLEMS)
        for appearance in link.appearances:
            per_page[appearance.page.url] += link_level + len(appearance_problems(link, appearance))
    hosts: dict[str, str] = {}  # each link's entry is made once per format: its final host found once
    links = Lazy(judged, lambda item: _link_json(*item, hosts, result.county_domains, archived))
    pages = Lazy(
        [(page, verdict(page.answer).state) for page in result.pages],
        lambda item: _page_json(item[0], per_page[item[0].url], item[1]),
    )
    worst = sorted(
        ((url, count) for url, count in per_page.items() if count), key=lambda item: (-item[1], item[0])
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "linkgate audit",
        "start_url": options.start_url,
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "duration_seconds": round((result.finished_at - result.started_at).total_seconds(), 3),
        "partial": result.partial,
        "notes": list(result.notes),
        "options": {
            "max_pages": options.max_pages,
            "max_depth": options.max_depth,
            "max_sitemap_entries": options.max_sitemap_entries,
            "concurrency": options.concurrency,
            "per_host": options.per_host,
            "delay": options.delay,
            "include": list(options.include),
            "exclude": list(options.exclude),
            "same_site": options.same_site,
            "check_external": options.check_external,
            "check_privacy": options.check_privacy,
            "timeout": options.timeout,
            "user_agent": options.user_agent,
            "ignore_robots": options.ignore_robots,
            "sort_query": options.sort_query,
            "render": options.render,
        },
        "county_domains": list(result.county_domains),
        "totals": {
            "pages": len(pages),
            "pages_read": sum(1 for page in result.pages if page.answer is not None),
            "links": len(judged),
            "outbound": sum(1 for link, _, _ in judged if not link.internal),
            "internal": sum(1 for link, _, _ in judged if link.internal),
            "appearances": sum(len(link.appearances) for link, _, _ in judged),
            "with_problems": sum(1 for _, problems, _ in judged if problems),
            "from_earlier_runs": sum(1 for link, _, _ in judged if link.from_earlier_run),
            "requests": result.requests,
            "peak_connections": result.peak_connections,
        },
        "problems": {code: counts.get(code, 0) for code in PROBLEMS},
        "problem_text": dict(PROBLEMS),
        "worst_pages": [{"url": url, "problems": count} for url, count in worst[:WORST_PAGES]],
        "pages": pages,
        "links": links,
    }


def _cell(value: Any) -> str:
    """``value`` as the text of a cell no spreadsheet runs as a formula (:func:`spreadsheet_safe`)."""
    return spreadsheet_safe("" if value is None else str(value))


class _CsvEncoder:
    """Cells and runs of cells as ``csv.writer`` writes them (each field is quoted on its own, so rows
    can be put together from pieces), with each page, text and list of problems encoded once per report."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        # The line terminator the file has: csv.writer quotes a cell holding any of its characters.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._cells: dict[str, str] = {}

    def cells(self, values: Sequence[Any]) -> str:
        if len(values) == 1 and values[0] == "":
            return ""  # csv.writer writes a row of one empty cell as "" to tell it from no row at all
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue()[:-2]

    def once(self, value: str) -> str:
        """The cell of ``value`` (neutralised), encoded once per report: a site repeats the same pages,
        texts and problems on every row."""
        cell = self._cells.get(value)
        if cell is None:
            cell = self._cells[value] = self.cells([_cell(value)])
        return cell


def _write_csv(report: dict[str, Any], handle: IO[str]) -> None:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    encoder = _CsvEncoder()
    rows: list[str] = []
    for link in report["links"]:
        # What is the same on every row of a link, made once: (page, line, link_text) come first,
        # (routed) and (problems) are the appearance's own.
        head_cells = [
            _cell(link["url"]),
            "yes" if link["internal"] else "no",
            _cell(link["category"]),
            _cell(link["action"]),
            _cell(" ".join(link["flags"])),
        ]
        tail_cells = [
            _cell(link["status"] if link["status"] is not None else ""),
            _cell(link["final_url"]),
            _cell(" ".join(f"{hop['status']} {hop['url']}" for hop in link["redirects"])),
            "yes" if link["https"] else "no",
            _cell(link["privacy_url"] or ""),
        ]
        error = _cell(link["error"] or "")
        checked = [_cell(link["checked_at"] or ""), "yes" if link["from_earlier_run"] else "no"]
        head, tail = encoder.cells(head_cells), encoder.cells(tail_cells)
        copy = link["archived"] or {}
        archived_cells = [_cell(copy.get("url", "")), _cell(copy.get("date", ""))]
        error_cell = encoder.cells([error, *checked, *archived_cells])
        for appearance in link["appearances"]:
            rows.append(
                f"{encoder.once(appearance['page'])},{appearance['line']},{encoder.once(appearance['text'])},"
                f"{head},{encoder.once(appearance['routed'] or '')},{tail},"
                f"{encoder.once(' '.join(appearance['problems']))},{error_cell}\r\n"
            )
        if len(rows) >= 2000:
            handle.write("".join(rows))
            rows.clear()
    handle.write("".join(rows))


def csv_text(report: dict[str, Any]) -> str:
    """``links.csv``: one row per appearance of a link on a page."""
    out = io.StringIO()
    _write_csv(report, out)
    return out.getvalue()


def _write_atomically(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write through ``write(handle)`` into a temporary file beside ``path``, then put it in place."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_reports(
    report: dict[str, Any], directory: Path, formats: Iterable[str], *, timezone: str = "UTC"
) -> list[Path]:
    """Write the chosen formats into ``directory`` (each file replaced atomically, streamed rather than
    built in memory); the files written. ``report.html`` shows its times in ``timezone`` (the JSON and
    CSV keep UTC)."""
    written = []
    for kind in formats:
        if kind == "json":
            path = directory / "report.json"
            _write_atomically(path, lambda handle: _write_json(report, handle))
        elif kind == "csv":
            path = directory / "links.csv"
            _write_atomically(path, lambda handle: _write_csv(report, handle))
        else:
            path = directory / "report.html"
            _write_atomically(path, lambda handle: write_html(report, handle, timezone))
        written.append(path)
    return written
