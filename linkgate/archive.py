"""Archived copies of broken links: the closest snapshot a web archive (``archive.url``) holds of an address
from before it broke, for the audit's report, the notice and ``linkgate rewrite --robust-links``.

Two kinds of archive endpoint are spoken (``archive.kind``, or by the form of the address with ``auto``):

* ``availability``, the Wayback Machine's availability API (``https://archive.org/wayback/available``):
  ``?url=ADDRESS&timestamp=YYYYMMDDhhmmss`` answers a small JSON document naming the closest snapshot;
* ``memento``, a Memento TimeGate (RFC 7089), asked with the time in ``Accept-Datetime``: one whose
  address ends in ``/timegate/`` (RFC 7089's usual form: pywb's, the Memento aggregator's) is asked
  ``TIMEGATE`` + ``ADDRESS``, the time in the header alone; any other is taken to be in the Wayback URL
  form (``https://web.archive.org/web/``, pywb's replay, OpenWayback) and asked ``TIMEGATE`` +
  ``YYYYMMDDhhmmss/`` + ``ADDRESS``, the time in the path too. Either leads to the closest memento, by a
  redirect to it or by a 200 answer naming it in ``Content-Location``; its ``Memento-Datetime`` is its
  date.

Every request goes through linkgate's one safe fetcher (:class:`linkgate.http.Fetcher`), under a body limit
of its own. An archive's answer is untrusted: a body past its limit, JSON that does not parse or nests too
deeply, a date that is not exactly the format it must be (or is in the future), a snapshot address that
is not http(s) on the archive's own registrable domain, a redirect loop: each is "no snapshot". Answers
are kept in the database (:class:`linkgate.store.archive.ArchiveCache`, bounded), a miss for less time
than a snapshot found, so an address is asked about once per lifetime, not on every run.

This module must never fetch anything but the archive's endpoint (redirects the fetcher re-checks), never
show a snapshot address it has not checked, and never let a slow or failing archive hold up what asks
it for long: after a few failures in a row it stops asking until it is made again.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlencode

import ada_url

from linkgate.clock import county_datetime
from linkgate.errors import InvalidDestination, StoreUnavailable
from linkgate.http import Answer, Fetcher, FetchError, FetchFailed, FetchPolicy, FetchRefused
from linkgate.store import Store
from linkgate.store.archive import ArchiveCache, ArchiveEntry
from linkgate.urls import WEB_SCHEMES, parse_destination, registrable_domain

__all__ = [
    "FAILURES_BEFORE_GIVING_UP",
    "JSON_MAX_BYTES",
    "LOOKUPS",
    "MAX_BYTES",
    "TIMEOUT",
    "Archive",
    "ArchivedCopies",
    "ArchivedCopy",
    "Snapshot",
    "archive_kind",
    "archive_policy",
]

log = logging.getLogger(__name__)

MAX_BYTES = 256_000  # the most of an archive's answer read (a memento's page is read to here, then cut)
JSON_MAX_BYTES = 64_000  # an availability answer is a few hundred bytes; a longer one is not read
TIMEOUT = 10.0  # seconds for one question to the archive, redirects included
LOOKUPS = 4  # questions to the archive at once (the audit's broken links, rewrite's links)
FAILURES_BEFORE_GIVING_UP = 3  # failures in a row (timeouts, refused connections, 5xx) before it stops asking
MAX_SNAPSHOT_URL = 4096  # characters of a snapshot's address
COPIES_IN_MEMORY = 20_000  # broken destinations whose snapshots a worker keeps for the notice
REFRESH_SECONDS = 60.0  # how often a worker reads them again
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # no web archive holds anything older

_TIMESTAMP = re.compile(r"\d{14}")
_HTTP_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT"
)
_GONE = frozenset({404, 410})  # the archive holds nothing for the address
_BUSY = frozenset({408, 429})  # the archive could not answer now: not remembered


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An archived copy: its address (http or https, on the archive's registrable domain) and when the
    archive took it (UTC)."""

    url: str
    date: datetime


@dataclass(frozen=True, slots=True)
class ArchivedCopy:
    """A snapshot as the notice shows it: its address and the County's day it was taken."""

    url: str
    day: date


class _Unavailable(Exception):
    """The archive did not answer (unreachable, too slow, busy): nothing is remembered."""


