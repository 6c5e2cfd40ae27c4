"""The privacy-link cache: ``linkgate check-site``, ``linkgate site ...`` and ``linkgate sites ...``.

``sites list`` and ``sites show`` are the console's Sites pages on the command line, with the same
facts; ``sites`` also offers every ``site`` command under the same name.
"""

from __future__ import annotations

import json
import sys

import click

from linkgate.cli.common import cli_actor, current_settings, fail, friendly, main, open_store
from linkgate.clock import county_time
from linkgate.privacy import check_privacy_url
from linkgate.sites import SiteFacts, facts_from_row, parse_site_key, site_json, site_key
from linkgate.store import SITE_STATUSES, SiteRow
from linkgate.urls import parse_destination


@main.command("check-site")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def check_site(url: str, as_json: bool) -> None:
    """Look up a site's privacy policy now (and store the answer): link, how found, HTTPS, GPC, time.

    Exit status: 0 when the site answered (a privacy link found or not), 1 when the lookup failed
    (status error: no such name, no connection, a server error...), 2 for bad input."""
    from linkgate.runtime import Runtime

    settings = current_settings()
    destination = parse_destination(url if "://" in url else f"https://{url}/", settings.max_url_length)
    runtime = Runtime(settings)
    facts = runtime.sites.refresh(site_key(destination), force=True)
    runtime.counts.flush()
    if facts is None:
        fail("the lookup could not be recorded (is the database reachable?)")
        return
    if as_json:
        click.echo(json.dumps(facts.as_json()))
    else:
        _print_facts(facts)
    if facts.status == "error":
        sys.exit(1)


def _print_facts(facts: SiteFacts) -> None:
    rows = [
        ("host", facts.host),
        ("status", facts.status),
        ("privacy link", facts.privacy_url or "none found"),
        ("found by", facts.found_by or "-"),
        ("why", facts.reason or "-"),
        ("final URL", facts.final_url or "-"),
        ("HTTPS", {True: "yes", False: "no", None: "unknown"}[facts.https]),
        ("GPC", {True: "yes", False: "no", None: "unknown"}[facts.gpc]),
        ("time", f"{facts.elapsed_ms} ms" if facts.elapsed_ms is not None else "-"),
    ]
    if facts.error:
        rows.append(("error", facts.error))
    for label, value in rows:
        click.echo(f"{label:13} {value}")


@main.group()
def site() -> None:
    """Manage the privacy-link cache for one host."""


@site.command("set-privacy")
@click.argument("host")
@click.argument("url")
@friendly
def site_set_privacy(host: str, url: str) -> None:
    """Pin HOST's privacy link to URL, or 'none' to say it has none. Overrides beat lookups.

    URL must be an http:// or https:// address on a public host, without a user name or password: the
    console refuses the same addresses."""
    name = parse_site_key(host)
    settings = current_settings()
    target = None if url.strip().lower() == "none" else check_privacy_url(url, settings.max_url_length)
    open_store(settings).sites.set_override(name, target, cli_actor())
    click.echo(f"{name}: privacy link set to {target or 'none'}")


@site.command("clear")
@click.argument("host")
@friendly
def site_clear(host: str) -> None:
    """Forget everything cached about HOST, overrides included."""
    name = parse_site_key(host)
    if not open_store(current_settings()).sites.clear(name, cli_actor()):
        fail(f"nothing is cached for {name}")
    click.echo(f"{name}: cleared")


@site.command("refresh")
@click.argument("host")
@friendly
def site_refresh(host: str) -> None:
    """Look HOST up again now."""
    from linkgate.runtime import Runtime

    name = parse_site_key(host)
    runtime = Runtime(current_settings())
    facts = runtime.sites.refresh(name, force=True)
    runtime.counts.flush()
    if facts is None:
        fail("the lookup could not be recorded (is the database reachable?)")
        return
    click.echo(f"{name}: {facts.status} {facts.privacy_url or ''}".rstrip())


@site.command("remove-override")
@click.argument("host")
@friendly
def site_remove_override(host: str) -> None:
    """Let lookups decide HOST's privacy link again (undo set-privacy)."""
    name = parse_site_key(host)
    if not open_store(current_settings()).sites.remove_override(name, cli_actor()):
        fail(f"{name} has no override")
    click.echo(f"{name}: override removed")


LIST_FILTERS = (*SITE_STATUSES, "override")
PAGE = 500


@main.group()
def sites() -> None:
    """The privacy-link cache: list the sites linkgate knows, show one, change one."""


@sites.command("list")
@click.option(
    "--status",
    type=click.Choice(LIST_FILTERS),
    help="found: a privacy link was found; none: none was found; error: the lookup failed; "
    "unknown: not looked up yet; override: set by hand.",
)
@click.option("--search", default="", help="Only sites whose name contains this text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def sites_list(status: str | None, search: str, as_json: bool) -> None:
    """List the cached sites by name: lookup result, privacy link shown, how found, checked, HTTPS, GPC."""
    settings = current_settings()
    store = open_store(settings)
    rows: list[SiteRow] = []
    while True:
        page = store.sites.page(
            search=search.strip(),
            status=status if status in SITE_STATUSES else None,
            overrides_only=status == "override",
            offset=len(rows),
            limit=PAGE,
        )
        rows.extend(page.rows)
        if not page.rows or len(rows) >= page.total:
            break
    if as_json:
        click.echo(json.dumps({"total": len(rows), "offset": 0, "sites": [site_json(row) for row in rows]}))
        return
    if not rows:
        click.echo("No sites.")
        return
    header = ("host", "lookup", "privacy link", "found by", "checked", "HTTPS", "GPC", "override")
    lines = [_site_line(row, settings.timezone) for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for line in lines:
            table.add_row(*line)
        Console().print(table)
        return
    for line in [header, *lines]:
        click.echo("\t".join(line))


@sites.command("show")
@click.argument("host")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def sites_show(host: str, as_json: bool) -> None:
    """Everything stored about HOST: what visitors are shown, and the last lookup."""
    name = parse_site_key(host)
    settings = current_settings()
    row = open_store(settings).sites.get(name)
    if row is None:
        fail(f"nothing is cached for {name}")
        return
    if as_json:
        click.echo(json.dumps(site_json(row)))
        return
    record = site_json(row)
    if row.checked_at is not None:
        record["checked_at"] = county_time(row.checked_at, settings.timezone, seconds=True)
    for label, key in (
        ("host", "host"),
        ("shown", "privacy_url"),
        ("found by", "found_by"),
        ("why", "reason"),
        ("override", "override"),
        ("lookup", "lookup_status"),
        ("lookup link", "lookup_privacy_url"),
        ("checked", "checked_at"),
        ("final URL", "final_url"),
        ("HTTPS", "https"),
        ("GPC", "gpc"),
        ("time", "elapsed_ms"),
        ("error", "error"),
    ):
        click.echo(f"{label:12} {_plain(record[key])}")


for _command in (site_set_privacy, site_remove_override, site_clear, site_refresh):
    sites.add_command(_command)


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _site_line(row: SiteRow, timezone: str) -> tuple[str, ...]:
    facts = facts_from_row(row)
    return (
        row.host,
        row.status,
        facts.privacy_url or "-",
        facts.found_by or "-",
        county_time(row.checked_at, timezone) if row.checked_at else "never",
        _plain(row.https),
        _plain(row.gpc),
        "url" if row.override_url else "none" if row.override_none else "-",
    )
