"""The site cache: what linkgate knows about each destination host, above all its privacy-policy link.

It combines ``fetch`` (the network), ``privacy`` (reading pages) and ``store`` (the ``sites`` table) so
that none of those three needs to know the others. The click path calls :meth:`SiteCache.site_facts`,
which never waits longer than its budget: a cache hit costs no network, a miss starts one refresh (per
host, across every worker and server, through a lease in the database) and waits at most
``privacy_wait_ms`` for it.

Anyone can make the gate look a site up (an unsigned ``/go`` to it, or the anonymous
``/api/site/<host>``), so everything here is bounded (:class:`Limits`, the ``fetch.*`` and
``cache.max_sites`` settings):

* a process runs at most ``workers`` lookups and keeps at most ``queue`` more waiting, and at most
  ``per_domain`` of those are for hosts of one registrable domain. A host asked about beyond that is
  answered "pending" at once and not queued: it is looked up when someone asks again and there is room.
* one lookup ends by ``lookup_seconds`` and makes at most ``lookup_requests`` requests (each redirect is
  one); its lease on the host lasts twice as long, so no other worker or server starts the same lookup
  while it runs. A home page that does not answer (no name, no connection, no answer in time) or answers
  with a server error (5xx, 429) ends the lookup: no fallback path, no ``gpc.json``.
* the ``sites`` table keeps at most ``max_sites`` looked-up sites, trimmed least recently used first;
  a site with a webmaster's override is never trimmed.

What anyone may read (:meth:`SiteFacts.public_json`) is a host's status, privacy link and GPC answer,
never a time: not when it was checked, nor when or whether anyone asked about it. A host nobody asked
about and one a visitor clicked a second ago answer "pending" alike (the asker's own question starts the
lookup, or finds the queue full). The one thing a stranger can learn is whether the host is in the cache,
which says only that someone (a visitor, the console, an audit or any stranger) asked about it within its
freshness time (``cache.*_ttl``), never when, who or how often; the gate's shared cache cannot hide that,
and its notice shows the same. The table keeps check times to the second and the day a site was last
used; nothing here records a visitor.

Everything a remote site sends is untrusted: only http(s) privacy links are kept, and templates escape
them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TypeGuard

from linkgate import health, privacy
from linkgate.classify import is_under
from linkgate.config import Settings
from linkgate.errors import InvalidDestination, StoreUnavailable
from linkgate.http import DEFAULT_ACCEPT, Answer, Fetcher, FetchError, FetchRefused
from linkgate.store import SiteRow, Store, now
from linkgate.urls import Destination, parse_destination, registrable_domain, resolve_web_link

log = logging.getLogger(__name__)

FALLBACK_PATHS = (
    "/.well-known/privacy-policy",
    "/privacy",
    "/privacy-policy",
    "/privacy-policy/",
    "/privacy/",
    "/legal/privacy",
    "/privacy.html",
    "/datenschutz",
    "/datenschutzerklaerung",
    "/politica-de-privacidad",
    "/privacidad",
    "/confidentialite",
    "/politique-de-confidentialite",
)
MEMORY_ENTRIES = 10_000
# Failures that say the site is not answering at all: asking it anything more only waits longer.
NOT_ANSWERING = frozenset({"dns", "connect", "timeout"})
# Failures of https after which the home page is asked for over http (a site without TLS, or a broken one).
TRY_HTTP_AFTER = frozenset({"connect", "tls", "protocol"})
# Answers that ask to come back later: a lookup asks such a site nothing more.
BUSY = frozenset({429, 503})
PUBLIC_STATUSES = frozenset({"found", "none", "error"})


@dataclass(frozen=True)
class Limits:
    """The bounds of the site cache, from the ``fetch.*`` and ``cache.max_sites`` settings."""

    workers: int = 4  # lookups running at once, per process
    queue: int = 8  # lookups waiting for a worker, per process
    per_domain: int = 2  # lookups running or waiting for hosts of one registrable domain, per process
    lookup_seconds: float = 20.0  # one lookup's deadline, every request of it included
    lookup_requests: int = 6  # one lookup's requests, each redirect counted
    max_sites: int = 50_000  # looked-up sites kept in the sites table (overrides on top)

    @property
    def lease_seconds(self) -> float:
        """How long a lookup holds its host against other workers and servers: twice its deadline, so
        that it has ended, parsed and saved its answer well before anyone else may start another."""
        return 2 * self.lookup_seconds


def site_key(destination: Destination) -> str:
    """The cache key of a destination's site: its host, with the port when it is not the default."""
    host = destination.host.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    return host if destination.port is None else f"{host}:{destination.port}"


