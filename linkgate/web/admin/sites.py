"""The privacy-link cache in the console: every site linkgate knows, a page per site, and changes to it.

Everyone may look; only administrators may change: look a site up again now, pin its privacy link,
say it has none, remove that override, or forget the site. Every change goes through the store, which
writes the change log, and then this worker drops its in-memory copy so that it never serves the old
answer (the other workers trust theirs for at most a few seconds). Whatever a remote site sent is
untrusted: templates escape it, and a privacy link is shown as a link only when it is http(s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from linkgate.errors import InvalidDestination
from linkgate.privacy import check_privacy_url
from linkgate.sites import Freshness, SiteFacts, facts_from_row, parse_site_key
from linkgate.store import SITE_STATUSES, SiteRow
from linkgate.store.sites import SITE_SORTS
from linkgate.urls import parse_destination
from linkgate.web.admin.auth import actor, admin_required
from linkgate.web.admin.listing import Sort, page_numbers
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_PAGE, whole_number

blueprint = Blueprint("sites", __name__, url_prefix="/sites")

PAGE_SIZE = 25
OVERRIDE_FILTER = "override"
FILTERS = (*SITE_STATUSES, OVERRIDE_FILTER)
FILTER_TEXT = {
    "found": _l("A privacy link was found"),
    "none": _l("No privacy policy was found"),
    "error": _l("The lookup failed"),
    "unknown": _l("Not yet looked up"),
    OVERRIDE_FILTER: _l("Has an override"),
}
STATUS_TEXT = {
    "found": _l("found"),
    "none": _l("no privacy policy found"),
    "error": _l("lookup failed"),
    "unknown": _l("not yet looked up"),
}
FOUND_BY_TEXT = {
    "home page": _l("a link on the home page"),
    "fallback path": _l("a usual address for privacy policies"),
    "well-known address": _l("the site's well-known address for its policy"),
    "override": _l("set by hand"),
}
YES_NO = {True: _l("yes"), False: _l("no"), None: _l("not known")}
# The destinations whose health is in doubt (linkgate.health), listed above the sites when asked for.
HEALTH_FILTER_TEXT = {
    "any": _l("Moved away, parked or changed hands"),
    "moved": _l("Led to a different website"),
    "parked": _l("Looked parked or for sale"),
    "changed": _l("Changed hands since the last complete audit"),
}
HEALTH_SHOWN = 100  # destinations listed at once; the rest are counted


@dataclass(frozen=True)
class SiteView:
    """A stored site as the console shows it: the lookup as recorded, and what visitors are shown."""

    row: SiteRow
    facts: SiteFacts  # what the notice shows: an override wins over the lookup
    expires: datetime | None

    @property
    def host(self) -> str:
        return self.row.host

    @property
    def status_text(self) -> str:
        return str(STATUS_TEXT.get(self.row.status, self.row.status))

    @property
    def found_by_text(self) -> str:
        found_by = self.facts.found_by
        return str(FOUND_BY_TEXT.get(found_by, found_by)) if found_by else ""

    @property
    def override(self) -> str | None:
        """ "url" when the privacy link is pinned, "none" when the site is said to have none."""
        if self.row.override_url:
            return "url"
        if self.row.override_none:
            return "none"
        return None

    @property
    def override_text(self) -> str:
        if self.row.override_url:
            return _("privacy link set by hand")
        if self.row.override_none:
            return _("no privacy policy, set by hand")
        return _("none")

    @property
    def is_due(self) -> bool:
        return self.expires is None or self.expires <= datetime.now(self.expires.tzinfo)


def is_web_link(url: str | None) -> bool:
    """Only an http(s) address may become a link in the console: never ``javascript:`` or ``data:``."""
    if not url:
        return False
    try:
        parse_destination(url)
    except InvalidDestination:
        return False
    return True


def _unknown_host(search: str, rows: list[SiteRow]) -> str | None:
    """The site the search names exactly when none is stored under that name, so its page can be offered."""
    try:
        name = parse_site_key(search) if search else None
    except InvalidDestination:
        return None
    if name is None or any(row.host == name for row in rows):
        return None
    return name


def _view(row: SiteRow, freshness: Freshness) -> SiteView:
    return SiteView(row, facts_from_row(row), freshness.expires(row))


def _host_or_404(host: str) -> str:
    try:
        return parse_site_key(host)
    except InvalidDestination:
        abort(404)


@blueprint.get("/")
def index() -> str:
    search = request.args.get("q", "").strip()[:253]
    chosen = request.args.get("status", "")
    status = chosen if chosen in FILTERS else ""
    sort = Sort.read(request.args, SITE_SORTS, "host", newest_first=("checked",))
    page = whole_number(request.args, "page", default=1, low=1, high=MAX_PAGE)
    result = get_runtime().store.sites.page(
        search=search,
        status=status if status in SITE_STATUSES else None,
        overrides_only=status == OVERRIDE_FILTER,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        sort=sort.key,
        descending=sort.descending,
    )
    freshness = get_runtime().sites.freshness
    pages = max(1, -(-result.total // PAGE_SIZE))
    chosen_health = request.args.get("health", "")
    health = chosen_health if chosen_health in HEALTH_FILTER_TEXT else ""
    destinations = get_runtime().store.destinations
    in_doubt = destinations.page(None if health == "any" else health, limit=HEALTH_SHOWN) if health else None
    filters = {
        key: value for key, value in {"q": search, "status": status, "health": health}.items() if value
    }
    return render_template(
        "admin/sites.html",
        sites=[_view(row, freshness) for row in result.rows],
        total=result.total,
        page=page,
        pages=pages,
        page_numbers=page_numbers(page, pages),
        unknown_host=_unknown_host(search, result.rows),
        search=search,
        status=status,
        filters=FILTER_TEXT,
        sort=sort,
        listed=filters,
        query={**filters, "sort": sort.param} if sort.param else filters,
        yes_no=YES_NO,
        is_web_link=is_web_link,
        health=health,
        health_filters=HEALTH_FILTER_TEXT,
        health_counts=destinations.counts(),
        in_doubt=in_doubt,
    )


def _render_site(name: str, errors: dict[str, str] | None = None, typed: str = "") -> ResponseReturnValue:
    row = get_runtime().store.sites.get(name)
    site = None if row is None else _view(row, get_runtime().sites.freshness)
    errors = errors or {}
    if not errors and site is not None and site.row.override_url:
        typed = site.row.override_url
    body = render_template(
        "admin/site.html",
        host=name,
        site=site,
        errors=errors,
        typed=typed,
        yes_no=YES_NO,
        is_web_link=is_web_link,
        health=get_runtime().store.destinations.get(name),
    )
    return body, 400 if errors else 200


@blueprint.get("/<host>")
def site(host: str) -> ResponseReturnValue:
    name = _host_or_404(host)
    if name != host:
        return redirect(url_for("admin.sites.site", host=name))
    return _render_site(name)


def _changed(name: str, message: str, category: str = "success") -> ResponseReturnValue:
    """After a change: this worker forgets what it remembered of the site, then back to its page."""
    get_runtime().sites.forget(name)
    flash(message, category)
    return redirect(url_for("admin.sites.site", host=name))


@blueprint.post("/<host>/recheck")
@admin_required
def recheck(host: str) -> ResponseReturnValue:
    """Look the site up now; the fetcher's own caps (time, size, redirects) bound how long it takes."""
    name = _host_or_404(host)
    runtime = get_runtime()
    facts = runtime.sites.refresh(name, force=True)
    runtime.sites.forget(name)
    if facts is None:
        flash(
            _("The lookup of %(host)s could not be finished or recorded. Try again soon.", host=name),
            "warning",
        )
        return redirect(url_for("admin.sites.site", host=name))
    row = runtime.store.sites.get(name)
    status = row.status if row is not None else facts.status
    if status == "found" and row is not None:
        message = _("Looked up %(host)s: found its privacy link, %(url)s.", host=name, url=row.privacy_url)
    elif status == "none":
        message = _("Looked up %(host)s: no privacy policy was found.", host=name)
    else:
        message = _(
            "Looked up %(host)s: the lookup failed (%(error)s).",
            host=name,
            error=((row.error if row is not None else facts.error) or _("no reason given")).rstrip("."),
        )
    flash(message, "success" if status in {"found", "none"} else "warning")
    if facts.found_by == "override":
        flash(_("The override still applies: visitors are shown what was set by hand."), "info")
    return redirect(url_for("admin.sites.site", host=name))


