"""``linkgate audit START_URL``: crawl the County's site and report every link on it.

Writes ``report.html``, ``links.csv`` and ``report.json`` into ``--out``, stores the run in the
database, prints what changed since the last run, and with ``--fail-on`` exits 1 when a problem of
those kinds is found (for scheduled checks). Bad input exits 2 with one line, as every command does.
Ctrl-C stops the crawl and still writes the report, marked partial; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from linkgate.cli.common import cli_actor, current_settings, fail, friendly, main
from linkgate.config import parse_duration
from linkgate.errors import InvalidDestination, LinkgateError, StoreUnavailable
from linkgate.urls import parse_destination

if TYPE_CHECKING:
    from collections.abc import Callable

    from linkgate.audit import AuditOptions, AuditResult, Crawler, Progress
    from linkgate.config import Settings
    from linkgate.runtime import Runtime
    from linkgate.sites import SiteFacts

# The crawler, its network client, the reports and the site cache are imported when the command runs,
# not when ``linkgate`` starts (every command's module is imported then).


HOUR = 3600
MAX_REDIRECTS = 10  # followed from one address (docs/audit.md); the site cache's lookups follow 5
PROGRESS_EVERY = 10  # seconds between two lines of --progress lines
GC_THRESHOLD = 20_000  # new objects between two collections of the youngest generation (Python's: 700)
PER_HOST = 4  # connections to one site unless --per-host says otherwise (never above --concurrency)


class Seconds(click.FloatRange):
    """A number of seconds in a range, and finite: ``nan`` passes every comparison a range makes, and an
    infinite timeout or delay would hold the audit forever."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        return number


