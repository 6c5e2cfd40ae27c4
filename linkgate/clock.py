"""The County's clock: every time linkgate shows a person, and every day it filters or counts by, is in the
County's time zone (``county.timezone``, America/Denver unless configured) and says which zone it is in.

Times are kept in UTC (the store, the logs, JSON); this module turns them into what the console, the
command line and the audit's report show, and turns a County day into the UTC times that bound it. Never
show a stored time, or cut a day, any other way: a filter that cut days in UTC while the list showed Denver
times found nothing for an evening's changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

MINUTES = "%Y-%m-%d %H:%M"
SECONDS = "%Y-%m-%d %H:%M:%S"


@cache
def county_zone(timezone: str) -> ZoneInfo:
    """The zone named ``timezone`` (an IANA name the settings have already checked)."""
    return ZoneInfo(timezone)


def county_datetime(moment: datetime, timezone: str) -> datetime:
    """``moment`` in the County's zone; a time without a zone is read as UTC, as the store keeps it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(county_zone(timezone))


def county_time(moment: datetime, timezone: str, *, seconds: bool = False) -> str:
    """``moment`` as the County's clock shows it, with the zone's abbreviation: ``2026-12-06 19:30 MST``
    (``MDT`` in summer), to the second with ``seconds``."""
    local = county_datetime(moment, timezone)
    return f"{local.strftime(SECONDS if seconds else MINUTES)} {local.tzname()}"


def county_today(timezone: str, now: datetime | None = None) -> date:
    """The County's date at ``now`` (the current time unless given)."""
    return county_datetime(now or datetime.now(UTC), timezone).date()


def county_day_bounds(
    first: date | None, last: date | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """The UTC times that bound the County days ``first`` to ``last`` (either may be open): the start of
    ``first`` (inclusive) and the start of the day after ``last`` (exclusive), both in UTC, so that a
    database that compares times without their zone (SQLite) compares them right."""
    zone = county_zone(timezone)
    start = None if first is None else datetime.combine(first, time.min, zone).astimezone(UTC)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    return start, end