def parse_site_key(text: str) -> str:
    """A site key from user input (``example.org``, ``Example.ORG:8443``); raises InvalidDestination."""
    # The parser refuses an empty label and a name DNS cannot hold; what is left is anything but a host.
    destination = parse_destination(f"http://{text.strip()}/")
    if destination.has_credentials or destination.href != f"http://{site_key(destination)}/":
        raise InvalidDestination(f'"{text}" is not a host name (write it like example.org).')
    return site_key(destination)


def site_host(key: str) -> str:
    """The host of a site key, without its port (``[::1]:8443`` gives ``::1``)."""
    if key.startswith("["):
        return key[1 : key.index("]")]
    return key.rpartition(":")[0] if ":" in key else key


@dataclass(frozen=True)
class SiteFacts:
    """What the notice shows about a destination host."""

    host: str
    status: str  # found | none | error | pending | unknown
    privacy_url: str | None = None
    found_by: str | None = None  # home page | fallback path | well-known | override
    reason: str | None = None
    https: bool | None = None
    gpc: bool | None = None
    checked_at: datetime | None = None
    error: str | None = None
    final_url: str | None = None
    elapsed_ms: int | None = None
    # The host's health when last checked (linkgate.health, linkgate.store.destinations): the registrable
    # domain its address led to when that is another one, why it looked parked, why it looked changed
    # hands since the last complete audit, and when it was checked. Shown by the notice, never public.
    moved_to: str | None = None
    parked: str | None = None
    changed: str | None = None
    health_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def as_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "status": self.status,
            "privacy_url": self.privacy_url,
            "found_by": self.found_by,
            "reason": self.reason,
            "https": self.https,
            "gpc": self.gpc,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "error": self.error,
            "final_url": self.final_url,
            "elapsed_ms": self.elapsed_ms,
        }

    def public_json(self) -> dict[str, object]:
        """What anyone may read: the same four keys for every host and no time (see the module's
        docstring). Whatever is not a finished lookup (being looked up, queue full, database away) is
        "pending"."""
        status = self.status if self.status in PUBLIC_STATUSES else "pending"
        return {"host": self.host, "status": status, "privacy_url": self.privacy_url, "gpc": self.gpc}


@dataclass(frozen=True)
class Freshness:
    """How long a lookup's answer stays fresh, by its status: a privacy link found (``found``), none on
    the site (status "none": ``not_found``), anything else (``error``). The settings cache.found_ttl,
    cache.not_found_ttl and cache.error_ttl."""

    found: timedelta = timedelta(days=7)
    not_found: timedelta = timedelta(days=1)
    error: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> Freshness:
        return cls(
            found=timedelta(seconds=settings.found_ttl),
            not_found=timedelta(seconds=settings.not_found_ttl),
            error=timedelta(seconds=settings.error_ttl),
        )

    def expires(self, row: SiteRow) -> datetime | None:
        if row.checked_at is None:
            return None
        ttl = {"found": self.found, "none": self.not_found}.get(row.status, self.error)
        return row.checked_at + ttl

    def fresh_for(self, row: SiteRow) -> float | None:
        """How many more seconds ``row``'s stored facts may be used as they are (infinity for a webmaster's
        override), or None when they are stale or no lookup has answered yet: a lookup is due."""
        if row.override_url or row.override_none:
            return math.inf
        expires = self.expires(row)
        left = None if expires is None else (expires - now()).total_seconds()
        return left if left is not None and left > 0 else None


def site_json(row: SiteRow) -> dict[str, object]:
    """A stored site as ``GET /admin/api/sites`` and ``linkgate sites list/show --json`` give it
    (docs/api.md): what the notice shows (the override applied), the override itself, and what the last
    lookup found on its own (``lookup_status``, ``lookup_privacy_url``)."""
    return {
        **facts_from_row(row).as_json(),
        "override": row.override_url or ("none" if row.override_none else None),
        "lookup_status": row.status,
        "lookup_privacy_url": row.privacy_url,
    }


