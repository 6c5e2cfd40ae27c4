"""``linkgate serve`` and ``linkgate demo``."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from linkgate.classify import make_rule
from linkgate.cli.common import current_settings, friendly, main, open_store
from linkgate.errors import StoreUnavailable


@main.command()
@click.option("--host", help="Address to listen on (default: server.host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: server.port, 8000).")
@click.option("--workers", type=int, help="Worker processes (default: server.workers, 2).")
@click.option("--threads", type=int, help="Threads per worker (default: server.threads, 8).")
@friendly
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve linkgate under gunicorn (the same app as 'linkgate.web:create_app()'); SIGHUP reloads.

    A database that cannot be reached does not stop it: it serves degraded and retries the database."""
    from linkgate.serving import serve as run

    flags = {"server.host": host, "server.port": port, "server.workers": workers, "server.threads": threads}
    settings = current_settings(**flags)
    # A database that cannot be reached: gunicorn's master says so at start, in the log's own form, and
    # serves degraded (linkgate.serving.starting).
    with contextlib.suppress(StoreUnavailable):
        open_store(settings)
    run(settings, reread=lambda: current_settings(**flags))


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@friendly
def demo(host: str | None, port: int | None) -> None:
    """Run linkgate with demo rules and a demo County page (its own SQLite file in the instance folder)."""
    from linkgate.serving import serve as run
    from linkgate.web.demo import DEMO_RULES

    probe = current_settings()
    overrides: dict[str, Any] = {"demo": True, "server.host": host, "server.port": port, "server.workers": 2}
    if probe.database_url.endswith("/linkgate.db"):
        overrides["database.url"] = f"sqlite:///{probe.instance_path / 'demo.db'}"
    settings = current_settings(**overrides)
    store = open_store(settings)
    _, existing = store.rules.load()
    names = {(rule.name, rule.exact) for rule in existing}
    for name, kind in DEMO_RULES:
        if (name, False) not in names:
            store.rules.add(make_rule(name, kind, note="demo rule"), "demo")
    url = f"http://{settings.host}:{settings.port}/"
    click.echo(f"linkgate demo: open {url} in your browser (Ctrl-C to stop).")
    run(settings, reread=lambda: current_settings(**overrides))
