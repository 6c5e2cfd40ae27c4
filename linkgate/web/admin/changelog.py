"""The change log: who changed what and when, with before and after, for rules, overrides and accounts.

Read-only for every role, and there is no way to edit or delete an entry from the console or the API:
the store only ever inserts into the log.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from linkgate.store import LogEntry
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_PAGE, usable_day, whole_number

blueprint = Blueprint("changelog", __name__, url_prefix="/log")

PAGE_SIZE = 50
AREAS = {
    "rule": _l("Rules"),
    "site": _l("Privacy links of sites"),
    "account": _l("Console accounts"),
}
ACTION_TEXT = {
    "rule.add": _l("Added a rule"),
    "rule.update": _l("Changed a rule"),
    "rule.remove": _l("Removed a rule"),
    "site.override": _l("Changed a site's privacy link override"),
    "site.clear": _l("Forgot what was known about a site"),
    "account.add": _l("Added an account"),
    "account.lock": _l("Locked an account after failed sign-ins"),
    "account.remove": _l("Removed an account"),
    "account.role": _l("Changed an account's role"),
    "account.password": _l("Changed an account's password"),
    "account.unlock": _l("Unlocked an account"),
}


def describe_changes(entry: LogEntry) -> list[tuple[str, str | None, str | None]]:
    """(field, before, after) for every field that an entry added, removed or changed."""
    before, after = entry.before or {}, entry.after or {}
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if entry.before is not None and entry.after is not None and old == new:
            continue
        rows.append((key, _show(old) if key in before else None, _show(new) if key in after else None))
    return rows


def _show(value: Any) -> str:
    if value is None:
        return _("(none)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value) if value != "" else _("(empty)")


def read_filters(args: Any, timezone: ZoneInfo) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """The filter form as typed, the store's arguments, and the error of each field that is wrong."""
    typed = {key: args.get(key, "").strip()[:200] for key in ("who", "area", "target", "from", "to")}
    errors: dict[str, str] = {}
    query: dict[str, Any] = {"actor": typed["who"], "target": typed["target"]}
    if typed["area"] and typed["area"] not in AREAS:
        errors["area"] = _("Choose one of the kinds of change in the list.")
    else:
        query["action"] = f"{typed['area']}." if typed["area"] else ""
    days: dict[str, date] = {}
    for key in ("from", "to"):
        if typed[key]:
            day = usable_day(typed[key])
            if day is None:
                errors[key] = _("Enter a date as year-month-day, for example 2026-03-31.")
            else:
                days[key] = day
    if "from" in days and "to" in days and days["from"] > days["to"]:
        errors["to"] = _("The end date must be on or after the start date.")
    if "from" in days:
        query["start"] = datetime.combine(days["from"], time.min, timezone)
    if "to" in days:
        query["end"] = datetime.combine(days["to"] + timedelta(days=1), time.min, timezone)
    return typed, query, errors


@blueprint.get("/")
def index() -> ResponseReturnValue:
    runtime = get_runtime()
    timezone = ZoneInfo(runtime.settings.timezone)
    typed, query, errors = read_filters(request.args, timezone)
    page = whole_number(request.args, "page", default=1, low=1, high=MAX_PAGE)
    entries: list[LogEntry] = []
    total = 0
    if not errors:
        result = runtime.store.changes.page(**query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        entries, total = result.entries, result.total
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "admin/changelog.html",
        typed=typed,
        errors=errors,
        entries=[
            {
                "entry": entry,
                "local": entry.at.astimezone(timezone),
                "what": ACTION_TEXT.get(entry.action, entry.action),
                "changes": describe_changes(entry),
            }
            for entry in entries
        ],
        areas=AREAS,
        total=total,
        page=page,
        pages=pages,
        query={key: value for key, value in typed.items() if value},
        timezone=runtime.settings.timezone,
    ), 400 if errors else 200
