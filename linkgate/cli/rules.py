"""The allowlist and blocklist: ``linkgate allow``, ``linkgate block``, ``linkgate rules``."""

from __future__ import annotations

import json

import click

from linkgate.classify import RuleSet, make_rule
from linkgate.cli import cli_actor, current_settings, friendly, main, open_store


def _add_rule(kind: str, domain: str, exact: bool, note: str, action: str | None) -> None:
    settings = current_settings()
    store = open_store(settings)
    rule = make_rule(domain, kind, exact=exact, note=note, action=action)
    _, existing = store.load_rules()
    saved = store.add_rule(rule, cli_actor())
    click.echo(f"{kind}ed {saved.pattern}" + (f" (action: {saved.action})" if saved.action else ""))
    for other in RuleSet(existing).conflicts(saved):
        click.echo(f"note: {saved.pattern} overlaps the {other.kind} rule {other.pattern}", err=True)


@main.command()
@click.argument("domain")
@click.option("--exact", is_flag=True, help="Only this host, not its subdomains.")
@click.option("--note", default="", help="Why (kept with the rule and in the change log).")
@click.option("--action", type=click.Choice(["redirect", "notice"]), help="Override the partner action.")
@friendly
def allow(domain: str, exact: bool, note: str, action: str | None) -> None:
    """Trust DOMAIN (and its subdomains unless --exact) as a partner."""
    _add_rule("allow", domain, exact, note, action)


@main.command()
@click.argument("domain")
@click.option("--exact", is_flag=True, help="Only this host, not its subdomains.")
@click.option("--note", default="", help="Why (kept with the rule and in the change log).")
@friendly
def block(domain: str, exact: bool, note: str) -> None:
    """Block DOMAIN (and its subdomains unless --exact): visitors get the block page."""
    _add_rule("block", domain, exact, note, None)


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@friendly
def rules(ctx: click.Context, as_json: bool) -> None:
    """List the allowlist and blocklist (or use a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    version, found = open_store(current_settings()).load_rules()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "version": version,
                    "rules": [
                        {
                            "pattern": r.pattern,
                            "name": r.name,
                            "exact": r.exact,
                            "kind": r.kind,
                            "action": r.action,
                            "note": r.note,
                        }
                        for r in found
                    ],
                }
            )
        )
        return
    if not found:
        click.echo("No rules.")
    for rule in found:
        extra = f"  action={rule.action}" if rule.action else ""
        click.echo(f"{rule.kind:5}  {rule.pattern}{extra}" + (f"  # {rule.note}" if rule.note else ""))


@rules.command("remove")
@click.argument("domain")
@click.option("--exact", is_flag=True, help="Remove the exact-host rule rather than the domain rule.")
@friendly
def rules_remove(domain: str, exact: bool) -> None:
    """Remove the rule for DOMAIN."""
    removed = open_store(current_settings()).remove_rule(domain, exact, cli_actor())
    click.echo(f"removed {removed.kind} {removed.pattern}")