def _split(value: str, allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [item for item in items if item not in allowed]
    if unknown:
        fail(f"{option}: unknown value {unknown[0]!r}; choose from {', '.join(allowed)}")
    return items


def _writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        fail(f"cannot write the report into {directory}: {error.strerror or error}")


def _patterns(values: tuple[str, ...], option: str) -> tuple[str, ...]:
    for value in values:
        try:
            re.compile(value)
        except re.error as error:
            fail(f"{option} {value!r} is not a valid regular expression ({error})")
    return values


@main.command("audit")
@click.argument("start_url")
@click.option(
    "--max-pages",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Read at most this many pages.",
)
@click.option(
    "--max-depth",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="Follow links at most this many clicks deep.",
)
@click.option(
    "--max-sitemap-entries",
    default=50_000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Read at most this many entries from the site's sitemaps, in all (the rest are left out).",
)
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Connections open at once, in all.",
)
@click.option(
    "--per-host",
    default=None,
    type=click.IntRange(min=1),
    help=f"Connections open at once to one site, at most --concurrency.  [default: {PER_HOST}, or "
    "--concurrency when that is lower]",
)
@click.option(
    "--delay",
    default=0.0,
    show_default=True,
    type=Seconds(min=0, max=HOUR),
    help="Seconds between two requests to one site (robots.txt's Crawl-delay raises it).",
)
@click.option(
    "--include", multiple=True, help="Only read pages whose address matches this regular expression."
)
@click.option(
    "--exclude",
    multiple=True,
    help="Neither read nor check addresses that match this regular expression (repeatable).",
)
@click.option(
    "--same-site",
    is_flag=True,
    help="Read pages on every County domain (county.domains), not only the start address's host.",
)
@click.option(
    "--out",
    "out",
    default="linkgate-audit",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the report files.",
)
@click.option(
    "--format",
    "formats",
    default="html,csv,json",
    show_default=True,
    help="Which reports to write: html, csv, json (comma-separated).",
)
@click.option(
    "--check-external/--no-check-external",
    default=True,
    show_default=True,
    help="Check that off-site links work.",
)
@click.option(
    "--check-privacy/--no-check-privacy",
    default=True,
    show_default=True,
    help="Look up each destination site's privacy policy (through the site cache).",
)
@click.option(
    "--timeout",
    default=15.0,
    show_default=True,
    type=Seconds(min=0, min_open=True, max=HOUR),
    help="Seconds to wait for one answer.",
)
@click.option(
    "--retries",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="Retries of a timeout, a refused connection, or an answer 429, 502, 503 or 504, with backoff.",
)
@click.option("--user-agent", default=None, help="The User-Agent to send (linkgate's own by default).")
@click.option(
    "--ignore-robots", is_flag=True, help="Read pages robots.txt forbids; only for the County's own site."
)
@click.option("--sort-query", is_flag=True, help="Treat addresses whose query differs only in order as one.")
@click.option(
    "--render",
    is_flag=True,
    help="Load pages in headless Chromium, to find links added by JavaScript (slower).",
)
@click.option(
    "--fail-on",
    "fail_on",
    default="",
    help="Exit 1 when a problem of these kinds is found, such as broken,bypass (for scheduled checks).",
)
@click.option(
    "--store/--no-store",
    "keep",
    default=True,
    show_default=True,
    help="Record the run in the database (for the console and the next run's comparison).",
)
@click.option(
    "--recheck-after",
    "recheck_after_text",
    metavar="DURATION",
    default="24h",
    show_default=True,
    help="Do not ask again a link that answered well within this time (an earlier run's result is "
    "reported, with when it was checked): 30m, 12h, 2d...; 0 checks every link. Broken, unverified and "
    "new links are always checked.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "lines", "off"]),
    default="auto",
    show_default=True,
    help="auto: a live line on a terminal, nothing otherwise; lines: a line of counts every "
    f"{PROGRESS_EVERY} seconds (for logs, and the console's audits); off: none.",
)
@friendly
def audit(
    start_url: str,
    max_pages: int,
    max_depth: int,
    max_sitemap_entries: int,
    concurrency: int,
    per_host: int | None,
    delay: float,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    same_site: bool,
    out: Path,
    formats: str,
    check_external: bool,
    check_privacy: bool,
    timeout: float,
    retries: int,
    user_agent: str | None,
    ignore_robots: bool,
    sort_query: bool,
    render: bool,
    fail_on: str,
    keep: bool,
    recheck_after_text: str,
    progress: str,
) -> None:
    """Crawl the County's site from START_URL and report every link: broken, insecure, blocked, not
    routed through the gate, without a privacy policy, with unhelpful text."""
    from linkgate.audit import (
        FORMATS,
        PROBLEMS,
        AuditOptions,
        build_report,
        diff_runs,
        keep_results,
        save_run,
        write_reports,
    )
    from linkgate.http import DEFAULT_USER_AGENT

    if not re.match(r"(?i)^https?://", start_url.strip()):
        fail(f"the start address must begin with http:// or https:// (got {start_url!r})")
    try:
        start = parse_destination(start_url.strip())
    except InvalidDestination as error:
        fail(f"the start address is not valid: {error}")
        return
    if per_host is None:
        per_host = min(PER_HOST, concurrency)
    if per_host > concurrency:
        fail(f"--per-host ({per_host}) cannot be more than --concurrency ({concurrency})")
    kinds = _split(formats, FORMATS, "--format")
    if not kinds:
        fail("--format names no report; choose from html, csv, json")
    failing = _split(fail_on, tuple(PROBLEMS), "--fail-on")
    try:
        recheck_after = parse_duration(recheck_after_text)
    except ValueError as error:
        fail(f"--recheck-after: {error}")
        return
    settings = current_settings()
    from linkgate.classify import is_under

    is_county = not start.is_ip and is_under(start.host.rstrip("."), settings.county_domains)
    if ignore_robots and not is_county:
        fail(
            f"--ignore-robots is only for the County's own site ({', '.join(settings.county_domains)}); "
            f"{start.host} is not one"
        )
    if same_site and not is_county:
        fail(f"--same-site reads every County domain, but {start.host} is not under one of them")
    if render:
        try:
            import playwright  # noqa: F401
        except ImportError:
            fail("--render needs Playwright and Chromium (pip install playwright)")
    _writable(out)
    options = AuditOptions(
        start_url=start.href,
        max_pages=max_pages,
        max_depth=max_depth,
        max_sitemap_entries=max_sitemap_entries,
        concurrency=concurrency,
        per_host=per_host,
        delay=delay,
        include=_patterns(include, "--include"),
        exclude=_patterns(exclude, "--exclude"),
        same_site=same_site,
        check_external=check_external,
        check_privacy=check_privacy and check_external,
        timeout=timeout,
        user_agent=user_agent or DEFAULT_USER_AGENT,
        retries=retries,
        ignore_robots=ignore_robots,
        sort_query=sort_query,
        render=render,
    )
    result, store, archived = _run(settings, options, progress, recheck_after)
    _check_start(result)
    _note_earlier(result, recheck_after_text)
    report = build_report(result, archived)
    written = write_reports(report, out, kinds, timezone=settings.timezone)
    _summarise(report, written)
    if keep and store is not None:
        try:
            keep_results(store, report, {page.url for page in result.pages}, settings.audit_kept_results)
        except StoreUnavailable as error:
            click.echo(f"linkgate: warning: the links' results were not kept: {error}", err=True)
        try:
            run_id = save_run(store, report, out.resolve(), cli_actor(), keep_sites=settings.max_sites)
            run = store.audits.get(run_id)
            if run is not None:
                change = diff_runs(store, run)
                if change.previous is None:
                    click.echo(
                        f"Run {run_id} stored; no earlier complete run of {options.start_url} to compare."
                    )
                elif result.partial:
                    click.echo(
                        f"Run {run_id} stored. Since run {change.previous.id}: {len(change.new)} new "
                        f"problem(s); nothing is counted fixed, as the run did not finish."
                    )
                else:
                    click.echo(
                        f"Run {run_id} stored. Since run {change.previous.id}: {len(change.new)} new "
                        f"problem(s), {len(change.fixed)} fixed."
                    )
        except StoreUnavailable as error:
            click.echo(f"linkgate: warning: the run was not stored: {error}", err=True)
    if result.partial:
        click.echo("The crawl was interrupted: the report is partial.", err=True)
        sys.exit(130)
    found = [code for code in failing if report["problems"].get(code)]
    if found:
        click.echo(
            "linkgate: audit found " + ", ".join(f"{report['problems'][code]} {code}" for code in found),
            err=True,
        )
        sys.exit(1)


