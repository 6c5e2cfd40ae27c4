"""The ``linkgate`` command: serve, demo, sign links, manage rules and the site cache.

Every command reads the same configuration as the server, exits 0 on success and 2 with a one-line
message on bad input.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

import click

from linkgate.classify import Classifier, RuleSet, make_rule
from linkgate.config import Settings, load_settings
from linkgate.errors import LinkgateError
from linkgate.sites import parse_site_key, site_key
from linkgate.store import Store
from linkgate.urls import parse_destination

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    click.echo(f"linkgate: error: {message}", err=True)
    sys.exit(2)


def friendly(function: F) -> F:
    """Turn linkgate's own errors into one line and exit status 2."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except LinkgateError as error:
            fail(str(error).replace("\n", " "))
        return None

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    return load_settings(overrides={key: value for key, value in overrides.items() if value is not None})


def _store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.create_schema()
    return store


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class FriendlyGroup(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("standalone_mode", True)
        return super().main(*args, **kwargs)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """linkgate: Missoula County's gate between its pages and the sites they link to.

    Configuration comes from the TOML file named by LINKGATE_CONFIG and LINKGATE_* environment variables.
    """


# ---- serving -------------------------------------------------------------------------------------


@main.command()
@click.option("--host", help="Address to listen on (default: server.host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: server.port, 8000).")
@click.option("--workers", type=int, help="Worker processes (default: server.workers, 2).")
@click.option("--threads", type=int, help="Threads per worker (default: server.threads, 8).")
@friendly
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve linkgate under gunicorn (the same app as 'linkgate.web:create_app()')."""
    from linkgate.serving import serve as run

    settings = _settings(
        **{"server.host": host, "server.port": port, "server.workers": workers, "server.threads": threads}
    )
    _store(settings)
    run(settings)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@friendly
def demo(host: str | None, port: int | None) -> None:
    """Run linkgate with demo rules and a demo County page (its own SQLite file in the instance folder)."""
    from linkgate.serving import serve as run
    from linkgate.web.demo import DEMO_RULES

    probe = _settings()
    overrides: dict[str, Any] = {"demo": True, "server.host": host, "server.port": port, "server.workers": 2}
    if probe.database_url.endswith("/linkgate.db"):
        overrides["database.url"] = f"sqlite:///{probe.instance_path / 'demo.db'}"
    settings = _settings(**overrides)
    store = _store(settings)
    _, existing = store.load_rules()
    names = {(rule.name, rule.exact) for rule in existing}
    for name, kind in DEMO_RULES:
        if (name, False) not in names:
            store.add_rule(make_rule(name, kind, note="demo rule"), "demo")
    url = f"http://{settings.host}:{settings.port}/"
    click.echo(f"linkgate demo: open {url} in your browser (Ctrl-C to stop).")
    run(settings, bind=[f"{settings.host}:{settings.port}"])


# ---- links ---------------------------------------------------------------------------------------


@main.command()
@click.argument("url")
@friendly
def sign(url: str) -> None:
    """Print a signed gate link for URL, on server.public_url."""
    from linkgate.signing import Signer

    settings = _settings()
    destination = parse_destination(url, settings.max_url_length)
    signer = Signer(settings.secret_key, settings.previous_secret_keys)
    click.echo(
        f"{settings.public_url.rstrip('/')}/go?url={quote(destination.href, safe='')}"
        f"&sig={signer.sign(destination.href)}"
    )


@main.command("test-link")
@click.argument("url")
@click.option("--unsigned", is_flag=True, help="Classify as a link that did not come from a County page.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def test_link(url: str, unsigned: bool, as_json: bool) -> None:
    """Show what a visitor following URL would get: category, flags and action."""
    settings = _settings()
    destination = parse_destination(url, settings.max_url_length)
    version, rules = _store(settings).load_rules()
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


# ---- rules ---------------------------------------------------------------------------------------


def _add_rule(kind: str, domain: str, exact: bool, note: str, action: str | None) -> None:
    settings = _settings()
    store = _store(settings)
    rule = make_rule(domain, kind, exact=exact, note=note, action=action)
    _, existing = store.load_rules()
    saved = store.add_rule(rule, _actor())
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
    version, found = _store(_settings()).load_rules()
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
    removed = _store(_settings()).remove_rule(domain, exact, _actor())
    click.echo(f"removed {removed.kind} {removed.pattern}")


# ---- accounts ------------------------------------------------------------------------------------


@main.command("create-admin")
@click.argument("name")
@click.option(
    "--role",
    default="admin",
    show_default=True,
    help="admin (may change rules and settings) or viewer (may only read).",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@friendly
def create_admin(name: str, role: str, password_stdin: bool) -> None:
    """Create an account NAME for the admin console (/admin); asks for its password twice.

    Passwords are at least 12 characters and are kept only as argon2id hashes.
    """
    from linkgate.accounts import check_new_account, create_account

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        check_new_account(name, "x" * 12, role)  # say what is wrong with the name or role before asking
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    account = create_account(_store(_settings()), name, password, role, _actor())
    click.echo(f"created {account.role} account {account.name}")


# ---- sites ---------------------------------------------------------------------------------------


@main.command("check-site")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly
def check_site(url: str, as_json: bool) -> None:
    """Look up a site's privacy policy now (and store the answer): link, how found, HTTPS, GPC, time."""
    from linkgate.web.runtime import Runtime

    settings = _settings()
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
    _store(_settings()).set_site_override(name, target, _actor())
    click.echo(f"{name}: privacy link set to {target or 'none'}")


@site.command("clear")
@click.argument("host")
@friendly
def site_clear(host: str) -> None:
    """Forget everything cached about HOST, overrides included."""
    name = parse_site_key(host)
    if not _store(_settings()).clear_site(name, _actor()):
        fail(f"nothing is cached for {name}")
    click.echo(f"{name}: cleared")


@site.command("refresh")
@click.argument("host")
@friendly
def site_refresh(host: str) -> None:
    """Look HOST up again now."""
    from linkgate.web.runtime import Runtime

    name = parse_site_key(host)
    runtime = Runtime(_settings())
    facts = runtime.sites.refresh(name, force=True)
    runtime.counts.flush()
    if facts is None:
        fail("the lookup could not be recorded (is the database reachable?)")
        return
    click.echo(f"{name}: {facts.status} {facts.privacy_url or ''}".rstrip())


if __name__ == "__main__":
    main()
