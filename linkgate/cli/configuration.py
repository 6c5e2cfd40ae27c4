"""``linkgate config check``: read the configuration as a server would, before a reload uses it.

``deploy/linkgate.service`` runs it as the first ``ExecReload`` step: gunicorn's master, handed a
configuration that does not read, exits (and every worker with it), so a typo in ``linkgate.toml``
followed by ``systemctl reload linkgate`` would take the service down. With the check first, the reload
fails, says why, and the running servers carry on with the configuration they have.
"""

from __future__ import annotations

import os

import click

from linkgate.cli.common import friendly, main
from linkgate.config import exposed_secrets, load_settings


@main.group("config")
def config() -> None:
    """The configuration (LINKGATE_CONFIG and LINKGATE_* variables): check it."""


@config.command("check")
@friendly
def check() -> None:
    """Read the configuration as a server would (writing nothing); exit 2 naming every bad setting."""
    from linkgate.serving import gunicorn_settings

    settings = load_settings(create=False)
    gunicorn_settings(settings)
    source = os.environ.get("LINKGATE_CONFIG") or "no file (LINKGATE_CONFIG is not set)"
    click.echo(f"The configuration reads: {source}, listening on {settings.host}:{settings.port}.")
    for warning in exposed_secrets(settings):  # a warning, not a failure: a reload still goes ahead
        click.echo(f"linkgate: warning: {warning}", err=True)
