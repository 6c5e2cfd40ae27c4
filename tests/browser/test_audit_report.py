"""``report.html`` and the console's Link audits pages in a real headless Chromium: self-contained,
accessible (axe-core), sortable and filterable with JavaScript, complete without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linkgate.audit import save_run
from tests.browser.conftest import NARROW, WIDE, assert_no_serious_violations
from tests.browser.console_pages import sign_in
from tests.test_audit import link
from tests.test_audit_console import report as run_report
from tests.test_audit_report import written_report

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    return written_report(tmp_path_factory.mktemp("report"))


def test_the_report_passes_axe_and_loads_nothing_from_anywhere(report, new_page, axe):
    _, directory = report
    for viewport in (WIDE, NARROW):
        page = new_page(viewport=viewport)
        requested: list[str] = []
        page.on("request", lambda request, seen=requested: seen.append(request.url))
        page.goto((directory / "report.html").as_uri())
        assert all(url.startswith("file://") for url in requested), requested
        assert_no_serious_violations(axe(page), f"report.html at {viewport['width']} px")


def test_sorting_and_filtering_work_in_the_browser(report, new_page):
    document, directory = report
    page = new_page()
    page.goto((directory / "report.html").as_uri())
    rows = page.locator("#links tbody tr")
    assert rows.count() == len(document["links"])
    assert (
        page.locator("#shown").inner_text()
        == f"{len(document['links'])} of {len(document['links'])} links shown"
    )
    page.select_option("#filter-problem", "broken")
    broken = [entry for entry in document["links"] if "broken" in entry["problems"]]
    assert page.locator("#links tbody tr:not([hidden])").count() == len(broken) == 2
    page.select_option("#filter-problem", "")
    page.fill("#filter-text", "about")
    assert page.locator("#links tbody tr:not([hidden])").count() == 1
    page.fill("#filter-text", "")
    page.locator("#links").get_by_role("button", name="Status", exact=True).click()
    assert page.locator("#links thead th").nth(2).get_attribute("aria-sort") == "ascending"
    statuses = [
        int(value)
        for value in page.locator("#links tbody td:nth-child(3)").evaluate_all(
            "cells => cells.map(cell => cell.getAttribute('data-sort'))"
        )
    ]
    assert statuses == sorted(statuses)


def test_without_javascript_every_row_is_there_and_no_dead_controls(report, new_page):
    document, directory = report
    page = new_page(java_script_enabled=False)
    page.goto((directory / "report.html").as_uri())
    assert page.locator("#links tbody tr").count() == len(document["links"])
    assert not page.locator("#filters").is_visible()
    gone = link(document, next(entry["url"] for entry in document["links"] if entry["url"].endswith("/gone")))
    assert page.get_by_text(gone["url"]).first.is_visible()


def test_the_report_prints(report, new_page, tmp_path):
    _, directory = report
    page = new_page()
    page.goto((directory / "report.html").as_uri())
    page.emulate_media(media="print")
    assert not page.locator("#filters").is_visible()
    pdf = Path(tmp_path / "report.pdf")
    page.pdf(path=str(pdf))
    assert pdf.stat().st_size > 1000


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
def test_audit_pages_pass_axe_and_reflow(console, new_page, axe, viewport):
    store = console.store()
    long_url = "https://www.partner-library.example/" + "a-very-long-path-segment/" * 6
    save_run(store, run_report("2026-04-01T09:00:00+00:00", {long_url: ["broken"]}), None, "cli:test")
    latest = save_run(
        store, run_report("2026-04-08T09:00:00+00:00", {long_url + "x": ["bypass"]}), None, "cli:test"
    )
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, console, "admin")
    for path in ("/admin/audits/", f"/admin/audits/{latest}"):
        response = page.goto(console.url + path)
        assert response is not None and response.status == 200
        assert_no_serious_violations(axe(page), f"{path} at {viewport['width']} px")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
