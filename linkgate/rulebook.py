"""The rules each worker keeps in memory, refreshed from the database when their version changes.

The click path reads :attr:`RuleBook.classifier` and never waits on the database: when the database
is unreachable the book keeps the last rules it loaded and says so through :attr:`RuleBook.healthy`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from linkgate.classify import Classifier, RuleSet
from linkgate.errors import StoreUnavailable
from linkgate.feeds import FeedBook
from linkgate.store import Store

if TYPE_CHECKING:
    from linkgate.config import Settings

log = logging.getLogger(__name__)


class RuleBook:
    def __init__(self, store: Store, base: Classifier, feeds: FeedBook | None = None) -> None:
        self._store = store
        self._feeds = feeds  # the known-bad lists, swapped in as they change (linkgate.feeds)
        self._lock = threading.Lock()
        self.classifier = base
        self.healthy = False
        self.loaded_at: float | None = None
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> RuleBook:
        """The County's domains and actions, the rules and the known-bad lists, as every process classifies
        with them: the gate and the console (:class:`linkgate.runtime.Runtime`) and ``linkgate test-link``.
        Nothing is loaded until :meth:`refresh`."""
        base = Classifier(settings.county_domains, settings.actions)
        return cls(store, base, FeedBook(store, settings.instance_path / "feeds"))

    @property
    def feeds_error(self) -> str | None:
        """Why the known-bad lists could not be opened at the last refresh (those before kept), or None."""
        return None if self._feeds is None else self._feeds.last_error

    @property
    def version(self) -> int:
        return self.classifier.rules.version

    def refresh(self) -> bool:
        """Reload the rules if their version moved; True when the database answered."""
        with self._lock:
            try:
                version = self._store.rules.version()
                if version != self.classifier.rules.version or self.loaded_at is None:
                    version, rules = self._store.rules.load()
                    self.classifier = self.classifier.with_rules(RuleSet(rules, version))
                    self.loaded_at = time.time()
                if self._feeds is not None:
                    lists = self._feeds.refresh()
                    if lists is not self.classifier.feeds:
                        self.classifier = self.classifier.with_feeds(lists)
            except StoreUnavailable as error:
                if self.healthy:
                    log.warning(
                        "rules: keeping %d rules of version %d: %s",
                        len(self.classifier.rules),
                        self.version,
                        error,
                    )
                self.healthy = False
                self.last_error = str(error)
                return False
            self.healthy = True
            self.last_error = None
            return True
