"""Storage: every table and every query, on SQLAlchemy Core, for SQLite and PostgreSQL alike.

The rest of linkgate calls the store by intent, through one repository per area (``store.rules.add``,
``store.counts.add``, ``store.sites.try_lease``) and never writes SQL of its own. Nothing here may hold
a visitor's address, user agent, cookie or full URL: click counts are registrable domain x day x outcome.
"""

from __future__ import annotations

import sqlalchemy as sa

from linkgate.store import schema
from linkgate.store.accounts import Accounts
from linkgate.store.archive import ArchiveCache
from linkgate.store.audits import Audits
from linkgate.store.changes import ChangeLog
from linkgate.store.counts import OTHER_DOMAIN, Counts, counted_domain
from linkgate.store.destinations import Destinations
from linkgate.store.engine import Database, engine_url
from linkgate.store.feeds import Feeds
from linkgate.store.records import (
    AccountRow,
    AuditProblemRow,
    AuditRunRow,
    CacheHealth,
    LinkResultRow,
    LogEntry,
    LogPage,
    RuleImportResult,
    RulePage,
    RuleRecord,
    SignInThrottle,
    SitePage,
    SiteRow,
    now,
)
from linkgate.store.reports import Reports
from linkgate.store.results import LinkResults
from linkgate.store.rules import RULE_SORTS, Rules
from linkgate.store.sites import SITE_STATUSES, Sites

__all__ = [
    "OTHER_DOMAIN",
    "RULE_SORTS",
    "SITE_STATUSES",
    "AccountRow",
    "AuditProblemRow",
    "AuditRunRow",
    "CacheHealth",
    "LinkResultRow",
    "LogEntry",
    "LogPage",
    "RuleImportResult",
    "RulePage",
    "RuleRecord",
    "SignInThrottle",
    "SitePage",
    "SiteRow",
    "Store",
    "counted_domain",
    "engine_url",
    "now",
]


class Store:
    """The database behind linkgate: its repositories over one engine. One instance per process; safe to
    share between threads."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.changes = ChangeLog(self.db)
        self.rules = Rules(self.db, self.changes)
        self.counts = Counts(self.db)
        self.accounts = Accounts(self.db, self.changes)
        self.sites = Sites(self.db, self.changes)
        self.destinations = Destinations(self.db)
        self.audits = Audits(self.db)
        self.archive = ArchiveCache(self.db)
        self.reports = Reports(self.db)
        self.results = LinkResults(self.db)
        self.feeds = Feeds(self.db, self.changes)

    def create_schema(self) -> None:
        """Bring the database to the newest schema, under a lock (see :func:`schema.upgrade`)."""
        schema.upgrade(self.db)

    def schema_revision(self) -> str | None:
        """The database's Alembic revision, or None for an empty (or pre-migrations) database."""
        return schema.revision(self.db)

    def schema_problems(self) -> list[str]:
        """What stands between the database and the code's schema: empty when they agree."""
        return schema.problems(self.db)

    def ping(self) -> None:
        """Raise :class:`~linkgate.errors.StoreUnavailable` unless the database answers a real query."""
        with self.db.connect() as conn:
            conn.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == "rules_version")).first()

    def dispose(self) -> None:
        """Close the pool's connections now (a worker that exits gives them back at once)."""
        self.db.dispose()
