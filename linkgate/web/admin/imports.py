"""Rules to and from a CSV file in the console: export, and import by upload → preview → confirm.

Nothing about an import is kept on the server between its preview and its confirmation: the file itself
travels in the confirmation form (base64, so that no browser rewrites its line endings), with the rules
version the preview was made against. On confirmation the file is read and checked again, and the store
applies it in one transaction or not at all, refusing it when the rules changed after the preview.
Never apply a file that has any problem, and never apply one the webmaster has not seen the changes of.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import RequestEntityTooLarge

from linkgate.clock import county_today
from linkgate.errors import RuleError
from linkgate.rulesio import (
    COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    Problem,
    RulesFile,
    differences,
    plan_import,
    read_rules_csv,
    write_rules_csv,
)
from linkgate.web.admin.auth import actor, admin_required
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_VERSION, whole_number

blueprint = Blueprint("imports", __name__, url_prefix="/rules")

FIELD_IDS = {"file": "import-file", "text": "import-text"}


@blueprint.get("/export.csv")
def export() -> Response:
    """Every rule as a CSV file that the import reads back unchanged; any signed-in account may have it."""
    runtime = get_runtime()
    _version, rules = runtime.store.rules.load()
    day = county_today(runtime.settings.timezone).isoformat()
    return Response(
        write_rules_csv(rules),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="linkgate-rules-{day}.csv"'},
    )


@blueprint.route("/import", methods=["GET", "POST"])
@admin_required
def index() -> ResponseReturnValue:
    if request.method == "GET":
        return _form_page()
    replace = request.form.get("replace") == "1"
    text = request.form.get("text", "")
    upload = request.files.get("file")
    data: bytes | str
    if upload is not None and upload.filename:
        data, source = upload.stream.read(MAX_FILE_BYTES + 1), "file"
    elif text.strip():
        data, source = text, "text"
    else:
        message = _("Choose a CSV file, or paste the rules into the box.")
        return _form_page(message=message, text=text, replace=replace), 400
    parsed = read_rules_csv(data, county_domains=get_runtime().settings.county_domains)
    if not parsed.ok:
        return _form_page(problems=parsed.problems, source=source, text=text, replace=replace), 400
    return _preview(parsed, data.encode("utf-8") if isinstance(data, str) else data, replace)


@blueprint.post("/import/confirm")
@admin_required
def confirm() -> ResponseReturnValue:
    try:
        payload = base64.urlsafe_b64decode(request.form.get("csv", "").encode("ascii"))
    except ValueError:  # also binascii.Error and UnicodeEncodeError: not a form this console made
        abort(400)
    expected_version = whole_number(request.form, "version", default=None, low=0, high=MAX_VERSION)
    replace = request.form.get("replace") == "1"
    parsed = read_rules_csv(payload, county_domains=get_runtime().settings.county_domains)
    if not parsed.ok:
        return _form_page(problems=parsed.problems, replace=replace), 400
    store = get_runtime().store
    if replace and request.form.get("confirm_removal") != "1":
        _version, existing = store.rules.load()
        if plan_import(existing, parsed.rules, replace=True).removed:
            return _preview(parsed, payload, replace, unconfirmed=True)
    try:
        result = store.rules.apply_import(
            list(parsed.rules), actor(), replace=replace, expected_version=expected_version
        )
    except RuleError as error:
        if store.rules.version() != expected_version:
            return _preview(parsed, payload, replace, stale=True)
        return _form_page(problems=(Problem(None, str(error)),), replace=replace), 400
    flash(
        _(
            "Imported: %(added)s added, %(changed)s changed, %(removed)s removed.",
            added=len(result.added),
            changed=len(result.updated),
            removed=len(result.removed),
        ),
        "success",
    )
    return redirect(url_for("admin.rules.index"))


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """More than the server reads at once (a pasted text over its limit, or a huge upload)."""
    message = _(
        "What was sent is larger than %(size)s KB, the most one import may be. Split the rules into "
        "smaller files.",
        size=f"{MAX_FILE_BYTES // 1000:,}",
    )
    account = g.get("account")
    if account is None or account.role != "admin":
        title = _("What was sent is too large")
        return render_template("admin/problem.html", title=title, message=message), 413
    return _form_page(message=message), 413


def _form_page(
    *,
    problems: Sequence[Problem] = (),
    message: str | None = None,
    source: str = "file",
    text: str = "",
    replace: bool = False,
) -> str:
    """The upload form; with every problem of the file listed at the top, each linking to its field."""
    errors: dict[str, str] = {}
    ids: dict[str, str] = {}
    field_errors: dict[str, str] = {}
    if message is not None:
        errors[source] = field_errors[source] = message
        ids[source] = FIELD_IDS[source]
    for number, problem in enumerate(problems):
        key = f"problem-{number}"
        errors[key] = (
            problem.reason
            if problem.line is None
            else _("line %(line)s: %(reason)s", line=problem.line, reason=problem.reason)
        )
        ids[key] = FIELD_IDS[source]
    if problems:
        field_errors[source] = _(
            "Nothing was imported. Correct the problems listed at the top of the page, then check the "
            "file again."
        )
    return render_template(
        "admin/rules_import.html",
        errors=errors,
        ids=ids,
        field_errors=field_errors,
        problem_count=len(problems),
        text=text,
        replace=replace,
        columns=",".join(COLUMNS),
        max_kb=f"{MAX_FILE_BYTES // 1000:,}",
        max_rows=f"{MAX_ROWS:,}",
    )


def _preview(
    parsed: RulesFile, payload: bytes, replace: bool, *, stale: bool = False, unconfirmed: bool = False
) -> ResponseReturnValue:
    """Every change the file would make to the rules as they are now, and the form that makes them.

    A replace that removes rules says how many (and how many block rules) and is applied only once the
    webmaster ticks that they understand it (``unconfirmed``: sent without the tick)."""
    version, existing = get_runtime().store.rules.load()
    plan = plan_import(existing, parsed.rules, replace=replace)
    errors: dict[str, str] = {}
    if unconfirmed:
        errors["confirm_removal"] = ngettext(
            "Tick the box to confirm that %(num)s rule will be removed, or cancel the import.",
            "Tick the box to confirm that %(num)s rules will be removed, or cancel the import.",
            len(plan.removed),
        )
    body = render_template(
        "admin/rules_import_preview.html",
        plan=plan,
        total=len(parsed.rules),
        differences=differences,
        payload=base64.urlsafe_b64encode(payload).decode("ascii"),
        version=version,
        replace=replace,
        stale=stale,
        errors=errors,
        current=len(existing),
        removed_blocks=sum(1 for rule in plan.removed if rule.kind == "block"),
    )
    return body, 409 if stale else 400 if errors else 200
