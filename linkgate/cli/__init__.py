"""The ``linkgate`` command: serve, demo, sign links, manage rules and the site cache.

Every command reads the same configuration as the server, exits 0 on success and 2 with a one-line
message on bad input.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from linkgate.config import Settings, load_settings
from linkgate.errors import LinkgateError
from linkgate.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    click.echo(f"linkgate: error: {message}", err=True)
    sys.exit(2)


def friendly(function: F) -> F:
    """Turn linkgate's own errors into one line and exit status 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except LinkgateError as error:
            fail(str(error).replace("\n", " "))
        return None

    return wrapper  # type: ignore[return-value]


def current_settings(**overrides: Any) -> Settings:
    return load_settings(overrides={key: value for key, value in overrides.items() if value is not None})


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


class FriendlyGroup(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("standalone_mode", True)
        return super().main(*args, **kwargs)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """linkgate: Missoula County's gate between its pages and the sites they link to.

    Configuration comes from the TOML file named by LINKGATE_CONFIG and LINKGATE_* environment variables.
    """


# Each area's commands live in a module of its own; importing them registers them on ``main``.
from linkgate.cli import (  # noqa: E402
    accounts,
    audit,
    changelog,
    configuration,
    db,
    links,
    rewrite,
    rules,
    serving,
    sites,
    stats,
)

__all__ = [
    "accounts",
    "audit",
    "changelog",
    "configuration",
    "db",
    "fail",
    "friendly",
    "links",
    "main",
    "rewrite",
    "rules",
    "serving",
    "sites",
    "stats",
]
