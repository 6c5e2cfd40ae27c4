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
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, overload

from linkgate.audit.checks import PROBLEMS, verdict
from linkgate.audit.crawl import ROUTES, AppearanceList, AuditResult, LinkRecord
from linkgate.urls import parse_destination

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "Appearances",
    "Entries",
    "Entry",
    "build_report",
    "csv_text",
    "write_reports",
]

SCHEMA_VERSION = 1
FORMATS = ("html", "csv", "json")
APPEARANCE_PROBLEMS = ("bypass", "link_text", "target_blank")
WORST_PAGES = 10
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
)


def _iso(value: Any) -> str:
    return str(value.isoformat(timespec="seconds"))


class Entry(dict[str, Any]):
    """One entry of the report (a link, a page, an appearance): a dict for JSON and CSV, whose keys the
    HTML template reads as attributes too (Jinja tries an attribute first: a plain dict fails that, and
    the exception costs more than the rest of the lookup, tens of thousands of times a report)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Entries(Sequence[Entry]):
    """The report's links or pages, each made when read rather than kept: a large site has tens of
    thousands, and the crawl already holds what they are made of."""

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Entry]) -> None:
        self._items = items
        self._make = make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Entry]:
        return map(self._make, self._items)

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> list[Entry]: ...

    def __getitem__(self, index: int | slice) -> Entry | list[Entry]:
        if isinstance(index, slice):
            return [self._make(item) for item in self._items[index]]
        return self._make(self._items[index])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class Appearances(Sequence[dict[str, Any]]):
    """A link's appearances as the report gives them (one dict each), made when read rather than kept:
    a site's report has tens of thousands, and the crawl already holds what they are made of. Each is
    made straight from the packed numbers (no :class:`Appearance` in between), its text judged once per
    run by the crawl's :class:`TextTable`."""

    def __init__(
        self, appearances: AppearanceList, pages: list[str], link_level: tuple[str, ...], outbound: bool
    ) -> None:
        self._appearances = appearances
        self._pages = pages
        self._link_level = link_level
        self._outbound = outbound

    def __len__(self) -> int:
        return len(self._appearances)

    def __iter__(self) -> Iterator[dict[str, Any]]:  # Sequence's own goes through __getitem__ and its checks
        return self._entries(0, None)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        count = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(count)
            if step == 1:
                return list(self._entries(start, stop))
            return [self[i] for i in range(start, stop, step)]
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("appearance index out of range")
        return next(self._entries(index, index + 1))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    @property
    def pages(self) -> list[str]:
        """The report's page addresses, by index."""
        return self._pages

    @property
    def texts(self) -> list[str]:
        """The run's link texts, by number."""
        return self._appearances.texts.texts

    @property
    def text_problems(self) -> list[str | None]:
        """Why each of the run's link texts does not describe its link, by number (None: it does)."""
        return self._appearances.texts.problems

    def numbers(self) -> Iterator[tuple[int, int, int, int, tuple[str, ...]]]:
        """(page index, line, text number, route index, problems) of each appearance, in order: for the
        writers, which encode each page and each text once per report rather than once per appearance.
        The problems are those of :meth:`__iter__`'s entries."""
        text_problems = self._appearances.texts.problems
        link_level, outbound = self._link_level, self._outbound
        kinds: dict[int, tuple[str, ...]] = {}
        for page, line, packed in self._appearances.packed():
            number, route = packed >> 3, packed & 3
            kind = (text_problems[number] is not None) | ((outbound and not route) << 1) | (packed & 4)
            problems = kinds.get(kind)
            if problems is None:
                own = (("bypass", kind & 2), ("link_text", kind & 1), ("target_blank", kind & 4))
                problems = kinds[kind] = link_level + tuple(code for code, on in own if on)
            yield page, line, number, route, problems

    def _entries(self, start: int, stop: int | None) -> Iterator[dict[str, Any]]:
        table = self._appearances.texts
        texts, text_problems, pages = table.texts, table.problems, self._pages
        link_level, outbound = self._link_level, self._outbound
        for page, line, packed in self._appearances.packed(start, stop):
            number, route = packed >> 3, packed & 3
            text_problem = text_problems[number]
            own = list(link_level)
            if outbound and not route:
                own.append("bypass")
            if text_problem:
                own.append("link_text")
            if packed & 4:
                own.append("target_blank")
            yield Entry(
                page=pages[page],
                line=line,
                text=texts[number],
                text_problem=text_problem,
                routed=ROUTES[route] or None,
                problems=own,
            )


