"""The change log: who changed what and when, with before and after, for rules, overrides and accounts.

Read-only for every role, and there is no way to edit or delete an entry from the console or the API:
the store only ever inserts into the log. An administrator may revert an entry about rules or a site's
privacy link, after a confirmation page: the store applies the inverse only while nothing it changed has
changed again, and logs the revert as a new entry naming the one it reverted.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from linkgate.clock import county_day_bounds
from linkgate.errors import RevertRefused
from linkgate.store import LogEntry
from linkgate.store.changes import (
    LOG_SORTS,
    REVERTS,
    RuleState,
    restored_rule_refusal,
    revert_refusal,
    rule_changes,
)
from linkgate.web.admin.auth import actor, admin_required
from linkgate.web.admin.listing import Sort
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
    "rule.import": _l("Imported rules from a file"),
    "rule.revert": _l("Reverted a change to rules"),
    "site.override": _l("Changed the privacy link set by hand for a site"),
    "site.remove-override": _l("Removed the privacy link set by hand for a site"),
    "site.clear": _l("Forgot what was known about a site"),
    "site.revert": _l("Reverted a change to a site's privacy link"),
    "account.add": _l("Added an account"),
    "account.lock": _l("Locked an account after failed sign-ins"),
    "account.remove": _l("Removed an account"),
    "account.role": _l("Changed an account's role"),
    "account.password": _l("Changed an account's password"),
    "account.unlock": _l("Unlocked an account"),
}


# The rules of one entry listed on its page and its revert's (a Replace import may remove thousands); the
# entry's JSON (linkgate log --json, GET /admin/api/log) holds every one.
MAX_RULES_SHOWN = 500

# What each field of an entry's before and after is called on screen (and by ``linkgate log``).
FIELD_LABELS = {
    "pattern": _l("Rule"),
    "name": _l("Name"),
    "exact": _l("This host only"),
    "kind": _l("Kind"),
    "action": _l("Action"),
    "note": _l("Note"),
    "override_url": _l("Privacy link set by hand"),
    "override_none": _l("No privacy policy, set by hand"),
    "privacy_url": _l("Privacy link found"),
    "role": _l("Role"),
    "password": _l("Password"),
    "failed_count": _l("Failed sign-ins"),
    "locked_until": _l("Locked until"),
    REVERTS: _l("Reverts change"),
}
# An entry of several rules (an import, a revert) is summed up by how many it added, changed, removed.
RULE_COUNTS = (
    ("added", _l("Rules added")),
    ("changed", _l("Rules changed")),
    ("removed", _l("Rules removed")),
)


def field_label(key: str) -> str:
    return str(FIELD_LABELS.get(key, key))


def rule_change_kind(before: RuleState, after: RuleState) -> str:
    """Whether a rule was "added", "removed" or "changed"."""
    if before is None:
        return "added"
    return "removed" if after is None else "changed"


def describe_changes(entry: LogEntry) -> list[tuple[str, str | None, str | None]]:
    """(label, before, after) for every field that an entry added, removed or changed; for an entry of
    several rules, how many it added, changed and removed (its page lists them)."""
    if (entry.after or entry.before or {}).get("rules") is not None:
        counts = {"added": 0, "changed": 0, "removed": 0}
        for before, after in rule_changes(entry):
            counts[rule_change_kind(before, after)] += 1
        rows: list[tuple[str, str | None, str | None]] = [
            (str(label), None, str(counts[key])) for key, label in RULE_COUNTS if counts[key]
        ]
        reverted = (entry.after or {}).get(REVERTS)
        if reverted is not None:
            rows.append((field_label(REVERTS), None, f"#{reverted}"))
        return rows
    return _field_changes(entry.before, entry.after)


def _field_changes(
    before_state: dict[str, Any] | None, after_state: dict[str, Any] | None
) -> list[tuple[str, str | None, str | None]]:
    before, after = before_state or {}, after_state or {}
    rows: list[tuple[str, str | None, str | None]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if before_state is not None and after_state is not None and old == new:
            continue
        if key == REVERTS:
            rows.append((field_label(key), None, f"#{new}"))
            continue
        rows.append(
            (field_label(key), _show(old) if key in before else None, _show(new) if key in after else None)
        )
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
    start, end = county_day_bounds(days.get("from"), days.get("to"), timezone.key)
    if start is not None:
        query["start"] = start
    if end is not None:
        query["end"] = end
    return typed, query, errors


@blueprint.get("/")
def index() -> ResponseReturnValue:
    runtime = get_runtime()
    typed, query, errors = read_filters(request.args, ZoneInfo(runtime.settings.timezone))
    sort = Sort.read(request.args, LOG_SORTS, "when", descending=True, newest_first=("when",))
    page = whole_number(request.args, "page", default=1, low=1, high=MAX_PAGE)
    entries: list[LogEntry] = []
    total = 0
    if not errors:
        result = runtime.store.changes.page(
            **query,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            sort=sort.key,
            descending=sort.descending,
        )
        entries, total = result.entries, result.total
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "admin/changelog.html",
        typed=typed,
        errors=errors,
        entries=[
            {
                "entry": entry,
                "what": ACTION_TEXT.get(entry.action, entry.action),
                "changes": describe_changes(entry),
            }
            for entry in entries
        ],
        areas=AREAS,
        total=total,
        page=page,
        pages=pages,
        sort=sort,
        filters={key: value for key, value in typed.items() if value},
        query={key: value for key, value in {**typed, "sort": sort.param}.items() if value},
        timezone=runtime.settings.timezone,
    ), 400 if errors else 200


def _entry_or_404(entry_id: int) -> LogEntry:
    entry = get_runtime().store.changes.get(entry_id)
    if entry is None:
        abort(404)
    return entry


def _render_entry(
    entry: LogEntry, template: str, *, refusal: str | None = None, status: int = 200
) -> ResponseReturnValue:
    runtime = get_runtime()
    changed = rule_changes(entry)
    rules = [
        {
            "kind": rule_change_kind(before, after),
            "pattern": (after or before or {}).get("pattern", ""),
            "changes": _field_changes(before, after),
        }
        for before, after in changed[:MAX_RULES_SHOWN]
    ]
    return render_template(
        template,
        entry=entry,
        what=ACTION_TEXT.get(entry.action, entry.action),
        rules=rules,
        rules_total=len(changed),
        changes=[] if rules else describe_changes(entry),
        never_revertible=revert_refusal(entry)
        or restored_rule_refusal(entry, runtime.settings.county_domains),
        reverted_by=runtime.store.changes.reverted_by(entry.id),
        reverts=(entry.after or {}).get(REVERTS),
        refusal=refusal,
        errors={"revert": refusal} if refusal else {},
    ), status


@blueprint.get("/<int:entry_id>")
def entry(entry_id: int) -> ResponseReturnValue:
    """One entry: every rule of an import, and (for an administrator) the way to revert it."""
    return _render_entry(_entry_or_404(entry_id), "admin/changelog_entry.html")


@blueprint.route("/<int:entry_id>/revert", methods=["GET", "POST"])
@admin_required
def revert(entry_id: int) -> ResponseReturnValue:
    """GET: what reverting would do, and the button; POST: do it, or say why it cannot be done."""
    found = _entry_or_404(entry_id)
    if request.method == "GET":
        return _render_entry(found, "admin/changelog_revert.html")
    runtime = get_runtime()
    try:
        done = runtime.store.changes.revert(found.id, actor(), runtime.settings.county_domains)
    except RevertRefused as refused:
        return _render_entry(found, "admin/changelog_revert.html", refusal=str(refused), status=409)
    if done.action == "site.revert":
        runtime.sites.forget(done.target)  # this worker's copy; the rules reload by their version
    flash(_("Reverted change #%(id)s; the revert is change #%(new)s.", id=found.id, new=done.id), "success")
    return redirect(url_for("admin.changelog.entry", entry_id=done.id))
