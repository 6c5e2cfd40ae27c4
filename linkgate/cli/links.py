"""Signed gate links and what a link would get: ``linkgate sign``, ``linkgate test-link``."""

from __future__ import annotations

import json

import click

from linkgate.classify import Classifier, RuleSet
from linkgate.cli.common import current_settings, friendly, main, open_store
from linkgate.urls import parse_destination


@main.command()
@click.argument("url")
@friendly
def sign(url: str) -> None:
    """Print a signed gate link for URL, on server.public_url."""
    from linkgate.gateaddress import gate_address, gate_link
    from linkgate.signing import Signer

    settings = current_settings()
    destination = parse_destination(url, settings.max_url_length)
    signer = Signer(settings.secret_key, settings.previous_secret_keys)
    click.echo(gate_link(gate_address(settings.public_url), destination.href, signer))


@main.command("test-link")
@click.argument("url")
@click.option("--unsigned", is_flag=True, help="Classify as a link that did not come from a County page.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def test_link(url: str, unsigned: bool, as_json: bool) -> None:
    """Show what a visitor following URL would get: category, flags and action."""
    settings = current_settings()
    destination = parse_destination(url, settings.max_url_length)
    version, rules = open_store(settings).rules.load()
    classifier = Classifier(settings.county_domains, settings.actions, RuleSet(rules, version))
    result = classifier.classify(destination, trusted=not unsigned)
    data = {
        "destination": destination.href,
        "category": result.category,
        "action": result.action,
        "flags": list(result.flags),
        "rule": result.rule.pattern if result.rule else None,
    }
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key:12} {', '.join(value) if isinstance(value, list) else value}")
