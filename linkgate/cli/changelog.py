"""The change log on the command line: ``linkgate log``."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import click

from linkgate.cli.common import current_settings, fail, friendly, main, open_store
from linkgate.clock import county_time


@main.command("log")
@click.option("--who", default="", help="Only changes by someone whose name contains this.")
@click.option(
    "--area",
    metavar="rule|site|account",
    help="Only changes to rules, sites or accounts.",
)
@click.option("--target", default="", help="Only changes to a rule, site or account containing this.")
@click.option("--from", "start", default="", metavar="YYYY-MM-DD", help="From this day on.")
@click.option("--to", "end", default="", metavar="YYYY-MM-DD", help="Up to and including this day.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per line.")
@friendly
def log(who: str, area: str | None, target: str, start: str, end: str, limit: int, as_json: bool) -> None:
    """Who changed what and when (newest first), with before and after."""
    # The console's reading of the filters, imported here: it brings the web application with it, which
    # no other command needs at start.
    from linkgate.web.admin.changelog import AREAS, describe_changes, read_filters

    if area is not None and area not in AREAS:
        fail(f"--area: {area!r} is not one of {', '.join(sorted(AREAS))}")
    settings = current_settings()
    timezone = ZoneInfo(settings.timezone)
    args = {"who": who, "area": area or "", "target": target, "from": start, "to": end}
    _typed, query, errors = read_filters(args, timezone)
    if errors:
        fail("; ".join(f"--{key}: {text}" for key, text in errors.items()))
    page = open_store(settings).changes.page(**query, limit=limit)
    for entry in page.entries:
        if as_json:
            click.echo(json.dumps(entry.as_json()))
            continue
        changes = "; ".join(
            f"{key}: {old} -> {new}" if old is not None and new is not None else f"{key}: {new or old}"
            for key, old, new in describe_changes(entry)
        )
        local = county_time(entry.at, settings.timezone, seconds=True)
        click.echo(f"{local}  {entry.actor:16}  {entry.action:14}  {entry.target}  {changes}".rstrip())
    if not as_json and not page.entries:
        click.echo("No changes match.")
