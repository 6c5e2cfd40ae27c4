"""Read-only JSON for scripts: rules, sites, statistics and the change log, under ``/admin/api``.

Behind the console's own guards: a signed-in session, or an API token (``Authorization: Bearer``,
configured as SHA-256 hashes in ``admin.api_tokens``) that can only read. Documented in docs/api.md.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from linkgate.chart import clicks_json, daily_clicks, totals
from linkgate.errors import StoreUnavailable
from linkgate.sites import site_json
from linkgate.store import SITE_STATUSES
from linkgate.web.admin.changelog import read_filters
from linkgate.web.admin.stats import TOP_DOMAINS, RangeForm
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_OFFSET, BadParameter, whole_number
from linkgate.web.errors import JSON_MESSAGES, json_error

blueprint = Blueprint("api", __name__, url_prefix="/api")

MAX_LIMIT = 500


def _window() -> tuple[int, int]:
    """``offset`` and ``limit`` from the query string (a :class:`BadParameter` when out of bounds)."""
    offset = whole_number(request.args, "offset", default=0, low=0, high=MAX_OFFSET)
    limit = whole_number(request.args, "limit", default=100, low=1, high=MAX_LIMIT)
    return offset, limit


def _problem(errors: dict[str, str]) -> ResponseReturnValue:
    return jsonify({"error": "; ".join(f"{key}: {text}" for key, text in errors.items())}), 400


@blueprint.errorhandler(BadParameter)
def _bad_parameter(error: BadParameter) -> ResponseReturnValue:
    return _problem({error.field: error.problem})


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    """Every other error of the API as JSON too (the console's handlers answer HTML pages)."""
    status = error.code or 500
    return json_error(JSON_MESSAGES.get(status, error.description or error.name), status)


@blueprint.errorhandler(StoreUnavailable)
def _store_unavailable(error: StoreUnavailable) -> ResponseReturnValue:
    return json_error("The database cannot be reached right now; try again soon.", 503)


@blueprint.get("/rules")
def rules() -> ResponseReturnValue:
    version, found = get_runtime().store.rules.load()
    return jsonify(
        {
            "version": version,
            "rules": [rule.as_json() for rule in found],
        }
    )


@blueprint.get("/sites")
def sites() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status is not None and status not in SITE_STATUSES:
        return _problem({"status": f"one of {', '.join(SITE_STATUSES)}"})
    offset, limit = _window()
    page = get_runtime().store.sites.page(
        search=request.args.get("q", "").strip()[:253], shown=status, offset=offset, limit=limit
    )
    return jsonify(
        {
            "total": page.total,
            "offset": offset,
            "sites": [site_json(row) for row in page.rows],
        }
    )


@blueprint.get("/stats")
def stats() -> ResponseReturnValue:
    runtime = get_runtime()
    runtime.counts.flush()  # this worker's buffered counts, as the statistics page does
    form = RangeForm.read(request.args.to_dict(), runtime.counts.today())
    if form.errors or form.start is None or form.end is None:
        return _problem(form.errors)
    store = runtime.store
    days = daily_clicks(form.start, form.end, store.counts.clicks_per_day(form.start, form.end))
    return jsonify(
        {
            "from": form.start.isoformat(),
            "to": form.end.isoformat(),
            "days": [{"day": day.day.isoformat(), **clicks_json(day.counts)} for day in days],
            "totals": clicks_json(totals(day.counts for day in days)),
            "top_domains": [
                {"domain": domain, "clicks": clicks}
                for domain, clicks in store.counts.top_domains(form.start, form.end, TOP_DOMAINS)
            ],
            "events": store.counts.events_by_kind(form.start, form.end),
        }
    )


@blueprint.get("/log")
def log() -> ResponseReturnValue:
    runtime = get_runtime()
    _typed, query, errors = read_filters(request.args, ZoneInfo(runtime.settings.timezone))
    if errors:
        return _problem(errors)
    offset, limit = _window()
    page = runtime.store.changes.page(**query, offset=offset, limit=limit)
    return jsonify({"total": page.total, "offset": offset, "entries": [e.as_json() for e in page.entries]})