def facts_from_row(row: SiteRow) -> SiteFacts:
    """The facts a row gives, with a webmaster's override winning over any lookup."""
    facts = SiteFacts(
        host=row.host,
        status=row.status if row.status in {"found", "none", "error"} else "unknown",
        privacy_url=row.privacy_url,
        found_by=row.found_by,
        reason=row.reason,
        https=row.https,
        gpc=row.gpc,
        checked_at=row.checked_at,
        error=row.error,
        final_url=row.final_url,
        elapsed_ms=row.elapsed_ms,
        moved_to=row.moved_to,
        parked=row.parked,
        changed=row.changed,
        health_at=row.health_at,
    )
    if row.override_url:
        return replace(
            facts,
            status="found",
            privacy_url=row.override_url,
            found_by="override",
            reason="set by the webmaster",
        )
    if row.override_none:
        return replace(
            facts,
            status="none",
            privacy_url=None,
            found_by="override",
            reason="the webmaster says this site has no privacy policy",
        )
    # A link a lookup stored before the notice's rules were what they are now is judged again here.
    fetched = (f"https://{row.host}/", *([row.final_url] if row.final_url else []))
    refusal = privacy.privacy_link_refusal(row.privacy_url, site=fetched) if row.privacy_url else None
    if refusal is not None:
        return replace(facts, status="none", privacy_url=None, found_by=None, reason=f"not shown: {refusal}")
    return facts


class _Budget:
    """What is left of one lookup: its requests (each redirect is one) and its time, on ``clock``."""

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.requests = limits.lookup_requests
        self.deadline = clock() + limits.lookup_seconds
        self._clock = clock

    def allows(self, keep: int = 0) -> bool:
        """True when a request may be made and still leave ``keep`` for later."""
        return self.requests > keep and self._clock() < self.deadline

    def get(self, fetcher: Fetcher, url: str, *, accept: str = DEFAULT_ACCEPT, keep: int = 0) -> Answer:
        """Fetch ``url`` within what is left, leaving ``keep`` requests; raises as :meth:`Fetcher.get`."""
        allowed = self.requests - keep
        try:
            result = fetcher.get(
                url, accept=accept, timeout=self.deadline - self._clock(), max_redirects=allowed - 1
            )
        except FetchError as error:
            # A failure does not say how many redirects came before it: when it failed elsewhere than
            # at the address asked for, count every request it was allowed.
            self.requests -= 1 if error.url == url else allowed
            raise
        self.requests -= 1 + len(result.redirects)
        return result


def look_up(
    host: str, fetcher: Fetcher, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic
) -> dict[str, object]:
    """Fetch ``host``'s home page (https, then http) and find its privacy link; the values to store.

    Within ``limits``' deadline and requests: a home page that does not answer, or answers with a server
    error, ends the lookup; one that answers with another error (404) may try fallback paths; a working
    one leaves a request for ``/.well-known/gpc.json``."""
    limits = limits or Limits()
    started = clock()
    budget = _Budget(limits, clock)
    values: dict[str, object] = {"checked_at": now()}
    home, errors = _home_page(host, fetcher, budget, limits)
    if home is None:
        values.update(status="error", error="; ".join(errors)[:500], https=False)
    else:
        values.update(final_url=home.final_url, https=home.final_url.startswith("https://"))
        assert home.status is not None  # the fetcher raises rather than answer without a status
        working = home.status < 400
        site = (home.url, home.final_url)  # a page decides where on its own site the notice points
        link = (
            privacy.find_privacy_link(home.content, home.final_url, site=site, charset=home.charset)
            if working
            else None
        )
        if link is not None:
            values.update(status="found", privacy_url=link.url, found_by="home page", reason=link.reason)
        else:
            # A server error says the site is in trouble: asking it for more pages only adds to it.
            server_error = _is_server_error(home.status)
            found = None if server_error else _try_fallbacks(site, fetcher, budget, int(working))
            if found is not None:
                values.update(
                    status="found",
                    privacy_url=found[0],
                    found_by=found[1],
                    reason=f"the page at {found[0]} is about privacy",
                )
            elif working:
                values.update(status="none", privacy_url=None, found_by=None, reason=None)
            else:
                values.update(status="error", error=f"the home page answered HTTP {home.status}")
        if working and budget.allows():
            values["gpc"] = _supports_gpc(base_of(home.final_url), fetcher, budget)
        # The host's fingerprint, from the same answer: no request of its own.
        page = health.read_page(
            home.content if home.is_html else None,
            (home.url, *(hop.url for hop in home.redirects), home.final_url),
            charset=home.charset,
        )
        privacy_url = values.get("privacy_url")
        checked = values["checked_at"]
        values["fingerprint"] = health.fingerprint(
            page,
            privacy_url if isinstance(privacy_url, str) else None,
            checked if isinstance(checked, datetime) else None,
        )
    values["elapsed_ms"] = int((clock() - started) * 1000)
    return values


