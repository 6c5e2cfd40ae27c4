"""The allowlist and blocklist in the console: list, search, add, edit, delete, and "test a link".

Every change goes through the store, which refuses duplicates, writes the change log and bumps the
rules version (each worker reloads within ``server.rules_refresh_seconds``). Validation is the
classifier's own (:func:`linkgate.classify.make_rule`): the console never has rules of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from linkgate.classify import (
    FLAGS,
    MAX_NOTE,
    RULE_KINDS,
    Rule,
    RuleSet,
    control_character,
    county_rules,
    make_rule,
    rule_name_of,
)
from linkgate.errors import DuplicateRule, InvalidDestination, RuleError
from linkgate.store import RULE_SORTS, RuleRecord
from linkgate.urls import Destination, parse_destination
from linkgate.web.admin.auth import actor, admin_required
from linkgate.web.admin.listing import Sort, page_numbers
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_PAGE, whole_number
from linkgate.web.gate import CATEGORY_TEXT, FLAG_TEXT

blueprint = Blueprint("rules", __name__, url_prefix="/rules")

PAGE_SIZE = 25
MAX_COUNTY_RULES_SHOWN = 50  # rules about County addresses kept from before they were refused
SCOPES = ("domain", "exact")
RULE_ACTIONS = ("", "redirect", "notice")  # "" is the partner category's configured action
KIND_PAST = {"allow": _l("allowed"), "block": _l("blocked")}
ACTION_TEXT = {
    "redirect": _l("sent straight on"),
    "notice": _l("shown the notice"),
    "block": _l("shown the block page"),
}


@dataclass
class RuleForm:
    """What was typed into the add or edit form, and what is wrong with it, field by field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    pasted: str = ""  # the web address the name was taken from, when one was pasted
    duplicate: Rule | None = None  # the rule already kept for the same name and scope

    @classmethod
    def empty(cls) -> RuleForm:
        return cls({"name": "", "scope": "domain", "kind": "allow", "action": "", "note": ""})

    @classmethod
    def of(cls, rule: Rule) -> RuleForm:
        return cls(
            {
                "name": rule.name,
                "scope": "exact" if rule.exact else "domain",
                "kind": rule.kind,
                "action": rule.action or "",
                "note": rule.note,
            }
        )

    @classmethod
    def read(cls, form: Mapping[str, str]) -> RuleForm:
        values = {key: form.get(key, "").strip() for key in ("name", "scope", "kind", "action", "note")}
        return cls(values)

    def validate(self, county_domains: tuple[str, ...]) -> Rule | None:
        """The rule the form describes, or None with :attr:`errors` filled in. A pasted web address
        gives its host (the form then shows the host, and :attr:`pasted` the address)."""
        values, errors = self.values, self.errors
        if not values["name"]:
            errors["name"] = _("Enter a domain, such as example.org, or a host, such as www.example.org.")
        if values["scope"] not in SCOPES:
            errors["scope"] = _("Choose whether the rule covers the domain's subdomains.")
        if values["kind"] not in RULE_KINDS:
            errors["kind"] = _("Choose allow or block.")
        if values["action"] not in RULE_ACTIONS:
            errors["action"] = _("Choose what visitors get: as for all partners, straight on, or the notice.")
        elif values["kind"] == "block" and values["action"]:
            errors["action"] = _('A block rule always blocks: leave "What visitors get" as for all partners.')
        if len(values["note"]) > MAX_NOTE:
            errors["note"] = _("Keep the note to %(count)s characters or fewer.", count=MAX_NOTE)
        elif control_character(values["note"]) is not None:
            errors["note"] = _("Remove the control character from the note.")
        if values["name"]:
            try:
                name, pasted = rule_name_of(values["name"])
                make_rule(name, "allow")  # the name's own problems, whatever else is wrong
            except RuleError as error:
                errors["name"] = str(error)
            else:
                if pasted:
                    self.pasted, values["name"] = values["name"], name
        if errors:
            return None
        try:
            return make_rule(
                values["name"],
                values["kind"],
                exact=values["scope"] == "exact",
                action=values["action"] or None,
                note=values["note"],
                county_domains=county_domains,
            )
        except RuleError as error:
            errors["name"] = str(error)
            return None


def conflict_messages(rule: Rule) -> list[str]:
    """Sentences such as "example.org is blocked by rule *.example.org" for overlapping rules."""
    existing = get_runtime().store.rules.load()[1]
    messages = []
    for other in RuleSet(existing).conflicts(rule):
        if RuleSet([other]).match(rule.name) is other:
            host, by = rule.name, other
        else:
            host, by = other.name, other
        messages.append(
            _(
                "%(host)s is %(kind)s by rule %(pattern)s; the more specific rule wins.",
                host=host,
                kind=KIND_PAST[by.kind],
                pattern=by.pattern,
            )
        )
    return messages


def _save(form: RuleForm, save: Callable[[Rule], Rule], message: LazyString) -> ResponseReturnValue | None:
    """Validate and save a posted form: a redirect to the list, or None with the errors on the form."""
    rule = form.validate(get_runtime().settings.county_domains)
    if rule is None:
        return None
    try:
        saved = save(rule)
    except DuplicateRule as error:
        form.errors["name"] = str(error)
        form.duplicate = error.existing
        return None
    except RuleError as error:  # the rule went away meanwhile
        form.errors["name"] = str(error)
        return None
    if form.pasted:
        flash(
            _("Took the host %(host)s from the address %(address)s.", host=saved.name, address=form.pasted),
            "info",
        )
    flash(str(message) % {"kind": saved.kind, "pattern": saved.pattern}, "success")
    for warning in conflict_messages(saved):
        flash(warning, "warning")
    return redirect(url_for("admin.rules.index"))


