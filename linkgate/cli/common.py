"""The ``linkgate`` group and what every command shares: reading the settings, opening the store, the
actor a change is recorded under, and one line with exit status 2 for bad input.

The command modules (``linkgate.cli.rules`` and the others) import from here and register their
commands on ``main``; ``linkgate.cli`` imports them all and is the console script's entry point.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from linkgate.config import Settings, load_settings
from linkgate.errors import SCHEMA_TOO_NEW_STATUS, LinkgateError, SchemaTooNew
from linkgate.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, status: int = 2) -> None:
    click.echo(f"linkgate: error: {message}", err=True)
    sys.exit(status)


def friendly(function: F) -> F:
    """Turn linkgate's own errors into one line and exit status 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except SchemaTooNew as error:  # its own status, so that scripts and systemd can tell it apart
            fail(str(error), SCHEMA_TOO_NEW_STATUS)
        except LinkgateError as error:
            fail(str(error).replace("\n", " "))
        return None

    return wrapper  # type: ignore[return-value]


def current_settings(**overrides: Any) -> Settings:
    return load_settings(overrides={key: value for key, value in overrides.items() if value is not None})


def warn_default_public_url(settings: Settings) -> None:
    """The warning of every command that makes or recognises gate links while ``server.public_url`` is
    its default (a developer's machine): links made so would lead nowhere for a visitor."""
    if settings.public_url == Settings.public_url:
        click.echo(
            f"linkgate: warning: server.public_url is not set, so the gate is taken to be at "
            f"{settings.public_url}; set it to the gate's public address.",
            err=True,
        )


def open_store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.create_schema()
    return store


def cli_actor() -> str:
    """Who makes a change from the command line: "cli:" and the login name, within the 128 characters
    that the change log and rules.created_by hold (LOGNAME can be any length: a longer actor made every
    change fail on PostgreSQL)."""
    try:
        return f"cli:{getpass.getuser()}"[:128]
    except (KeyError, OSError):
        return "cli"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """linkgate: Missoula County's gate between its pages and the sites they link to.

    Configuration comes from the TOML file named by LINKGATE_CONFIG and LINKGATE_* environment variables.
    """
