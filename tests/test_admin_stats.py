"""The console's Statistics page, its CSV download and ``linkgate stats``, against a real server.

Each test counts clicks on days of its own (far in the past unless it is about today), so that the
totals it checks are exactly its own.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.console import VIEWER_PASSWORD, Browser, signed_in

# A day is typed as year-month-day into a text field, as its hint says (a date picker shows the browser's
# own format, mm/dd/yyyy in Chromium, which the hint could not match).
DAY_FIELD = 'type="text" inputmode="numeric" maxlength="10" autocomplete="off" spellcheck="false"'

pytestmark = pytest.mark.server

SVG = "{http://www.w3.org/2000/svg}"
COUNTY_TIME = ZoneInfo("America/Denver")  # the day as the server counts it


def add(server, counts: dict[tuple[date, str, str], int]) -> None:
    server.store().counts.add(counts, {})


def table_rows(page: httpx.Response, table_id: str) -> dict[str, list[str]]:
    """A table's rows, by their first cell: the text of the remaining cells."""
    table = re.search(rf'<table class="data" id="{table_id}">.*?</table>', page.text, re.S)
    assert table, f"no table {table_id}"
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def chart(page: httpx.Response) -> ET.Element:
    match = re.search(r"<svg .*?</svg>", page.text, re.S)
    assert match, "no chart"
    return ET.fromstring(match.group(0))


