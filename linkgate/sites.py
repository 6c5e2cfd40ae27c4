"""The site cache: what linkgate knows about each destination host, above all its privacy-policy link.

It combines ``fetch`` (the network), ``privacy`` (reading pages) and ``store`` (the ``sites`` table) so
that none of those three needs to know the others. The click path calls :meth:`SiteCache.site_facts`,
which never waits longer than its budget: a cache hit costs no network, a miss starts one refresh (per
host, across every worker and server, through a lease in the database) and waits at most
``privacy_wait_ms`` for it.

Everything a remote site sends is untrusted: only http(s) privacy links are kept, and templates escape
them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from linkgate import privacy
from linkgate.errors import InvalidDestination, StoreUnavailable
from linkgate.fetch import Fetcher, FetchError, FetchRefused, FetchResult
from linkgate.store import SiteRow, Store, now
from linkgate.urls import Destination, parse_destination, resolve_web_link

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
LEASE_SECONDS = 60
MEMORY_SECONDS = 5.0  # how long a worker trusts what it read, so overrides reach it quickly
MEMORY_ENTRIES = 10_000


def site_key(destination: Destination) -> str:
    """The cache key of a destination's site: its host, with the port when it is not the default."""
    host = destination.host.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    return host if destination.port is None else f"{host}:{destination.port}"


def parse_site_key(text: str) -> str:
    """A site key from user input (``example.org``, ``Example.ORG:8443``); raises InvalidDestination."""
    destination = parse_destination(f"http://{text.strip()}/")
    empty_label = not destination.is_ip and "" in destination.host.rstrip(".").split(".")
    if empty_label or destination.has_credentials or destination.href != f"http://{site_key(destination)}/":
        raise InvalidDestination(f'"{text}" is not a host name (write it like example.org).')
    return site_key(destination)


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


@dataclass(frozen=True)
class Freshness:
    found: timedelta = timedelta(days=7)
    none: timedelta = timedelta(days=1)
    error: timedelta = timedelta(hours=1)

    def expires(self, row: SiteRow) -> datetime | None:
        if row.checked_at is None:
            return None
        ttl = {"found": self.found, "none": self.none}.get(row.status, self.error)
        return row.checked_at + ttl


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
    return facts