def _run(
    settings: Settings, options: AuditOptions, progress: str, recheck_after: timedelta
) -> tuple[AuditResult, Any, dict[str, dict[str, str]]]:
    from linkgate.audit import Crawler, kept_results
    from linkgate.gateaddress import gate_address
    from linkgate.runtime import Runtime
    from linkgate.sites import facts_from_row
    from linkgate.store import now

    runtime = Runtime(settings)
    # A site's facts looked up before this are looked up again for the run (its fingerprint, §1, must be
    # as recent as the links' results): with --recheck-after 0, every site's. The store keeps a lookup's
    # time rounded up to the second (store.sites.save_check), so one made just before the run may read a
    # second later than it was: the second is added.
    checked_since = now() - recheck_after + timedelta(seconds=1)
    try:
        earlier = kept_results(runtime.store, recheck_after, now())
    except StoreUnavailable as error:
        click.echo(
            f"linkgate: warning: earlier results could not be read, so every link is checked: {error}",
            err=True,
        )
        earlier = {}
    # What is loaded by now (modules, the configuration, the rules) lives as long as the run: moved out
    # of the collector's sight, so the full collections the crawl's many objects bring on do not walk
    # it each time (about 50 ms a collection).
    gc.freeze()
    # The crawl and the reports make objects by the hundred thousand, nearly all kept to the end (records,
    # appearances) or freed at once by reference counting (answers, report entries): collecting cycles
    # every 700 new objects (Python's default) took 517 collections and 0.13 s of CPU on benchmarks/audit.py
    # --wide, and freed next to nothing; with 20,000, 13 collections and 0.05 s, the same peak memory.
    gc.set_threshold(GC_THRESHOLD, 20, 20)

    def privacy(key: str) -> SiteFacts | None:
        """The site cache's facts for ``key``: the stored ones while fresh and checked within
        --recheck-after (a change of owner then shows in the next audit, not once the cache's week is
        over), else a lookup stored for /go."""
        try:
            row = runtime.store.sites.get(key)
            if (
                row is not None
                and runtime.sites.freshness.fresh_for(row) is not None
                and (row.checked_at is None or row.checked_at >= checked_since)  # None: an override
            ):
                return facts_from_row(row)
            return runtime.sites.refresh(key, force=True)
        except (LinkgateError, OSError):
            return None

    renderer = None
    if options.render:
        from linkgate.audit.render import Renderer

        renderer = Renderer()
    crawler = Crawler(
        options,
        policy=replace(runtime.fetch_policy, max_redirects=MAX_REDIRECTS),
        # The same name lookup as the site cache: names pinned by fetch.resolve, then the system's.
        resolver=runtime._resolve,
        classifier=runtime.classifier,
        gate=gate_address(settings.public_url),
        privacy=privacy if options.check_privacy else None,
        renderer=renderer,
        earlier=earlier,
    )
    result = asyncio.run(_crawl(crawler, progress))
    archived = _archived_copies(runtime, result)
    runtime.counts.flush()
    return result, runtime.store, archived


def _archived_copies(runtime: Runtime, result: AuditResult) -> dict[str, dict[str, str]]:
    """The closest archived copy (archive.url) of each broken off-site link from before it broke, by
    address: looked up after the crawl, a few at a time, and recorded for the notice. Links on the site or
    the County's domains are the County's to mend, not to archive: they are not looked up."""
    from linkgate.audit.checks import verdict

    archive = runtime.make_archive() if not result.partial else None  # an interrupted run reports at once
    if archive is None:
        return {}
    broken: list[tuple[str, datetime]] = []
    working: list[str] = []
    for link in result.links.values():
        if link.outbound and link.appearances:
            state = verdict(link.answer).state
            if state == "broken":
                broken.append((link.url, _last_good(runtime, link.url) or result.started_at))
            elif state == "ok":
                working.append(link.url)
    try:
        found = archive.look_up_many(broken, broken=True)
        archive.mark_working(working)
    finally:
        archive.close()
    if broken:
        result.notes.append(
            f"Archived copies ({archive.endpoint}): found for {len(found)} of {len(broken)} broken off-site "
            f"link{'s' if len(broken) != 1 else ''}"
            + (" (the archive stopped answering, so some were not asked)." if archive.gave_up else ".")
        )
    return {
        url: {"url": copy.url, "date": copy.date.isoformat(timespec="seconds")} for url, copy in found.items()
    }


