"""The privacy-link cache: ``linkgate check-site`` and ``linkgate site ...``."""

from __future__ import annotations

import json

import click

from linkgate.cli import cli_actor, current_settings, fail, friendly, main, open_store
from linkgate.sites import parse_site_key, site_key
from linkgate.urls import parse_destination


@main.command("check-site")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def check_site(url: str, as_json: bool) -> None:
    """Look up a site's privacy policy now (and store the answer): link, how found, HTTPS, GPC, time."""
    from linkgate.web.runtime import Runtime

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
        return
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
    """Pin HOST's privacy link to URL, or 'none' to say it has none. Overrides beat lookups."""
    name = parse_site_key(host)
    target = None if url.lower() == "none" else parse_destination(url).href
    open_store(current_settings()).set_site_override(name, target, cli_actor())
    click.echo(f"{name}: privacy link set to {target or 'none'}")


@site.command("clear")
@click.argument("host")
@friendly
def site_clear(host: str) -> None:
    """Forget everything cached about HOST, overrides included."""
    name = parse_site_key(host)
    if not open_store(current_settings()).clear_site(name, cli_actor()):
        fail(f"nothing is cached for {name}")
    click.echo(f"{name}: cleared")


@site.command("refresh")
@click.argument("host")
@friendly
def site_refresh(host: str) -> None:
    """Look HOST up again now."""
    from linkgate.web.runtime import Runtime

    name = parse_site_key(host)
    runtime = Runtime(current_settings())
    facts = runtime.sites.refresh(name, force=True)
    runtime.counts.flush()
    if facts is None:
        fail("the lookup could not be recorded (is the database reachable?)")
        return
    click.echo(f"{name}: {facts.status} {facts.privacy_url or ''}".rstrip())
