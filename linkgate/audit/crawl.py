"""The link audit's crawler: the County's pages, read politely, and every link on them checked once.

Asyncio tasks take work from a :class:`WorkQueue` ordered by depth (so a page is reached by its shortest
path) that hands out no more at once for one host than the per-host cap, so that no task waits on a busy
or slow host while another host's work is ready: a page to read (GET, HTML only, within scope, allowed by
robots.txt) or an address to check (HEAD, then GET when HEAD is refused). Every request goes through
:class:`linkgate.http.SafeClient`, which applies linkgate's fetch rules and the connection caps.
Each address is checked once however many pages link to it; each page it appears on is recorded with
the line and the link text.

The crawler must never read a page outside its scope, never ignore robots.txt unless told to, and never
lose what it found: when stopped (Ctrl-C) it returns what it has, marked partial.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx
from protego import Protego

from linkgate.audit.checks import EXPECTED_MOVE, verdict
from linkgate.audit.extract import (
    MAX_LINKS,
    gate_destination,
    is_soft_404,
    link_text_problem,
    normalise,
    read_page,
)
from linkgate.audit.history import host_verdict, is_reusable, kept_answer
from linkgate.audit.records import (
    Anchor,
    Appearance,
    AuditOptions,
    AuditResult,
    LinkRecord,
    PageRecord,
    Route,
)
from linkgate.audit.scope import Robots, Scope, origin
from linkgate.audit.sitemaps import read_sitemap
from linkgate.classify import Classifier
from linkgate.gateaddress import GateAddress
from linkgate.health import moved_away
from linkgate.http import Answer, FetchPolicy, Hop, Resolver, SafeClient
from linkgate.sites import SiteFacts, site_key
from linkgate.store import LinkResultRow
from linkgate.urls import parse_destination, resolve_web_link

__all__ = ["Crawler", "Progress"]

_LOG = logging.getLogger("linkgate.audit")
SITEMAP_BYTES = 10_000_000
MAX_SITEMAPS = 50
SKIPPED = {
    "excluded": "not checked: excluded by --include or --exclude",
    "robots": "not checked: robots.txt does not allow it",
}
# Work items out at once per connection allowed, for a host and in all: an item holds its share while its
# page is parsed and its links recorded, or while it waits out a retry's backoff or a Crawl-delay, and the
# client keeps the connections themselves within their caps. Four measured best on benchmarks/audit.py
# --wide (6.9 s, against 10.5 s with two and 17 s with one; 8.4 s with no cap per host).
ITEMS_PER_CONNECTION = 4
# A sitemap's entries come after the pages of the same depth found by following links: pages the site
# links to are where its links are spread (a sitemap is often one section after another, or a list of
# pages nothing links to), so their off-site addresses are found, and checked, sooner. (Depth first:
# every page is still recorded at its shortest distance from the start.)
LISTED_LATER = 1 << 40
CHECK_BODY_BYTES = 65_536  # enough of a GET answer to spot a bot wall or a soft 404


class PageRenderer(Protocol):
    """Reads a page in a browser (``--render``): :class:`linkgate.audit.render.Renderer`."""

    async def render(
        self, url: str, client: SafeClient, read_body: Callable[[int, httpx.Headers], int]
    ) -> Answer:
        """The page after its scripts ran."""

    async def aclose(self) -> None:
        """Close the browser."""


class WorkQueue:
    """The crawl's work: pages to read and addresses to check, each under its host.

    Work comes out in the order of its depth, then of its arrival (a breadth-first crawl; ``listed`` work,
    a sitemap's entries, after the rest of its depth), among the hosts
    that have fewer than ``per_host`` items out (taken and not yet :meth:`done`): a host at its cap keeps
    its work until one of its items is done, and another host's is handed out meanwhile, so that a slow or
    busy host does not hold every task. (The client caps the connections to each host exactly; this cap
    only steers the tasks.)
    """

    def __init__(self, per_host: int) -> None:
        self._per_host = max(1, per_host)
        self._work: dict[str, list[tuple[int, int, str, str]]] = {}  # host -> (depth, order, kind, url)
        self._out: dict[str, int] = {}  # host -> items taken and not done
        self._ready: list[tuple[int, int, str]] = []  # each host below its cap with work, by its first item
        self._listed: set[str] = set()  # the hosts in _ready
        self._takers: deque[asyncio.Future[None]] = deque()
        self._arrivals = 0
        self._queued = 0
        self._unfinished = 0
        self._finished = asyncio.Event()
        self._finished.set()

    def qsize(self) -> int:
        """Work not yet taken."""
        return self._queued

    def put(self, depth: int, kind: str, url: str, host: str, *, listed: bool = False) -> None:
        self._arrivals += 1
        self._queued += 1
        self._unfinished += 1
        self._finished.clear()
        order = self._arrivals + (LISTED_LATER if listed else 0)
        heapq.heappush(self._work.setdefault(host, []), (depth, order, kind, url))
        self._list(host)

    async def get(self) -> tuple[str, str, str]:
        """The next work: (kind, url, host). Call :meth:`done` with the host when it is done."""
        while not self._ready:
            taker = asyncio.get_running_loop().create_future()
            self._takers.append(taker)
            try:
                await taker
            except asyncio.CancelledError:
                if taker.done() and not taker.cancelled():
                    self._wake()  # it was woken for work it will not take: pass the turn on
                raise
        _, _, host = heapq.heappop(self._ready)
        self._listed.discard(host)
        work = self._work[host]
        _, _, kind, url = heapq.heappop(work)
        if not work:
            del self._work[host]
        self._queued -= 1
        self._out[host] = self._out.get(host, 0) + 1
        self._list(host)
        return kind, url, host

    def done(self, host: str) -> None:
        """An item of ``host`` taken with :meth:`get` is done."""
        self._out[host] -= 1
        self._unfinished -= 1
        if self._unfinished == 0:
            self._finished.set()
        self._list(host)

    async def join(self) -> None:
        """Wait until every item put has been done."""
        await self._finished.wait()

    def _list(self, host: str) -> None:
        """Put ``host`` among the ready ones when it has work and is below its cap."""
        work = self._work.get(host)
        if work and host not in self._listed and self._out.get(host, 0) < self._per_host:
            depth, arrival, _, _ = work[0]
            heapq.heappush(self._ready, (depth, arrival, host))
            self._listed.add(host)
            self._wake()

    def _wake(self) -> None:
        while self._takers:
            taker = self._takers.popleft()
            if not taker.done():
                taker.set_result(None)
                return


@dataclass
class Progress:
    pages: int = 0
    queued: int = 0
    checked: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.pages + self.checked) / elapsed if elapsed > 0 else 0.0


@dataclass
class _LeftOut:
    """What a run's sitemaps named and the run did not read, for its notes."""

    entries_elsewhere: int = 0  # entries on a host out of scope...
    entry_elsewhere: str = ""  # ...such as this one
    sitemaps_elsewhere: int = 0
    sitemap_elsewhere: str = ""
    over_cap: int = 0  # entries past max_sitemap_entries, in the sitemaps read
    past_page_limit: int = 0  # entries in scope once max_pages pages were queued
    sitemaps_unread: int = 0  # past MAX_SITEMAPS, max_sitemap_entries or max_pages

    def notes(self, options: AuditOptions, scope: str) -> list[str]:
        notes = []
        if self.entries_elsewhere:
            notes.append(
                f"Sitemap entries on other hosts were left out, not requested ({self.entries_elsewhere:,}, "
                f"such as {self.entry_elsewhere}): the audit reads pages on {scope} only."
            )
        if self.sitemaps_elsewhere:
            notes.append(
                f"Sitemaps on other hosts were not read ({self.sitemaps_elsewhere:,}, such as "
                f"{self.sitemap_elsewhere}): the audit reads pages on {scope} only."
            )
        if self.over_cap:
            notes.append(
                f"The sitemaps list more than {options.max_sitemap_entries:,} entries "
                f"(--max-sitemap-entries): the rest ({self.over_cap:,}) were left out."
            )
        if self.past_page_limit:
            notes.append(
                f"Sitemap entries past the page limit (--max-pages {options.max_pages:,}) were left out "
                f"({self.past_page_limit:,})."
            )
        if self.sitemaps_unread:
            notes.append(
                f"Sitemaps not read ({self.sitemaps_unread:,}): at most {MAX_SITEMAPS} sitemaps, "
                f"{options.max_sitemap_entries:,} entries (--max-sitemap-entries) and {options.max_pages:,} "
                f"pages (--max-pages) are read."
            )
        return notes


async def sitemap_entries(
    client: SafeClient,
    scope: Scope,
    robots: Protego | None,
    *,
    budget: int,
    left: _LeftOut,
    notes: list[str],
    more: Callable[[], bool],
    full: Callable[[], bool],
) -> AsyncIterator[str]:
    """The pages the start's sitemaps name: robots.txt's ``Sitemap:`` lines, ``/sitemap.xml`` and the
    sitemaps their indexes name, while ``more()``.

    Only sitemaps on a host in scope are requested, and a redirect off it is not followed: at most
    ``MAX_SITEMAPS`` of them and ``budget`` entries in all, and none once the crawl is ``full()``. What is
    left out is counted in ``left``; a sitemap that could not be read is in ``notes``.
    """
    robots_url = origin(scope.start) + "/robots.txt"
    listed = [
        url
        for url in (
            resolve_web_link(line, robots_url) for line in (robots.sitemaps if robots is not None else ())
        )
        if url is not None
    ]
    candidates = deque(dict.fromkeys([*listed, origin(scope.start) + "/sitemap.xml"]))
    named = set(candidates)
    read = 0
    while candidates and more():
        url = candidates.popleft()
        if not scope.on_host(url):
            left.sitemaps_elsewhere += 1
            left.sitemap_elsewhere = left.sitemap_elsewhere or url
            continue
        if scope.excluded(normalise(url)):
            continue
        if read >= MAX_SITEMAPS or budget <= 0 or full():
            left.sitemaps_unread += 1
            continue
        read += 1
        answer = await client.request(
            url,
            accept="application/xml,text/xml;q=0.9,*/*;q=0.5",
            read_body=lambda _s, _h: SITEMAP_BYTES,
            within=scope.on_host,
        )
        if answer.status != 200:
            if url in listed or answer.reason == "out_of_scope":
                why = answer.error or f"HTTP {answer.status}"
                notes.append(f"The sitemap {url} could not be read ({why}).")
            continue
        sitemap = read_sitemap(answer.content, answer.final_url, max_bytes=SITEMAP_BYTES, max_entries=budget)
        budget -= len(sitemap.pages) + len(sitemap.sitemaps)
        left.over_cap += sitemap.left_out
        for nested in sitemap.sitemaps:
            if nested not in named:
                named.add(nested)
                candidates.append(nested)
        for page in sitemap.pages:
            yield page


@dataclass(slots=True)
class _HostRecheck:
    """A host an earlier run found refusing automatic checks or unreachable (``kind``, see
    :func:`linkgate.audit.history.host_verdict`): the one of its such links this run asks (``probe``), its
    answer once it came (``still``: of the same kind), and the host's other such links waiting for it
    (record, kept result, depth)."""

    kind: str
    probe: str
    answer: Answer | None = None
    still: bool = False
    waiting: list[tuple[LinkRecord, LinkResultRow, int]] = field(default_factory=list)
    told: int = 0  # links reported with its answer, not asked


class PrivacyLookups:
    """The privacy link of each site a checked address leads to, looked up with ``look_up`` (the site
    cache; blocking, run in a thread, one at a time, on the client's reserved connection) once per site,
    in the background while the run goes on."""

    def __init__(self, look_up: Callable[[str], SiteFacts | None], client: SafeClient) -> None:
        self._look_up = look_up
        self._client = client
        self._sites: dict[str, asyncio.Future[SiteFacts | None]] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def fill(self, record: LinkRecord, url: str) -> None:
        """Set ``record.privacy`` to the facts of ``url``'s site, once they are looked up."""
        self._tasks.add(asyncio.ensure_future(self._fill(record, url)))

    async def finish(self, *, cancel: bool) -> None:
        """Wait for the lookups under way, or (``cancel``) stop them."""
        if not self._tasks:
            return
        if cancel:
            for lookup in self._tasks:
                lookup.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _fill(self, record: LinkRecord, url: str) -> None:
        record.privacy = await self._privacy_for(url)

    async def _privacy_for(self, url: str) -> SiteFacts | None:
        destination = parse_destination(url)
        if destination.is_ip:
            return None
        key = site_key(destination)
        future = self._sites.get(key)
        if future is None:
            future = asyncio.ensure_future(self._look_up_site(key))
            self._sites[key] = future
        return await asyncio.shield(future)

    async def _look_up_site(self, key: str) -> SiteFacts | None:
        async with self._client.outside():
            return await asyncio.to_thread(self._look_up, key)


class Crawler:
    """One audit run. ``privacy`` looks a site's privacy link up (the site cache; blocking, run in a
    thread); ``renderer`` reads pages in a browser instead (``--render``); ``clock`` and ``sleep`` are
    what the run's waits between requests are read on and waited with (see :class:`SafeClient`);
    ``earlier`` holds the results of earlier runs (``--recheck-after``,
    :func:`linkgate.audit.history.kept_results`): one that answered well is taken instead of asking the
    address again, and an address whose HEAD failed is asked with GET at once. The links an earlier run
    found refused by their host (401, 403, 429, a bot wall) or their host unreachable are asked host by
    host: one of them first; while the host still answers so, its others are reported so without a
    request (the polite way, and the same problems); when it answers otherwise, each is asked."""

    def __init__(
        self,
        options: AuditOptions,
        *,
        policy: FetchPolicy,
        resolver: Resolver,
        classifier: Classifier,
        gate: GateAddress | None = None,
        privacy: Callable[[str], SiteFacts | None] | None = None,
        renderer: PageRenderer | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        earlier: Mapping[str, LinkResultRow] | None = None,
    ) -> None:
        self.options = options
        self._earlier = earlier or {}
        self._get_first: set[str] = set()  # addresses whose HEAD failed in an earlier run: GET at once
        self._hosts: dict[tuple[str, str], _HostRecheck] = {}  # (kind, origin) -> its recheck this run
        self._probes: dict[str, _HostRecheck] = {}  # address asked for its host -> the host's recheck
        self.policy = policy
        self.resolver = resolver
        self.classifier = classifier
        self.gate = gate
        self._renderer = renderer
        self.scope = Scope.of(options, classifier)
        self.pages: list[PageRecord] = []
        self.links: dict[str, LinkRecord] = {}
        self.notes: list[str] = []
        self.progress = Progress()
        self.stopping = asyncio.Event()
        self._page_urls: dict[str, int] = {}
        # Each distinct anchor once (text, route, target="_blank"): a site repeats its navigation and
        # footer on every page.
        self._anchors: dict[tuple[str, Route, bool], Anchor] = {}
        self._queue = WorkQueue(ITEMS_PER_CONNECTION * options.per_host)
        self.client = _client(options, policy, resolver, self.scope, clock, sleep)
        self.robots = Robots(self.client, options, start=self.scope.start, notes=self.notes)
        self._privacy = (
            PrivacyLookups(privacy, self.client) if privacy is not None and options.check_privacy else None
        )

    # ---- the run ----

    async def run(self, on_progress: Callable[[Progress], None] | None = None) -> AuditResult:
        started_at = datetime.now(UTC)
        start = self.scope.start
        ticker = None
        try:
            if not self.options.ignore_robots:
                await self.robots.rules(start)
            await self._add_page(start, 0)
            await self._read_sitemaps(start)
            workers = [
                asyncio.create_task(self._work())
                for _ in range(ITEMS_PER_CONNECTION * self.options.concurrency)
            ]
            if on_progress is not None:
                ticker = asyncio.create_task(self._tick(on_progress))
            waiting = asyncio.create_task(self._queue.join())
            stop = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
            for task in (*workers, waiting, stop):
                task.cancel()
            await asyncio.gather(*workers, waiting, stop, return_exceptions=True)
            if self._privacy is not None:
                await self._privacy.finish(cancel=self.stopping.is_set())
        finally:
            if ticker is not None:
                ticker.cancel()
            await self.client.aclose()
            if self._renderer is not None:
                await self._renderer.aclose()
        if on_progress is not None:
            on_progress(self._snapshot())
        for record in self.links.values():
            note_expected_move(record, self.classifier)
        self._note_by_host()
        return AuditResult(
            options=self.options,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            pages=self.pages,
            links=self.links,
            partial=self.stopping.is_set(),
            notes=self.notes,
            peak_connections=self.client.peak_connections,
            requests=self.client.requests,
            county_domains=self.classifier.county_domains,
            start_error=self.robots.start_error,
        )

    def _note_by_host(self) -> None:
        """Say in the notes how many links were reported with their host's answer, not asked."""
        told = sum(recheck.told for recheck in self._hosts.values())
        if told:
            hosts = sum(1 for recheck in self._hosts.values() if recheck.told)
            self.notes.append(
                f"{told:,} link{'s' if told != 1 else ''} on {hosts:,} host{'s' if hosts != 1 else ''} that "
                f"still refuse{'s' if hosts == 1 else ''} automatic checks or cannot be reached "
                f"{'were' if told != 1 else 'was'} not asked again: one link of each host was, and the "
                f"others are reported with its answer (--recheck-after 0 asks each)."
            )

    def stop(self) -> None:
        """Stop taking work; :meth:`run` returns what was found so far, marked partial."""
        self.stopping.set()

    def _snapshot(self) -> Progress:
        self.progress.queued = self._queue.qsize()
        return self.progress

    async def _tick(self, on_progress: Callable[[Progress], None]) -> None:
        while True:
            on_progress(self._snapshot())
            await asyncio.sleep(0.25)

    def _push(self, depth: int, kind: str, url: str, *, listed: bool = False) -> None:
        self._queue.put(depth, kind, url, parse_destination(url).host, listed=listed)

    async def _work(self) -> None:
        while True:
            kind, url, host = await self._queue.get()
            try:
                if self.stopping.is_set():
                    continue
                if kind == "page":
                    await self._read(self.pages[self._page_urls[url]])
                else:
                    await check_address(
                        self.links[url],
                        self.client,
                        self.progress,
                        self._privacy,
                        get_first=url in self._get_first,
                    )
            except Exception as error:
                # A worker that died would leave its share of the queue undone and the crawl waiting.
                self._failed(kind, url, error)
            finally:
                recheck = self._probes.pop(url, None) if kind == "check" else None
                if recheck is not None:  # before done: the host's waiting links keep the run going
                    self._settle(recheck, self.links[url].answer)
                self._queue.done(host)

    def _failed(self, kind: str, url: str, error: Exception) -> None:
        """Record an unexpected failure while reading or checking ``url``: the address is reported as
        could not verify (reason ``internal``), the run's notes say what happened, the log has the trace."""
        message = (
            f"linkgate could not {'read' if kind == 'page' else 'check'} {url}: an internal error "
            f"({type(error).__name__}: {error})."
        )
        _LOG.error("%s", message, exc_info=error)
        answer = Answer(url, url, error=message, reason="internal")
        record = self.links[url]
        if record.answer is None:
            record.answer = answer
        if kind == "page":
            page = self.pages[self._page_urls[url]]
            if page.answer is None:
                page.answer = answer
        self.progress.errors += 1
        self.notes.append(message + " Please report it with the log to the County's linkgate maintainers.")

    # ---- sitemaps ----

    async def _read_sitemaps(self, start: str) -> None:
        """Queue the pages the site's sitemaps name (:func:`sitemap_entries`); the notes say what was
        left out. An entry is only ever a page to read, never an address to check: one on a host out of
        scope, or past the page limit, is never requested (nor kept: it is on no page, so no report would
        show it)."""
        robots = None if self.options.ignore_robots else await self.robots.rules(start)
        left = _LeftOut()
        entries = sitemap_entries(
            self.client,
            self.scope,
            robots,
            budget=self.options.max_sitemap_entries,
            left=left,
            notes=self.notes,
            more=lambda: not self.stopping.is_set(),
            full=lambda: len(self.pages) >= self.options.max_pages,
        )
        async for page in entries:
            await self._add_sitemap_page(page, left)
        self.notes.extend(left.notes(self.options, self.scope.text))

    async def _add_sitemap_page(self, url: str, left: _LeftOut) -> None:
        """Queue a sitemap's entry as a page to read, when it is new and may be read; else count why not."""
        try:
            url = normalise(url, sort_query=self.options.sort_query)
            on_scope_host = self.scope.is_host(parse_destination(url).host)
        except ValueError:
            return
        if url in self.links:
            return
        if not on_scope_host:
            left.entries_elsewhere += 1
            left.entry_elsewhere = left.entry_elsewhere or url
        elif len(self.pages) >= self.options.max_pages:
            left.past_page_limit += 1
        else:
            # Read, or (excluded, forbidden by robots.txt, too deep) neither read nor checked.
            await self._add_page(url, 1, listed=True)

    # ---- pages ----

    async def _add_page(self, url: str, depth: int, *, listed: bool = False) -> str:
        """Queue ``url`` to be read when it is new, in scope, allowed and within the limits: ``"page"``,
        else why not: ``"check"`` (to be checked like any link), ``"excluded"`` or ``"robots"``."""
        if url in self._page_urls:
            return "page"
        if not self.scope.on_host(url):
            return "check"
        if self.scope.excluded(url):
            return "excluded"
        if not await self.robots.allowed(url):
            return "robots"
        if url in self._page_urls:  # another task added it while robots.txt was read
            return "page"
        if len(self.pages) >= self.options.max_pages or depth > self.options.max_depth:
            return "check"
        self._page_urls[url] = len(self.pages)
        self.pages.append(PageRecord(url, depth))
        if url not in self.links:
            self.links[url] = LinkRecord(url, internal=True)
        self._push(depth, "page", url, listed=listed)
        return "page"

    def _body_size(self, status: int, headers: httpx.Headers) -> int:
        kind = headers.get("content-type", "").partition(";")[0].strip().lower()
        return self.options.max_page_bytes if kind in ("text/html", "application/xhtml+xml") else 0

    async def _read(self, page: PageRecord) -> None:
        if self._renderer is not None:
            answer = await self._render(page.url)
            page.rendered = True
        else:
            answer = await self.client.request(page.url, read_body=self._body_size)
        try:
            await self._take_links(page, answer)
        finally:
            answer.slim()

    async def _take_links(self, page: PageRecord, answer: Answer) -> None:
        page.answer = answer
        self.progress.pages += 1
        record = self.links[page.url]
        record.answer = answer
        record.checked_at = datetime.now(UTC)
        classify(record, self.classifier)
        if verdict(answer).state != "ok":
            self.progress.errors += 1
            return
        if not answer.is_html:
            return
        final = normalise(answer.final_url, sort_query=self.options.sort_query)
        if final != page.url and (not self.scope.in_scope(final) or final in self._page_urls):
            return  # a redirect off the site, or to a page read already
        reading = read_page(answer.content, answer.final_url, charset=answer.charset)
        page.soft_404 = record.soft_404 = is_soft_404(reading.title, reading.heading)
        page.links = len(reading.links)
        if reading.more_links:
            self.notes.append(
                f"{page.url} has more links than the audit reads from one page ({MAX_LINKS:,}): the "
                f"{reading.more_links:,} after those were left out."
            )
        if reading.nofollow and not self.options.ignore_robots:
            self.notes.append(f"{page.url} asks robots not to follow its links (meta robots nofollow).")
        follow = not (reading.nofollow and not self.options.ignore_robots)
        depth = page.depth + 1 if follow else self.options.max_depth + 1
        links, anchors, sort_query, gate = self.links, self._anchors, self.options.sort_query, self.gate
        for link in reading.links:
            url = link.url
            routed: Route = ""
            target = gate_destination(url, gate)
            if target is not None:
                url, routed = normalise(target, sort_query=sort_query), "gate link"
            elif reading.has_dropin and not link.skipped_by_dropin:
                routed = "drop-in script"
            linked = links.get(url)
            if linked is None:  # a new address: the only case that may wait (for robots.txt)
                linked = await self._discover(url, depth)
                if linked is None:
                    continue
            key = (link.text, routed, link.target_blank_unsafe)
            anchor = anchors.get(key)
            if anchor is None:
                anchor = anchors[key] = Anchor(
                    link.text, link_text_problem(link.text), routed, link.target_blank_unsafe
                )
            linked.appearances.append(Appearance(page, link.line, anchor))

    async def _render(self, url: str) -> Answer:
        assert self._renderer is not None
        return await self._renderer.render(url, self.client, self._body_size)

    async def _discover(self, url: str, depth: int) -> LinkRecord | None:
        """The record of ``url``, made (and the page queued, or the address checked) when it is new; None
        when ``url`` is not an address the crawl can use."""
        record = self.links.get(url)
        if record is None:
            try:
                host = parse_destination(url).host
            except ValueError:
                return None
            record = self.links[url] = LinkRecord(url, internal=self.scope.is_internal(host))
            decision = await self._add_page(url, depth)
            if decision == "check":
                self._queue_check(record, depth)
            elif decision != "page":
                record.skipped = SKIPPED[decision]
                classify(record, self.classifier)
        return record

    def _queue_check(self, record: LinkRecord, depth: int) -> None:
        classify(record, self.classifier)
        if record.category == "blocked":
            record.skipped = "not checked: a rule blocks this destination"
            return
        if not record.internal and not self.options.check_external:
            record.skipped = "not checked: external links are not checked (--no-check-external)"
            return
        kept = self._earlier.get(record.url)
        if kept is not None and is_reusable(kept):
            self._take_earlier(record, kept)
            return
        if kept is not None and self._recheck_by_host(record, kept, depth):
            return
        self._push_check(record.url, kept, depth)

    def _push_check(self, url: str, kept: LinkResultRow | None, depth: int) -> None:
        if kept is not None and kept.method == "GET":
            self._get_first.add(url)
        self._push(depth, "check", url)

    def _recheck_by_host(self, record: LinkRecord, kept: LinkResultRow, depth: int) -> bool:
        """Recheck ``record`` with its host when its earlier result was a refusal or an unreachable host:
        True when it is not to be asked now (it waits for the host's answer, or has it); False when it
        is asked (the host's first such link, one of a host that now answers otherwise, any other)."""
        kind = host_verdict(kept.verdict, kept.status, kept.reason)
        if kind is None or not record.outbound:  # the County's own pages may each refuse for their reasons
            return False
        try:
            key = (kind, origin(kept.final_url))
        except ValueError:
            return False
        recheck = self._hosts.get(key)
        if recheck is None:
            self._hosts[key] = self._probes[record.url] = _HostRecheck(kind, record.url)
            return False
        if recheck.answer is None:
            recheck.waiting.append((record, kept, depth))
            return True
        if recheck.still:
            self._answer_for_host(record, kept, recheck)
            return True
        return False

    def _settle(self, recheck: _HostRecheck, answer: Answer | None) -> None:
        """The host's link asked for it answered ``answer``: its waiting links are reported the same
        when it is of the same kind as before, else each is asked."""
        recheck.answer = answer or Answer(recheck.probe, recheck.probe, error="not asked")
        recheck.still = answer is not None and recheck.kind == host_verdict(
            verdict(answer).state, answer.status, answer.reason
        )
        waiting, recheck.waiting = recheck.waiting, []
        for record, kept, depth in waiting:
            if recheck.still:
                self._answer_for_host(record, kept, recheck)
            else:
                self._push_check(record.url, kept, depth)

    def _answer_for_host(self, record: LinkRecord, kept: LinkResultRow, recheck: _HostRecheck) -> None:
        """Report ``record`` as its host answered this run, without asking it: the host answer's status
        (and the refusal page that shows a bot wall), the record's own kept redirects, and a detail that
        says which address was asked."""
        asked = recheck.answer
        assert asked is not None
        if recheck.kind == "refuses":
            detail = f"host still refuses automatic checks: asked {recheck.probe} (HTTP {asked.status})"
        else:
            detail = f"host still unreachable: asked {recheck.probe} ({asked.error})"
        record.answer = Answer(
            record.url,
            kept.final_url,
            status=asked.status,
            headers=asked.headers,
            content=asked.content,
            redirects=tuple(Hop(url, status) for url, status in kept.redirects),
            error=detail,
            reason=asked.reason,
            attempts=0,
            method=kept.method,
        )
        record.checked_at = datetime.now(UTC)
        recheck.told += 1
        self.progress.checked += 1
        self.progress.errors += 1

    def _take_earlier(self, record: LinkRecord, kept: LinkResultRow) -> None:
        """Take an earlier run's result for ``record`` instead of asking its address again; its site's
        privacy link is still looked up (the site cache answers from what it keeps while it is fresh)."""
        record.answer = kept_answer(kept)
        record.soft_404 = kept.soft_404
        record.checked_at = kept.checked_at
        record.from_earlier_run = True
        self.progress.checked += 1
        if self._privacy is not None and has_privacy_link(record):
            self._privacy.fill(record, kept.final_url)


def _client(
    options: AuditOptions,
    policy: FetchPolicy,
    resolver: Resolver,
    scope: Scope,
    clock: Callable[[], float] | None,
    sleep: Callable[[float], Awaitable[None]],
) -> SafeClient:
    """The client every request of a run goes through, within the run's limits; its waits (Crawl-delay,
    --delay, backoff, Retry-After) read on ``clock`` and waited with ``sleep`` (a test's, to see them)."""
    return SafeClient(
        policy,
        resolver,
        concurrency=options.concurrency,
        # The site cache's privacy lookups run outside the pool, one at a time, each on a connection
        # of the cap while it runs.
        reserve=1,
        per_host=options.per_host,
        timeout=options.timeout,
        delay=options.delay,
        retries=options.retries,
        backoff=options.backoff,
        max_retry_wait=options.max_retry_wait,
        # The site's own pages first: every link is found on them, and the run cannot end before they
        # are read, so slow off-site addresses must not hold the connections they are read on.
        first=scope.is_host,
        clock=clock,
        sleep=sleep,
    )


def note_expected_move(record: LinkRecord, classifier: Classifier) -> None:
    """Flag ``record`` (:data:`EXPECTED_MOVE`) when its address now ends on another registrable domain
    that an allow rule covers: the County expects the move, so it is not ``moved_away``."""
    answer = record.answer
    if answer is None or answer.final_url == record.url or EXPECTED_MOVE in record.flags:
        return
    if not moved_away(record.url, answer.final_url, classifier.county_domains):
        return
    try:
        final = parse_destination(answer.final_url)
    except ValueError:
        return
    rule = None if final.is_ip else classifier.rules.match(final.host.rstrip("."))
    if rule is not None and rule.kind == "allow":
        record.flags = (*record.flags, EXPECTED_MOVE)


def classify(record: LinkRecord, classifier: Classifier) -> None:
    """Set what the rules say of ``record``'s address: its category, action, flags and rule."""
    destination = parse_destination(record.url)
    classification = classifier.classify(destination, trusted=True)
    record.category = classification.category
    record.action = classification.action
    record.flags = classification.flags
    record.rule = classification.rule.pattern if classification.rule is not None else None


async def check_address(
    record: LinkRecord,
    client: SafeClient,
    progress: Progress,
    privacy: PrivacyLookups | None,
    *,
    get_first: bool = False,
) -> None:
    """Check ``record``'s address (classified when it was queued) and fill its answer in; an off-site
    address that answers is handed to ``privacy`` (when the run checks privacy links). ``get_first``: ask
    with GET at once (an earlier run's HEAD of it failed)."""
    # HEAD once: any failure (a server that refuses HEAD, a bot wall, a transient error) is asked
    # again with GET, which is retried; retrying HEAD first made a failing address cost six requests.
    answer = None if get_first else await client.request(record.url, method="HEAD", retry=False)
    if answer is None or answer.status is None or answer.status >= 400:
        answer = await client.request(
            record.url,
            read_body=_check_body_size,
        )
    record.answer = answer
    record.checked_at = datetime.now(UTC)
    progress.checked += 1
    if answer.status == 200 and answer.content:
        reading = read_page(answer.content, answer.final_url, charset=answer.charset, max_links=0)
        record.soft_404 = is_soft_404(reading.title, reading.heading)
    answer.slim()
    if verdict(answer).state != "ok":
        progress.errors += 1
        return
    if privacy is not None and has_privacy_link(record):
        # In the background: a worker goes on checking links while the site cache looks the site up.
        privacy.fill(record, answer.final_url)


def has_privacy_link(record: LinkRecord) -> bool:
    """True when the privacy link of ``record``'s site is looked up: an off-site address, not blocked."""
    return record.category not in ("county", "blocked") and not record.internal


def _check_body_size(_status: int, headers: httpx.Headers) -> int:
    return CHECK_BODY_BYTES if "html" in headers.get("content-type", "") else 0
