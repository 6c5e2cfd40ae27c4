"""Signed gate links and what a link would get: ``linkgate sign``, ``linkgate test-link``.

``test-link`` classifies with the gate's own :class:`linkgate.rulebook.RuleBook` (rules and known-bad
lists), never a classifier of its own: it answers what the gate and the console's Test a link answer.
"""

from __future__ import annotations

import json

import click

from linkgate.cli.common import (
    current_settings,
    fail,
    friendly,
    main,
    open_store,
    warn_default_public_url,
)
from linkgate.config import Settings
from linkgate.errors import InvalidDestination, StoreUnavailable
from linkgate.rulebook import RuleBook
from linkgate.urls import Destination, parse_destination


def _destination(url: str, settings: Settings) -> Destination:
    """URL as the gate would read it; a one-line error in the command line's words (the parser's own
    messages speak to a visitor who followed a link)."""
    try:
        return parse_destination(url, settings.max_url_length)
    except InvalidDestination as error:
        if error.reason == "missing":
            fail("URL is empty: give the address to link to, such as https://example.org/page")
        if error.reason == "invalid":
            fail(f"{url!r} is not a web address linkgate can read (such as https://example.org/page)")
        raise


@main.command()
@click.argument("url")
@friendly
def sign(url: str) -> None:
    """Print a signed gate link for URL, on server.public_url."""
    from linkgate.gateaddress import gate_address, gate_link
    from linkgate.signing import Signer

    settings = current_settings()
    destination = _destination(url, settings)
    signer = Signer(settings.secret_key, settings.previous_secret_keys)
    warn_default_public_url(settings)
    click.echo(gate_link(gate_address(settings.public_url), destination.href, signer))


@main.command("test-link")
@click.argument("url")
@click.option("--unsigned", is_flag=True, help="Classify as a link that did not come from a County page.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def test_link(url: str, unsigned: bool, as_json: bool) -> None:
    """Show what a visitor following URL would get: category, flags, action, and the rule or known-bad
    list that decides it."""
    settings = current_settings()
    destination = _destination(url, settings)
    book = RuleBook.from_settings(settings, open_store(settings))
    if not book.refresh():
        raise StoreUnavailable(f"The rules could not be read: {book.last_error}")
    if book.feeds_error is not None:  # an answer without the lists could say "redirect" for a listed host
        fail(f"the known-bad lists could not be read: {book.feeds_error}")
    result = book.classifier.classify(destination, trusted=not unsigned)
    data = {
        "destination": destination.href,
        "category": result.category,
        "action": result.action,
        "flags": list(result.flags),
        "rule": result.rule.pattern if result.rule else None,
        "listed": result.listed.feed if result.listed else None,
    }
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key:12} {shown or '-'}")
