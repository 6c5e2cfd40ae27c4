"""The web application's runtime: the process's :class:`linkgate.runtime.Runtime` with what only the web
layer keeps (the gate's rendered pages and the Referers it knows), and :func:`get_runtime`, which finds it
from a request (``create_app`` keeps it in ``app.extensions["linkgate"]``)."""

from __future__ import annotations

from flask import current_app, render_template

from linkgate.config import Settings
from linkgate.runtime import Runtime
from linkgate.web.stencil import Stencils

__all__ = ["WebRuntime", "get_runtime"]


class WebRuntime(Runtime):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if settings.archive_url and self.schema_ready:
            self.archived.refresh()
        # The gate's notice and block pages, rendered once per kind (see linkgate/web/stencil.py).
        self.pages = Stencils(lambda template, context: render_template(template, **context))
        # Referer values already parsed and found to be County pages, each with its serialisation (see
        # linkgate/web/gate.py).
        self.county_referers: dict[str, str] = {}


def get_runtime() -> WebRuntime:
    runtime: WebRuntime = current_app.extensions["linkgate"]
    return runtime