@blueprint.post("/<host>/override")
@admin_required
def set_override(host: str) -> ResponseReturnValue:
    name = _host_or_404(host)
    typed = request.form.get("privacy_url", "").strip()
    error = None
    url = None
    if not typed:
        error = _("Enter the web address of the site's privacy policy, starting with https://.")
    else:
        try:
            url = check_privacy_url(typed, get_runtime().settings.max_url_length)
        except InvalidDestination as problem:
            error = str(problem)
    if error is not None or url is None:
        return _render_site(name, {"privacy_url": error or ""}, typed)
    get_runtime().store.sites.set_override(name, url, actor())
    return _changed(
        name, _("Visitors going to %(host)s are now shown the privacy link %(url)s.", host=name, url=url)
    )


@blueprint.route("/<host>/no-policy", methods=["GET", "POST"])
@admin_required
def no_policy(host: str) -> ResponseReturnValue:
    """Replacing a privacy link set by hand asks first (GET, or a POST without ``confirmed=1``), as
    removing it does; with no link set by hand there is nothing to lose, and the POST goes on at once."""
    name = _host_or_404(host)
    runtime = get_runtime()
    row = runtime.store.sites.get(name)
    asked = request.method == "GET" or request.form.get("confirmed") != "1"
    if row is not None and row.override_url and asked:
        site = _view(row, runtime.sites.freshness)
        return render_template("admin/site_no_policy.html", host=name, site=site, is_web_link=is_web_link)
    if request.method == "GET":
        return redirect(url_for("admin.sites.site", host=name))
    runtime.store.sites.set_override(name, None, actor())
    return _changed(
        name, _("Visitors going to %(host)s are now told that it has no privacy policy.", host=name)
    )


