"""Console accounts and API tokens: ``linkgate create-admin``, ``linkgate api-token``."""

from __future__ import annotations

import hashlib
import secrets
import sys

import click

from linkgate.cli import cli_actor, current_settings, friendly, main, open_store


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
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
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
