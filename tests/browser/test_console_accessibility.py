"""The webmaster's console in a real headless Chromium: axe-core on every page, keyboard-only use.

Every HTML page of the console is found from the application's URL map (plus the pages behind its
forms: an edit form, a link tested, a bad filter), so a page added later is checked without a line here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import screenshots
from tests.browser.conftest import (
    FAILING_IMPACTS,
    NARROW,
    WIDE,
    count_by_impact,
    describe_violations,
)
from tests.browser.console_pages import console_pages, seeded_server, sign_in
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

# The pages the console's navigation links to; each must say it is the current one.
NAVIGATION = {
    "dashboard.index",
    "rules.index",
    "rules.test",
    "links.index",
    "sites.index",
    "stats.index",
    "changelog.index",
    "accounts.index",
    "audits.index",
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = seeded_server(tmp_path_factory.mktemp("console-browser")).start()
    yield server
    server.stop()


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
def test_every_console_page_has_no_serious_or_critical_axe_violations(
    seeded: LiveServer, viewport: dict[str, int], new_page: Any, axe: Any
) -> None:
    pages = console_pages(seeded)
    assert {"dashboard.index", "rules.index", "rules.new", "changelog.index", "links.index"} <= set(pages)
    assert {"audits.index", "audits.run", "audits.job"} <= set(pages)
    page = new_page(viewport=viewport, bypass_csp=True)
    failures, wide = [], []
    login = page.goto(seeded.url + "/admin/login")
    assert login is not None and login.status == 200
    checked = {"auth.login": axe(page)}
    sign_in(page, seeded)
    for name, path in sorted(pages.items()):
        response = page.goto(seeded.url + path)
        assert response is not None and response.status in (200, 400), f"{path}: {response}"
        assert response.headers["content-type"].startswith("text/html"), path
        checked[name] = axe(page)
        if page.evaluate("document.documentElement.scrollWidth") > viewport["width"]:
            wide.append(name)
    for name, violations in checked.items():
        serious = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
        lesser = [v for v in violations if v.get("impact") not in FAILING_IMPACTS]
        if serious:
            failures.append(f"{name}:\n{describe_violations(serious)}")
        if lesser:
            warnings.warn(f"axe-core on {name}: {count_by_impact(lesser)}", stacklevel=1)
    assert not failures, f"serious or critical axe-core findings at {viewport['width']} px:\n" + "\n".join(
        failures
    )
    if viewport is NARROW:
        assert not wide, f"pages that scroll sideways at 320 px: {wide}"


def test_every_console_page_has_one_h1_a_title_and_the_current_page_marked(
    seeded: LiveServer, new_page: Any
) -> None:
    page = new_page()
    sign_in(page, seeded)
    for name, path in sorted(console_pages(seeded).items()):
        page.goto(seeded.url + path)
        assert page.locator("h1").count() == 1, name
        assert page.title().endswith("Missoula County"), (name, page.title())
        assert page.get_attribute("html", "lang") == "en", name
        if name in NAVIGATION:
            current = page.locator('nav.admin-nav [aria-current="page"]')
            assert current.count() == 1, f"{name}: the navigation should mark the current page"


def test_keyboard_only_webmaster_adds_a_rule(seeded: LiveServer, new_page: Any) -> None:
    page = new_page()
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/rules/")

    def tab_to(predicate: str, limit: int = 40) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"(el => {predicate})(document.activeElement)"):
                return
        raise AssertionError(f"Tab never reached an element where {predicate}")

    tab_to("el.textContent.trim() === 'Add a rule'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to("el.id === 'rule-name'")
    page.keyboard.type("keyboard-added.example")
    tab_to("el.id === 'rule-scope-domain'")  # a radio group: arrows choose within it
    tab_to("el.id === 'rule-kind-allow'")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "rule-kind-block"
    assert page.is_checked("#rule-kind-block")
    tab_to("el.id === 'rule-note'")
    page.keyboard.type("Added without a mouse")
    tab_to("el.type === 'submit'")
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus != "none", "the focused button must show its focus"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/admin/rules/")
    assert page.locator('[data-rule="*.keyboard-added.example"]').count() == 1
    assert "Added the block rule *.keyboard-added.example." in page.locator(".messages").inner_text()
    rules = {rule.name: rule for rule in seeded.store().rules.load()[1]}
    assert rules["keyboard-added.example"].kind == "block"
    assert rules["keyboard-added.example"].note == "Added without a mouse"


def test_keyboard_user_reaches_the_error_summary_and_fixes_the_field(
    seeded: LiveServer, new_page: Any
) -> None:
    page = new_page()
    sign_in(page, seeded)
    page.goto(seeded.url + "/admin/rules/new")
    page.fill("#rule-name", "com")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    summary = page.locator(".error-summary")
    assert summary.count() == 1
    assert "public suffix" in summary.inner_text().lower() or "shared" in summary.inner_text().lower()
    assert page.get_attribute("#rule-name", "aria-invalid") == "true"
    page.locator(".error-summary a").first.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "rule-name"


def test_console_screenshots_for_the_guide_render(seeded: LiveServer, browser: Any, tmp_path: Any) -> None:
    paths = screenshots.capture_console(browser, seeded, tmp_path)
    names = {path.name for path in paths}
    assert {"console-dashboard.png", "console-rules.png", "console-change-log.png"} <= names
    assert {"console-link-audits.png", "console-audit-run.png", "console-sites-320.png"} <= names
    for path in paths:
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", path
        width = 320 if path.stem.endswith("-320") else 1280
        assert int.from_bytes(header[16:20], "big") == width, f"{path.name} scrolls sideways at {width} px"
