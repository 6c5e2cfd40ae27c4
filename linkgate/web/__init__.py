"""The Flask application: ``create_app()`` is the WSGI entry point (``gunicorn 'linkgate.web:create_app()'``).

The web layer is thin: it parses the request, calls the domain code, renders a template. It must never
set a cookie or log anything identifying on the click path.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import get_locale, gettext

from linkgate.config import Settings, load_settings, running_settings
from linkgate.web import bounds, security
from linkgate.web.app_runtime import WebRuntime, get_runtime

__all__ = ["create_app", "get_runtime"]

log = logging.getLogger("linkgate")

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _asset_dir(name: str) -> Path:
    """Templates and static files: inside the installed package (wheel), else at the project's top level."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the application. ``overrides`` map ``"section.key"`` names to values (tests, flags)."""
    if settings is None and not overrides:
        # Under `gunicorn --config deploy/gunicorn.conf.py`: the settings its master read (at start or at
        # the last reload that read), so that a configuration broken since does not fail the new workers.
        settings = running_settings()
    if settings is None:
        settings = load_settings(
            overrides={key.replace("__", "."): value for key, value in overrides.items()}
        )
    app = Flask(
        "linkgate",
        template_folder=str(_asset_dir("templates")),
        static_folder=str(_asset_dir("static")),
        static_url_path="/static",
    )
    mount = security.mount_point(settings.public_url)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_PATH=mount + "/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=not settings.demo,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
        BABEL_DEFAULT_LOCALE="en",
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.url_map.converters["int"] = bounds.BoundedInt  # before any route: every <int:...> is bounded
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    runtime = WebRuntime(settings)
    app.extensions["linkgate"] = runtime
    if settings.resolve:
        log.warning(
            "fetch.resolve pins names to addresses (%s): use this only for tests.",
            ", ".join(f"{name}={address}" for name, address in settings.resolve.items()),
        )
    if settings.allow_networks:
        log.warning(
            "fetch.allow_networks is set (%s): the fetcher may reach these non-public networks. "
            "Use this only for tests.",
            ", ".join(str(network) for network in settings.allow_networks),
        )

    from linkgate.web import admin, api, demo, errors, gate, health, language, metrics, reports

    language.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    # GET /go answered before Flask when it can be (see linkgate/web/gate.py), inside the metrics.
    app.wsgi_app = gate.ClickPath(app.wsgi_app, runtime)  # type: ignore[method-assign]
    metrics.init_app(app, runtime)
    # Outermost, so that every layer within sees the configured mount point, never a header's.
    app.wsgi_app = security.MountPoint(app.wsgi_app, mount)  # type: ignore[method-assign]
    app.register_blueprint(gate.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(admin.blueprint)
    reports.init_app(app, runtime.store, settings)  # POST /report
    if settings.demo:
        app.register_blueprint(demo.blueprint)

    @app.context_processor
    def _county() -> dict[str, Any]:
        return {
            "settings": settings,
            "lang": str(get_locale()),
            # The County's name as the catalogue writes it ("Condado de Missoula"), else as configured.
            "county_name": gettext(settings.county_name),
            "language_links": language.language_links,
        }

    return app
