"""Aggregate click counts and security events, buffered in memory and written in batches.

Only registrable domain x day x outcome, and security-event kind x day, are ever kept: never an
address, a user agent, a cookie or a full URL; and the log names a refused row by its domain's length
and its outcome or kind, never by its domain.

What bounds each table and buffer: a worker buffers at most ``max_keys`` (day, domain, outcome) keys,
and a click for a new domain beyond them is buffered under :data:`OTHER_DOMAIN` (a few keys more: one
per outcome and day); a day keeps at most ``max_domains_per_day`` domains in the database, the clicks of
any other going to ``OTHER_DOMAIN`` (see :meth:`linkgate.store.counts.Counts.add`); security events are
only the kinds in :data:`EVENT_KINDS`.

Failures, told apart: when the database is away (or cannot be written) the batch is kept for the next
flush and ``can_write`` is false until a write succeeds (``/healthz`` says degraded). When it refuses a
batch, the batch is written in halves, and halves of those, until the rows it refuses stand alone; they
are dropped, logged and counted (``dropped``): one bad row never holds back the others. What an outage
can still cost, per worker: what it holds if it is stopped while the database is away; and, if the
connection dies in the very instant a batch commits, that batch twice (the worker cannot tell a lost
commit from a lost answer, and keeps the batch). Workers flush one batch at a time, and a stopping
worker's last flush waits for one still being written.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from linkgate.clock import county_today
from linkgate.errors import StoreRefused, StoreUnavailable
from linkgate.store import OTHER_DOMAIN, Store

log = logging.getLogger(__name__)

OUTCOMES = ("redirect", "notice", "block")
EVENT_KINDS = (
    "bad_signature",
    "blocked_destination",
    "invalid_url",
    "deceptive_flag",
    "ssrf_refused",
    "port_refused",
    "scheme_refused",
    "credentials_refused",
    "login_failure",
    "bad_api_token",
    "feed_listed",  # a click to a destination on a known-bad list (linkgate.feeds)
)
_KNOWN_KINDS = frozenset(EVENT_KINDS)
# Why clicks or events were dropped: the database refused their row, or writing it alone failed otherwise.
DROP_REASONS = ("refused", "error")
# Why clicks were counted under OTHER_DOMAIN: the day held its most domains, or the buffer its most keys.
OTHER_REASONS = ("day_full", "buffer_full")

ClickKey = tuple[date, str, str]
EventKey = tuple[date, str]
Key = TypeVar("Key", ClickKey, EventKey)
Row = tuple[Key, int]
Part = tuple[list[Row[ClickKey]], list[Row[EventKey]]]  # rows written in one transaction


class ClickCounter:
    """This worker's counts until they are written (``max_domains_per_day`` None: no bound, for tests).

    ``report``, when set, is called with ("dropped" or "other", reason, how many) each time clicks or
    events are dropped or counted under OTHER_DOMAIN.
    """

    def __init__(
        self,
        store: Store,
        timezone: ZoneInfo,
        max_keys: int = 50_000,
        max_domains_per_day: int | None = None,
    ) -> None:
        self._store = store
        self._timezone = timezone
        self._max_keys = max_keys
        self._max_domains_per_day = max_domains_per_day
        self._lock = threading.Lock()
        # One flush at a time: a worker's last flush (at exit) waits for a background flush still writing,
        # instead of returning early while that batch dies with the process.
        self._flushing = threading.Lock()
        self._clicks: Counter[ClickKey] = Counter()
        self._events: Counter[EventKey] = Counter()
        self.dropped: Counter[str] = Counter()  # by DROP_REASONS
        self.other: Counter[str] = Counter()  # by OTHER_REASONS
        self.can_write = True  # false from a write the database was away for until one succeeds
        self.report: Callable[[str, str, int], None] | None = None

    def today(self) -> date:
        return county_today(self._timezone.key)

    def click(self, domain: str, outcome: str) -> None:
        with self._lock:
            key, overflowed = self._slot((self.today(), domain, outcome))
            self._clicks[key] += 1
        if overflowed:
            self._tally("other", "buffer_full", 1)

    def _slot(self, key: ClickKey) -> tuple[ClickKey, bool]:
        """Where clicks of ``key`` go (the lock held): their own key while it is held or there is room,
        else their day's ``(other)``; and whether they were moved there."""
        if key in self._clicks or len(self._clicks) < self._max_keys:
            return key, False
        day, domain, outcome = key
        return (day, OTHER_DOMAIN, outcome), domain != OTHER_DOMAIN

    def event(self, kind: str) -> None:
        if kind not in _KNOWN_KINDS:  # a caller's mistake: the table keeps only the kinds named here
            log.error("counts: %r is not a security event kind; not counted", kind[:40])
            return
        key = (self.today(), kind)
        with self._lock:
            self._events[key] += 1

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(self._clicks.values()) + sum(self._events.values())

    def flush(self) -> bool:
        """Write what is buffered. True when nothing is left: written, or dropped because the database
        refused it; False when the database is away and the batch is kept for the next try."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> bool:
        with self._lock:
            clicks, self._clicks = self._clicks, Counter()
            events, self._events = self._events, Counter()
        if not clicks and not events:
            return True
        return self._write([(list(clicks.items()), list(events.items()))])

    def _write(self, parts: list[Part]) -> bool:
        """Write ``parts`` one transaction each. A part the database refuses is split in halves, and
        those again, until each row it refuses stands alone and is dropped: so a refused row costs about
        twice the logarithm of the batch's size in transactions, not a transaction for every row. When the
        database is away, what is not written yet is kept and the answer is False."""
        halved = False
        while parts:
            clicks, events = parts.pop()
            try:
                other = self._store.counts.add(dict(clicks), dict(events), self._max_domains_per_day)
            except StoreUnavailable as error:
                parts.append((clicks, events))
                kept_clicks: Counter[ClickKey] = Counter(dict(row for part in parts for row in part[0]))
                kept_events: Counter[EventKey] = Counter(dict(row for part in parts for row in part[1]))
                log.warning(
                    "counts: database unavailable, keeping %d buffered keys: %s",
                    len(kept_clicks) + len(kept_events),
                    error,
                )
                self._keep(kept_clicks, kept_events)
                return False
            except Exception as error:  # refused, or a surprise: the upkeep thread lives on either way
                why = str(error) if isinstance(error, StoreRefused) else f"Unexpected {type(error).__name__}."
                if len(clicks) + len(events) > 1:
                    if not halved:
                        log.warning("counts: %s Writing %d keys in halves.", why, len(clicks) + len(events))
                        halved = True
                    parts.extend(reversed(_halves(clicks, events)))
                else:
                    reason = "refused" if isinstance(error, StoreRefused) else "error"
                    self._drop(clicks, events, reason, why)
            else:
                self._tally("other", "day_full", other)
        self.can_write = True
        return True

    def _drop(self, clicks: list[Row[ClickKey]], events: list[Row[EventKey]], reason: str, why: str) -> None:
        """Drop one row that cannot be written; logged by what it is, never by the domain it names."""
        for (day, domain, outcome), count in clicks:
            log.error(
                "counts: %s Dropped the click row of a %d-character domain, outcome %s, %d clicks, day %s.",
                why,
                len(domain),
                outcome,
                count,
                day.isoformat(),
            )
            self._tally("dropped", reason, count)
        for (day, kind), count in events:
            log.error(
                "counts: %s Dropped the security-event row of kind %s, %d events, day %s.",
                why,
                kind,
                count,
                day.isoformat(),
            )
            self._tally("dropped", reason, count)

    def _keep(self, clicks: Counter[ClickKey], events: Counter[EventKey]) -> None:
        """Put a batch the database was away for back in the buffer, within its bound."""
        self.can_write = False
        other = 0
        with self._lock:
            for key, count in clicks.items():
                kept, overflowed = self._slot(key)
                self._clicks[kept] += count
                other += count if overflowed else 0
            self._events.update(events)
        self._tally("other", "buffer_full", other)

    def _tally(self, what: str, reason: str, count: int) -> None:
        if not count:
            return
        with self._lock:
            (self.dropped if what == "dropped" else self.other)[reason] += count
        if self.report is not None:
            self.report(what, reason, count)


def _halves(clicks: list[Row[ClickKey]], events: list[Row[EventKey]]) -> tuple[Part, Part]:
    middle = (len(clicks) + len(events)) // 2
    if middle <= len(clicks):
        return (clicks[:middle], []), (clicks[middle:], events)
    return (clicks, events[: middle - len(clicks)]), ([], events[middle - len(clicks) :])