def archive_kind(url: str, kind: str = "auto") -> str:
    """``memento`` or ``availability``: ``kind`` unless it is ``auto``, then by the endpoint's form (a path
    ending in ``/wayback/available`` is the availability API, anything else a Memento TimeGate)."""
    if kind != "auto":
        return kind
    path = parse_destination(url).href.partition("?")[0].partition("#")[0].rstrip("/")
    return "availability" if path.endswith("/wayback/available") else "memento"


def archive_policy(policy: FetchPolicy) -> FetchPolicy:
    """``policy`` (the fetcher's, with its allowances) under the archive's own limits."""
    return replace(policy, max_bytes=MAX_BYTES, total_timeout=TIMEOUT)


def timestamp(moment: datetime) -> str:
    """``moment`` as the archives write a time in an address: ``YYYYMMDDhhmmss``, UTC."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def http_date(moment: datetime) -> str:
    """``moment`` as RFC 7089's ``Accept-Datetime`` writes it (an HTTP date): ``Sun, 01 May 2022 00:00:00
    GMT``."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def time_in_path(endpoint: str) -> bool:
    """True when the TimeGate ``endpoint`` takes the time in its path (the Wayback URL form), False when it
    is an RFC 7089 TimeGate that reads it from ``Accept-Datetime`` alone (its path ends in ``/timegate``)."""
    path = parse_destination(endpoint).href.partition("?")[0].partition("#")[0].rstrip("/")
    return not path.endswith("/timegate")


def parse_timestamp(text: object, latest: datetime) -> datetime | None:
    """A 14-digit archive timestamp as a UTC time, or None unless it is exactly that and a real time
    between 1990 and ``latest``."""
    if not isinstance(text, str) or _TIMESTAMP.fullmatch(text) is None:
        return None
    try:
        moment = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:  # month 13, 31 February...
        return None
    return moment if EARLIEST <= moment <= latest else None


