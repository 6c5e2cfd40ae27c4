"""The console's long lists and rule refusals in a real Chromium, at 320 and 1280 px: sortable column
headers (links with aria-sort, seen and usable on a phone too), filters that keep the order, the refusal of
a rule for a County domain and of a duplicate (with its link to the rule already kept), statistics for one
domain from the dashboard; axe-core finds nothing serious or critical on any of these pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import FAILING_IMPACTS, NARROW, WIDE, describe_violations
from tests.browser.console_pages import seeded_server, sign_in
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser
VIEWPORTS = pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = seeded_server(tmp_path_factory.mktemp("console-lists")).start()
    yield server
    server.stop()


def no_serious_findings(axe: Any, page: Any) -> None:
    serious = [v for v in axe(page) if v.get("impact") in FAILING_IMPACTS]
    assert not serious, f"{page.url}:\n{describe_violations(serious)}"


def rule_order(page: Any) -> list[str]:
    return [row.get_attribute("data-rule") for row in page.locator("#rules tbody tr").all()]


@VIEWPORTS
def test_rules_sort_from_their_column_headers(
    seeded: LiveServer, viewport: dict[str, int], new_page: Any, axe: Any
) -> None:
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/rules/")
    name_header = page.locator("#rules thead th[data-sort-key=name]")
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    first = rule_order(page)
    assert first == sorted(first, key=lambda pattern: pattern.removeprefix("*."))
    kind = page.get_by_role("link", name="Kind", exact=True)
    expect(kind).to_be_visible()  # on a phone too, where the reflowed table hides its other headers
    kind.click()
    expect(page.locator("#rules thead th[data-sort-key=kind]")).to_have_attribute("aria-sort", "ascending")
    expect(name_header).not_to_have_attribute("aria-sort", "ascending")
    kinds = [cell.inner_text() for cell in page.locator("#rules tbody tr td:nth-of-type(1)").all()]
    assert kinds == sorted(kinds) and kinds[0] == "allow"
    page.get_by_role("link", name="Kind", exact=True).click()
    expect(page.locator("#rules thead th[data-sort-key=kind]")).to_have_attribute("aria-sort", "descending")
    assert page.locator("#rules tbody tr td:nth-of-type(1)").first.inner_text() == "block"
    no_serious_findings(axe, page)
    # filtering keeps the order
    page.fill("#rules-q", "partner-library")
    page.get_by_role("button", name="Show rules").click()
    assert "sort=-kind" in page.url and "q=partner-library" in page.url
    assert rule_order(page) == ["login.partner-library.example", "*.partner-library.example"]
    viewport_width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport_width


@VIEWPORTS
def test_sites_and_the_change_log_sort_and_filter(
    seeded: LiveServer, viewport: dict[str, int], new_page: Any, axe: Any
) -> None:
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/sites/")
    page.get_by_role("link", name="Checked", exact=True).click()
    expect(page.locator("#sites thead th[data-sort-key=checked]")).to_have_attribute(
        "aria-sort", "descending"
    )
    no_serious_findings(axe, page)
    page.fill("#sites-q", "example.org")
    page.get_by_role("button", name="Show sites").click()
    expect(page.locator("#sites tbody tr[data-site='www.example.org']")).to_be_visible()
    expect(page.locator("#unknown-host")).to_have_count(0)
    page.goto(seeded.url + "/admin/log/")
    when = page.locator("#changes thead th[data-sort-key=when]")
    expect(when).to_have_attribute("aria-sort", "descending")
    page.get_by_role("link", name="Who", exact=True).click()
    expect(page.locator("#changes thead th[data-sort-key=who]")).to_have_attribute("aria-sort", "ascending")
    page.fill("#log-target", "free-prizes")
    page.get_by_role("button", name="Show changes").click()
    assert "sort=who" in page.url
    expect(page.locator("#changes tbody tr")).to_have_count(1)
    expect(page.locator("#log-from-hint")).to_contain_text("year-month-day")
    assert page.locator("#log-from").get_attribute("type") == "text"
    no_serious_findings(axe, page)


@VIEWPORTS
def test_a_rule_for_a_county_domain_is_refused_saying_why(
    seeded: LiveServer, viewport: dict[str, int], new_page: Any, axe: Any
) -> None:
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/rules/new")
    page.fill("#rule-name", "https://www.missoulacounty.us/parks")
    page.check("#rule-kind-block")
    page.get_by_role("button", name="Add the rule").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("www.missoulacounty.us is a County address")
    expect(page.locator("#rule-name-error")).to_contain_text("may not block the County's own pages")
    expect(page.locator("#rule-name")).to_have_value("www.missoulacounty.us")
    expect(page.locator("#rule-pasted")).to_contain_text("Took the host www.missoulacounty.us")
    no_serious_findings(axe, page)
    page.goto(seeded.url + "/admin/rules/")
    expect(page.locator("#rules tbody tr[data-rule*='missoulacounty']")).to_have_count(0)


@VIEWPORTS
def test_a_duplicate_rule_links_to_the_one_already_kept(
    seeded: LiveServer, viewport: dict[str, int], new_page: Any, axe: Any
) -> None:
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/rules/new")
    page.fill("#rule-name", "free-prizes.example")
    page.check("#rule-kind-allow")
    page.get_by_role("button", name="Add the rule").click()
    expect(page.locator("#rule-name-error")).to_contain_text(
        "There is already a block rule for *.free-prizes.example"
    )
    existing = page.get_by_role("link", name="Open the existing block rule for *.free-prizes.example")
    expect(existing).to_be_visible()
    no_serious_findings(axe, page)
    existing.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit the rule *.free-prizes.example")
    expect(page.locator("#rule-name")).to_have_value("free-prizes.example")


@VIEWPORTS
def test_a_dashboard_domain_opens_its_statistics(
    seeded: LiveServer, viewport: dict[str, int], new_page: Any, axe: Any
) -> None:
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, seeded)
    page.locator("#top-destinations").get_by_role("link", name="mt.gov", exact=True).click()
    expect(page.locator("#stats-domain-only")).to_contain_text("Only the clicks to mt.gov.")
    expect(page.locator("#chart-heading")).to_contain_text("Clicks per day to mt.gov from")
    expect(page.locator("#stats-domain")).to_have_value("mt.gov")
    expect(page.locator("#top-destinations")).to_have_count(0)
    no_serious_findings(axe, page)
    page.get_by_role("link", name="Show every domain").click()
    expect(page.locator("#top-destinations")).to_be_visible()
    page.locator("#top-destinations").get_by_role("link", name="example.org", exact=True).click()
    expect(page.locator("#stats-domain-only")).to_contain_text("Only the clicks to example.org.")
