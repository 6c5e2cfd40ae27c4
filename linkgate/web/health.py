"""``GET /healthz``: 200 whenever clicks can be served, with the database state and the rules version.

``db`` is ``degraded`` when the database does not answer, or when this worker's counts cannot be written
although it answers (``counts`` says which). Anyone may read it (load balancers, uptime checks through
nginx), so it never holds a figure that one click changes: a count of clicks waiting to be written went
from 0 to 1 with each click and told a watcher when someone clicked. Those figures are on ``/metrics``,
which only the configured networks may read.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from linkgate.errors import StoreUnavailable
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    runtime = get_runtime()
    runtime.ensure_upkeep()
    counts = runtime.counts
    counting = "ok" if counts.can_write else "degraded"
    try:
        runtime.store.ping()
        database = counting
    except StoreUnavailable:
        database = "degraded"
    response = jsonify(
        status="ok",
        db=database,
        counts=counting,
        rules_version=runtime.rules.version,
        rules=len(runtime.classifier.rules),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
