"""Click counts on the command line: ``linkgate stats``, the console's Statistics page as text.

The same numbers as the page (registrable domain x day x outcome, nothing finer), per day or per
destination domain, as a table, CSV or JSON.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

import click

from linkgate.chart import MAX_DAYS, OUTCOMES, clicks_json, csv_text, daily_clicks, parse_day, totals
from linkgate.cli.common import current_settings, fail, friendly, main, open_store
from linkgate.clock import county_today
from linkgate.errors import LinkgateError
from linkgate.store import Store, counted_domain
from linkgate.store.reports import CHOICES

DEFAULT_DAYS = 30


def _day(text: str, option: str) -> date:
    day = parse_day(text)
    if day is None:
        raise LinkgateError(f'{option} must be a date written YYYY-MM-DD, not "{text}".')
    return day


def date_range(start_text: str | None, end_text: str | None, today: date) -> tuple[date, date]:
    """The days asked for, by default the 30 days ending today; :class:`LinkgateError` for a bad range."""
    end = _day(end_text, "--to") if end_text else today
    start = _day(start_text, "--from") if start_text else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise LinkgateError(f"--from ({start.isoformat()}) is after --to ({end.isoformat()}).")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise LinkgateError(f"The range has {days} days; the most is {MAX_DAYS}.")
    return start, end


def by_day(store: Store, start: date, end: date, domain: str | None = None) -> list[tuple[str, list[int]]]:
    """One row per day of the range, zero days included: (day, counts in the order of OUTCOMES), of every
    destination domain or of one."""
    days = daily_clicks(start, end, store.counts.clicks_per_day(start, end, domain))
    return [(day.day.isoformat(), [day.count(outcome) for outcome in OUTCOMES]) for day in days]


def by_domain(store: Store, start: date, end: date, only: str | None = None) -> list[tuple[str, list[int]]]:
    """One row per destination domain with clicks (or the one domain ``only``), the busiest first."""
    table: dict[str, dict[str, int]] = {}
    for _when, domain, outcome, count in store.counts.click_totals(start, end, only):
        counts = table.setdefault(domain, dict.fromkeys(OUTCOMES, 0))
        counts[outcome] = counts.get(outcome, 0) + count
    rows = [(domain, [counts[outcome] for outcome in OUTCOMES]) for domain, counts in table.items()]
    return sorted(rows, key=lambda row: (-sum(row[1]), row[0]))


@main.command()
@click.option("--from", "start_text", metavar="YYYY-MM-DD", help="First day (default: 29 days before --to).")
@click.option(
    "--to", "end_text", metavar="YYYY-MM-DD", help="Last day (default: today in the configured time zone)."
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How to print the numbers.",
)
@click.option(
    "--by",
    type=click.Choice(["day", "domain"]),
    default="day",
    show_default=True,
    help="One row per day (every day of the range) or per destination domain (busiest first).",
)
@click.option("--domain", help="Only the clicks to this destination domain, such as example.org.")
@click.option(
    "--reports",
    "reported",
    is_flag=True,
    help="Visitors' reports of a link instead of clicks: per destination site, the most reported first.",
)
@friendly
def stats(
    start_text: str | None, end_text: str | None, output: str, by: str, domain: str | None, reported: bool
) -> None:
    """Clicks from --from to --to (at most 366 days), by what visitors got: sent straight on
    (redirect), shown the notice (notice) or blocked (block). Days are in the configured time zone.
    With --reports, what visitors reported instead (broken, unsafe, wrong_site) per destination site."""
    settings = current_settings()
    today = county_today(settings.timezone)
    start, end = date_range(start_text, end_text, today)
    store = open_store(settings)
    if reported:
        if domain:
            fail("--reports lists every reported site: leave out --domain")
        _print_reports(store, start, end, output, settings.timezone)
        return
    only = counted_domain(domain) if domain and domain.strip() else None
    if domain and domain.strip() and only is None:
        fail(f"--domain: {domain!r} is not a domain; write it like example.org")
    rows = by_day(store, start, end, only) if by == "day" else by_domain(store, start, end, only)
    summed = totals(dict(zip(OUTCOMES, counts, strict=True)) for _key, counts in rows)
    header = [by, *OUTCOMES, "total"]
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "from": start.isoformat(),
                    "to": end.isoformat(),
                    "by": by,
                    "domain": only,
                    "timezone": settings.timezone,
                    "rows": [
                        {by: key, **clicks_json(dict(zip(OUTCOMES, counts, strict=True)))}
                        for key, counts in rows
                    ],
                    "totals": clicks_json(summed),
                }
            )
        )
        return
    if output == "csv":
        click.echo(csv_text(header, ([key, *counts, sum(counts)] for key, counts in rows)), nl=False)
        return
    lines = [[key, *(str(count) for count in counts), str(sum(counts))] for key, counts in rows]
    footer = ["all", *(str(summed[outcome]) for outcome in OUTCOMES), str(sum(summed.values()))]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(
            *header,
            title=f"Clicks{f' to {only}' if only else ''} from {start.isoformat()} to {end.isoformat()} "
            f"({settings.timezone})",
            show_footer=True,
        )
        for column, text in zip(table.columns, footer, strict=True):
            column.footer = text
            if column is not table.columns[0]:
                column.justify = "right"
        for line in lines:
            table.add_row(*line)
        Console().print(table)
        return
    if not lines:
        click.echo(f"No clicks{f' to {only}' if only else ''} from {start.isoformat()} to {end.isoformat()}.")
        return
    for line in [header, *lines, footer]:
        click.echo("\t".join(line))


# Sites a --reports listing shows at most (a day keeps reports.max_destinations_per_day of them).
REPORTED_SITES = 10_000


def _print_reports(store: Store, start: date, end: date, output: str, timezone: str) -> None:
    """``linkgate stats --reports``: the counts the console's dashboard lists, every site of the range."""
    sites = store.reports.top(start, end, REPORTED_SITES)
    header = ["site", *CHOICES, "total"]
    rows = [[site.host, *(site.by_choice[choice] for choice in CHOICES), site.total] for site in sites]
    if output == "json":
        listed = [dict(zip(header, row, strict=True)) for row in rows]
        range_ = {"from": start.isoformat(), "to": end.isoformat(), "timezone": timezone}
        click.echo(json.dumps({**range_, "rows": listed}))
    elif output == "csv":
        click.echo(csv_text(header, rows), nl=False)
    elif not rows:
        click.echo(f"No reports from {start.isoformat()} to {end.isoformat()}.")
    else:
        click.echo("\t".join(header))
        for row in rows:
            click.echo("\t".join(str(cell) for cell in row))
