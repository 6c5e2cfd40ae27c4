"""The database's schema on the command line: ``linkgate db upgrade`` and ``linkgate db check``.

Servers apply migrations themselves at start (under a lock, see :meth:`linkgate.store.Store.create_schema`);
these commands are for County IT's upgrade runbook (``docs/deploy.md``): upgrade once before restarting
the servers, and check from monitoring or a deploy script.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import click
import sqlalchemy as sa

from linkgate import migrations
from linkgate.cli.common import current_settings, friendly, main
from linkgate.errors import LinkgateError, StoreUnavailable
from linkgate.store import Store


@main.group("db")
def db() -> None:
    """The database schema: upgrade it, or check that it is current."""


@db.command("upgrade")
@friendly
def upgrade() -> None:
    """Apply every migration the database lacks (safe to run while servers start: it takes a lock)."""
    store = Store(current_settings().database_url)
    try:
        before = store.schema_revision()
    except StoreUnavailable:  # a SQLite file not made yet; create_schema makes it, or says what is wrong
        before = None
    store.create_schema()
    after = store.schema_revision()
    if before == after:
        click.echo(f"The database is already at revision {after} (the newest).")
    else:
        click.echo(f"The database is now at revision {after} (the newest; it was at {before or 'none'}).")


@db.command("check")
@friendly
def check() -> None:
    """Exit 0 when the database's schema is this linkgate's; 1, naming each difference, when it is not."""
    store = Store(current_settings().database_url)
    problems = store.schema_problems()
    if problems:
        for problem in problems:
            click.echo(f"linkgate: {problem}", err=True)
        click.echo("Run `linkgate db upgrade`.", err=True)
        sys.exit(1)
    click.echo(f"The database is at revision {migrations.HEAD}, the newest, and matches this linkgate.")


@db.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@friendly
def backup(folder: Path) -> None:
    """Copy the database into FOLDER, safely while servers run: SQLite's online backup (linkgate.db) or
    pg_dump (linkgate.dump, custom format; the password from database.url, else ~/.pgpass). The copy is
    readable by its owner only. deploy/linkgate-backup runs it with the rest of a backup."""
    url = current_settings().database_url
    folder.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        target = folder / "linkgate.db"
        _sqlite_backup(Path(sa.make_url(url).database or ""), target)
    else:
        target = folder / "linkgate.dump"
        _pg_dump(url, target)
    click.echo(f"The database is copied to {target}.")


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise StoreUnavailable(f"There is no database at {source} to back up.")
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as live,
            closing(sqlite3.connect(target)) as copy,
        ):
            live.backup(copy)
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)
        raise StoreUnavailable(f"The database at {source} cannot be backed up: {error}") from None


def _pg_dump(url: str, target: Path) -> None:
    program = shutil.which("pg_dump")
    if program is None:
        raise LinkgateError("pg_dump is not installed: apt-get install postgresql-client")
    parsed = sa.make_url(url)
    environment = dict(os.environ)
    if parsed.password:  # given to pg_dump in its environment, never on its command line
        environment["PGPASSWORD"] = str(parsed.password)
    address = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    partial = target.with_name(target.name + ".partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    result = subprocess.run(
        [program, "--format=custom", f"--file={partial}", f"--dbname={address}"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        reason = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
        raise StoreUnavailable(f"pg_dump failed: {reason}")
    partial.replace(target)
