"""The records the store hands out: plain frozen dataclasses, one per kind of row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from linkgate.classify import Rule


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A time read back from the database, in UTC (SQLite returns it without a zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditRunRow:
    id: int
    start_url: str
    started_at: datetime
    finished_at: datetime
    partial: bool
    pages: int
    links: int
    problems: dict[str, int]
    report_dir: str | None
    actor: str


@dataclass(frozen=True)
class AuditProblemRow:
    url: str
    problem: str
    page: str | None
    detail: str | None


@dataclass(frozen=True)
class LinkResultRow:
    """What the audit found at one address it checked, kept between runs (``linkgate.store.results``):
    enough to report the same problems again without asking the address again."""

    url: str
    verdict: str  # ok, broken, unverified, refused
    status: int | None
    final_url: str
    redirects: tuple[tuple[str, int], ...]
    method: str
    attempts: int
    error: str | None
    reason: str | None
    soft_404: bool
    problems: tuple[str, ...]  # the problems the check itself found (broken, soft_404, insecure...)
    checked_at: datetime
    last_ok_at: datetime | None = None  # when it last answered well (this check's time when it did)


@dataclass(frozen=True)
class SiteRow:
    host: str
    status: str
    privacy_url: str | None
    found_by: str | None
    reason: str | None
    final_url: str | None
    https: bool | None
    gpc: bool | None
    error: str | None
    checked_at: datetime | None
    elapsed_ms: int | None
    override_url: str | None
    override_none: bool
    checks: int = 0
    used_on: date | None = None
    # The host's health (linkgate.store.destinations), read with the row: where its address moved to, why it
    # looks parked, why it looks changed hands, and when it was last checked for these.
    moved_to: str | None = None
    parked: str | None = None
    changed: str | None = None
    health_at: datetime | None = None


@dataclass(frozen=True)
class RuleRecord:
    """A stored rule with who made it and when it last changed (for the console)."""

    rule: Rule
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RulePage:
    total: int
    records: list[RuleRecord]


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    password_hash: str
    role: str
    created_at: datetime
    failed_count: int
    last_failed_at: datetime | None
    locked_until: datetime | None
    session_stamp: str


@dataclass(frozen=True)
class SignInThrottle:
    """Failed sign-ins for a name with no account (an account keeps the same three in its own row)."""

    failed_count: int
    last_failed_at: datetime | None
    locked_until: datetime | None


@dataclass(frozen=True)
class CacheHealth:
    entries: int
    errors: int
    stale: int
    overrides: int


@dataclass(frozen=True)
class RuleImportResult:
    added: list[Rule]
    updated: list[tuple[Rule, Rule]]  # (before, after)
    removed: list[Rule]


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def as_json(self) -> dict[str, object]:
        """The entry as ``GET /admin/api/log`` and ``linkgate log --json`` give it (docs/api.md)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class LogPage:
    total: int
    entries: list[LogEntry]


@dataclass(frozen=True)
class SitePage:
    total: int
    rows: list[SiteRow]
