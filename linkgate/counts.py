"""Aggregate click counts and security events, buffered in memory and written in batches.

Only registrable domain x day x outcome, and security-event kind x day, are ever kept: never an
address, a user agent, a cookie or a full URL. When the database is away the buffer is kept (bounded
by ``max_keys`` distinct keys) and written when it comes back; what did not fit is counted as dropped.

The bound on what an outage can cost, per worker: clicks beyond ``max_keys`` distinct keys (counted in
``counts_dropped`` on ``/healthz``); what the worker still holds if it is stopped while the database is
away; and, if the connection dies in the very instant a batch commits, that one batch twice (the
worker cannot tell a lost commit from a lost answer, and keeps the batch). Workers flush one batch at a
time, and a stopping worker's last flush waits for one still being written.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from linkgate.errors import StoreUnavailable
from linkgate.store import Store

log = logging.getLogger(__name__)

OUTCOMES = ("redirect", "notice", "block")
EVENT_KINDS = (
    "bad_signature",
    "blocked_destination",
    "invalid_url",
    "deceptive_flag",
    "ssrf_refused",
    "login_failure",
    "bad_api_token",
)


class ClickCounter:
    def __init__(self, store: Store, timezone: ZoneInfo, max_keys: int = 50_000) -> None:
        self._store = store
        self._timezone = timezone
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # One flush at a time: a worker's last flush (at exit) waits for a background flush still writing,
        # instead of returning early while that batch dies with the process.
        self._flushing = threading.Lock()
        self._clicks: Counter[tuple[date, str, str]] = Counter()
        self._events: Counter[tuple[date, str]] = Counter()
        self.dropped = 0

    def today(self) -> date:
        return datetime.now(self._timezone).date()

    def click(self, domain: str, outcome: str) -> None:
        key = (self.today(), domain, outcome)
        with self._lock:
            if key in self._clicks or len(self._clicks) < self._max_keys:
                self._clicks[key] += 1
            else:
                self.dropped += 1

    def event(self, kind: str) -> None:
        key = (self.today(), kind)
        with self._lock:
            self._events[key] += 1

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(self._clicks.values()) + sum(self._events.values())

    def flush(self) -> bool:
        """Write what is buffered; on failure keep it for the next try. True when nothing is left."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> bool:
        with self._lock:
            clicks, self._clicks = self._clicks, Counter()
            events, self._events = self._events, Counter()
        if not clicks and not events:
            return True
        try:
            self._store.add_counts(clicks, events)
        except StoreUnavailable as error:
            log.warning("counts: database unavailable, keeping %d buffered keys: %s", len(clicks), error)
            self._merge_back(clicks, events)
            return False
        except Exception:  # never lose a batch, nor the upkeep thread, to a surprise
            log.exception("counts: unexpected error writing %d buffered keys; keeping them", len(clicks))
            self._merge_back(clicks, events)
            return False
        return True

    def _merge_back(self, clicks: Counter[tuple[date, str, str]], events: Counter[tuple[date, str]]) -> None:
        with self._lock:
            for key, count in clicks.items():
                if key in self._clicks or len(self._clicks) < self._max_keys:
                    self._clicks[key] += count
                else:
                    self.dropped += count
            self._events.update(events)
