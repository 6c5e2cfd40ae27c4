"""Running the application under gunicorn, with the settings linkgate ships.

Worker class: ``gthread``. Browsers keep idle keep-alive connections open; a ``sync`` worker is stuck on
each one until it times out unless a buffering proxy stands in front, and ``linkgate serve`` may face
browsers directly. ``gthread`` parks idle connections in the worker's poller and serves requests on a
small thread pool, so idle connections cost a file descriptor, not a worker. The access log, when turned
on, records no client address, no query string (destinations live there), no user agent and no referrer.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS

from linkgate.config import Settings, keep_running_settings, load_settings, running_settings
from linkgate.errors import SCHEMA_TOO_NEW_STATUS, ConfigError, SchemaTooNew, StoreUnavailable
from linkgate.store import Store
from linkgate.store.schema import refuse_newer

# Method, path without the query string, status, size, time: nothing that identifies a visitor.
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

_GUNICORN_SETTINGS = frozenset(setting.name for setting in KNOWN_SETTINGS)

log = logging.getLogger("gunicorn.error")


def flush_on_worker_exit(_arbiter: Any, worker: Any) -> None:
    """gunicorn's ``worker_exit`` hook: a stopping worker writes the counts it still holds."""
    app = getattr(worker, "wsgi", None)
    runtime = getattr(app, "extensions", {}).get("linkgate") if app is not None else None
    if runtime is not None:
        runtime.shutdown()


def starting(settings: Settings, _arbiter: Any) -> None:
    """gunicorn's ``on_starting`` hook, in the master before any worker exists: refuse a database a newer
    linkgate migrated (exit :data:`SCHEMA_TOO_NEW_STATUS`, one plain line, rather than workers failing to
    boot), carry on when the database cannot be reached (the workers serve degraded and retry it), and
    empty the folder of the workers' Prometheus figures."""
    store = Store(settings.database_url)
    try:
        refuse_newer(store.schema_revision())
    except SchemaTooNew as error:
        log.critical("linkgate: %s", error)
        sys.exit(SCHEMA_TOO_NEW_STATUS)
    except StoreUnavailable as error:
        log.warning("linkgate: the database cannot be reached at start, serving degraded: %s", error)
    finally:
        store.dispose()
    empty_metrics_folder(settings.instance_path / "metrics")


def empty_metrics_folder(folder: Path) -> None:
    """An empty folder for the workers' Prometheus figures, named by the variable the workers inherit (see
    linkgate/web/metrics.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def gunicorn_settings(settings: Settings, **changes: Any) -> dict[str, Any]:
    """The gunicorn settings linkgate runs with (also used by ``deploy/gunicorn.conf.py``)."""
    values: dict[str, Any] = {
        "bind": [f"{settings.host}:{settings.port}"],
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": settings.threads,
        "keepalive": 5,
        "timeout": 30,
        "graceful_timeout": 20,
        "backlog": 2048,
        "worker_connections": 1000,
        "max_requests": 0,
        "access_log_format": ACCESS_LOG_FORMAT,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "linkgate",
        "limit_request_line": 8190,
        "worker_exit": flush_on_worker_exit,
        "on_starting": partial(starting, settings),
        # No visitor's address or query string in gunicorn's own lines; text or JSON (see linkgate/logs.py).
        "logger_class": "linkgate.logs.JsonGunicornLogger"
        if settings.log_format == "json"
        else "linkgate.logs.GunicornLogger",
    }
    if "control_socket_disable" in _GUNICORN_SETTINGS:
        # gunicorn >= 25.1 opens a control socket at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
        # ~/.gunicorn/gunicorn.ctl): a second server on the machine silently takes the path over, and
        # stopping either one unlinks it. linkgate does not use gunicornc, so it is off.
        values["control_socket_disable"] = True
    values.update({key: value for key, value in changes.items() if value is not None})
    return values


def reread_or_keep(
    read: Callable[[], Settings], running: Settings, changes: Mapping[str, Any]
) -> tuple[Settings, dict[str, Any]]:
    """At a ``SIGHUP``: the settings read again, and their gunicorn settings; or, when they do not read,
    the running ones, and a line in the log saying why (gunicorn's master would exit on anything raised
    while it reloads, and take its workers with it: a typo must not take the service down)."""
    try:
        settings = read()
        return settings, gunicorn_settings(settings, **changes)
    except Exception as error:
        reason = str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"
        log.error(
            "linkgate: the configuration was not reloaded, the running one is kept: %s",
            reason.replace("\n", " "),
        )
        return running, gunicorn_settings(running, **changes)


def config_file_settings() -> dict[str, Any]:
    """What ``deploy/gunicorn.conf.py`` publishes, read again at each ``SIGHUP``. At start a configuration
    that does not read stops gunicorn with one line; at a reload the running one is kept when the new one
    does not read (:func:`reread_or_keep`), as ``linkgate serve`` does. The workers build the application
    from the same settings (:func:`running_settings`)."""
    running = running_settings()
    if running is None:
        try:
            settings = load_settings()
            options = gunicorn_settings(settings)
        except ConfigError as error:
            sys.exit(f"linkgate: {error}")
    else:
        settings, options = reread_or_keep(load_settings, running, {})
    keep_running_settings(settings)
    return options


class GunicornApp(BaseApplication):
    """Serves ``create_app(settings)`` in every worker, with the given gunicorn settings.

    With ``reread``, a ``SIGHUP`` to the master reads the settings again (as ``gunicorn --config
    deploy/gunicorn.conf.py`` does), so the new workers it starts run on the changed configuration. A
    configuration that no longer reads is reported in the log and the running one is kept: a typo in
    ``linkgate.toml`` must not take the service down at a reload.
    """

    def __init__(
        self,
        settings: Settings,
        options: dict[str, Any],
        *,
        reread: Callable[[], Settings] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = settings
        self._options = options
        self._reread = reread
        self._changes = dict(changes or {})
        self._loaded = False
        super().__init__()

    def load_config(self) -> None:
        if self._loaded and self._reread is not None:
            self._settings, self._options = reread_or_keep(self._reread, self._settings, self._changes)
        self._loaded = True
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from linkgate.web import create_app

        return create_app(self._settings)


def serve(settings: Settings, *, reread: Callable[[], Settings] | None = None, **changes: Any) -> None:
    """Run gunicorn in the foreground; ``reread`` gives the settings again at each ``SIGHUP``."""
    GunicornApp(settings, gunicorn_settings(settings, **changes), reread=reread, changes=changes).run()