@blueprint.route("/<host>/remove-override", methods=["GET", "POST"])
@admin_required
def remove_override(host: str) -> ResponseReturnValue:
    """Ask first, saying what will be lost (the privacy link set by hand, or that the site has none), as
    forgetting a site does; remove it on the second POST, the one the confirmation page sends
    (``confirmed=1``)."""
    name = _host_or_404(host)
    runtime = get_runtime()
    if request.method == "GET" or request.form.get("confirmed") != "1":
        row = runtime.store.sites.get(name)
        site = None if row is None else _view(row, runtime.sites.freshness)
        return render_template(
            "admin/site_remove_override.html", host=name, site=site, is_web_link=is_web_link
        )
    if not runtime.store.sites.remove_override(name, actor()):
        return _changed(name, _("%(host)s had no override to remove.", host=name), "info")
    return _changed(name, _("Removed the override of %(host)s: its lookup decides again.", host=name))


@blueprint.route("/<host>/forget", methods=["GET", "POST"])
@admin_required
def forget(host: str) -> ResponseReturnValue:
    """Ask first, saying what will be lost (a hand-set privacy link above all); forget on the second POST,
    the one the confirmation page sends (``confirmed=1``)."""
    name = _host_or_404(host)
    runtime = get_runtime()
    if request.method == "GET" or request.form.get("confirmed") != "1":
        row = runtime.store.sites.get(name)
        site = None if row is None else _view(row, runtime.sites.freshness)
        return render_template("admin/site_forget.html", host=name, site=site, is_web_link=is_web_link)
    cleared = runtime.store.sites.clear(name, actor())
    runtime.sites.forget(name)
    if cleared:
        flash(
            _(
                "Forgot %(host)s: it will be looked up again the next time a visitor follows a link to it.",
                host=name,
            ),
            "success",
        )
    else:
        flash(_("Nothing was stored about %(host)s.", host=name), "info")
    return redirect(url_for("admin.sites.index"))
