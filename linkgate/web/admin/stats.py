"""Statistics in the console: clicks per day for a chosen range (a chart and the same numbers in a table),
the top destination domains, and a CSV download; all of it for every domain, or for one (``domain=``,
which each top domain links to, as the dashboard's do).

Read-only, for every role. Only what the store keeps is shown: registrable domain x day x outcome. The
chart is drawn here, on the server (:mod:`linkgate.chart`); the browser needs no script to see it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup

from linkgate.chart import MAX_DAYS, OUTCOMES, clicks_chart, csv_text, daily_clicks, totals
from linkgate.store import counted_domain
from linkgate.web.admin.dashboard import OUTCOME_TEXT
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import usable_day

blueprint = Blueprint("stats", __name__, url_prefix="/stats")

DEFAULT_DAYS = 30
TOP_DOMAINS = 20
MAX_DOMAIN = 253  # a domain name's length at most


@dataclass
class RangeForm:
    """The from and to dates asked for, and what is wrong with them, field by field."""

    values: dict[str, str]
    domain: str | None = None  # one destination domain, as counted (lower case), or every domain
    start: date | None = None
    end: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, args: Mapping[str, str], today: date) -> RangeForm:
        """Dates from the query string: by default the 30 days ending on the last day, or ``today``."""
        form = cls({"from": args.get("from", "").strip()[:32], "to": args.get("to", "").strip()[:32]})
        typed = args.get("domain", "").strip()[:MAX_DOMAIN]
        if typed:
            form.values["domain"] = typed
            form.domain = counted_domain(typed)
            if form.domain is None:
                form.errors["domain"] = _(
                    '"%(typed)s" is not a domain: write it like example.org.', typed=typed
                )
        if not form.values["to"]:
            form.values["to"] = today.isoformat()
        form.end = form._date("to", _("Enter the last day as a date, such as 2026-03-31."))
        if not form.values["from"]:
            form.values["from"] = ((form.end or today) - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        form.start = form._date("from", _("Enter the first day as a date, such as 2026-03-01."))
        if form.start is not None and form.end is not None:
            days = (form.end - form.start).days + 1
            if form.start > form.end:
                form.errors["from"] = _("The first day must be on or before the last day.")
            elif days > MAX_DAYS:
                form.errors["to"] = _(
                    "Choose a range of %(count)s days or fewer: this one has %(days)s days.",
                    count=MAX_DAYS,
                    days=days,
                )
        return form

    def _date(self, key: str, message: str) -> date | None:
        day = usable_day(self.values[key])
        if day is None:
            self.errors[key] = message
        return day

    @property
    def query(self) -> dict[str, str]:
        query = {"from": self.values["from"], "to": self.values["to"]}
        return {**query, "domain": self.domain} if self.domain else query


def _range_form() -> RangeForm:
    runtime = get_runtime()
    return RangeForm.read(request.args.to_dict(), runtime.counts.today())


def _context(form: RangeForm) -> dict[str, object]:
    return {
        "form": form,
        "errors": form.errors,
        "timezone": get_runtime().settings.timezone,
        "max_days": MAX_DAYS,
    }


@blueprint.get("/")
def index() -> ResponseReturnValue:
    runtime = get_runtime()
    runtime.counts.flush()  # this worker's buffered counts; the others flush on their own schedule
    form = _range_form()
    context = _context(form)
    if form.errors or form.start is None or form.end is None:
        return render_template("admin/stats.html", **context), 400
    start, end = form.start, form.end
    store = runtime.store
    days = daily_clicks(start, end, store.counts.clicks_per_day(start, end, form.domain))
    summed = totals(day.counts for day in days)
    total = sum(summed.values())
    labels = {outcome: str(OUTCOME_TEXT[outcome]) for outcome in OUTCOMES}
    busiest = max(days, key=lambda day: day.total)
    if total:
        description = _(
            "%(total)s clicks from %(start)s to %(end)s: %(parts)s. The busiest day was %(day)s, with "
            "%(most)s clicks. The table below gives every day's numbers.",
            total=f"{total:,}",
            start=start.isoformat(),
            end=end.isoformat(),
            parts=", ".join(f"{labels[outcome]} {summed[outcome]:,}" for outcome in OUTCOMES),
            day=busiest.day.isoformat(),
            most=f"{busiest.total:,}",
        )
    else:
        description = _("No clicks from %(start)s to %(end)s.", start=start.isoformat(), end=end.isoformat())
    chart = clicks_chart(
        days,
        labels=labels,
        title=_(
            "Clicks per day to %(domain)s from %(start)s to %(end)s",
            domain=form.domain,
            start=start.isoformat(),
            end=end.isoformat(),
        )
        if form.domain
        else _("Clicks per day from %(start)s to %(end)s", start=start.isoformat(), end=end.isoformat()),
        description=description,
        x_title=_("Day"),
        y_title=_("Clicks"),
    )
    context.update(
        start=start,
        end=end,
        days=days,
        outcomes=[(outcome, labels[outcome]) for outcome in OUTCOMES],
        summed=summed,
        total=total,
        chart=Markup(chart),  # noqa: S704 (built by linkgate.chart, which escapes every piece of text)
        top=[] if form.domain else store.counts.top_domains(start, end, TOP_DOMAINS),
        top_limit=TOP_DOMAINS,
    )
    return render_template("admin/stats.html", **context)


@blueprint.get("/clicks.csv")
def clicks_csv() -> ResponseReturnValue:
    """Every stored count of the range: day, domain, outcome, count."""
    runtime = get_runtime()
    runtime.counts.flush()
    form = _range_form()
    if form.errors or form.start is None or form.end is None:
        return render_template("admin/stats.html", **_context(form)), 400
    rows = runtime.store.counts.click_totals(form.start, form.end, form.domain)
    body = csv_text(("day", "domain", "outcome", "count"), rows)
    domain = "-" + re.sub(r"[^a-z0-9.-]", "_", form.domain) if form.domain else ""  # a header: nothing else
    filename = f"linkgate-clicks{domain}-{form.start.isoformat()}-to-{form.end.isoformat()}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