def _last_good(runtime: Runtime, url: str) -> datetime | None:
    """When ``url`` last answered well, from the link results an earlier run kept (None when unknown):
    the archived copy offered is from before then."""
    try:
        kept = runtime.store.results.get(url)
    except StoreUnavailable:
        return None
    return kept.last_ok_at if kept is not None else None


async def _crawl(crawler: Crawler, progress: str) -> AuditResult:
    loop = asyncio.get_running_loop()

    def interrupted() -> None:
        if crawler.stopping.is_set():
            os.kill(os.getpid(), signal.SIGTERM)  # a second Ctrl-C: stop now
        click.echo("\nStopping: writing a partial report (Ctrl-C again to quit at once)...", err=True)
        crawler.stop()

    loop.add_signal_handler(signal.SIGINT, interrupted)
    try:
        if progress == "lines":
            return await crawler.run(_progress_lines())
        if progress == "auto" and sys.stderr.isatty():
            return await _with_display(crawler)
        return await crawler.run()
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _progress_lines(clock: Callable[[], float] = time.monotonic) -> Callable[[Progress], None]:
    """A line of counts on standard error as the crawl starts, then every PROGRESS_EVERY seconds."""
    last: list[float] = []

    def show(progress: Progress) -> None:
        now = clock()
        if last and now - last[0] < PROGRESS_EVERY:
            return
        last[:] = [now]
        pages, links, errors = progress.pages, progress.checked, progress.errors
        click.echo(
            f"progress: {pages} page{'s' if pages != 1 else ''} read, {progress.queued} queued, "
            f"{links} link{'s' if links != 1 else ''} checked, {errors} error{'s' if errors != 1 else ''}",
            err=True,
        )

    return show


async def _with_display(crawler: Crawler) -> AuditResult:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    def view(progress: Progress) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_row(
            f"pages crawled [bold]{progress.pages}[/]",
            f"queued [bold]{progress.queued}[/]",
            f"links checked [bold]{progress.checked}[/]",
            f"errors [bold]{progress.errors}[/]",
            f"{progress.rate:.1f}/s",
        )
        return table

    with Live(
        view(crawler.progress), console=Console(stderr=True), refresh_per_second=4, transient=True
    ) as live:
        return await crawler.run(lambda progress: live.update(view(progress)))


def _note_earlier(result: AuditResult, recheck_after: str) -> None:
    """Say in the report's notes how many links were not asked again, and since when."""
    taken = [link.checked_at for link in result.links.values() if link.from_earlier_run and link.checked_at]
    if taken:
        oldest = min(taken).isoformat(timespec="seconds")
        result.notes.append(
            f"{len(taken):,} link{'s' if len(taken) != 1 else ''} answered well in an earlier run within "
            f"--recheck-after {recheck_after} (the oldest checked at {oldest}) "
            f"and {'were' if len(taken) != 1 else 'was'} not asked again; each is marked with when it was "
            f"checked. --recheck-after 0 checks every link."
        )


def _check_start(result: AuditResult) -> None:
    if result.start_error is not None and not result.partial:
        fail(f"cannot reach {result.options.start_url}: {result.start_error}")
    if not result.pages:
        fail(
            f"robots.txt does not allow crawling {result.options.start_url} (or it is excluded); "
            f"use --ignore-robots for the County's own site"
        )
    answer = result.pages[0].answer
    if answer is not None and answer.status is None and not result.partial:
        fail(f"cannot reach {result.options.start_url}: {answer.error}")


def _summarise(report: dict[str, Any], written: list[Path]) -> None:
    totals = report["totals"]
    click.echo(
        f"{totals['pages_read']} page(s) read, {totals['links']} link(s) "
        f"({totals['outbound']} off-site), {totals['with_problems']} with problems."
    )
    if totals.get("from_earlier_runs"):
        click.echo(
            f"{totals['from_earlier_runs']} link(s) not asked again: earlier runs' results (--recheck-after)."
        )
    for code, count in report["problems"].items():
        if count:
            click.echo(f"  {code:13} {count}")
    for path in written:
        click.echo(f"Wrote {path}")