def _home_page(
    host: str, fetcher: Fetcher, budget: _Budget, limits: Limits
) -> tuple[Answer | None, list[str]]:
    """The home page over https, else over http when https failed in a way http may not; the failures."""
    errors: list[str] = []
    for scheme in ("https", "http"):
        if not budget.allows():
            errors.append(
                f"the lookup stopped at its limit ({limits.lookup_seconds:g} s, "
                f"{limits.lookup_requests} requests)"
            )
            break
        try:
            return budget.get(fetcher, f"{scheme}://{host}/"), errors
        except FetchRefused:
            raise
        except FetchError as error:
            errors.append(f"{scheme}: {error}")
            if error.reason not in TRY_HTTP_AFTER:
                break
    return None, errors


def _is_server_error(status: int) -> bool:
    """5xx, or 429 (too many requests): the site is in trouble, or asks to be left alone."""
    return status >= 500 or status == 429


def base_of(url: str) -> str:
    return resolve_web_link("/", url) or url


def _try_fallbacks(
    site: tuple[str, str], fetcher: Fetcher, budget: _Budget, keep: int
) -> tuple[str, str] | None:
    """The first well-known or usual privacy address that holds a privacy page (and, after its redirects,
    one the notice may show for ``site``: the home page asked for and where it ended), while the budget
    lasts (leaving ``keep`` requests) and the site answers and does not ask to be left alone (429, 503)."""
    base = site[-1]
    for path in FALLBACK_PATHS:
        if not budget.allows(keep):
            return None
        candidate = resolve_web_link(path, base)
        if candidate is None:
            continue
        try:
            result = budget.get(fetcher, candidate, keep=keep)
        except FetchError as error:
            if error.reason in NOT_ANSWERING:
                return None
            continue
        if result.status in BUSY:
            return None
        if (
            result.status == 200
            and result.is_html
            and privacy.is_privacy_page(result.content, charset=result.charset)
            and privacy.privacy_link_refusal(result.final_url, site=site) is None
        ):
            how = "well-known address" if path.startswith("/.well-known") else "fallback path"
            return result.final_url, how
    return None


def _supports_gpc(base: str, fetcher: Fetcher, budget: _Budget) -> bool:
    candidate = resolve_web_link("/.well-known/gpc.json", base)
    if candidate is None:
        return False
    try:
        result = budget.get(fetcher, candidate, accept="application/json")
    except FetchError:
        return False
    if result.status != 200:
        return False
    try:
        document = json.loads(result.content.decode("utf-8", errors="strict"))
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError) nested 100,000 deep
        return False
    return isinstance(document, dict) and document.get("gpc") is True


