"""What each process keeps between requests or commands: settings, store, rules, counts, signer, sites.

Background upkeep (rule refresh, count flushes, the days sites were used) runs on one daemon thread per
process, started on the first request so that it survives gunicorn's fork. Nothing here needs Flask: the
commands that use a runtime (``linkgate audit``, ``linkgate site``) do not load the web layer; what only
the web needs (the gate's pages) is in :class:`linkgate.web.app_runtime.WebRuntime`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from linkgate.archive import REFRESH_SECONDS as ARCHIVE_REFRESH_SECONDS
from linkgate.archive import Archive, ArchivedCopies, archive_policy
from linkgate.classify import Classifier
from linkgate.config import Settings
from linkgate.counts import ClickCounter
from linkgate.errors import StoreUnavailable
from linkgate.http import Fetcher, FetchPolicy, system_resolver
from linkgate.rulebook import RuleBook
from linkgate.signing import Signer
from linkgate.sites import Freshness, Limits, SiteCache, SiteFacts, site_key
from linkgate.store import Store
from linkgate.urls import Destination

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url)
        self.schema_ready = self._create_schema(at_start=True)
        self.signer = Signer(settings.secret_key, settings.previous_secret_keys)
        self.rules = RuleBook.from_settings(settings, self.store)
        self.rules.refresh()
        self.counts = ClickCounter(
            self.store,
            ZoneInfo(settings.timezone),
            settings.counts_max_keys,
            settings.counts_max_domains_per_day,
        )
        self.fetch_policy = FetchPolicy(
            allow_networks=settings.allow_networks, allowed_ports=frozenset(settings.allowed_ports)
        )
        self.sites = SiteCache(
            self.store,
            self.make_fetcher,
            freshness=Freshness.from_settings(settings),
            limits=Limits(
                workers=settings.fetch_workers,
                queue=settings.lookup_queue,
                per_domain=settings.lookups_per_domain,
                lookup_seconds=settings.lookup_seconds,
                lookup_requests=settings.lookup_requests,
                max_sites=settings.max_sites,
            ),
            memory_seconds=settings.memory_seconds,
            county_domains=settings.county_domains,
        )
        # The snapshots the notice offers for broken destinations (archive.url), kept in memory: loaded by
        # the web runtime (the notice's) and the upkeep thread, not by a command that only fetches.
        self.archived = ArchivedCopies(self.store, settings.timezone)
        self._started_in: int | None = None
        self._start_lock = threading.Lock()
        self._stop = threading.Event()

    def _create_schema(self, *, at_start: bool = False) -> bool:
        """Bring the database's schema up to date; False when the database cannot be reached (degraded:
        County domains and the configured actions answer, counts wait in memory, the upkeep tries again).
        A database newer than this code (:class:`~linkgate.errors.SchemaTooNew`) is not caught."""
        try:
            self.store.create_schema()
        except StoreUnavailable as error:
            if at_start:
                log.error("database unavailable at start: %s; serving with no rules until it returns", error)
            return False
        return True

    def make_fetcher(self, policy: FetchPolicy | None = None) -> Fetcher:
        """The safe fetcher, under ``policy`` (the known-bad lists' or the archive's limits) or the lookups'
        own."""
        return Fetcher(policy or self.fetch_policy, resolver=self._resolve, on_refused=self.counts.event)

    def make_archive(self) -> Archive | None:
        """The web archive of ``archive.url`` (None when it is not set), asked through the safe fetcher
        under the archive's own limits; its answers are kept in the store. Close it when done."""
        settings = self.settings
        if not settings.archive_url:
            return None
        return Archive(
            settings.archive_url,
            self.make_fetcher(archive_policy(self.fetch_policy)),
            self.store.archive,
            kind=settings.archive_kind,
            found_ttl=timedelta(seconds=settings.archive_found_ttl),
            miss_ttl=timedelta(seconds=settings.archive_miss_ttl),
            max_entries=settings.archive_max_entries,
        )

    def _resolve(self, host: str) -> list[str]:
        """Names pinned by ``fetch.resolve`` (tests), else the system's lookup unless
        ``fetch.system_resolver`` is off; the fetcher checks both."""
        pinned = self.settings.resolve.get(host.lower().rstrip("."))
        if pinned is not None:
            return [pinned]
        if not self.settings.use_system_resolver:
            raise OSError(f"{host} is not pinned by fetch.resolve and fetch.system_resolver is off")
        return system_resolver(host)

    def site_facts_for_host(self, host: str, wait_ms: int) -> SiteFacts:
        try:
            return self.sites.site_facts(host, wait_ms=wait_ms)
        except Exception as error:  # the notice renders without the section rather than fail
            log.error("sites: unexpected %s", type(error).__name__)
            return SiteFacts(host=host, status="unknown")

    def site_facts(self, destination: Destination) -> SiteFacts | None:
        if destination.is_ip:
            return None
        return self.site_facts_for_host(site_key(destination), self.settings.privacy_wait_ms)

    @property
    def classifier(self) -> Classifier:
        return self.rules.classifier

    def ensure_upkeep(self) -> None:
        """Start this process's upkeep thread if it is not running (cheap: one comparison per request)."""
        if self._started_in == os.getpid():
            return
        with self._start_lock:
            if self._started_in == os.getpid():
                return
            self._started_in = os.getpid()
            self._stop = threading.Event()
            thread = threading.Thread(target=self._upkeep, name="linkgate-upkeep", daemon=True)
            thread.start()
            atexit.register(self.shutdown)

    def _upkeep(self) -> None:
        settings = self.settings
        next_rules = next_flush = next_archive = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_rules:
                if not self.schema_ready:  # started without the database: make its tables when it answers
                    self.schema_ready = self._create_schema()
                self.rules.refresh()
                next_rules = now + settings.rules_refresh_seconds
            if now >= next_flush:
                self.counts.flush()
                self.sites.flush_used()
                next_flush = now + settings.counts_flush_seconds
            if settings.archive_url and now >= next_archive:
                self.archived.refresh()
                next_archive = now + ARCHIVE_REFRESH_SECONDS
            self._stop.wait(max(0.05, min(next_rules, next_flush) - time.monotonic()))

    def shutdown(self) -> None:
        atexit.unregister(self.shutdown)  # once is enough: not again when the process exits
        self._stop.set()
        self.counts.flush()
        self.sites.flush_used()
        self.store.dispose()  # the pool's connections go now, not whenever the engine is collected
