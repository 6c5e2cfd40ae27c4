"""``GET /healthz``: 200 whenever clicks can be served, with the database state and the rules version.

``db`` is ``degraded`` when the database does not answer, or when this worker's counts cannot be written
although it answers (``counts`` says which); ``counts_dropped`` and ``counts_other`` are this worker's
clicks and events dropped because the database refused their row, and clicks counted under "(other)".
"""

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
        counts_pending=counts.pending,
        counts_dropped=sum(counts.dropped.values()),
        counts_other=sum(counts.other.values()),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
