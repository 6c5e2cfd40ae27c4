"""The schema: every table (the code's side of what ``linkgate db check`` compares) and the migrations
that bring a database to it, under a lock so that servers starting at once apply each one exactly once.

The migrations (``linkgate/migrations/versions``) keep their own frozen copy of each table as it was
when they were written, as migrations do; this module is the current shape they must arrive at.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate import migrations
from linkgate.errors import SchemaTooNew
from linkgate.store.engine import Database

metadata = sa.MetaData()

# pg_advisory_lock's key for schema migrations: any fixed 64-bit number no other program on the database
# uses ("linkgate" in ASCII).
MIGRATION_LOCK_KEY = 0x6C696E6B67617465

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
# a row is forgotten when it can no longer change an answer, and the table holds at most THROTTLE_ROWS
# (linkgate.store.accounts).
sign_in_throttle = sa.Table(
    "sign_in_throttle",
    metadata,
    sa.Column("name_key", sa.String(64), primary_key=True),
    sa.Column("failed_count", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
)

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


# Destination health (#19, migration 0004). Each part's tables go under its own heading.
# -- fingerprints (§1) --
# What each destination host looked like when the site cache or an audit last checked it (its fingerprint,
# JSON: linkgate.health.Fingerprint), the fingerprint as of the last complete audit (the baseline), and its
# health: where it moved to, why it looks parked, why it looks changed hands, each with when it was first
# seen so. At most cache.max_sites rows, the least recently checked trimmed first
# (linkgate.store.destinations).
destinations = sa.Table(
    "destinations",
    metadata,
    sa.Column("host", sa.String(259), primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("baseline", sa.Text, nullable=True),
    sa.Column("baseline_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("moved_to", sa.String(253), nullable=True),
    sa.Column("moved_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("parked", sa.String(300), nullable=True),
    sa.Column("parked_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("changed", sa.String(500), nullable=True),
    sa.Column("changed_since", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_destinations_seen_at", "seen_at"),
)
# -- link results (§2) --
# What the audit found at each address it checked (not the pages it read), kept between runs so that a link
# that answered well within --recheck-after is not requested again. Keyed by a digest of the address
# (PostgreSQL refuses long key entries); at most audit.kept_results rows, the oldest checks trimmed first
# (linkgate.store.results).
link_results = sa.Table(
    "link_results",
    metadata,
    sa.Column("url_key", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("final_url", sa.Text, nullable=False),
    sa.Column("redirects", sa.Text, nullable=False),  # JSON: [[url, status], ...]
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("soft_404", sa.Boolean, nullable=False),
    sa.Column("problems", sa.String(255), nullable=False),  # the check's own problems, space-separated
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, index=True),
    # When the address last answered well, kept through the failed checks after it (the archived copy
    # the audit offers for a broken link is from before then).
    sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
)
# -- archive (§3) --
# What the web archive (archive.url) answered for a destination: its closest snapshot, or none (snapshot_url
# null), until expires_at; broken says the last audit found the destination broken, so the notice offers
# the snapshot. Keyed by the SHA-256 of the address (an address may be longer than a key can be); at most
# archive.max_entries rows, the oldest checked removed first (linkgate.store.archive).
archive_copies = sa.Table(
    "archive_copies",
    metadata,
    sa.Column("url_key", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("snapshot_url", sa.Text, nullable=True),
    sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("broken", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_archive_copies_checked_at", "checked_at"),
)
# -- feeds (§4) --
# Subscribed known-bad lists (linkgate feeds): one row per list, at most linkgate.feeds.MAX_FEEDS rows.
# ``data`` is the compiled list (linkgate.feeds: a zlib-compressed hash table of at most feeds.max_names
# names), shared by every server on the database; the other columns say where it comes from and how its
# last update went.
feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("names", sa.Integer, nullable=True),
    sa.Column("skipped", sa.Integer, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("skipped_lines", sa.Text, nullable=True),
    sa.Column("digest", sa.String(64), nullable=True),
    sa.Column("data", sa.LargeBinary, nullable=True),
    sa.UniqueConstraint("name", name="uq_feeds_name"),
)
# -- reports (§5) --
# Visitors' reports of a link ("Report a problem with this link" on the notice and block pages): counts
# only, per County day, destination site (a site key: host, and a port that is not the default) and choice.
# Never who reported or which page: see linkgate/store/reports.py. A day keeps at most
# reports.max_destinations_per_day sites (the rest under "(other)"), and days older than reports.keep_days
# are removed.
destination_reports = sa.Table(
    "destination_reports",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("host", sa.String(259), primary_key=True),
    sa.Column("choice", sa.String(16), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)


def upgrade(db: Database) -> None:
    """Bring the database to the newest schema (Alembic migrations), under a lock.

    Every server, every worker and every command calls this at start. Against an up-to-date database it
    costs one query and never loads Alembic. Otherwise it takes the migration lock (PostgreSQL: an
    advisory lock; SQLite: a lock file beside the database), so that several servers starting at once
    apply each migration exactly once, and the others wait and find the work done.
    """
    if db.is_sqlite:
        path = sa.make_url(db.url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Made readable by its owner and group only (it holds the console's password hashes); SQLite
            # gives its -wal and -shm files the same mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o640))
            sqlite3.connect(path).close()
    found = revision(db)
    if found == migrations.HEAD:
        return
    refuse_newer(found)
    with _migration_lock(db) as conn:
        _run_alembic(conn, "upgrade")


def revision(db: Database) -> str | None:
    """The database's Alembic revision, or None for an empty (or pre-migrations) database."""
    if db.is_sqlite and not Path(sa.make_url(db.url).database or "").exists():
        return None
    with db.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def problems(db: Database) -> list[str]:
    """What stands between the database and the code's schema: empty when they agree."""
    found = revision(db)
    refuse_newer(found)
    if found != migrations.HEAD:
        have = found or "none"
        return [f"the database is at revision {have}; this linkgate needs {migrations.HEAD}"]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    return [f"the schema differs from this linkgate's: {difference!r}" for difference in differences]


def refuse_newer(found: str | None) -> None:
    """Raise :class:`SchemaTooNew` when the database's revision is one this code's migrations do not
    know: a newer linkgate migrated it (an older wheel put back over an upgraded database). Alembic is
    loaded only here, off the path of an up-to-date database."""
    if found is None or found == migrations.HEAD:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory(str(Path(migrations.__file__).parent)).get_revision(found)
    except CommandError:
        raise SchemaTooNew(found, migrations.HEAD) from None


@contextmanager
def _migration_lock(db: Database) -> Iterator[Connection]:
    with db.connect() as conn:
        if db.is_sqlite:
            import fcntl

            lock_path = f"{sa.make_url(db.url).database}.migrate-lock"
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