def chart_days(root: ET.Element) -> dict[str, int]:
    return {
        g.get("data-day"): int(g.get("data-total"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "chart-day"
    }


def stats_page(browser: Browser, start: str, end: str) -> httpx.Response:
    return browser.get(f"/admin/stats/?from={start}&to={end}")


# ---- the page -------------------------------------------------------------------------------------


def test_the_page_shows_the_last_30_days_ending_today_by_default(console):
    today = datetime.now(COUNTY_TIME).date()
    add(
        console,
        {
            (today, "st-default.example", "notice"): 4,
            (today - timedelta(days=29), "st-default.example", "redirect"): 2,
            (today - timedelta(days=30), "st-default.example", "block"): 100,
        },
    )
    browser = signed_in(console)
    page = browser.get("/admin/stats/")
    if datetime.now(COUNTY_TIME).date() != today:
        pytest.skip("the day changed during the test")
    assert page.status_code == 200
    start = (today - timedelta(days=29)).isoformat()
    assert f'name="from" {DAY_FIELD} value="{start}"' in page.text
    assert f'name="to" {DAY_FIELD} value="{today.isoformat()}"' in page.text
    days = table_rows(page, "clicks-per-day")
    assert list(days)[1] == start  # after the header row
    assert len([key for key in days if re.fullmatch(r"\d{4}-\d\d-\d\d", key)]) == 30
    assert len(chart_days(chart(page))) == 30
    top = table_rows(page, "top-destinations")
    assert top["st-default.example"] == ["6"]
    assert f"/admin/stats/clicks.csv?from={start}&amp;to={today.isoformat()}" in page.text


def test_the_chart_and_the_table_show_the_same_numbers_with_zero_days(console):
    add(
        console,
        {
            (date(2001, 2, 1), "st-table-a.example", "redirect"): 5,
            (date(2001, 2, 1), "st-table-a.example", "notice"): 3,
            (date(2001, 2, 1), "st-table-b.example", "notice"): 2,
            (date(2001, 2, 4), "st-table-b.example", "block"): 1,
            (date(2001, 2, 7), "st-table-c.example", "notice"): 40,
            (date(2001, 2, 11), "st-table-c.example", "notice"): 999,  # the day after the range
        },
    )
    browser = signed_in(console)
    page = stats_page(browser, "2001-02-01", "2001-02-07")
    assert page.status_code == 200
    days = table_rows(page, "clicks-per-day")
    assert days["Day"] == ["Sent straight on", "Shown the notice", "Blocked", "All clicks"]
    assert days["2001-02-01"] == ["5", "5", "0", "10"]
    assert days["2001-02-02"] == ["0", "0", "0", "0"]
    assert days["2001-02-04"] == ["0", "0", "1", "1"]
    assert days["2001-02-07"] == ["0", "40", "0", "40"]
    assert days["All days"] == ["5", "45", "1", "51"]
    assert len(days) == 1 + 7 + 1
    assert table_rows(page, "top-destinations") == {
        "Domain": ["Clicks"],
        "st-table-c.example": ["40"],
        "st-table-a.example": ["8"],
        "st-table-b.example": ["3"],
    }
    root = chart(page)
    assert chart_days(root) == {day: int(cells[-1]) for day, cells in days.items() if day.startswith("2001-")}
    assert root.get("role") == "img"
    labelled = root.get("aria-labelledby").split()
    assert root.find(f"{SVG}title").get("id") == labelled[0]
    assert root.find(f"{SVG}title").text == "Clicks per day from 2001-02-01 to 2001-02-07"
    description = root.find(f"{SVG}desc").text
    assert "51 clicks from 2001-02-01 to 2001-02-07" in description
    assert "The busiest day was 2001-02-07, with 40 clicks" in description
    assert 'role="region" tabindex="0" aria-labelledby="chart-heading"' in page.text
    assert '<caption id="clicks-per-day-caption">' in page.text
    assert '<th scope="row"><time datetime="2001-02-02">2001-02-02</time></th>' in page.text


def test_the_page_has_no_inline_style_or_script_and_works_as_plain_html(console):
    add(console, {(date(2001, 3, 1), "st-plain.example", "notice"): 1})
    page = stats_page(signed_in(console), "2001-03-01", "2001-03-31")
    assert page.status_code == 200
    assert not re.search(r"<[^>]+\sstyle=", page.text)
    assert "<style" not in page.text
    assert "<script" not in page.text
    assert "style-src 'self'" in page.headers["content-security-policy"]


def test_a_range_with_no_clicks_shows_zeros_and_says_so(console):
    page = stats_page(signed_in(console), "1990-01-01", "1990-01-05")
    assert page.status_code == 200
    assert all(
        cells == ["0", "0", "0", "0"]
        for day, cells in table_rows(page, "clicks-per-day").items()
        if day != "Day"
    )
    assert "No clicks in this range." in page.text
    assert chart(page).find(f"{SVG}desc").text == "No clicks from 1990-01-01 to 1990-01-05."


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2001-13-01&to=2001-12-31", "stats-from", "Enter the first day as a date"),
        ("from=2001-01-01&to=yesterday", "stats-to", "Enter the last day as a date"),
        ("from=2001-02-30&to=2001-03-01", "stats-from", "Enter the first day as a date"),
        ("from=20010301&to=2001-03-31", "stats-from", "Enter the first day as a date"),
        ("from=2001-05-02&to=2001-05-01", "stats-from", "The first day must be on or before the last day."),
        (
            "from=2000-01-01&to=2001-01-01",
            "stats-to",
            "Choose a range of 366 days or fewer: this one has 367 days.",
        ),
    ],
)
def test_a_bad_range_is_explained_next_to_its_field(console, query, field, message):
    browser = signed_in(console)
    page = browser.get(f"/admin/stats/?{query}")
    assert page.status_code == 400
    text = html.unescape(page.text)
    assert "There is a problem" in text
    assert "<title>Error: Statistics" in text
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', text, re.S)
    assert error and message in error.group(1)
    assert f'href="#{field}"' in page.text
    field_tag = re.search(rf'<input id="{field}"[^>]*>', page.text).group(0)
    assert 'aria-invalid="true"' in field_tag
    assert f"{field}-error" in re.search(r'aria-describedby="([^"]*)"', field_tag).group(1)
    assert "<svg" not in page.text
    assert 'id="clicks-per-day"' not in page.text
    for key, value in (part.split("=") for part in query.split("&")):
        assert f'name="{key}" {DAY_FIELD} value="{value}"' in page.text  # what was typed stays
    assert browser.get(f"/admin/stats/clicks.csv?{query}").status_code == 400


def test_with_only_a_last_day_the_range_is_the_30_days_before_it(console):
    page = signed_in(console).get("/admin/stats/?to=2006-03-31")
    assert page.status_code == 200
    assert f'name="from" {DAY_FIELD} value="2006-03-02"' in page.text
    assert len(chart_days(chart(page))) == 30


def test_a_range_of_exactly_366_days_is_allowed(console):
    page = stats_page(signed_in(console), "2000-01-01", "2000-12-31")
    assert page.status_code == 200
    assert len(chart_days(chart(page))) == 366


