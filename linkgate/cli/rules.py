"""The allowlist and blocklist: ``linkgate allow``, ``linkgate block`` and ``linkgate rules …``.

``rules import`` applies a CSV file as the console's import does: every line checked first, then the
whole file in one transaction or nothing, against the rules the printed plan was made from.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from linkgate.classify import RULE_KINDS, Rule, RuleSet, county_rules, make_rule, rule_name_of
from linkgate.cli.common import cli_actor, current_settings, fail, friendly, main, open_store
from linkgate.errors import LinkgateError

if TYPE_CHECKING:  # the CSV import and export are imported when used, not when ``linkgate`` starts
    from linkgate.rulesio import ImportPlan


def _add_rule(kind: str, domain: str, exact: bool, note: str, action: str | None) -> None:
    settings = current_settings()
    name, pasted = rule_name_of(domain)
    rule = make_rule(
        name, kind, exact=exact, note=note, action=action, county_domains=settings.county_domains
    )
    store = open_store(settings)
    _, existing = store.rules.load()
    saved = store.rules.add(rule, cli_actor())
    if pasted:
        click.echo(f"note: took the host {name} from the address {domain}", err=True)
    click.echo(f"{kind}ed {saved.pattern}" + (f" (action: {saved.action})" if saved.action else ""))
    for other in RuleSet(existing).conflicts(saved):
        click.echo(f"note: {saved.pattern} overlaps the {other.kind} rule {other.pattern}", err=True)


def _describe(rule: Rule) -> str:
    extra = f"  action={rule.action}" if rule.action else ""
    return f"{rule.kind:5}  {rule.pattern}{extra}" + (f"  # {rule.note}" if rule.note else "")


def _list_rules(as_json: bool, kind: str | None) -> None:
    settings = current_settings()
    version, found = open_store(settings).rules.load()
    if kind is not None:
        found = [rule for rule in found if rule.kind == kind]
    if as_json:
        click.echo(json.dumps({"version": version, "rules": [rule.as_json() for rule in found]}))
        return
    if not found:
        click.echo("No rules.")
    for rule in found:
        click.echo(_describe(rule))
    for rule, reason in county_rules(found, settings.county_domains):
        remove = f"linkgate rules remove {rule.name}" + (" --exact" if rule.exact else "")
        click.echo(
            f"warning: the {rule.kind} rule {rule.pattern}, kept from before linkgate refused it, is not "
            f"applied to County addresses: {reason} To remove it: {remove}",
            err=True,
        )


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
    if ctx.invoked_subcommand is None:
        _list_rules(as_json, None)


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--kind", type=click.Choice(RULE_KINDS), help="Only allow rules, or only block rules.")
@friendly
def rules_list(as_json: bool, kind: str | None) -> None:
    """List the rules, one a line: kind, pattern, action, note."""
    _list_rules(as_json, kind)


@rules.command("add")
@click.argument("domain")
@click.option("--kind", type=click.Choice(RULE_KINDS), required=True, help="allow or block.")
@click.option("--exact", is_flag=True, help="Only this host, not its subdomains.")
@click.option(
    "--action", type=click.Choice(["redirect", "notice"]), help="Override the partner action (allow only)."
)
@click.option("--note", default="", help="Why (kept with the rule and in the change log).")
@friendly
def rules_add(domain: str, kind: str, exact: bool, action: str | None, note: str) -> None:
    """Add a rule for DOMAIN (and its subdomains unless --exact)."""
    _add_rule(kind, domain, exact, note, action)


@rules.command("remove")
@click.argument("domain")
@click.option("--exact", is_flag=True, help="Remove the exact-host rule rather than the domain rule.")
@friendly
def rules_remove(domain: str, exact: bool) -> None:
    """Remove the rule for DOMAIN and its subdomains, or with --exact the rule for that host alone."""
    store = open_store(current_settings())
    try:
        removed = store.rules.remove(domain, exact, cli_actor())
    except LinkgateError as error:
        host = make_rule(domain, "allow", exact=True).name
        records = store.rules.page(search=host, limit=1000).records
        if not exact and any(r.rule.exact and r.rule.name == host for r in records):
            fail(f"{error} The rule for {host} alone (an exact host) is removed with --exact.")
        raise
    click.echo(f"removed {removed.kind} {removed.pattern}")


@rules.command("import")
@click.argument("source", metavar="FILE|-")
@click.option("--replace", is_flag=True, help="Also remove every rule that is not in the file.")
@click.option("--dry-run", is_flag=True, help="Print what would change, and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@friendly
def rules_import(source: str, replace: bool, dry_run: bool, as_json: bool) -> None:
    """Add, change and (with --replace) remove rules as a CSV file says; - reads standard input.

    The first line names the columns: pattern,exact,kind,action,note (exact, action and note may be
    left out), as `linkgate rules export` writes them. Every line is checked first: when any is wrong,
    each problem is printed with its line number and nothing is changed. Otherwise the whole file is
    applied in one go.
    """
    from linkgate.rulesio import plan_import, read_rules_csv

    data = _read_source(source)
    settings = current_settings()
    parsed = read_rules_csv(data, county_domains=settings.county_domains)
    if not parsed.ok:
        name = "standard input" if source == "-" else source
        for problem in parsed.problems:
            click.echo(f"linkgate: error: {name}: {problem}", err=True)
        count = len(parsed.problems)
        raise LinkgateError(f"Nothing was imported: {name} has {count} problem{'s' if count != 1 else ''}.")
    store = open_store(settings)
    version, existing = store.rules.load()
    plan = plan_import(existing, parsed.rules, replace=replace)
    if not as_json:
        _print_plan(plan)
    applied = False
    if plan.has_changes and not dry_run:
        result = store.rules.apply_import(
            list(parsed.rules), cli_actor(), replace=replace, expected_version=version
        )
        applied = True
        if not as_json:
            click.echo(
                f"Imported: {len(result.added)} added, {len(result.updated)} changed, "
                f"{len(result.removed)} removed."
            )
    elif not as_json:
        click.echo("Dry run: nothing was changed." if plan.has_changes else "Nothing to change.")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "applied": applied,
                    "added": [rule.as_json() for rule in plan.added],
                    "changed": [
                        {"before": before.as_json(), "after": after.as_json()}
                        for before, after in plan.changed
                    ],
                    "removed": [rule.as_json() for rule in plan.removed],
                    "unchanged": len(plan.unchanged),
                }
            )
        )


@rules.command("export")
@click.argument("target", metavar="[FILE|-]", default="-")
@friendly
def rules_export(target: str) -> None:
    """Write every rule as a CSV file: to FILE, or to standard output (no FILE, or -)."""
    from linkgate.rulesio import write_rules_csv

    _, found = open_store(current_settings()).rules.load()
    text = write_rules_csv(found)
    if target == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as error:
        raise LinkgateError(f"Cannot write {target}: {error.strerror or error}.") from None
    click.echo(f"exported {len(found)} rules to {target}", err=True)


def _read_source(source: str) -> bytes:
    """At most one byte more than an import may be, so that a larger file is reported as such."""
    from linkgate.rulesio import MAX_FILE_BYTES

    if source == "-":
        return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    try:
        with open(source, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise LinkgateError(f"Cannot read {source}: {error.strerror or error}.") from None


def _print_plan(plan: ImportPlan) -> None:
    from linkgate.rulesio import differences

    for rule in plan.added:
        click.echo(f"add     {_describe(rule)}")
    for before, after in plan.changed:
        changes = "; ".join(
            f"{name} {_shown(before, name)} -> {_shown(after, name)}" for name in differences(before, after)
        )
        click.echo(f"change  {after.pattern}: {changes}")
    for rule in plan.removed:
        click.echo(f"remove  {_describe(rule)}")
    click.echo(
        f"{len(plan.added)} to add, {len(plan.changed)} to change, {len(plan.removed)} to remove, "
        f"{len(plan.unchanged)} unchanged."
    )


def _shown(rule: Rule, name: str) -> str:
    value = getattr(rule, name)
    return json.dumps(value) if name == "note" else (value or "usual")
