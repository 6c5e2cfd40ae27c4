"""The database's schema on the command line: ``linkgate db upgrade`` and ``linkgate db check``.

Servers apply migrations themselves at start (under a lock, see :meth:`linkgate.store.Store.create_schema`);
these commands are for County IT's upgrade runbook (``docs/deploy.md``): upgrade once before restarting
the servers, and check from monitoring or a deploy script.
"""

from __future__ import annotations

import sys

import click

from linkgate import migrations
from linkgate.cli.common import current_settings, friendly, main
from linkgate.errors import StoreUnavailable
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