def test_clicks_on_the_gate_reach_the_page_at_once(console):
    # ".example" is on no public suffix list: the list's default rule ("*") makes "example" the suffix, so
    # www.st-live.example and st-live.example count as one registrable domain, and st-other.example apart.
    for path in ("/a", "/b?x=1", "/c"):
        console.get("/go?url=" + quote(f"https://www.st-live.example{path}", safe=""))
    console.get("/go?url=" + quote("https://st-live.example/", safe=""))
    console.get("/go?url=" + quote("https://www.st-other.example/", safe=""))
    page = signed_in(console).get("/admin/stats/")
    top = table_rows(page, "top-destinations")
    assert top["st-live.example"] == ["4"]
    assert top["st-other.example"] == ["1"]
    assert "www.st-live.example" not in top


def test_a_viewer_sees_the_statistics_and_downloads_the_csv(console):
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    assert stats_page(viewer, "2001-02-01", "2001-02-07").status_code == 200
    assert viewer.get("/admin/stats/clicks.csv?from=2001-02-01&to=2001-02-07").status_code == 200
    assert Browser(console).get("/admin/stats/clicks.csv").status_code == 302


# ---- the CSV download -----------------------------------------------------------------------------


def test_the_csv_has_every_count_of_the_range_and_cannot_run_formulas(console):
    add(
        console,
        {
            (date(2002, 6, 1), "st-csv.example", "notice"): 7,
            (date(2002, 6, 1), "st-csv.example", "redirect"): 2,
            (date(2002, 6, 3), '=HYPERLINK("https://evil.example","x")', "notice"): 1,
            (date(2002, 6, 3), "+st-csv.example", "block"): 1,
            (date(2002, 6, 4), "st-csv.example", "notice"): 50,  # after the range
        },
    )
    browser = signed_in(console)
    response = browser.get("/admin/stats/clicks.csv?from=2002-06-01&to=2002-06-03")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="linkgate-clicks-2002-06-01-to-2002-06-03.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["day", "domain", "outcome", "count"],
        ["2002-06-01", "st-csv.example", "notice", "7"],
        ["2002-06-01", "st-csv.example", "redirect", "2"],
        ["2002-06-03", "'+st-csv.example", "block", "1"],
        ["2002-06-03", '\'=HYPERLINK("https://evil.example","x")', "notice", "1"],
    ]
    page = stats_page(browser, "2002-06-01", "2002-06-03")
    assert '=HYPERLINK("https://evil.example","x")' not in page.text  # escaped on the page
    assert "=HYPERLINK(&#34;https://evil.example&#34;,&#34;x&#34;)" in page.text


def test_an_empty_range_gives_a_csv_with_only_its_header(console):
    response = signed_in(console).get("/admin/stats/clicks.csv?from=1991-01-01&to=1991-01-31")
    assert response.status_code == 200
    assert response.text == "day,domain,outcome,count\r\n"


# ---- the command line -----------------------------------------------------------------------------


def test_stats_json_by_day_matches_the_page(console):
    add(
        console,
        {
            (date(2003, 4, 1), "st-cli-a.example", "notice"): 3,
            (date(2003, 4, 1), "st-cli-b.example", "redirect"): 1,
            (date(2003, 4, 3), "st-cli-b.example", "block"): 2,
        },
    )
    result = json.loads(
        console.cli("stats", "--from", "2003-04-01", "--to", "2003-04-03", "--format", "json").stdout
    )
    assert result["from"] == "2003-04-01"
    assert result["to"] == "2003-04-03"
    assert result["by"] == "day"
    assert result["timezone"] == "America/Denver"
    assert result["rows"] == [
        {"day": "2003-04-01", "redirect": 1, "notice": 3, "block": 0, "total": 4},
        {"day": "2003-04-02", "redirect": 0, "notice": 0, "block": 0, "total": 0},
        {"day": "2003-04-03", "redirect": 0, "notice": 0, "block": 2, "total": 2},
    ]
    assert result["totals"] == {"redirect": 1, "notice": 3, "block": 2, "total": 6}
    browser = signed_in(console)
    page = table_rows(stats_page(browser, "2003-04-01", "2003-04-03"), "clicks-per-day")
    for row in result["rows"]:
        assert page[row["day"]] == [str(row[key]) for key in ("redirect", "notice", "block", "total")]
    api = browser.get("/admin/api/stats?from=2003-04-01&to=2003-04-03").json()
    assert (api["days"], api["totals"]) == (result["rows"], result["totals"])


