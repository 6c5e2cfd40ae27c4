"""Read-only JSON for pages and scripts: ``GET /api/site/<host>`` (what the notice knows of a site).

Anyone may ask, so the answer must never tell whether or when anyone else asked about a host: it has no
time in it and the same keys for every host (:meth:`linkgate.sites.SiteFacts.public_json` says what is
left to learn). Asking starts a lookup when there are no facts, within the site cache's bounds, and never
waits for it. An IP address gets no lookup here, as it gets none from a notice.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify
from flask.typing import ResponseReturnValue

from linkgate.errors import InvalidDestination
from linkgate.sites import parse_site_key, site_host
from linkgate.urls import is_ip_address
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.get("/site/<host>")
def site(host: str) -> ResponseReturnValue:
    """The facts anyone may read for ``host``; starts a lookup when there are none (never waits for it)."""
    try:
        name = parse_site_key(host)
    except InvalidDestination:
        abort(404)
    if is_ip_address(site_host(name)):
        abort(404)
    facts = get_runtime().site_facts_for_host(name, wait_ms=0)
    response = jsonify(facts.public_json())
    response.headers["Cache-Control"] = "no-store"
    return response
