"""The ``linkgate`` command: serve, demo, sign links, manage rules and the site cache.

Every command reads the same configuration as the server, exits 0 on success and 2 with a one-line
message on bad input. The group and the helpers the commands share are in ``linkgate.cli.common``; each
area's commands live in a module of their own, and importing them here registers them on ``main``.
"""

from __future__ import annotations

import click

from linkgate.cli import (
    accounts,
    audit,
    changelog,
    configuration,
    db,
    feeds,
    links,
    rewrite,
    rules,
    serving,
    sites,
    stats,
)
from linkgate.cli.common import main

# `linkgate --version`: the installed release (the wheel's version), as /metrics' linkgate_info says it.
click.version_option(package_name="linkgate", prog_name="linkgate", message="%(prog)s %(version)s")(main)

__all__ = [
    "accounts",
    "audit",
    "changelog",
    "configuration",
    "db",
    "feeds",
    "links",
    "main",
    "rewrite",
    "rules",
    "serving",
    "sites",
    "stats",
]