def _plain(value: Any) -> Any:
    """For json.dumps: entries made when read, as lists."""
    if isinstance(value, (Appearances, Entries)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _write_json(report: dict[str, Any], handle: IO[str]) -> None:
    """``report.json``, one page or link a line: each encoded on its own by the C encoder (``json.dump``
    of the whole document takes the slow pure-Python path), so the file is never one string in memory."""
    handle.write("{")
    for number, (key, value) in enumerate(report.items()):
        handle.write(("," if number else "") + "\n" + json.dumps(key) + ": ")
        if key in ("pages", "links") and value:
            handle.write("[\n")
            for index, item in enumerate(value):
                text = json.dumps(item, ensure_ascii=False, default=_plain)
                handle.write(("," if index else "") + text + "\n")
            handle.write("]")
        else:
            handle.write(json.dumps(value, ensure_ascii=False, default=_plain))
    handle.write("\n}\n")


@lru_cache(maxsize=4096)  # each link's entry is made once per report format
def _host(url: str) -> str:
    return parse_destination(url).host


def _link_json(record: LinkRecord, problems: list[str], pages: list[str]) -> Entry:
    link_level = tuple(problem for problem in problems if problem not in APPEARANCE_PROBLEMS)
    outbound = not record.internal and record.category != "county"
    appearances = Appearances(record.appearances, pages, link_level, outbound)
    answer = record.answer
    final_url = answer.final_url if answer is not None else record.url
    privacy = record.privacy
    state = verdict(answer)
    summary = record.appearances.summary()
    return Entry(
        url=record.url,
        internal=record.internal,
        category=record.category,
        action=record.action,
        flags=list(record.flags),
        rule=record.rule,
        routed=("all" if summary.routed and not summary.unrouted else "some" if summary.routed else "none"),
        checked=answer is not None,
        skipped=record.skipped or None,
        method=answer.method if answer is not None else None,
        status=answer.status if answer is not None else None,
        verdict=state.state,
        error=(answer.error if answer is not None else None) or None,
        reason=answer.reason if answer is not None else None,
        attempts=answer.attempts if answer is not None else 0,
        redirects=[{"url": hop.url, "status": hop.status} for hop in answer.redirects] if answer else [],
        final_url=final_url,
        final_host=_host(final_url),
        https=final_url.startswith("https://") and record.url.startswith("https://"),
        soft_404=record.soft_404,
        privacy_status=privacy.status if privacy is not None else None,
        privacy_url=privacy.privacy_url if privacy is not None else None,
        problems=problems,
        appearances=appearances,
    )


def build_report(result: AuditResult) -> dict[str, Any]:
    """The whole run as one JSON-ready document (``schema_version`` 1, see docs/audit.md). Its links and
    pages are :class:`Entries`, made as each format is written."""
    options = result.options
    page_urls = [page.url for page in result.pages]
    judged = [
        (record, record.problems(record.category == "county"))
        for record in result.links.values()
        if record.appearances
    ]
    judged.sort(key=lambda item: (not item[1], item[0].url))
    counts: Counter[str] = Counter()
    per_page = [0] * len(result.pages)
    for record, problems in judged:
        counts.update(problems)
        link_level = sum(1 for problem in problems if problem not in APPEARANCE_PROBLEMS)
        outbound = not record.internal and record.category != "county"
        for page, count in record.appearances.problem_counts(link_level, outbound):
            per_page[page] += count

    def page_entry(index: int) -> Entry:
        page = result.pages[index]
        answer = page.answer
        return Entry(
            url=page.url,
            depth=page.depth,
            status=answer.status if answer is not None else None,
            final_url=answer.final_url if answer is not None else None,
            error=answer.error if answer is not None else None,
            verdict=verdict(answer).state,
            content_type=answer.content_type if answer is not None else None,
            soft_404=page.soft_404,
            links=page.links,
            problems=per_page[index],
            rendered=page.rendered,
        )

    links = Entries(judged, lambda item: _link_json(item[0], item[1], page_urls))
    pages = Entries(range(len(result.pages)), page_entry)
    worst = sorted(
        ((page_urls[index], count) for index, count in enumerate(per_page) if count),
        key=lambda item: (-item[1], item[0]),
    )[:WORST_PAGES]
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
            "outbound": sum(1 for record, _ in judged if not record.internal),
            "internal": sum(1 for record, _ in judged if record.internal),
            "appearances": sum(len(record.appearances) for record, _ in judged),
            "with_problems": sum(1 for _, problems in judged if problems),
            "requests": result.requests,
            "peak_connections": result.peak_connections,
        },
        "problems": {code: counts.get(code, 0) for code in PROBLEMS},
        "problem_text": dict(PROBLEMS),
        "worst_pages": [{"url": url, "problems": count} for url, count in worst],
        "pages": pages,
        "links": links,
    }


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text  # a spreadsheet would run it as a formula
    return text