def _record_or_404(rule_id: int) -> RuleRecord:
    record = get_runtime().store.rules.get(rule_id)
    if record is None:
        abort(404)
    return record


@blueprint.get("/")
def index() -> str:
    search = request.args.get("q", "").strip()[:253]
    kind = request.args.get("kind", "")
    kind_filter = kind if kind in RULE_KINDS else None
    sort = Sort.read(request.args, RULE_SORTS, "name", newest_first=("updated",))
    page = whole_number(request.args, "page", default=1, low=1, high=MAX_PAGE)
    result = get_runtime().store.rules.page(
        search, kind_filter, sort.key, (page - 1) * PAGE_SIZE, PAGE_SIZE, descending=sort.descending
    )
    pages = max(1, -(-result.total // PAGE_SIZE))
    filters = {key: value for key, value in {"q": search, "kind": kind_filter}.items() if value}
    runtime = get_runtime()
    runtime.rules.refresh()
    kept_for_county = county_rules(runtime.classifier.rules.rules, runtime.settings.county_domains)
    return render_template(
        "admin/rules.html",
        county_rules=kept_for_county[:MAX_COUNTY_RULES_SHOWN],
        county_rules_total=len(kept_for_county),
        records=result.records,
        total=result.total,
        page=page,
        pages=pages,
        page_numbers=page_numbers(page, pages),
        search=search,
        kind=kind_filter or "",
        sort=sort,
        filters=filters,
        query={**filters, "sort": sort.param} if sort.param else filters,
    )


@blueprint.route("/new", methods=["GET", "POST"])
@admin_required
def new() -> ResponseReturnValue:
    form = RuleForm.empty()
    if request.method == "POST":
        form = RuleForm.read(request.form)
        store = get_runtime().store
        done = _save(
            form, lambda rule: store.rules.add(rule, actor()), _l("Added the %(kind)s rule %(pattern)s.")
        )
        if done is not None:
            return done
    status = 400 if form.errors else 200
    return render_template("admin/rule_form.html", form=form, errors=form.errors, rule_id=None), status


@blueprint.route("/<int:rule_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(rule_id: int) -> ResponseReturnValue:
    store = get_runtime().store
    record = _record_or_404(rule_id)
    form = RuleForm.of(record.rule)
    if request.method == "POST":
        form = RuleForm.read(request.form)
        done = _save(
            form,
            lambda rule: store.rules.update(rule_id, rule, actor()),
            _l("Saved the %(kind)s rule %(pattern)s."),
        )
        if done is not None:
            return done
    status = 400 if form.errors else 200
    return render_template(
        "admin/rule_form.html", form=form, errors=form.errors, rule_id=rule_id, record=record
    ), status


@blueprint.route("/<int:rule_id>/delete", methods=["GET", "POST"])
@admin_required
def delete(rule_id: int) -> ResponseReturnValue:
    store = get_runtime().store
    record = _record_or_404(rule_id)
    if request.method == "POST":
        try:
            removed = store.rules.remove(record.rule.name, record.rule.exact, actor())
        except RuleError:  # removed by someone else since this page read it
            flash(_("The rule %(pattern)s was already removed.", pattern=record.rule.pattern), "info")
            return redirect(url_for("admin.rules.index"))
        flash(
            _("Removed the %(kind)s rule %(pattern)s.", kind=removed.kind, pattern=removed.pattern), "success"
        )
        return redirect(url_for("admin.rules.index"))
    return render_template("admin/rule_delete.html", record=record)


def link_outcome(destination: Destination) -> dict[str, Any]:
    """What a visitor following a link to ``destination`` gets now, trusted and not (for the console)."""
    runtime = get_runtime()
    runtime.rules.refresh()
    classifier = runtime.classifier
    trusted = classifier.classify(destination, trusted=True)
    untrusted = classifier.classify(destination, trusted=False)
    return {
        "destination": destination.href,
        "category": CATEGORY_TEXT[trusted.category],
        "flags": [
            {"code": flag, "deceptive": FLAGS[flag], "text": FLAG_TEXT[flag]} for flag in trusted.flags
        ],
        "trusted": ACTION_TEXT[trusted.action],
        "untrusted": ACTION_TEXT[untrusted.action],
        "rule": trusted.rule,
        "listed": trusted.listed,  # the known-bad list that decides it, when no rule does
    }


def read_destination() -> tuple[str, Destination | None, dict[str, str]]:
    """The ``url`` asked about in the query string: what was typed, the destination, or the error."""
    url = request.args.get("url", "").strip()
    if "url" not in request.args:
        return url, None, {}
    try:
        return url, parse_destination(url, get_runtime().settings.max_url_length), {}
    except InvalidDestination as problem:
        return url, None, {"url": str(problem)}


@blueprint.get("/test")
def test() -> ResponseReturnValue:
    """What a visitor following a link would get, with the rules as they are now."""
    url, destination, errors = read_destination()
    outcome = link_outcome(destination) if destination is not None else None
    return render_template(
        "admin/rule_test.html", url=url, errors=errors, outcome=outcome
    ), 400 if errors else 200