class SiteCache:
    """Per-process front of the ``sites`` table, with a bounded pool for background refreshes.

    What it read of a host is reused for ``memory_seconds`` (``cache.memory_seconds``) on ``clock``, at
    most, and never past the row's freshness: a change made by another worker, server or command (an
    override, a lookup) shows here after that long."""

    def __init__(
        self,
        store: Store,
        fetcher_factory: Callable[[], Fetcher],
        *,
        freshness: Freshness | None = None,
        limits: Limits | None = None,
        memory_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        county_domains: Iterable[str] = (),
    ) -> None:
        self._store = store
        self._county_domains = tuple(county_domains)  # a site leading into one has not moved away
        self._fetcher_factory = fetcher_factory
        self.freshness = freshness or Freshness()
        self.limits = limits or Limits()
        self._memory_seconds = memory_seconds
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self._lock = threading.Lock()
        # Lookups queued or running in this process, by host and by registrable domain: both bounded.
        self._inflight: dict[str, Future[SiteFacts | None]] = {}
        self._domains: Counter[str] = Counter()
        self._memory: OrderedDict[str, tuple[float, SiteFacts]] = OrderedDict()
        # Hosts a notice used today whose row says otherwise, written by flush_used (off the click path).
        self._used: set[str] = set()
        # Unique by its random part; the process and machine are for people reading the table. Cut to the
        # column's 64 characters: a long host name made every lease fail on PostgreSQL.
        self._owner = f"{secrets.token_hex(6)}:{os.getpid()}:{socket.gethostname()}"[:64]

    # ---- the click path ----

    def site_facts(self, host: str, wait_ms: int = 0) -> SiteFacts:
        """Facts for ``host``: from memory or the database, refreshing in the background when stale.

        A host with no facts yet whose lookup cannot be queued (see :class:`Limits`) is "pending" at once."""
        host = host.lower().rstrip(".")
        cached = self._remembered(host)
        if cached is not None:
            return cached
        try:
            row = self._store.sites.get(host)
        except StoreUnavailable:
            return SiteFacts(host=host, status="unknown")
        if row is not None:
            self._note_used(row)
        fresh_for = self.freshness.fresh_for(row) if row is not None else None
        if row is not None and fresh_for is not None:
            return self._remember(facts_from_row(row), fresh_for)
        future = self._refresh_async(host, row.checks if row is not None else 0)
        if row is not None and row.checked_at is not None:
            return facts_from_row(row)  # stale: serve it while the refresh runs
        if future is not None and wait_ms > 0:
            try:
                result = future.result(timeout=wait_ms / 1000)
            except FutureTimeout:
                result = None
            if result is not None:
                return result
        return SiteFacts(host=host, status="pending")

    def _remembered(self, host: str) -> SiteFacts | None:
        with self._lock:
            entry = self._memory.get(host)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._memory[host]
                return None
            self._memory.move_to_end(host)
            return entry[1]

    def _remember(self, facts: SiteFacts, fresh_for: float | None = None) -> SiteFacts:
        """Keep ``facts`` for ``memory_seconds``, or ``fresh_for`` when that is sooner."""
        lifetime = self._memory_seconds if fresh_for is None else min(fresh_for, self._memory_seconds)
        with self._lock:
            self._memory[facts.host] = (self._clock() + lifetime, facts)
            self._memory.move_to_end(facts.host)
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)
        return facts

    def forget(self, host: str) -> None:
        with self._lock:
            self._memory.pop(host, None)

    def _note_used(self, row: SiteRow) -> None:
        if row.used_on is not None and row.used_on >= _today():
            return
        with self._lock:
            if len(self._used) < MEMORY_ENTRIES:  # beyond it a site only looks less recently used
                self._used.add(row.host)

    def flush_used(self) -> None:
        """Write the day of use of the sites notices used since the last flush (the upkeep thread)."""
        with self._lock:
            hosts, self._used = self._used, set()
        if not hosts:
            return
        try:
            self._store.sites.touch(list(hosts), _today())
        except StoreUnavailable as error:
            log.warning("sites: cannot record which sites were used: %s", error)

    @property
    def lookups(self) -> int:
        """Lookups queued or running in this process."""
        with self._lock:
            return len(self._inflight)

    # ---- refreshing ----

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(
                max_workers=self.limits.workers, thread_name_prefix="linkgate-site"
            )
            self._pool_pid = os.getpid()
            self._inflight = {}
            self._domains = Counter()
        return self._pool

    def _refresh_async(self, host: str, seen: int) -> Future[SiteFacts | None] | None:
        """The lookup of ``host`` running or queued in this process, else a new one when the queue and
        the host's registrable domain have room; None when they have not (never waits)."""
        domain = registrable_domain(site_host(host))
        limits = self.limits
        with self._lock:
            executor = self._executor()
            future = self._inflight.get(host)
            if future is not None:
                return future
            if (
                len(self._inflight) >= limits.workers + limits.queue
                or self._domains[domain] >= limits.per_domain
            ):
                return None
            try:
                future = executor.submit(self.refresh, host, background=True, seen=seen)
            except RuntimeError:  # the pool is shutting down
                return None
            self._inflight[host] = future
            self._domains[domain] += 1
        future.add_done_callback(lambda _done: self._done(host, domain))
        return future

    def _done(self, host: str, domain: str) -> None:
        with self._lock:
            if self._inflight.pop(host, None) is None:
                return  # the pool was replaced after a fork: its counts went with it
            self._domains[domain] -= 1
            if self._domains[domain] <= 0:
                del self._domains[domain]

    def refresh(
        self, host: str, *, force: bool = False, background: bool = False, seen: int = 0
    ) -> SiteFacts | None:
        """Look ``host`` up now, unless another worker or server holds its lease; the stored facts.

        ``background`` marks a refresh started by a cache miss that saw ``seen`` checks saved (0: none): if
        more are saved by the time the lease is ours, a different worker or server has just made one, and
        that is the answer. Counting checks, not comparing clocks, keeps this right however long the other
        lookup took and whatever the servers' clocks say."""
        host = host.lower().rstrip(".")
        lease = timedelta(seconds=self.limits.lease_seconds)
        try:
            before = self._store.sites.get(host) if force else None
            if not self._store.sites.try_lease(host, self._owner, now() + lease):
                if not force:
                    return None
                return self._wait_for_other(host, before.checks if before is not None else 0)
            if background and not force:
                row = self._store.sites.get(host)
                if _answered_since(row, seen):
                    self._store.sites.release_lease(host, self._owner)
                    self.forget(host)
                    return facts_from_row(row)
            values = self._look_up(host)
            self._store.sites.save_check(host, values)
            fingerprint = values.get("fingerprint")
            if isinstance(fingerprint, health.Fingerprint):
                keep_fingerprint(self._store, host, fingerprint, self._county_domains)
                self._store.destinations.trim(self.limits.max_sites, when_due=True)
            row = self._store.sites.get(host)
            self._store.sites.trim(self.limits.max_sites, when_due=True)
        except StoreUnavailable as error:
            log.warning("sites: cannot record the lookup of a host: %s", error)
            return None
        self.forget(host)
        return None if row is None else facts_from_row(row)

    def _wait_for_other(self, host: str, seen: int) -> SiteFacts | None:
        """A lookup asked for now, while another worker or server holds the lease: wait for that lookup's
        answer (more checks than ``seen``, the number stored before), not the answer it is replacing."""
        deadline = time.monotonic() + self.limits.lease_seconds
        while time.monotonic() < deadline:
            time.sleep(0.2)
            row = self._store.sites.get(host)
            if _answered_since(row, seen):
                self.forget(host)
                return facts_from_row(row)
        return None

    def _look_up(self, host: str) -> dict[str, object]:
        fetcher = self._fetcher_factory()
        try:
            return look_up(host, fetcher, self.limits, self._clock)
        except FetchRefused as error:  # already counted by the fetcher as a security event
            return {"status": "error", "error": str(error)[:500], "checked_at": now()}
        finally:
            fetcher.close()