class _CsvEncoder:
    """Cells and runs of cells as ``csv.writer`` writes them (each field is quoted on its own, so rows
    can be put together from pieces), with each page, text and list of problems encoded once per report."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        # The line terminator the file has: csv.writer quotes a cell holding any of its characters.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self.pages: dict[int, str] = {}
        self.texts: dict[int, str] = {}
        self.problems: dict[tuple[str, ...], str] = {}

    def cells(self, values: Sequence[Any]) -> str:
        if len(values) == 1 and values[0] == "":
            return ""  # csv.writer writes a row of one empty cell as "" to tell it from no row at all
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue()[:-2]


def _write_csv(report: dict[str, Any], handle: IO[str]) -> None:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    encoder = _CsvEncoder()
    routes = [encoder.cells([_cell(route)]) for route in ROUTES]
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
        appearances = link["appearances"]
        head, tail, error_cell = encoder.cells(head_cells), encoder.cells(tail_cells), encoder.cells([error])
        pages, texts, problems_of = encoder.pages, encoder.texts, encoder.problems
        page_urls, text_values = appearances.pages, appearances.texts
        for page, line, number, route, problems in appearances.numbers():
            page_cell = pages.get(page)
            if page_cell is None:
                page_cell = pages[page] = encoder.cells([_cell(page_urls[page])])
            text_cell = texts.get(number)
            if text_cell is None:
                text_cell = texts[number] = encoder.cells([_cell(text_values[number])])
            problems_cell = problems_of.get(problems)
            if problems_cell is None:
                problems_cell = problems_of[problems] = encoder.cells([_cell(" ".join(problems))])
            rows.append(
                f"{page_cell},{line},{text_cell},{head},{routes[route]},{tail},{problems_cell},{error_cell}\r\n"
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


def write_reports(report: dict[str, Any], directory: Path, formats: Iterable[str]) -> list[Path]:
    """Write the chosen formats into ``directory`` (each file replaced atomically, streamed rather than
    built in memory); the files written."""
    written = []
    for kind in formats:
        if kind == "json":
            path = directory / "report.json"
            _write_atomically(path, lambda handle: _write_json(report, handle))
        elif kind == "csv":
            path = directory / "links.csv"
            _write_atomically(path, lambda handle: _write_csv(report, handle))
        else:
            from linkgate.audit.html import write_html

            path = directory / "report.html"
            _write_atomically(path, lambda handle: write_html(report, handle))
        written.append(path)
    return written
