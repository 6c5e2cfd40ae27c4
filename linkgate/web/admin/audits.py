"""Link audits in the console: every run of ``linkgate audit``, and what changed since the run before.

Read-only for every role: runs are made by the command (or its weekly timer), never from the console,
which only reads what the store kept of them (a summary and each address's problems).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from linkgate.audit.history import diff_runs
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_PAGE, whole_number

blueprint = Blueprint("audits", __name__, url_prefix="/audits")

PAGE_SIZE = 50
PROBLEM_TEXT = {
    "broken": _l("Broken"),
    "unverified": _l("Could not verify"),
    "soft_404": _l("Looks missing"),
    "insecure": _l("Insecure"),
    "blocked": _l("Blocked by a rule"),
    "bypass": _l("Bypasses the gate"),
    "no_privacy": _l("No privacy policy"),
    "link_text": _l("Unhelpful link text"),
    "target_blank": _l("New window without noopener"),
}


@blueprint.get("/")
def index() -> ResponseReturnValue:
    runtime = get_runtime()
    page = whole_number(request.args, "page", default=1, low=1, high=MAX_PAGE)
    runs = runtime.store.audits.runs(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "admin/audits.html",
        runs=runs[:PAGE_SIZE],
        more=len(runs) > PAGE_SIZE,
        page=page,
        problems=PROBLEM_TEXT,
        zone=ZoneInfo(runtime.settings.timezone),
        timezone=runtime.settings.timezone,
    )


@blueprint.get("/<int:run_id>")
def run(run_id: int) -> ResponseReturnValue:
    runtime = get_runtime()
    found = runtime.store.audits.get(run_id)
    if found is None:
        abort(404)
    change = diff_runs(runtime.store, found)
    return render_template(
        "admin/audits_run.html",
        run=found,
        change=change,
        problems=PROBLEM_TEXT,
        zone=ZoneInfo(runtime.settings.timezone),
        timezone=runtime.settings.timezone,
    )