def keep_fingerprint(
    store: Store, host: str, fingerprint: health.Fingerprint, county_domains: Iterable[str] = ()
) -> None:
    """Keep what a check of ``host`` found (its fingerprint) and the health it shows: moved to another
    registrable domain, parked, or changed hands since the baseline (the last complete audit's).

    A site of the County, or one that now leads into ``county_domains``, has not moved away (as
    :func:`health.moved_away` judges a link): the notice and the console's list read it so from here."""
    before = store.destinations.get(host)
    baseline = health.Fingerprint.from_json(before.baseline) if before and before.baseline else None
    own, final, county = site_host(host), fingerprint.final_domain, tuple(county_domains)
    moved = final not in (None, registrable_domain(own)) and not is_under(own, county)
    moved_to = final if moved and final is not None and not is_under(final, county) else None
    store.destinations.record(
        host,
        fingerprint.as_json(),
        fingerprint.seen_at or now(),
        moved_to=moved_to,
        parked=fingerprint.parked,
        changed=health.changed(baseline, fingerprint),
    )


def _answered_since(row: SiteRow | None, seen: int) -> TypeGuard[SiteRow]:
    """True when ``row`` holds a saved check other than the ``seen`` one."""
    return row is not None and row.checks not in (0, seen) and row.status != "unknown"


def _today() -> date:
    return now().date()
