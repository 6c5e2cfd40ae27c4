"""``GET /healthz``: 200 whenever clicks can be served, with the database state and the rules version."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from linkgate.errors import StoreUnavailable
from linkgate.web.runtime import get_runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    runtime = get_runtime()
    runtime.ensure_upkeep()
    try:
        runtime.store.ping()
        database = "ok"
    except StoreUnavailable:
        database = "degraded"
    response = jsonify(
        status="ok",
        db=database,
        rules_version=runtime.rules.version,
        rules=len(runtime.classifier.rules),
        counts_pending=runtime.counts.pending,
        counts_dropped=runtime.counts.dropped,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