def look_up(host: str, fetcher: Fetcher) -> dict[str, object]:
    """Fetch ``host``'s home page (https, then http) and find its privacy link; the values to store."""
    started = time.monotonic()
    values: dict[str, object] = {"checked_at": now()}
    home: FetchResult | None = None
    errors: list[str] = []
    for scheme in ("https", "http"):
        try:
            home = fetcher.get(f"{scheme}://{host}/")
            break
        except FetchRefused:
            raise
        except FetchError as error:
            errors.append(f"{scheme}: {error}")
    if home is None:
        values.update(status="error", error="; ".join(errors)[:500], https=False)
    else:
        values.update(final_url=home.final_url, https=home.final_url.startswith("https://"))
        link = privacy.find_privacy_link(home.content, home.final_url) if home.status < 400 else None
        if link is not None:
            values.update(status="found", privacy_url=link.url, found_by="home page", reason=link.reason)
        else:
            base = home.final_url
            found = _try_fallbacks(base, fetcher)
            if found is not None:
                values.update(
                    status="found",
                    privacy_url=found[0],
                    found_by=found[1],
                    reason=f"the page at {found[0]} is about privacy",
                )
            elif home.status >= 400:
                values.update(status="error", error=f"the home page answered HTTP {home.status}")
            else:
                values.update(status="none", privacy_url=None, found_by=None, reason=None)
        values["gpc"] = _supports_gpc(base_of(home.final_url), fetcher)
    values["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    return values


def base_of(url: str) -> str:
    return resolve_web_link("/", url) or url


def _try_fallbacks(base: str, fetcher: Fetcher) -> tuple[str, str] | None:
    for path in FALLBACK_PATHS:
        candidate = resolve_web_link(path, base)
        if candidate is None:
            continue
        try:
            result = fetcher.get(candidate)
        except FetchError:
            continue
        if (
            result.status == 200
            and "html" in result.headers.get("content-type", "")
            and privacy.is_privacy_page(result.content)
        ):
            how = "well-known address" if path.startswith("/.well-known") else "fallback path"
            return result.final_url, how
    return None


def _supports_gpc(base: str, fetcher: Fetcher) -> bool:
    candidate = resolve_web_link("/.well-known/gpc.json", base)
    if candidate is None:
        return False
    try:
        result = fetcher.get(candidate, accept="application/json")
    except FetchError:
        return False
    if result.status != 200:
        return False
    try:
        document = json.loads(result.content.decode("utf-8", errors="strict"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(document, dict) and document.get("gpc") is True


class SiteCache:
    """Per-process front of the ``sites`` table, with a bounded pool for background refreshes."""

    def __init__(
        self,
        store: Store,
        fetcher_factory: Callable[[], Fetcher],
        *,
        freshness: Freshness | None = None,
        workers: int = 4,
    ) -> None:
        self._store = store
        self._fetcher_factory = fetcher_factory
        self._freshness = freshness or Freshness()
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[SiteFacts | None]] = {}
        self._memory: OrderedDict[str, tuple[float, SiteFacts]] = OrderedDict()
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    # ---- the click path ----

    def site_facts(self, host: str, wait_ms: int = 0) -> SiteFacts:
        """Facts for ``host``: from memory or the database, refreshing in the background when stale."""
        host = host.lower().rstrip(".")
        cached = self._remembered(host)
        if cached is not None:
            return cached
        try:
            row = self._store.get_site(host)
        except StoreUnavailable:
            return SiteFacts(host=host, status="unknown")
        if row is not None and (row.override_url or row.override_none):
            return self._remember(facts_from_row(row))
        expires = self._freshness.expires(row) if row is not None else None
        if row is not None and expires is not None and expires > now():
            return self._remember(facts_from_row(row), (expires - now()).total_seconds())
        future = self._refresh_async(host, row.checked_at if row is not None else None)
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
            if entry[0] < time.monotonic():
                del self._memory[host]
                return None
            self._memory.move_to_end(host)
            return entry[1]

    def _remember(self, facts: SiteFacts, fresh_for: float = MEMORY_SECONDS) -> SiteFacts:
        with self._lock:
            self._memory[facts.host] = (time.monotonic() + min(fresh_for, MEMORY_SECONDS), facts)
            self._memory.move_to_end(facts.host)
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)
        return facts

    def forget(self, host: str) -> None:
        with self._lock:
            self._memory.pop(host, None)

    # ---- refreshing ----

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="linkgate-site")
            self._pool_pid = os.getpid()
            self._inflight = {}
        return self._pool

    def _refresh_async(self, host: str, seen: datetime | None) -> Future[SiteFacts | None] | None:
        with self._lock:
            future = self._inflight.get(host)
            if future is not None:
                return future
            try:
                future = self._executor().submit(self.refresh, host, background=True, seen=seen)
            except RuntimeError:  # the pool is shutting down
                return None
            self._inflight[host] = future
        future.add_done_callback(lambda _done: self._done(host))
        return future

    def _done(self, host: str) -> None:
        with self._lock:
            self._inflight.pop(host, None)

    def refresh(
        self, host: str, *, force: bool = False, background: bool = False, seen: datetime | None = None
    ) -> SiteFacts | None:
        """Look ``host`` up now, unless another worker or server holds its lease; the stored facts.

        ``background`` marks a refresh started by a cache miss that saw the check stamped ``seen`` (None: no
        check yet): if the stored check is another one by the time the lease is ours, a different worker or
        server has just made it, and that is the answer. Comparing the stamps, not clocks, keeps this right
        however long the other lookup took and whatever the servers' clocks say."""
        host = host.lower().rstrip(".")
        try:
            before = self._store.get_site(host) if force else None
            if not self._store.try_lease(host, self._owner, now() + timedelta(seconds=LEASE_SECONDS)):
                if not force:
                    return None
                return self._wait_for_other(host, before.checked_at if before is not None else None)
            if background and not force:
                row = self._store.get_site(host)
                if (
                    row is not None
                    and row.checked_at is not None
                    and row.checked_at != seen
                    and row.status != "unknown"
                ):
                    self._store.release_lease(host, self._owner)
                    self.forget(host)
                    return facts_from_row(row)
            values = self._look_up(host)
            self._store.save_site_check(host, values)
            row = self._store.get_site(host)
        except StoreUnavailable as error:
            log.warning("sites: cannot record the lookup of a host: %s", error)
            return None
        self.forget(host)
        return None if row is None else facts_from_row(row)

    def _wait_for_other(self, host: str, seen: datetime | None) -> SiteFacts | None:
        """A lookup asked for now, while another worker or server holds the lease: wait for that lookup's
        answer (a check other than ``seen``, the one stored before), not the answer it is replacing."""
        deadline = time.monotonic() + LEASE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.2)
            row = self._store.get_site(host)
            if (
                row is not None
                and row.checked_at is not None
                and row.checked_at != seen
                and row.status != "unknown"
            ):
                self.forget(host)
                return facts_from_row(row)
        return None

    def _look_up(self, host: str) -> dict[str, object]:
        fetcher = self._fetcher_factory()
        try:
            return look_up(host, fetcher)
        except FetchRefused as error:  # already counted by the fetcher as a security event
            return {"status": "error", "error": str(error)[:500], "checked_at": now()}
        finally:
            fetcher.close()
