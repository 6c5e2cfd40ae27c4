"""The audit's report files (linkgate.audit.report): the three formats agree and neutralise what a page
can put in them. How report.html looks and works in a browser is in tests/browser/test_audit_report.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from linkgate.audit import write_reports
from linkgate.audit.report import csv_text
from tests.conftest import local_server
from tests.test_audit import html, run, serve


def written_report(directory: Path) -> tuple[dict[str, Any], Path]:
    """A crawl of a small site with a problem of each kind and text that must be escaped, written to
    ``directory`` as report.html, report.csv and report.json; the report and the folder."""
    site = local_server()
    try:
        base = f"http://site.test:{site.port}"
        ext = f"http://ext.test:{site.port}"
        serve(
            site,
            "/",
            html(
                f'<a href="/about">About the County</a> <a href="{ext}/gone">click here</a>'
                f'<a href="{ext}/ok" target="_blank">Partner <b>site</b></a>'
                f'<a href="https://links.county.test/go?url={ext}/ok">Partner through the gate</a>'
                '<a href="/missing">=HYPERLINK("http://evil.test")</a>'
                f'<a href="{ext}/x?&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">Escaped &lt;b&gt;</a>'
            ),
        )
        serve(site, "/about", html("<h1>About</h1>"))
        site.expect_request("/gone").respond_with_data("gone", status=410)
        site.expect_request("/ok").respond_with_data("", status=200)
        site.expect_request("/x").respond_with_data("", status=200)
        document = run(base + "/")
    finally:
        site.stop()
    document.pop("_peak")
    write_reports(document, directory, ["html", "csv", "json"])
    return document, directory


def test_the_report_files_agree_and_are_safe(tmp_path: Path) -> None:
    document, directory = written_report(tmp_path)
    assert json.loads((directory / "report.json").read_text()) == document
    text = (directory / "report.html").read_text()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text or "%3Cscript%3E" in text
    assert "'=HYPERLINK" in csv_text(document)  # a formula in a cell is neutralised
    assert 'src="http' not in text and 'href="http' not in text.split("<body>")[0]  # nothing loaded


def test_a_cell_that_starts_with_a_line_break_is_neutralised_too(tmp_path: Path) -> None:
    """A spreadsheet may read a cell from its next line: a leading line break gets the apostrophe that a
    leading = does, in links.csv as in every CSV linkgate writes (linkgate.chart.spreadsheet_safe)."""
    import csv
    import io

    document, _ = written_report(tmp_path)
    document["links"] = links = list(document["links"])  # made once, to be changed (the report's are lazy)
    link = next(link for link in links if link["appearances"])
    link["error"] = '\n=HYPERLINK("http://evil.test")'
    link["appearances"] = appearances = list(link["appearances"])
    appearances[0]["text"] = "\r@SUM(1)"
    rows = list(csv.DictReader(io.StringIO(csv_text(document), newline="")))
    row = next(row for row in rows if row["url"] == link["url"])
    assert row["error"] == '\'\n=HYPERLINK("http://evil.test")'
    assert row["link_text"] == "'\r@SUM(1)"


CSV_CELL = st.text(alphabet=st.sampled_from(list("ab ,\"\r\n\t=+-@'é")), max_size=6)


@given(st.lists(CSV_CELL, min_size=1, max_size=5))
def test_csv_cells_put_together_are_what_csv_writer_writes(cells: list[str]) -> None:
    import csv
    import io

    from linkgate.audit.report import _CsvEncoder

    whole = io.StringIO()
    csv.writer(whole, lineterminator="\r\n").writerow(cells)
    expected = whole.getvalue()[:-2]
    encoder = _CsvEncoder()
    if cells == [""]:
        expected = ""  # a row of one empty cell is written as "", the same cell in a longer row as nothing
    assert encoder.cells(cells) == expected
    assert ",".join(encoder.cells([cell]) for cell in cells) == expected


def test_each_appearance_has_its_own_problems_and_the_link_and_its_pages_add_them_up() -> None:
    from datetime import UTC, datetime

    from linkgate.audit import AuditOptions, AuditResult, build_report
    from linkgate.audit.records import Anchor, Appearance, LinkRecord, PageRecord
    from linkgate.http import Answer

    start = "https://www.county.test/"
    home, news = PageRecord(start, 0), PageRecord(start + "news", 1)
    plain = Anchor("Partner site", None, "", False)
    gated = Anchor("click here", "vague", "gate link", True)
    partner = LinkRecord("https://partner.test/", internal=False, category="external")
    partner.answer = Answer(partner.url, partner.url, status=200)
    partner.appearances += [Appearance(home, 3, plain), Appearance(news, 7, gated)]
    county = LinkRecord("https://other.county.test/", internal=False, category="county")
    county.answer = Answer(county.url, county.url, status=200)
    county.appearances.append(Appearance(news, 9, plain))
    now = datetime.now(UTC)
    result = AuditResult(
        AuditOptions(start),
        now,
        now,
        [home, news],
        {link.url: link for link in (partner, county)},
        partial=False,
        notes=[],
        peak_connections=1,
        requests=2,
        county_domains=("county.test",),
    )
    report = build_report(result)
    links = {link["url"]: link for link in report["links"]}
    assert links[partner.url]["problems"] == ["bypass", "link_text", "target_blank"]
    assert links[partner.url]["routed"] == "some"
    assert [(a["page"], a["routed"], a["problems"]) for a in links[partner.url]["appearances"]] == [
        (start, None, ["bypass"]),
        (start + "news", "gate link", ["link_text", "target_blank"]),
    ]
    assert links[county.url]["problems"] == []  # a County domain's link bypasses nothing
    assert {page["url"]: page["problems"] for page in report["pages"]} == {start: 1, start + "news": 2}
    assert report["problems"]["bypass"] == report["problems"]["link_text"] == 1
