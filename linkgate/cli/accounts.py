"""Console accounts and API tokens: ``linkgate create-admin``, ``accounts``, ``api-token``."""

from __future__ import annotations

import hashlib
import json
import secrets
import sys

import click

from linkgate.cli.common import cli_actor, current_settings, friendly, main, open_store
from linkgate.clock import county_time
from linkgate.store import now


@main.command("create-admin")
@click.argument("name")
@click.option(
    "--role",
    default="admin",
    show_default=True,
    help="admin (may change rules and settings) or viewer (may only read).",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@friendly
def create_admin(name: str, role: str, password_stdin: bool) -> None:
    """Create an account NAME for the admin console (/admin); asks for its password twice.

    Passwords are at least 12 characters and are kept only as argon2id hashes.
    """
    from linkgate.accounts import check_new_account, create_account

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        check_new_account(name, "x" * 12, role)  # say what is wrong with the name or role before asking
        # Without a terminal there is no echo to hide (and getpass would warn that it cannot): the two
        # lines are read as they come, as from a script's pipe.
        password = click.prompt("Password", hide_input=sys.stdin.isatty(), confirmation_prompt=True)
    account = create_account(open_store(current_settings()), name, password, role, cli_actor())
    click.echo(f"created {account.role} account {account.name}")


@main.command("api-token")
def api_token() -> None:
    """Make a new read-only API token for /admin/api and print the line that enables it.

    The configuration keeps only the token's SHA-256 (admin.api_tokens), so it cannot be read back:
    store the token where the script that uses it can read it.
    """
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode("ascii")).hexdigest()
    click.echo(f"token: {token}")
    click.echo("add its hash to the [admin] section of the configuration (keep any others to rotate):")
    click.echo(f'api_tokens = ["{digest}"]')


@main.group()
def accounts() -> None:
    """List and change console accounts (every change is in the change log).

    Every change signs the account out of the console everywhere, running servers included."""


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def accounts_list(as_json: bool) -> None:
    """Every account with its role and whether it is locked."""
    from linkgate.accounts import is_locked

    settings = current_settings()
    found = open_store(settings).accounts.all()
    stamp = now()
    rows = [
        {
            "name": account.name,
            "role": account.role,
            "created_at": account.created_at.isoformat(),
            "failed_sign_ins": account.failed_count,
            "locked_until": account.locked_until.isoformat()
            if account.locked_until and is_locked(account, stamp)
            else None,
        }
        for account in found
    ]
    if as_json:
        click.echo(json.dumps({"accounts": rows}))
        return
    if not rows:
        click.echo("No accounts: make one with linkgate create-admin NAME.")
    for account in found:
        locked = (
            f"  locked until {county_time(account.locked_until, settings.timezone)}"
            if account.locked_until and is_locked(account, stamp)
            else ""
        )
        click.echo(f"{account.name:24} {account.role:7}{locked}")


@accounts.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "viewer"]))
@friendly
def accounts_set_role(name: str, role: str) -> None:
    """Make NAME an admin (makes changes) or a viewer (reads only); NAME is signed out everywhere."""
    from linkgate.accounts import set_role

    account = set_role(open_store(current_settings()), name, role, cli_actor())
    click.echo(f"{account.name} is now {account.role}")


@accounts.command("set-password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@friendly
def accounts_set_password(name: str, password_stdin: bool) -> None:
    """Give NAME a new password (this also lifts a lock after failed sign-ins); NAME is signed out
    everywhere."""
    from linkgate.accounts import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=sys.stdin.isatty(), confirmation_prompt=True)
    account = set_password(open_store(current_settings()), name, password, cli_actor())
    click.echo(f"{account.name}: password changed")


@accounts.command("unlock")
@click.argument("name")
@friendly
def accounts_unlock(name: str) -> None:
    """Lift NAME's lock after failed sign-ins now, rather than waiting for it to run out; NAME is signed out
    everywhere."""
    from linkgate.accounts import normalise_name

    store = open_store(current_settings())
    before = store.accounts.get(normalise_name(name))
    account = store.accounts.change(normalise_name(name), cli_actor(), unlock=True)
    was_locked = before is not None and (before.locked_until is not None or before.failed_count > 0)
    click.echo(f"{account.name}: unlocked" if was_locked else f"{account.name}: was not locked")


@accounts.command("remove")
@click.argument("name")
@friendly
def accounts_remove(name: str) -> None:
    """Remove NAME's account (not the last admin's); its sessions end at once."""
    from linkgate.accounts import normalise_name

    removed = open_store(current_settings()).accounts.remove(normalise_name(name), cli_actor())
    click.echo(f"removed {removed.role} account {removed.name}")
