"""Known-bad lists: ``linkgate feeds add|update|list|remove``.

``update`` exits 1 when a list could not be updated (the one before it is kept), so that the timer's
unit (deploy/linkgate-feeds.service) shows as failed; bad input exits 2 with one line, as everywhere.
"""

from __future__ import annotations

import json
import sys

import click

from linkgate.cli.common import cli_actor, current_settings, friendly, main, open_store
from linkgate.clock import county_time
from linkgate.config import Settings
from linkgate.feeds import (
    FEED_ACTIONS,
    FORMATS,
    FeedLimits,
    UpdateResult,
    check_feed,
    feed_policy,
    is_due,
    next_update,
    update_feed,
)
from linkgate.store import Store, now
from linkgate.store.feeds import FeedError, FeedRow


@main.group()
def feeds() -> None:
    """Known-bad lists the County subscribes to: hosts on them are blocked or get a warning."""


def _update(settings: Settings, store: Store, names: list[str]) -> list[UpdateResult]:
    """Update the feeds ``names``; the safe fetcher (through a runtime) only when one is on the web."""
    limits = FeedLimits.from_settings(settings)
    runtime = None
    sources = {feed.name: feed.source for feed in store.feeds.all()}
    if any(sources.get(name, "").startswith(("http://", "https://")) for name in names):
        from linkgate.runtime import Runtime

        runtime = Runtime(settings)
    fetcher = None if runtime is None else runtime.make_fetcher(feed_policy(runtime.fetch_policy, limits))
    results = []
    try:
        for name in names:
            results.append(
                update_feed(store, name, limits, fetcher, cli_actor(), settings.instance_path / "feeds")
            )
    finally:
        if fetcher is not None:
            fetcher.close()
        if runtime is not None:
            runtime.counts.flush()  # a refused address is a security event
    return results


def _report(result: UpdateResult, settings: Settings) -> None:
    feed = result.feed
    if feed is None:
        return
    if result.error is None:
        click.echo(f"{feed.name}: {_names(feed)}")
        return
    kept = f"keeping {_names(feed)} from {_time(feed, settings)}" if feed.digest else "no list loaded yet"
    click.echo(f"linkgate: warning: {feed.name} was not updated: {result.error} ({kept})", err=True)


def _names(feed: FeedRow) -> str:
    skipped = f", {feed.skipped:,} line(s) skipped" if feed.skipped else ""
    return f"{feed.names or 0:,} name(s) ({feed.action}){skipped}"


def _time(feed: FeedRow, settings: Settings) -> str:
    return "-" if feed.loaded_at is None else county_time(feed.loaded_at, settings.timezone)


@feeds.command("add")
@click.argument("name")
@click.argument("source")
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default="domains",
    show_default=True,
    help="hosts (0.0.0.0 example.com lines), domains (one a line) or urlhaus (abuse.ch's CSV).",
)
@click.option(
    "--action",
    type=click.Choice(FEED_ACTIONS),
    default="block",
    show_default=True,
    help="block: the block page; notice: the notice, with a warning naming the list.",
)
@friendly
def feeds_add(name: str, source: str, format_: str, action: str) -> None:
    """Subscribe to the list SOURCE (an http(s) address or a file) as NAME, and load it now.

    Exit status 1 when the feed was added but its list did not load (linkgate feeds update NAME tries
    again)."""
    settings = current_settings()
    name, source = check_feed(name, source, format_, action)
    store = open_store(settings)
    store.feeds.add(name, source, format_, action, cli_actor())
    click.echo(f"added feed {name} ({format_}, {action}) from {source}")
    [result] = _update(settings, store, [name])
    _report(result, settings)
    if result.error is not None:
        sys.exit(1)


@feeds.command("update")
@click.argument("name", required=False)
@click.option(
    "--due", is_flag=True, help="Only the lists checked more than feeds.refresh_hours ago (the timer's)."
)
@friendly
def feeds_update(name: str | None, due: bool) -> None:
    """Read every list again (or NAME's); a list that fails keeps the one before it.

    Exit status 1 when a list could not be updated."""
    settings = current_settings()
    store = open_store(settings)
    every = store.feeds.all()
    if name is not None:
        every = [feed for feed in every if feed.name == name]
        if not every:
            raise FeedError(f"There is no feed named {name}.")
    if due:
        moment = now()
        every = [feed for feed in every if is_due(feed, settings.feeds_refresh_hours, moment)]
    if not every:
        click.echo("No feeds to update.")
        return
    results = _update(settings, store, [feed.name for feed in every])
    for result in results:
        _report(result, settings)
    if any(result.error is not None for result in results):
        sys.exit(1)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def feeds_list(as_json: bool) -> None:
    """List the feeds: name, format, action, names, last update, last error, next update."""
    settings = current_settings()
    found = open_store(settings).feeds.all()
    if as_json:
        click.echo(json.dumps({"feeds": [feed.as_json() for feed in found]}))
        return
    if not found:
        click.echo("No feeds.")
    for feed in found:
        upcoming = next_update(feed, settings.feeds_refresh_hours)
        click.echo(
            f"{feed.name}\t{feed.format}\t{feed.action}\t{_names(feed) if feed.digest else 'not loaded'}\t"
            f"loaded {_time(feed, settings)}\t"
            f"next {'at the next run' if upcoming is None else county_time(upcoming, settings.timezone)}\t"
            f"{feed.source}"
        )
        if feed.error:
            click.echo(f"  last update failed: {feed.error}")
        for line in feed.skipped_lines:
            click.echo(f"  skipped {line}")


@feeds.command("remove")
@click.argument("name")
@friendly
def feeds_remove(name: str) -> None:
    """Unsubscribe from the list NAME: hosts on it are no longer blocked or warned about."""
    removed = open_store(current_settings()).feeds.remove(name, cli_actor())
    click.echo(f"removed feed {removed.name}")