def parse_http_date(text: str | None, latest: datetime) -> datetime | None:
    """A ``Memento-Datetime`` value (RFC 7089: an HTTP date, ``Sun, 06 Nov 1994 08:49:37 GMT``) as a UTC
    time, or None unless it is exactly that form and a real time between 1990 and ``latest``."""
    if text is None or _HTTP_DATE.fullmatch(text.strip()) is None:
        return None
    try:
        moment = datetime.strptime(text.strip()[5:], "%d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment if EARLIEST <= moment <= latest else None


def snapshot_address(raw: object, base: str, endpoint: str) -> str | None:
    """The address of a snapshot as named by the archive (``raw``, relative to ``base``), as the URL parser
    writes it, or None unless it is http(s), without a user name or password, no longer than
    :data:`MAX_SNAPSHOT_URL`, and on the registrable domain of the archive's ``endpoint``. An http:// one
    is made https:// when the endpoint is https:// (the Wayback Machine names its snapshots http://)."""
    if not isinstance(raw, str) or len(raw) > MAX_SNAPSHOT_URL:
        return None
    try:
        joined = ada_url.join_url(base, raw.strip())
    except ValueError:
        return None
    if ada_url.URL(joined).protocol not in WEB_SCHEMES:
        return None
    try:
        snapshot = parse_destination(joined, MAX_SNAPSHOT_URL)
        archive = parse_destination(endpoint)
    except InvalidDestination:
        return None
    if snapshot.has_credentials or registrable_domain(snapshot.host) != registrable_domain(archive.host):
        return None
    if snapshot.scheme == "http" and archive.scheme == "https" and snapshot.port is None:
        return "https" + snapshot.href[4:]
    return snapshot.href


class Archive:
    """Asks the web archive at ``endpoint`` for snapshots, through ``fetcher``, remembering its answers in
    ``cache`` (the store's ``archive``; None: nothing is remembered). ``clock`` gives the time now (tests
    move it). Safe to share between threads."""

    def __init__(
        self,
        endpoint: str,
        fetcher: Fetcher,
        cache: ArchiveCache | None,
        *,
        kind: str = "auto",
        found_ttl: timedelta = timedelta(days=30),
        miss_ttl: timedelta = timedelta(days=1),
        max_entries: int = 20_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.endpoint = parse_destination(endpoint).href
        self.kind = archive_kind(self.endpoint, kind)
        self._time_in_path = self.kind == "memento" and time_in_path(self.endpoint)
        self._fetcher = fetcher
        self._cache = cache
        self._found_ttl = found_ttl
        self._miss_ttl = miss_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self.requests = 0
        """Questions sent to the archive (answers from the cache are not counted)."""

    def close(self) -> None:
        self._fetcher.close()

    @property
    def gave_up(self) -> bool:
        """True once the archive failed :data:`FAILURES_BEFORE_GIVING_UP` times in a row."""
        return self._failures >= FAILURES_BEFORE_GIVING_UP

    def closest(self, url: str, before: datetime, *, broken: bool | None = None) -> Snapshot | None:
        """The archive's snapshot of ``url`` closest to ``before``, if it is from ``before`` or earlier.
        ``broken`` says whether the destination is broken now (the notice offers the snapshots of broken
        ones); None leaves what is recorded as it is."""
        entry = self._entry(url)
        if entry is not None and entry.expires_at > self._clock():
            snapshot = _snapshot_of(entry)
            if broken is not None and broken != entry.broken:
                self._remember(url, snapshot, broken=broken, expires=entry.expires_at)
            return _before(snapshot, before)
        if self.gave_up:
            return None
        try:
            snapshot = self._ask(url, before)
        except _Unavailable as why:
            with self._lock:
                self._failures += 1
                if self._failures == FAILURES_BEFORE_GIVING_UP:
                    log.warning("archive: %s did not answer (%s); not asked again", self.endpoint, why)
            return None
        with self._lock:
            self._failures = 0
        self._remember(url, snapshot, broken=broken)
        return _before(snapshot, before)

    def look_up_many(
        self, wanted: Iterable[tuple[str, datetime]], *, broken: bool | None = None
    ) -> dict[str, Snapshot]:
        """:meth:`closest` for each (address, before), :data:`LOOKUPS` at a time; the snapshots found."""
        items = list(dict.fromkeys(wanted))
        if not items:
            return {}
        with ThreadPoolExecutor(max_workers=LOOKUPS, thread_name_prefix="linkgate-archive") as pool:
            found = pool.map(lambda item: (item[0], self.closest(item[0], item[1], broken=broken)), items)
            return {url: snapshot for url, snapshot in found if snapshot is not None}

    def mark_working(self, urls: Iterable[str]) -> None:
        """The destinations ``urls`` answered well: the notice stops offering their snapshots."""
        if self._cache is None:
            return
        try:
            self._cache.mark_working(urls)
        except StoreUnavailable as error:
            log.warning("archive: could not record working links: %s", error)

    # ---- asking ----

    def request_url(self, url: str, before: datetime) -> str:
        """The address asked for ``url``'s snapshot closest to ``before`` (its fragment left out)."""
        address = url.partition("#")[0]
        if self.kind == "availability":
            joiner = "&" if "?" in self.endpoint else "?"
            return self.endpoint + joiner + urlencode({"url": address, "timestamp": timestamp(before)})
        prefix = self.endpoint if self.endpoint.endswith("/") else self.endpoint + "/"
        if not self._time_in_path:
            return prefix + address  # the time goes in Accept-Datetime alone
        return f"{prefix}{timestamp(before)}/{address}"

    def _ask(self, url: str, before: datetime) -> Snapshot | None:
        with self._lock:
            self.requests += 1
        if self.kind == "availability":
            accept, headers = "application/json", None
        else:
            accept, headers = "text/html,*/*;q=0.8", {"Accept-Datetime": http_date(before)}
        try:
            answer = self._fetcher.get(self.request_url(url, before), accept=accept, headers=headers)
        except FetchRefused:
            return None  # led to an address linkgate may not fetch: a hostile answer, not a snapshot
        except FetchFailed as error:
            if error.reason in ("redirect_loop", "too_many_redirects", "invalid_url", "encoding"):
                return None
            raise _Unavailable(error.reason) from None
        except FetchError as error:
            raise _Unavailable(error.reason) from None
        status = answer.status or 0
        if status in _BUSY or status >= 500:
            raise _Unavailable(f"HTTP {status}")
        if status != 200:
            return None  # 404 and 410 say there is none; anything else is no snapshot either
        latest = self._clock() + timedelta(days=1)
        if self.kind == "availability":
            return _read_availability(answer, self.endpoint, latest)
        return _read_memento(answer, self.endpoint, latest)

    # ---- remembering ----

    def _entry(self, url: str) -> ArchiveEntry | None:
        if self._cache is None:
            return None
        try:
            return self._cache.get(url)
        except StoreUnavailable:
            return None

    def _remember(
        self, url: str, snapshot: Snapshot | None, *, broken: bool | None, expires: datetime | None = None
    ) -> None:
        if self._cache is None:
            return
        if expires is None:
            expires = self._clock() + (self._found_ttl if snapshot is not None else self._miss_ttl)
        try:
            self._cache.save(
                url,
                snapshot.url if snapshot is not None else None,
                snapshot.date if snapshot is not None else None,
                expires,
                broken=broken,
                keep=self._max_entries,
            )
        except StoreUnavailable as error:
            log.warning("archive: answer not kept: %s", error)


def _snapshot_of(entry: ArchiveEntry) -> Snapshot | None:
    if entry.snapshot_url is None or entry.snapshot_at is None:
        return None
    return Snapshot(entry.snapshot_url, entry.snapshot_at)


def _before(snapshot: Snapshot | None, before: datetime) -> Snapshot | None:
    return snapshot if snapshot is not None and snapshot.date <= before else None


def _read_availability(answer: Answer, endpoint: str, latest: datetime) -> Snapshot | None:
    """The snapshot named by an availability API's answer, or None (see the module's docstring)."""
    if answer.truncated or len(answer.content) > JSON_MAX_BYTES:
        return None
    try:
        document = json.loads(answer.content)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    snapshots = document.get("archived_snapshots") if isinstance(document, dict) else None
    closest = snapshots.get("closest") if isinstance(snapshots, dict) else None
    if not isinstance(closest, dict) or closest.get("available") is not True:
        return None
    status = closest.get("status", "200")
    if not isinstance(status, str) or not re.fullmatch(r"2\d\d", status):
        return None  # the archive's copy of an error page is no copy of the page
    url = snapshot_address(closest.get("url"), answer.final_url, endpoint)
    moment = parse_timestamp(closest.get("timestamp"), latest)
    return None if url is None or moment is None else Snapshot(url, moment)


def _read_memento(answer: Answer, endpoint: str, latest: datetime) -> Snapshot | None:
    """The memento a TimeGate led to (RFC 7089: where it redirected, or its ``Content-Location``), dated by
    its ``Memento-Datetime``, or None."""
    moment = parse_http_date(answer.headers.get("memento-datetime"), latest)
    if moment is None:
        return None
    location = answer.headers.get("content-location")
    url = snapshot_address(location if location else answer.final_url, answer.final_url, endpoint)
    return None if url is None else Snapshot(url, moment)


class ArchivedCopies:
    """What the notice offers: the snapshots of the destinations the last audit found broken, by the
    destination's address, read from the store every :data:`REFRESH_SECONDS` (by the upkeep thread) and
    kept in memory, at most ``limit`` of them, so that a click asks the database nothing. With the
    database gone, the last ones read stay."""

    def __init__(self, store: Store, timezone: str, limit: int = COPIES_IN_MEMORY) -> None:
        self._store = store
        self._timezone = timezone
        self._limit = limit
        self._copies: dict[str, ArchivedCopy] = {}

    def __len__(self) -> int:
        return len(self._copies)

    def get(self, href: str) -> ArchivedCopy | None:
        return self._copies.get(href)

    def refresh(self) -> bool:
        """Read the snapshots again; False when the database did not answer (the last ones stay)."""
        try:
            entries = self._store.archive.broken_copies(self._limit)
        except StoreUnavailable as error:
            log.warning("archive: keeping %d archived copies: %s", len(self._copies), error)
            return False
        copies = {}
        for entry in entries:
            if entry.snapshot_url is not None and entry.snapshot_at is not None:
                day = county_datetime(entry.snapshot_at, self._timezone).date()
                copies[entry.url] = ArchivedCopy(entry.snapshot_url, day)
        self._copies = copies  # one assignment: a click reads the old map or the new one, whole
        return True
