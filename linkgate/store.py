"""Storage: every table and every query, on SQLAlchemy Core, for SQLite and PostgreSQL alike.

The rest of linkgate calls this module by intent (``store.add_rule``, ``store.add_counts``) and never
writes SQL of its own. Nothing here may hold a visitor's address, user agent, cookie or full URL:
click counts are registrable domain x day x outcome.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from linkgate import migrations
from linkgate.classify import Rule, make_rule
from linkgate.errors import AccountError, RuleError, StoreRefused, StoreUnavailable

metadata = sa.MetaData()

# pg_advisory_lock's key for schema migrations: any fixed 64-bit number no other program on the database
# uses ("linkgate" in ASCII).
MIGRATION_LOCK_KEY = 0x6C696E6B67617465
# pg_advisory_xact_lock's key for writing click counts, so that flushes take turns at a day's last domains
# ("linkcnts" in ASCII).
COUNTS_LOCK_KEY = 0x6C696E6B636E7473
# The domain under which a day's clicks are counted once it holds as many domains as it may: not a host
# name, so no destination can have it.
OTHER_DOMAIN = "(other)"

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

rules = sa.Table(
    "rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("exact", sa.Boolean, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("action", sa.String(8), nullable=True),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("created_by", sa.String(128), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", "exact", name="uq_rules_name_exact"),
)

click_counts = sa.Table(
    "click_counts",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("domain", sa.String(253), primary_key=True),
    sa.Column("outcome", sa.String(8), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

security_events = sa.Table(
    "security_events",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

sites = sa.Table(
    "sites",
    metadata,
    # A site key: a host name (at most 253 characters) and a port that is not the default (":" and 5 digits).
    sa.Column("host", sa.String(259), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, default="unknown"),
    sa.Column("privacy_url", sa.Text, nullable=True),
    sa.Column("found_by", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("final_url", sa.Text, nullable=True),
    sa.Column("https", sa.Boolean, nullable=True),
    sa.Column("gpc", sa.Boolean, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("elapsed_ms", sa.Integer, nullable=True),
    sa.Column("override_url", sa.Text, nullable=True),
    sa.Column("override_none", sa.Boolean, nullable=False, default=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    # How many lookups have been saved: a worker tells another's fresh answer from the one it saw by this,
    # not by the check's time (kept to the second only).
    sa.Column("checks", sa.Integer, nullable=False, server_default="0"),
    # The last day (UTC) a notice used the site: the table is trimmed least recently used first. A day,
    # never a time: the site cache must not become a record of when someone clicked.
    sa.Column("used_on", sa.Date, nullable=False),
    sa.Index("ix_sites_used_on", "used_on", "checked_at"),
)

change_log = sa.Table(
    "change_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Login throttling lives here, not in a worker's memory, so that it holds across workers and servers.
    sa.Column("failed_count", sa.Integer, nullable=False, default=0),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    # Copied into each session cookie at sign-in; a new one ends every session of the account everywhere.
    sa.Column("session_stamp", sa.String(32), nullable=False),
)

# Failed sign-ins for names with no account, throttled as an account's are, so that the answers cannot
# tell whether a name exists. Keyed by a keyed hash of the name (people type passwords into that field);
# a row is forgotten when it can no longer change an answer, and the table holds at most THROTTLE_ROWS.
sign_in_throttle = sa.Table(
    "sign_in_throttle",
    metadata,
    sa.Column("name_key", sa.String(64), primary_key=True),
    sa.Column("failed_count", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
)
THROTTLE_ROWS = 10_000

# The link audit (linkgate audit): one row per run, and one per (address, problem) it found, so that two
# runs can be compared without keeping whole reports in the database.
audit_runs = sa.Table(
    "audit_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("start_url", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("partial", sa.Boolean, nullable=False, default=False),
    sa.Column("pages", sa.Integer, nullable=False),
    sa.Column("links", sa.Integer, nullable=False),
    sa.Column("problems", sa.Text, nullable=False),  # JSON: problem code -> number of links
    sa.Column("report_dir", sa.Text, nullable=True),
    sa.Column("actor", sa.String(128), nullable=False, default=""),
)

audit_problems = sa.Table(
    "audit_problems",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("audit_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("problem", sa.String(32), primary_key=True),
    sa.Column("page", sa.Text, nullable=True),  # the first page the link appears on
    sa.Column("detail", sa.Text, nullable=True),
)
# PostgreSQL refuses a key entry over 2,704 bytes, so a link address longer than this (in UTF-8) is kept
# as its start and a digest of the whole (the same link gives the same key in every run, two links two).
MAX_PROBLEM_URL = 2_000


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


def now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


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


@dataclass(frozen=True)
class LogPage:
    total: int
    entries: list[LogEntry]


@dataclass(frozen=True)
class SitePage:
    total: int
    rows: list[SiteRow]


RULE_SORTS = ("name", "kind", "updated")
SITE_STATUSES = ("found", "none", "error", "unknown")


class Store:
    """The database behind linkgate. One instance per process; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _make_engine(url)

    # ---- schema and health ----

    def create_schema(self) -> None:
        """Bring the database to the newest schema (Alembic migrations), under a lock.

        Every server, every worker and every command calls this at start. Against an up-to-date database it
        costs one query and never loads Alembic. Otherwise it takes the migration lock (PostgreSQL: an
        advisory lock; SQLite: a lock file beside the database), so that several servers starting at once
        apply each migration exactly once, and the others wait and find the work done.
        """
        if self.is_sqlite:
            path = sa.make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                sqlite3.connect(path).close()
        if self.schema_revision() == migrations.HEAD:
            return
        with self._migration_lock() as conn:
            _run_alembic(conn, "upgrade")

    def schema_revision(self) -> str | None:
        """The database's Alembic revision, or None for an empty (or pre-migrations) database."""
        if self.is_sqlite and not Path(sa.make_url(self.url).database or "").exists():
            return None
        with self._connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def schema_problems(self) -> list[str]:
        """What stands between the database and the code's schema: empty when they agree."""
        revision = self.schema_revision()
        if revision != migrations.HEAD:
            have = revision or "none"
            return [f"the database is at revision {have}; this linkgate needs {migrations.HEAD}"]
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with self._connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        return [f"the schema differs from this linkgate's: {difference!r}" for difference in differences]

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        with self._connect() as conn:
            if self.is_sqlite:
                import fcntl

                lock_path = f"{sa.make_url(self.url).database}.migrate-lock"
                with open(lock_path, "a") as lock_file:
                    fcntl.flock(lock_file, fcntl.LOCK_EX)
                    try:
                        yield conn
                    finally:
                        fcntl.flock(lock_file, fcntl.LOCK_UN)
                return
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers a real query."""
        with self._connect() as conn:
            conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_version")).first()

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as error:
            raise StoreUnavailable(f"The database is unavailable: {error.orig}") from error
        except sa.exc.DatabaseError as error:
            raise StoreUnavailable(f"The database cannot be read: {error.orig}") from error

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError:
            raise
        except sa.exc.OperationalError as error:
            raise StoreUnavailable(f"The database is unavailable: {error.orig}") from error
        except sa.exc.DatabaseError as error:
            raise StoreUnavailable(f"The database cannot be read: {error.orig}") from error

    # ---- rules ----

    def rules_version(self) -> int:
        with self._connect() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_version")).scalar()
        return int(value or 0)

    def load_rules(self) -> tuple[int, list[Rule]]:
        with self._connect() as conn:
            version = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_version")).scalar()
            rows = conn.execute(sa.select(rules).order_by(rules.c.name, rules.c.exact)).all()
        return int(version or 0), [_rule_from_row(row) for row in rows]

    def add_rule(self, rule: Rule, actor: str) -> Rule:
        stamp = now()
        with self._begin() as conn:
            existing = conn.execute(
                sa.select(rules).where(rules.c.name == rule.name, rules.c.exact == rule.exact)
            ).first()
            if existing is not None:
                raise RuleError(
                    f"There is already a rule for {rule.pattern} ({existing.kind}); "
                    "remove or edit it instead."
                )
            saved = self._insert_rule(conn, rule, actor, stamp)
            self._bump_rules_version(conn)
        return saved

    def remove_rule(self, name: str, exact: bool, actor: str) -> Rule:
        probe = make_rule(name, "allow", exact=exact)
        with self._begin() as conn:
            row = conn.execute(
                sa.select(rules).where(rules.c.name == probe.name, rules.c.exact == exact)
            ).first()
            if row is None:
                raise RuleError(f"There is no rule for {probe.pattern}.")
            old = _rule_from_row(row)
            conn.execute(sa.delete(rules).where(rules.c.id == row.id))
            self._log(conn, actor, "rule.remove", old.pattern, _rule_json(old), None)
            self._bump_rules_version(conn)
        return old

    def get_rule(self, rule_id: int) -> RuleRecord | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
        return None if row is None else _record_from_row(row)

    def list_rules(
        self,
        search: str = "",
        kind: str | None = None,
        sort: str = "name",
        offset: int = 0,
        limit: int = 50,
    ) -> RulePage:
        """Rules whose name or note holds ``search`` (any case), of one ``kind`` or all, one page."""
        conditions = []
        if search:
            conditions.append(sa.or_(_holds(rules.c.name, search), _holds(rules.c.note, search)))
        if kind is not None:
            conditions.append(rules.c.kind == kind)
        order = {
            "name": (rules.c.name, rules.c.exact),
            "kind": (rules.c.kind, rules.c.name, rules.c.exact),
            "updated": (rules.c.updated_at.desc(), rules.c.name, rules.c.exact),
        }[sort]
        with self._connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(rules).where(*conditions)).scalar()
            rows = conn.execute(
                sa.select(rules).where(*conditions).order_by(*order).offset(offset).limit(limit)
            ).all()
        return RulePage(int(total or 0), [_record_from_row(row) for row in rows])

    def update_rule(self, rule_id: int, rule: Rule, actor: str) -> Rule:
        """Replace rule ``rule_id`` with ``rule``; refuse a duplicate of another rule."""
        with self._begin() as conn:
            row = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
            if row is None:
                raise RuleError("That rule no longer exists; it may have been removed by someone else.")
            other = conn.execute(
                sa.select(rules).where(
                    rules.c.name == rule.name, rules.c.exact == rule.exact, rules.c.id != rule_id
                )
            ).first()
            if other is not None:
                raise RuleError(
                    f"There is already a rule for {rule.pattern} ({other.kind}); remove or edit it instead."
                )
            old = _rule_from_row(row)
            saved = Rule(rule.name, rule.exact, rule.kind, rule.action, rule.note, rule_id)
            if _rule_json(old) == _rule_json(saved):
                return saved
            conn.execute(
                sa.update(rules)
                .where(rules.c.id == rule_id)
                .values(
                    name=saved.name,
                    exact=saved.exact,
                    kind=saved.kind,
                    action=saved.action,
                    note=saved.note,
                    updated_at=now(),
                )
            )
            self._log(conn, actor, "rule.update", saved.pattern, _rule_json(old), _rule_json(saved))
            self._bump_rules_version(conn)
        return saved

    def apply_rule_import(
        self,
        incoming: list[Rule],
        actor: str,
        *,
        replace: bool = False,
        expected_version: int | None = None,
    ) -> RuleImportResult:
        """Add or update every rule of ``incoming`` (and with ``replace`` remove every other rule) in one
        transaction: all of it or none of it, one change-log entry per rule changed.

        Rules are matched on (name, exact). ``expected_version`` refuses the batch when the rules have
        changed since it was previewed (someone else saved a rule in between).
        """
        seen: set[tuple[str, bool]] = set()
        for rule in incoming:
            key = (rule.name, rule.exact)
            if key in seen:
                raise RuleError(f"The import names {rule.pattern} more than once.")
            seen.add(key)
        added: list[Rule] = []
        updated: list[tuple[Rule, Rule]] = []
        removed: list[Rule] = []
        stamp = now()
        with self._begin() as conn:
            if expected_version is not None:
                # Compare-and-set on the version, first: of two imports previewed against the same
                # version only one can move it on, on SQLite and PostgreSQL alike (the row stays locked
                # until this transaction ends).
                moved = conn.execute(
                    sa.update(meta)
                    .where(meta.c.key == "rules_version", meta.c.value == str(expected_version))
                    .values(value=str(expected_version + 1))
                )
                if moved.rowcount != 1:
                    raise RuleError(
                        "The rules changed after this import was previewed; upload the file again to see "
                        "what it would change now."
                    )
            existing = {(row.name, bool(row.exact)): row for row in conn.execute(sa.select(rules)).all()}
            for rule in incoming:
                row = existing.get((rule.name, rule.exact))
                if row is None:
                    saved = self._insert_rule(conn, rule, actor, stamp)
                    added.append(saved)
                    continue
                old = _rule_from_row(row)
                saved = Rule(rule.name, rule.exact, rule.kind, rule.action, rule.note, row.id)
                if _rule_json(old) == _rule_json(saved):
                    continue
                conn.execute(
                    sa.update(rules)
                    .where(rules.c.id == row.id)
                    .values(kind=saved.kind, action=saved.action, note=saved.note, updated_at=stamp)
                )
                self._log(conn, actor, "rule.update", saved.pattern, _rule_json(old), _rule_json(saved))
                updated.append((old, saved))
            if replace:
                for key, row in sorted(existing.items()):
                    if key in seen:
                        continue
                    old = _rule_from_row(row)
                    conn.execute(sa.delete(rules).where(rules.c.id == row.id))
                    self._log(conn, actor, "rule.remove", old.pattern, _rule_json(old), None)
                    removed.append(old)
            if expected_version is None and (added or updated or removed):
                self._bump_rules_version(conn)
        return RuleImportResult(added, updated, removed)

    def _insert_rule(self, conn: Connection, rule: Rule, actor: str, stamp: datetime) -> Rule:
        """Insert a new rule and log it; the rule as saved (with its id)."""
        inserted = conn.execute(
            sa.insert(rules).values(
                name=rule.name,
                exact=rule.exact,
                kind=rule.kind,
                action=rule.action,
                note=rule.note,
                created_by=actor,
                created_at=stamp,
                updated_at=stamp,
            )
        ).inserted_primary_key
        saved = Rule(
            rule.name, rule.exact, rule.kind, rule.action, rule.note, int(inserted[0]) if inserted else None
        )
        self._log(conn, actor, "rule.add", saved.pattern, None, _rule_json(saved))
        return saved

    def _bump_rules_version(self, conn: Connection) -> None:
        conn.execute(
            sa.update(meta)
            .where(meta.c.key == "rules_version")
            .values(value=sa.cast(sa.cast(meta.c.value, sa.Integer) + 1, sa.Text))
        )

    # ---- change log ----

    def _log(self, conn: Connection, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        conn.execute(
            sa.insert(change_log).values(
                at=now(),
                actor=actor,
                action=action,
                target=target,
                before=None if before is None else json.dumps(before, sort_keys=True),
                after=None if after is None else json.dumps(after, sort_keys=True),
            )
        )

    def change_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(change_log).order_by(change_log.c.id.desc()).limit(limit)).all()
        return [dict(row._mapping) for row in rows]

    def log_page(
        self,
        *,
        actor: str = "",
        action: str = "",
        target: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> LogPage:
        """Change-log entries, newest first. ``actor`` and ``target`` match anywhere (any case);
        ``action`` is a prefix (``rule`` for every rule change, ``rule.add`` for additions);
        ``start`` and ``end`` bound the time (start inclusive, end exclusive)."""
        conditions = []
        if actor:
            conditions.append(_holds(change_log.c.actor, actor))
        if target:
            conditions.append(_holds(change_log.c.target, target))
        if action:
            conditions.append(change_log.c.action.startswith(action, autoescape=True))
        if start is not None:
            conditions.append(change_log.c.at >= start)
        if end is not None:
            conditions.append(change_log.c.at < end)
        with self._connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(change_log).where(*conditions)
            ).scalar()
            rows = conn.execute(
                sa.select(change_log)
                .where(*conditions)
                .order_by(change_log.c.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return LogPage(int(total or 0), [_log_from_row(row) for row in rows])

    # ---- aggregate counts ----

    def add_counts(
        self,
        clicks: Mapping[tuple[date, str, str], int],
        events: Mapping[tuple[date, str], int],
        max_domains_per_day: int | None = None,
    ) -> int:
        """Add click counts (day, domain, outcome) and security events (day, kind) in one transaction.

        With ``max_domains_per_day`` a day keeps at most that many domains (besides :data:`OTHER_DOMAIN`):
        once it is full, the clicks of a domain it does not hold yet are added to ``OTHER_DOMAIN``, the
        batch's most clicked domains taking the last places. Returns how many clicks that was.

        Raises :class:`StoreUnavailable` when the database cannot be reached or written, and
        :class:`StoreRefused` when it refuses a row (the same write would fail again); nothing is written
        then. Neither message holds a value of the batch.
        """
        other = 0
        with self._begin() as conn:
            try:
                if clicks and max_domains_per_day is not None:
                    self._take_counts_turn(conn)
                    clicks, other = self._bound_domains(conn, clicks, max_domains_per_day)
                if clicks:
                    self._upsert_add(
                        conn,
                        click_counts,
                        [
                            {"day": d, "domain": dom, "outcome": o, "count": n}
                            for (d, dom, o), n in clicks.items()
                        ],
                        ["day", "domain", "outcome"],
                    )
                if events:
                    self._upsert_add(
                        conn,
                        security_events,
                        [{"day": d, "kind": k, "count": n} for (d, k), n in events.items()],
                        ["day", "kind"],
                    )
            except (sa.exc.DataError, sa.exc.IntegrityError) as error:
                # The driver's message may quote the row (PostgreSQL's "Failing row contains ..."): only
                # the kind of refusal is passed on.
                name = type(error.orig).__name__
                raise StoreRefused(f"The database refused the counts ({name}).") from None
        return other

    def _take_counts_turn(self, conn: Connection) -> None:
        """Hold off every other count writer until this transaction ends, so that two cannot both see
        room for a day's last domain (on SQLite this must be the transaction's first statement)."""
        if self.is_sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": COUNTS_LOCK_KEY})

    def _bound_domains(
        self, conn: Connection, clicks: Mapping[tuple[date, str, str], int], limit: int
    ) -> tuple[Mapping[tuple[date, str, str], int], int]:
        """``clicks`` with the domains a day has no room for put under OTHER_DOMAIN, and how many clicks
        were moved. Reads a day's stored domains only when the batch could fill it."""
        totals: dict[date, dict[str, int]] = {}
        for (day, domain, _outcome), count in clicks.items():
            if domain != OTHER_DOMAIN:
                per_day = totals.setdefault(day, {})
                per_day[domain] = per_day.get(domain, 0) + count
        held_domains = sa.func.count(sa.distinct(click_counts.c.domain))
        no_room: dict[date, set[str]] = {}
        for day, batch in totals.items():
            of_day = sa.and_(click_counts.c.day == day, click_counts.c.domain != OTHER_DOMAIN)
            held = conn.execute(sa.select(held_domains).where(of_day)).scalar_one()
            if held + len(batch) <= limit:
                continue
            stored = set(conn.execute(sa.select(click_counts.c.domain).where(of_day).distinct()).scalars())
            new = sorted(batch.keys() - stored, key=lambda domain: (-batch[domain], domain))
            no_room[day] = set(new[max(0, limit - held) :])
        if not no_room:
            return clicks, 0
        bounded: dict[tuple[date, str, str], int] = {}
        other = 0
        for (day, domain, outcome), count in clicks.items():
            key = (day, domain, outcome)
            if domain in no_room.get(day, ()):
                key = (day, OTHER_DOMAIN, outcome)
                other += count
            bounded[key] = bounded.get(key, 0) + count
        return bounded, other

    def _insert(self, table: sa.Table) -> Any:
        """The database's own INSERT, for ON CONFLICT. Its dialect is imported only here: PostgreSQL's
        takes about a tenth of a second to import, which every command on SQLite would pay."""
        if self.is_sqlite:
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def _upsert_add(
        self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        insert = self._insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=keys, set_={"count": table.c.count + insert.excluded.count}
        )
        conn.execute(statement, rows)

    def click_totals(self, start: date, end: date) -> list[tuple[date, str, str, int]]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(
                    click_counts.c.day, click_counts.c.domain, click_counts.c.outcome, click_counts.c.count
                )
                .where(click_counts.c.day >= start, click_counts.c.day <= end)
                .order_by(click_counts.c.day, click_counts.c.domain, click_counts.c.outcome)
            ).all()
        return [(row.day, row.domain, row.outcome, int(row[3])) for row in rows]

    def event_totals(self, start: date, end: date) -> list[tuple[date, str, int]]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(security_events)
                .where(security_events.c.day >= start, security_events.c.day <= end)
                .order_by(security_events.c.day, security_events.c.kind)
            ).all()
        return [(row.day, row.kind, int(row[2])) for row in rows]

    def clicks_per_day(self, start: date, end: date) -> list[tuple[date, str, int]]:
        """Click totals per day and outcome, all destinations together (days with no clicks are absent)."""
        total = sa.func.sum(click_counts.c.count)
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(click_counts.c.day, click_counts.c.outcome, total)
                .where(click_counts.c.day >= start, click_counts.c.day <= end)
                .group_by(click_counts.c.day, click_counts.c.outcome)
                .order_by(click_counts.c.day, click_counts.c.outcome)
            ).all()
        return [(row[0], row[1], int(row[2])) for row in rows]

    def clicks_by_outcome(self, start: date, end: date) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(click_counts.c.outcome, sa.func.sum(click_counts.c.count))
                .where(click_counts.c.day >= start, click_counts.c.day <= end)
                .group_by(click_counts.c.outcome)
            ).all()
        return {row[0]: int(row[1]) for row in rows}

    def top_domains(self, start: date, end: date, limit: int = 10) -> list[tuple[str, int]]:
        total = sa.func.sum(click_counts.c.count).label("total")
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(click_counts.c.domain, total)
                .where(click_counts.c.day >= start, click_counts.c.day <= end)
                .group_by(click_counts.c.domain)
                .order_by(total.desc(), click_counts.c.domain)
                .limit(limit)
            ).all()
        return [(row[0], int(row[1])) for row in rows]

    def events_by_kind(self, start: date, end: date) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(security_events.c.kind, sa.func.sum(security_events.c.count))
                .where(security_events.c.day >= start, security_events.c.day <= end)
                .group_by(security_events.c.kind)
                .order_by(security_events.c.kind)
            ).all()
        return {row[0]: int(row[1]) for row in rows}

    # ---- accounts ----

    def add_account(self, name: str, password_hash: str, role: str, actor: str) -> AccountRow:
        with self._begin() as conn:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first() is not None:
                raise AccountError(f'There is already an account named "{name}".')
            conn.execute(
                sa.insert(accounts).values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    created_at=now(),
                    failed_count=0,
                    session_stamp=_session_stamp(),
                )
            )
            self._log(conn, actor, "account.add", name, None, {"name": name, "role": role})
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).one()
        return _account_from_row(row)

    def list_accounts(self) -> list[AccountRow]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(accounts).order_by(accounts.c.name)).all()
        return [_account_from_row(row) for row in rows]

    def change_account(
        self,
        name: str,
        actor: str,
        *,
        role: str | None = None,
        password_hash: str | None = None,
        unlock: bool = False,
    ) -> AccountRow:
        """Change an account's role or password, or lift its lock; one change-log entry per change.

        A new password (or an unlock) also clears the account's failed sign-ins. Every call ends every
        session of the account (a new session stamp), whatever it changed. The password hash is never
        written to the log, only the fact that it changed.
        """
        with self._begin() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
            if row is None:
                raise AccountError(f'There is no account named "{name}".')
            if role is not None and role != row.role:
                if row.role == "admin" and self._is_last_admin(conn, row.id):
                    raise AccountError(f'"{name}" is the last admin account; make another admin first.')
                conn.execute(sa.update(accounts).where(accounts.c.id == row.id).values(role=role))
                self._log(conn, actor, "account.role", name, {"role": row.role}, {"role": role})
            if password_hash is not None:
                conn.execute(
                    sa.update(accounts)
                    .where(accounts.c.id == row.id)
                    .values(
                        password_hash=password_hash, failed_count=0, last_failed_at=None, locked_until=None
                    )
                )
                self._log(conn, actor, "account.password", name, {"password": "old"}, {"password": "new"})
            if unlock and (row.locked_until is not None or row.failed_count):
                conn.execute(
                    sa.update(accounts)
                    .where(accounts.c.id == row.id)
                    .values(failed_count=0, last_failed_at=None, locked_until=None)
                )
                self._log(
                    conn,
                    actor,
                    "account.unlock",
                    name,
                    {"failed_count": row.failed_count, "locked_until": _iso(row.locked_until)},
                    {"failed_count": 0, "locked_until": None},
                )
            conn.execute(
                sa.update(accounts).where(accounts.c.id == row.id).values(session_stamp=_session_stamp())
            )
            changed = conn.execute(sa.select(accounts).where(accounts.c.id == row.id)).one()
        return _account_from_row(changed)

    def remove_account(self, name: str, actor: str) -> AccountRow:
        with self._begin() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
            if row is None:
                raise AccountError(f'There is no account named "{name}".')
            if row.role == "admin" and self._is_last_admin(conn, row.id):
                raise AccountError(f'"{name}" is the last admin account; make another admin first.')
            conn.execute(sa.delete(accounts).where(accounts.c.id == row.id))
            self._log(conn, actor, "account.remove", name, {"name": name, "role": row.role}, None)
        return _account_from_row(row)

    def _is_last_admin(self, conn: Connection, account_id: int) -> bool:
        others = conn.execute(
            sa.select(sa.func.count())
            .select_from(accounts)
            .where(accounts.c.role == "admin", accounts.c.id != account_id)
        ).scalar()
        return not others

    def end_account_sessions(self, name: str) -> None:
        """Sign the account out everywhere: every session cookie made before now stops working."""
        with self._begin() as conn:
            conn.execute(
                sa.update(accounts).where(accounts.c.name == name).values(session_stamp=_session_stamp())
            )

    def get_account(self, name: str) -> AccountRow | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
        return None if row is None else _account_from_row(row)

    def sign_in_state(self, name: str, name_key: str) -> tuple[AccountRow | None, SignInThrottle | None]:
        """The account named ``name`` and the throttle of names with no account under ``name_key``.

        Both are always read, so that a sign-in costs the same queries whether the name exists or not.
        """
        with self._connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
            throttle = conn.execute(
                sa.select(sign_in_throttle).where(sign_in_throttle.c.name_key == name_key)
            ).first()
        return (
            None if row is None else _account_from_row(row),
            None
            if throttle is None
            else SignInThrottle(
                failed_count=int(throttle.failed_count),
                last_failed_at=_as_utc(throttle.last_failed_at),
                locked_until=_as_utc(throttle.locked_until),
            ),
        )

    def begin_unknown_attempt(
        self, name_key: str, seen: int, at: datetime, *, fresh: bool, forget_before: datetime
    ) -> int | None:
        """:meth:`begin_login_attempt` for a name with no account: its new failure count, or None.

        ``seen`` is the count the attempt was judged on (0: no row), compared and set as an account's is.
        A first failure also forgets the rows that can no longer change an answer (last failure before
        ``forget_before`` and no lock in force) and, past :data:`THROTTLE_ROWS`, the oldest.
        """
        count = 1 if fresh else seen + 1
        with self._begin() as conn:
            if seen:
                result = conn.execute(
                    sa.update(sign_in_throttle)
                    .where(sign_in_throttle.c.name_key == name_key, sign_in_throttle.c.failed_count == seen)
                    .values(
                        failed_count=count,
                        last_failed_at=at,
                        locked_until=None if fresh else sign_in_throttle.c.locked_until,
                    )
                )
                return count if result.rowcount == 1 else None
            conn.execute(
                sa.delete(sign_in_throttle).where(
                    sign_in_throttle.c.last_failed_at < forget_before,
                    sa.or_(sign_in_throttle.c.locked_until.is_(None), sign_in_throttle.c.locked_until <= at),
                )
            )
            kept = conn.execute(sa.select(sa.func.count()).select_from(sign_in_throttle)).scalar() or 0
            if kept >= THROTTLE_ROWS:
                oldest = (
                    sa.select(sign_in_throttle.c.name_key)
                    .order_by(sign_in_throttle.c.last_failed_at)
                    .limit(kept - THROTTLE_ROWS + 1)
                )
                conn.execute(
                    sa.delete(sign_in_throttle).where(
                        sign_in_throttle.c.name_key.in_(oldest.scalar_subquery())
                    )
                )
            inserted = conn.execute(
                self._insert(sign_in_throttle)
                .values(name_key=name_key, failed_count=count, last_failed_at=at, locked_until=None)
                .on_conflict_do_nothing(index_elements=["name_key"])
                .returning(sign_in_throttle.c.name_key)  # psycopg's rowcount here is -1
            ).first()
        return count if inserted is not None else None

    def lock_unknown(self, name_key: str, until: datetime) -> None:
        with self._begin() as conn:
            conn.execute(
                sa.update(sign_in_throttle)
                .where(sign_in_throttle.c.name_key == name_key)
                .values(locked_until=until)
            )

    def begin_login_attempt(self, account: AccountRow, at: datetime, *, fresh: bool) -> int | None:
        """Count a login attempt before its password is checked; the account's new failure count.

        Compare-and-set on the count ``account`` was read with: None when another attempt (another
        thread, worker or server) got there first, so that parallel guesses cannot slip past the
        throttle. ``fresh`` starts the count again (a lock that has run out).
        """
        count = 1 if fresh else account.failed_count + 1
        with self._begin() as conn:
            result = conn.execute(
                sa.update(accounts)
                .where(accounts.c.id == account.id, accounts.c.failed_count == account.failed_count)
                .values(
                    failed_count=count,
                    last_failed_at=at,
                    locked_until=None if fresh else accounts.c.locked_until,
                )
            )
        return count if result.rowcount == 1 else None

    def end_login_throttle(self, account_id: int) -> None:
        """A successful login: forget the failures."""
        with self._begin() as conn:
            conn.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_id)
                .values(failed_count=0, last_failed_at=None, locked_until=None)
            )

    def lock_account(self, account: AccountRow, until: datetime, failures: int) -> None:
        with self._begin() as conn:
            conn.execute(sa.update(accounts).where(accounts.c.id == account.id).values(locked_until=until))
            self._log(
                conn,
                "linkgate",
                "account.lock",
                account.name,
                {"failed_count": failures - 1, "locked_until": None},
                {"failed_count": failures, "locked_until": until.isoformat()},
            )

    # ---- site cache ----

    def cache_health(self, found_ttl: timedelta, none_ttl: timedelta, error_ttl: timedelta) -> CacheHealth:
        """How many sites are cached, how many failed their last lookup, how many are past their freshness."""
        stamp = now()
        stale = sa.or_(
            sites.c.checked_at.is_(None),
            sa.and_(sites.c.status == "found", sites.c.checked_at < stamp - found_ttl),
            sa.and_(sites.c.status == "none", sites.c.checked_at < stamp - none_ttl),
            sa.and_(sites.c.status.not_in(("found", "none")), sites.c.checked_at < stamp - error_ttl),
        )
        with self._connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count().filter(sites.c.status == "error"),
                    sa.func.count().filter(stale),
                    sa.func.count().filter(
                        sa.or_(sites.c.override_url.is_not(None), sites.c.override_none.is_(True))
                    ),
                ).select_from(sites)
            ).one()
        return CacheHealth(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def get_site(self, host: str) -> SiteRow | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(sites).where(sites.c.host == host)).first()
        return None if row is None else _site_from_row(row)

    def site_page(
        self,
        *,
        search: str = "",
        status: str | None = None,
        overrides_only: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> SitePage:
        """Cached sites whose host holds ``search`` (any case), of one lookup ``status`` or all, by host."""
        conditions = []
        if search:
            conditions.append(_holds(sites.c.host, search))
        if status is not None:
            conditions.append(sites.c.status == status)
        if overrides_only:
            conditions.append(sa.or_(sites.c.override_url.is_not(None), sites.c.override_none.is_(True)))
        with self._connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(sites).where(*conditions)).scalar()
            rows = conn.execute(
                sa.select(sites).where(*conditions).order_by(sites.c.host).offset(offset).limit(limit)
            ).all()
        return SitePage(int(total or 0), [_site_from_row(row) for row in rows])

    def list_sites(self, limit: int = 1000) -> list[SiteRow]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(sites).order_by(sites.c.host).limit(limit)).all()
        return [_site_from_row(row) for row in rows]

    def save_site_check(self, host: str, values: Mapping[str, Any]) -> None:
        """Record the outcome of a lookup (status, privacy URL, ...) and release the host's lease.

        The check's time is kept to the second (the precision of the freshness times), rounded up so that
        nothing goes stale before its time: it follows a visitor's click by milliseconds, and nothing
        needs it finer."""
        allowed = {
            "status",
            "privacy_url",
            "found_by",
            "reason",
            "final_url",
            "https",
            "gpc",
            "error",
            "checked_at",
            "elapsed_ms",
        }
        update: dict[str, Any] = {key: value for key, value in values.items() if key in allowed}
        checked = update.get("checked_at")
        if isinstance(checked, datetime) and checked.microsecond:
            update["checked_at"] = checked.replace(microsecond=0) + timedelta(seconds=1)
        update.update(lease_owner=None, lease_until=None, checks=sites.c.checks + 1)
        with self._begin() as conn:
            self._ensure_site(conn, host)
            conn.execute(sa.update(sites).where(sites.c.host == host).values(**update))

    def set_site_override(self, host: str, url: str | None, actor: str) -> None:
        """Pin a site's privacy link (``url``), or say it has none (``url=None``)."""
        with self._begin() as conn:
            self._ensure_site(conn, host)
            before = conn.execute(
                sa.select(sites.c.override_url, sites.c.override_none).where(sites.c.host == host)
            ).one()
            conn.execute(
                sa.update(sites)
                .where(sites.c.host == host)
                .values(override_url=url, override_none=url is None)
            )
            self._log(
                conn,
                actor,
                "site.override",
                host,
                {"override_url": before.override_url, "override_none": before.override_none},
                {"override_url": url, "override_none": url is None},
            )

    def remove_site_override(self, host: str, actor: str) -> bool:
        """Let lookups decide a site's privacy link again; False when it had no override."""
        with self._begin() as conn:
            before = conn.execute(
                sa.select(sites.c.override_url, sites.c.override_none).where(sites.c.host == host)
            ).first()
            if before is None or (before.override_url is None and not before.override_none):
                return False
            conn.execute(
                sa.update(sites).where(sites.c.host == host).values(override_url=None, override_none=False)
            )
            self._log(
                conn,
                actor,
                "site.override",
                host,
                {"override_url": before.override_url, "override_none": bool(before.override_none)},
                {"override_url": None, "override_none": False},
            )
        return True

    def clear_site(self, host: str, actor: str) -> bool:
        with self._begin() as conn:
            row = conn.execute(sa.select(sites).where(sites.c.host == host)).first()
            if row is None:
                return False
            conn.execute(sa.delete(sites).where(sites.c.host == host))
            self._log(
                conn,
                actor,
                "site.clear",
                host,
                {
                    "privacy_url": row.privacy_url,
                    "override_url": row.override_url,
                    "override_none": row.override_none,
                },
                None,
            )
        return True

    def try_lease(self, host: str, owner: str, until: datetime) -> bool:
        """Take the refresh lease on ``host`` unless someone else holds an unexpired one."""
        stamp = now()
        with self._begin() as conn:
            self._ensure_site(conn, host)
            result = conn.execute(
                sa.update(sites)
                .where(
                    sites.c.host == host,
                    sa.or_(
                        sites.c.lease_until.is_(None),
                        sites.c.lease_until < stamp,
                        sites.c.lease_owner == owner,
                    ),
                )
                .values(lease_owner=owner, lease_until=until)
            )
            return bool(result.rowcount == 1)

    def release_lease(self, host: str, owner: str) -> None:
        """Give back ``owner``'s refresh lease on ``host`` (someone else's is left alone)."""
        with self._begin() as conn:
            conn.execute(
                sa.update(sites)
                .where(sites.c.host == host, sites.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def touch_sites(self, hosts: list[str], day: date) -> None:
        """Mark ``hosts`` as used by a notice on ``day`` (what the trim keeps longest)."""
        batch = sorted(hosts)
        for start in range(0, len(batch), 500):
            with self._begin() as conn:
                conn.execute(
                    sa.update(sites)
                    .where(sites.c.host.in_(batch[start : start + 500]), sites.c.used_on < day)
                    .values(used_on=day)
                )

    def trim_sites(self, keep: int) -> int:
        """Delete the looked-up sites beyond the ``keep`` most recently used (by day, then check time);
        how many went. A site with an override is never deleted nor counted, nor one being looked up."""
        stamp = now()
        evictable = sa.and_(
            sites.c.override_url.is_(None),
            sites.c.override_none.is_(False),
            sa.or_(sites.c.lease_until.is_(None), sites.c.lease_until < stamp),
        )
        with self._begin() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(sites).where(evictable)).scalar()
            excess = int(total or 0) - keep
            if excess <= 0:
                return 0
            oldest = (
                sa.select(sites.c.host)
                .where(evictable)
                .order_by(sites.c.used_on, sites.c.checked_at.nulls_first(), sites.c.host)
                .limit(excess)
            )
            result = conn.execute(sa.delete(sites).where(sites.c.host.in_(oldest.scalar_subquery())))
            return int(result.rowcount or 0)

    def _ensure_site(self, conn: Connection, host: str) -> None:
        insert = self._insert(sites)
        conn.execute(
            insert.values(
                host=host, status="unknown", override_none=False, used_on=now().date()
            ).on_conflict_do_nothing(index_elements=["host"])
        )

    # ---- link audits ----

    def add_audit_run(
        self,
        run: Mapping[str, Any],
        problems: list[tuple[str, str, str | None, str | None]],
        actor: str,
    ) -> int:
        """Record an audit run (``start_url``, ``started_at``, ``finished_at``, ``partial``, ``pages``,
        ``links``, ``problems`` as code -> count, ``report_dir``) and its (url, problem, page, detail)
        rows; the run's id."""
        with self._begin() as conn:
            inserted = conn.execute(
                sa.insert(audit_runs).values(
                    start_url=run["start_url"],
                    started_at=run["started_at"],
                    finished_at=run["finished_at"],
                    partial=bool(run["partial"]),
                    pages=int(run["pages"]),
                    links=int(run["links"]),
                    problems=json.dumps(run["problems"]),
                    report_dir=run.get("report_dir"),
                    actor=actor,
                )
            ).inserted_primary_key
            assert inserted is not None
            run_id = inserted[0]
            unique = {(_problem_url(url), problem): (page, detail) for url, problem, page, detail in problems}
            if unique:
                conn.execute(
                    sa.insert(audit_problems),
                    [
                        {"run_id": run_id, "url": url, "problem": problem, "page": page, "detail": detail}
                        for (url, problem), (page, detail) in unique.items()
                    ],
                )
        return int(run_id)

    def list_audit_runs(self, limit: int = 50, offset: int = 0) -> list[AuditRunRow]:
        """Audit runs, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(audit_runs).order_by(audit_runs.c.id.desc()).offset(offset).limit(limit)
            ).all()
        return [_audit_run_from_row(row) for row in rows]

    def get_audit_run(self, run_id: int) -> AuditRunRow | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(audit_runs).where(audit_runs.c.id == run_id)).first()
        return None if row is None else _audit_run_from_row(row)

    def previous_audit_run(self, run: AuditRunRow) -> AuditRunRow | None:
        """The last complete run of the same start address before ``run``, to compare it with."""
        with self._connect() as conn:
            row = conn.execute(
                sa.select(audit_runs)
                .where(
                    audit_runs.c.start_url == run.start_url,
                    audit_runs.c.id < run.id,
                    audit_runs.c.partial.is_(False),
                )
                .order_by(audit_runs.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _audit_run_from_row(row)

    def audit_problems(self, run_id: int) -> list[AuditProblemRow]:
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(audit_problems)
                .where(audit_problems.c.run_id == run_id)
                .order_by(audit_problems.c.problem, audit_problems.c.url)
            ).all()
        return [AuditProblemRow(row.url, row.problem, row.page, row.detail) for row in rows]


def _holds(column: sa.ColumnElement[str], text: str) -> sa.ColumnElement[bool]:
    """``column`` holds ``text`` anywhere, in any case: a search box. Text with a NUL matches nothing
    (nothing stored holds one, and PostgreSQL refuses to compare it: the search answered 503)."""
    if "\x00" in text:
        return sa.false()
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


def _problem_url(url: str) -> str:
    """``url`` as audit_problems keys it: whole up to MAX_PROBLEM_URL bytes, else its start and a digest
    of the whole."""
    encoded = url.encode("utf-8", "replace")
    if len(encoded) <= MAX_PROBLEM_URL:
        return url
    start = encoded[: MAX_PROBLEM_URL - 50].decode("utf-8", "ignore")  # never half a character
    return f"{start}… [sha256 {hashlib.sha256(encoded).hexdigest()[:32]}]"


def _run_alembic(conn: Connection, action: str) -> None:
    """Run an Alembic command on ``conn`` (which holds the migration lock)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["connection"] = conn
    inspector = sa.inspect(conn)
    if action == "upgrade" and not inspector.has_table("alembic_version") and inspector.has_table("meta"):
        # A database made before linkgate had migrations holds exactly the first revision's tables.
        command.stamp(config, "0001")
    getattr(command, action)(config, "head")
    conn.commit()


def engine_url(url: str) -> str:
    """``database.url`` as SQLAlchemy needs it: PostgreSQL always through psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        parsed = sa.make_url(url)
        path = parsed.database or ""
        if path in ("", ":memory:"):
            raise StoreUnavailable("linkgate needs a database file, not an in-memory SQLite database.")
        # mode=rw: a database file that has gone away is an error, not a new empty database.
        # NullPool: every use opens the file, so a replaced or removed file is noticed at once.
        engine = sa.create_engine(
            f"sqlite+pysqlite:///file:{Path(path).resolve()}?mode=rw&uri=true",
            poolclass=NullPool,
            connect_args={"timeout": 5, "check_same_thread": False},
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 5000")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(
        engine_url(url),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=3,
        connect_args={"connect_timeout": 3},
    )


def _rule_from_row(row: Any) -> Rule:
    return Rule(
        name=row.name, exact=bool(row.exact), kind=row.kind, action=row.action, note=row.note or "", id=row.id
    )


def _record_from_row(row: Any) -> RuleRecord:
    return RuleRecord(
        rule=_rule_from_row(row),
        created_by=row.created_by or "",
        created_at=_as_utc(row.created_at) or now(),
        updated_at=_as_utc(row.updated_at) or now(),
    )


def _account_from_row(row: Any) -> AccountRow:
    return AccountRow(
        id=row.id,
        name=row.name,
        password_hash=row.password_hash,
        role=row.role,
        created_at=_as_utc(row.created_at) or now(),
        failed_count=int(row.failed_count or 0),
        last_failed_at=_as_utc(row.last_failed_at),
        locked_until=_as_utc(row.locked_until),
        session_stamp=row.session_stamp,
    )


def _session_stamp() -> str:
    return secrets.token_hex(16)


def _iso(value: datetime | None) -> str | None:
    stamp = _as_utc(value)
    return None if stamp is None else stamp.isoformat()


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "exact": rule.exact,
        "kind": rule.kind,
        "action": rule.action,
        "note": rule.note,
    }


def _log_from_row(row: Any) -> LogEntry:
    return LogEntry(
        id=row.id,
        at=_as_utc(row.at) or now(),
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
    )


def _site_from_row(row: Any) -> SiteRow:
    return SiteRow(
        host=row.host,
        status=row.status,
        privacy_url=row.privacy_url,
        found_by=row.found_by,
        reason=row.reason,
        final_url=row.final_url,
        https=row.https,
        gpc=row.gpc,
        error=row.error,
        checked_at=_as_utc(row.checked_at),
        elapsed_ms=row.elapsed_ms,
        override_url=row.override_url,
        override_none=bool(row.override_none),
        checks=int(row.checks or 0),
        used_on=row.used_on,
    )


def _audit_run_from_row(row: Any) -> AuditRunRow:
    return AuditRunRow(
        id=row.id,
        start_url=row.start_url,
        started_at=_as_utc(row.started_at) or row.started_at,
        finished_at=_as_utc(row.finished_at) or row.finished_at,
        partial=bool(row.partial),
        pages=row.pages,
        links=row.links,
        problems=json.loads(row.problems),
        report_dir=row.report_dir,
        actor=row.actor or "",
    )