def test_stats_by_domain_in_every_format(console):
    add(
        console,
        {
            (date(2004, 8, 1), "st-dom-small.example", "notice"): 1,
            (date(2004, 8, 1), "st-dom-big.example", "redirect"): 5,
            (date(2004, 8, 2), "st-dom-big.example", "notice"): 4,
            (date(2004, 8, 2), "=st-dom-formula.example", "block"): 2,
        },
    )
    span = ("--from", "2004-08-01", "--to", "2004-08-02", "--by", "domain")
    result = json.loads(console.cli("stats", *span, "--format", "json").stdout)
    assert result["rows"] == [
        {"domain": "st-dom-big.example", "redirect": 5, "notice": 4, "block": 0, "total": 9},
        {"domain": "=st-dom-formula.example", "redirect": 0, "notice": 0, "block": 2, "total": 2},
        {"domain": "st-dom-small.example", "redirect": 0, "notice": 1, "block": 0, "total": 1},
    ]
    rows = list(csv.reader(io.StringIO(console.cli("stats", *span, "--format", "csv").stdout)))
    assert rows == [
        ["domain", "redirect", "notice", "block", "total"],
        ["st-dom-big.example", "5", "4", "0", "9"],
        ["'=st-dom-formula.example", "0", "0", "2", "2"],
        ["st-dom-small.example", "0", "1", "0", "1"],
    ]
    table = console.cli("stats", *span).stdout.splitlines()
    assert [line.split("\t") for line in table] == [
        ["domain", "redirect", "notice", "block", "total"],
        ["st-dom-big.example", "5", "4", "0", "9"],
        ["=st-dom-formula.example", "0", "0", "2", "2"],
        ["st-dom-small.example", "0", "1", "0", "1"],
        ["all", "5", "5", "2", "12"],
    ]
    empty = console.cli("stats", "--from", "1992-01-01", "--to", "1992-01-02", "--by", "domain").stdout
    assert empty.strip() == "No clicks from 1992-01-01 to 1992-01-02."


def test_stats_by_day_as_csv_and_table_include_zero_days(console):
    add(console, {(date(2005, 1, 2), "st-days.example", "notice"): 6})
    span = ("--from", "2005-01-01", "--to", "2005-01-03")
    # (the test reads the output as text, which turns the CSV's CRLF line ends into LF)
    assert console.cli("stats", *span, "--format", "csv").stdout.splitlines() == [
        "day,redirect,notice,block,total",
        "2005-01-01,0,0,0,0",
        "2005-01-02,0,6,0,6",
        "2005-01-03,0,0,0,0",
    ]
    assert console.cli("stats", *span).stdout.splitlines()[-1].split("\t") == ["all", "0", "6", "0", "6"]


def test_stats_defaults_to_the_last_30_days(console):
    today = datetime.now(COUNTY_TIME).date()
    result = json.loads(console.cli("stats", "--format", "json").stdout)
    if datetime.now(COUNTY_TIME).date() != today:
        pytest.skip("the day changed during the test")
    assert result["to"] == today.isoformat()
    assert result["from"] == (today - timedelta(days=29)).isoformat()
    assert len(result["rows"]) == 30
    only_to = json.loads(console.cli("stats", "--to", "2006-03-31", "--format", "json").stdout)
    assert only_to["from"] == "2006-03-02"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--from", "2001-02-30", "--to", "2001-03-01"),
            '--from must be a date written YYYY-MM-DD, not "2001-02-30".',
        ),
        (("--from", "2001-01-01", "--to", "soon"), '--to must be a date written YYYY-MM-DD, not "soon".'),
        (
            (
                "--from",
                "2001-W01-1",
            ),
            '--from must be a date written YYYY-MM-DD, not "2001-W01-1".',
        ),
        (("--from", "2001-05-02", "--to", "2001-05-01"), "--from (2001-05-02) is after --to (2001-05-01)."),
        (("--from", "2000-01-01", "--to", "2001-01-01"), "The range has 367 days; the most is 366."),
    ],
)
def test_stats_refuses_bad_dates_with_one_line_and_status_2(console, args, message):
    result = console.cli("stats", *args, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"linkgate: error: {message}\n"


def test_stats_refuses_an_unknown_format(console):
    result = console.cli("stats", "--format", "xml", check=False)
    assert result.returncode == 2
    assert "xml" in result.stderr
