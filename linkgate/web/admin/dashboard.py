"""The console's front page: clicks today and this week, top destinations, security events, cache health.

Read-only, for every role. Counts are aggregates only (domain x day x outcome), as stored.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from linkgate.web.app_runtime import get_runtime
from linkgate.web.reports import get_desk

blueprint = Blueprint("dashboard", __name__)

OUTCOME_TEXT = {
    "redirect": _l("Sent straight on"),
    "notice": _l("Shown the notice"),
    "block": _l("Blocked"),
}
# Visitors' reports of a link (linkgate/web/reports.py): the days the dashboard lists, and each choice.
REPORT_DAYS = 30
REPORT_CHOICE_TEXT = {"broken": "Broken", "unsafe": "Looks unsafe", "wrong_site": "Wrong site"}
# The dashboard's words for each kind of linkgate.counts.EVENT_KINDS (a new kind needs one here).
EVENT_TEXT = {
    "bad_signature": _l("Links with a wrong signature"),
    "blocked_destination": _l("Blocked destinations requested"),
    "invalid_url": _l("Links that could not be understood"),
    "deceptive_flag": _l("Links with a deceptive address"),
    "ssrf_refused": _l("Fetches refused (non-public address)"),
    "port_refused": _l("Fetches refused (port not allowed)"),
    "scheme_refused": _l("Fetches refused (not http or https)"),
    "credentials_refused": _l("Fetches refused (user name or password in the address)"),
    "login_failure": _l("Failed console sign-ins"),
    "bad_api_token": _l("API requests with a wrong token"),
    "feed_listed": _l("Destinations on a known-bad list"),
}


@blueprint.get("/")
def index() -> str:
    runtime = get_runtime()
    store = runtime.store
    runtime.counts.flush()  # this worker's buffered counts; the others flush on their own schedule
    today = runtime.counts.today()
    week_start = today - timedelta(days=today.weekday())
    clicks_today = store.counts.clicks_by_outcome(today, today)
    clicks_week = store.counts.clicks_by_outcome(week_start, today)
    events_today = store.counts.events_by_kind(today, today)
    events_week = store.counts.events_by_kind(week_start, today)
    freshness = runtime.sites.freshness
    health = store.sites.health(freshness.found, freshness.not_found, freshness.error)
    get_desk().flush()  # this worker's reports that waited for the database
    reports_start = today - timedelta(days=REPORT_DAYS - 1)
    outcomes = [
        (text, clicks_today.get(outcome, 0), clicks_week.get(outcome, 0))
        for outcome, text in OUTCOME_TEXT.items()
    ]
    events = [
        (EVENT_TEXT.get(kind, kind), events_today.get(kind, 0), count)
        for kind, count in sorted(events_week.items())
    ]
    return render_template(
        "admin/dashboard.html",
        today=today,
        week_start=week_start,
        outcomes=outcomes,
        total_today=sum(clicks_today.values()),
        total_week=sum(clicks_week.values()),
        top=store.counts.top_domains(week_start, today, 10),
        events=events,
        health=health,
        rules_count=len(runtime.classifier.rules),
        rules_version=runtime.rules.version,
        reports=store.reports.top(reports_start, today, 10),
        reports_start=reports_start,
        report_choices=REPORT_CHOICE_TEXT,
    )
