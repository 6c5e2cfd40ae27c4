"""Read-only JSON for pages and scripts: ``GET /api/site/<host>`` (what the notice knows of a site)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify
from flask.typing import ResponseReturnValue

from linkgate.errors import InvalidDestination
from linkgate.sites import parse_site_key
from linkgate.web.runtime import get_runtime

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.get("/site/<host>")
def site(host: str) -> ResponseReturnValue:
    """The cached facts for ``host``; starts a lookup when there are none (never waits for it)."""
    try:
        name = parse_site_key(host)
    except InvalidDestination:
        abort(404)
    runtime = get_runtime()
    facts = runtime.site_facts_for_host(name, wait_ms=0)
    response = jsonify(facts.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response
