"""The gate's pages in a real headless Chromium against a real server: axe-core, keyboard, CSP, no JS.

axe-core checks WCAG 2.1 A and AA plus best practice on the notice, block and error pages at 320 px and
1280 px. Serious and critical findings fail the test; moderate and minor ones are reported as warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser import screenshots
from tests.browser.conftest import (
    FAILING_IMPACTS,
    NARROW,
    WIDE,
    assert_no_serious_violations,
    count_by_impact,
    describe_violations,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Case:
    """A gate link and what its page must show, so each check runs on the page it means to."""

    destination: str | None
    status: int
    present: tuple[str, ...]
    absent: tuple[str, ...] = ()
    signed: bool = False


PAGES = {
    "notice-signed-http-port": Case(
        "http://example.org:8080/events?day=sat",
        200,
        ("#continue", '.flag--info[data-flag="insecure"]', '.flag--info[data-flag="port"]'),
        absent=("[data-untrusted]",),
        signed=True,
    ),
    "notice-unsigned": Case("https://www.example.org/parks/hours", 200, ("#continue", "[data-untrusted]")),
    "notice-lookalike": Case(
        "https://missou1acounty.us/login", 200, ("#continue", '.flag--warning[data-flag="lookalike"]')
    ),
    "notice-idn": Case("https://bücher.example/straße", 200, ("#continue", '[data-flag="idn"]', ".idn")),
    # A name with a 63-letter label (the most DNS allows), wider than a phone's line.
    "notice-long-name": Case(
        "https://www." + ("missoulacountyfair" * 4)[:63] + ".org/a", 200, ("#continue",)
    ),
    "block": Case("https://blocked.example/free-prize", 403, ("#back",), absent=("#continue",)),
    "error-javascript-url": Case("javascript:alert(1)", 400, ("#error-message",), absent=("#continue",)),
    "error-missing-url": Case(None, 400, ("#error-message",), absent=("#continue",)),
}

# Records CSP violations from the first script that runs; init scripts are not subject to the page's CSP.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", event => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""

# The keyboard test's destination (with an icon, so the browser asks the test server for nothing else).
LANDING_PAGE = "<!doctype html><html lang=en><link rel=icon href=data:,><title>Landing</title><p>Arrived</p>"

FOCUSED_STYLE = """() => {
  const style = getComputedStyle(document.activeElement);
  return {outline: style.outlineStyle, width: style.outlineWidth, shadow: style.boxShadow};
}"""


@pytest.fixture(scope="session")
def gate_link(gate_server: LiveServer) -> Callable[[Case], str]:
    """The /go link for a case; signed ones come from ``linkgate sign`` as a County page's would."""
    signed: dict[str, str] = {}

    def link(case: Case) -> str:
        if case.destination is None:
            return gate_server.url + "/go"
        if not case.signed:
            return gate_server.url + "/go?" + urlencode({"url": case.destination})
        if case.destination not in signed:
            signed[case.destination] = gate_server.cli("sign", case.destination).stdout.strip()
        return signed[case.destination]

    return link


def open_case(new_page: Callable[..., Any], link: str, case: Case, **options: Any) -> Any:
    page = new_page(**options)
    response = page.goto(link)
    assert response is not None and response.status == case.status, f"{link} answered {response}"
    for selector in case.present:
        assert page.locator(selector).count() > 0, f"{link}: expected {selector} on the page"
    for selector in case.absent:
        assert page.locator(selector).count() == 0, f"{link}: did not expect {selector} on the page"
    return page


def in_language(link: str, language: str) -> str:
    return link if language == "en" else link + ("&" if "?" in link else "?") + f"lang={language}"


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_serious_or_critical_axe_violations(
    name: str,
    viewport: dict[str, int],
    language: str,
    gate_link: Callable[[Case], str],
    new_page: Any,
    axe: Any,
) -> None:
    case = PAGES[name]
    # bypass_csp: axe is injected as an inline script, which the gate's CSP forbids (as it should).
    # test_notice_page_runs_under_its_csp_without_errors checks the page with its CSP enforced.
    page = open_case(
        new_page, in_language(gate_link(case), language), case, viewport=viewport, bypass_csp=True
    )
    assert page.get_attribute("html", "lang") == language
    violations = axe(page)
    where = f"{name} ({language}) at {viewport['width']} px"
    lesser = [v for v in violations if v.get("impact") not in FAILING_IMPACTS]
    if lesser:
        warnings.warn(
            f"axe-core on {where}: {count_by_impact(lesser)}\n{describe_violations(lesser)}", stacklevel=1
        )
    assert_no_serious_violations(violations, where)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_reflows_at_320px_without_horizontal_scrolling(
    name: str, language: str, gate_link: Callable[[Case], str], new_page: Any
) -> None:
    case = PAGES[name]
    page = open_case(new_page, in_language(gate_link(case), language), case, viewport=NARROW)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= NARROW["width"], f"{name} is {scroll_width} px wide at 320 px"


def test_keyboard_user_tabs_to_continue_sees_focus_and_follows_it(
    gate_server: LiveServer, httpserver_ipv4: Any, new_page: Any
) -> None:
    httpserver_ipv4.expect_request("/landing", query_string="from=gate").respond_with_data(
        LANDING_PAGE,
        content_type="text/html",
    )
    destination = httpserver_ipv4.url_for("/landing?from=gate")
    page = new_page()
    page.goto(gate_server.url + "/go?" + urlencode({"url": destination}))
    assert page.get_attribute("#continue", "href") == destination
    unfocused = page.locator("#continue").evaluate("el => getComputedStyle(el).outlineStyle")

    # Focus starts on the main region (the heading's), so Continue is at most 3 presses of Tab away.
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.locator("main").evaluate("main => main.contains(document.querySelector('h1'))")
    # Backwards from the content: the header's links and the skip link, in reading order.
    backwards = []
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        backwards.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert backwards == ["language-es", "county-name", "skip-link"], f"reverse order: {backwards}"
    page.locator("#main").focus()
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if order[-1] == "continue":
            break
    assert order[-1] == "continue", f"Continue not reached in 3 presses of Tab: {order}"

    focused = page.evaluate(FOCUSED_STYLE)
    assert unfocused == "none"
    assert (focused["outline"] != "none" and focused["width"] != "0px") or focused["shadow"] != "none", (
        f"no visible focus indicator on Continue: {focused}"
    )

    with page.expect_navigation(url=destination):
        page.keyboard.press("Enter")
    assert page.url == destination
    assert page.locator("p").inner_text() == "Arrived"
    (request, _), *_ = httpserver_ipv4.log
    assert "Referer" not in request.headers, "the destination must not learn which gate link was followed"
    httpserver_ipv4.check_assertions()


def test_skip_link_comes_first_shows_on_focus_and_moves_focus_to_main(
    gate_link: Callable[[Case], str], new_page: Any
) -> None:
    case = PAGES["block"]  # the notice puts focus on its content at once; the block page starts at the top
    page = open_case(new_page, gate_link(case), case)
    skip = page.locator(".skip-link")
    assert skip.bounding_box()["y"] < 0, "the skip link should be off screen until focused"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert skip.bounding_box()["y"] >= 0, "the focused skip link must be on screen"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "A"
    assert page.locator("main").evaluate("main => main.contains(document.activeElement)")


@pytest.mark.parametrize("name", ["notice-unsigned", "notice-idn", "notice-lookalike"])
def test_notice_page_structure_and_continue_link(
    name: str, gate_link: Callable[[Case], str], new_page: Any
) -> None:
    case = PAGES[name]
    page = open_case(new_page, gate_link(case), case)
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("h1").count() == 1
    assert page.get_by_role("main").count() == 1
    rel = (page.get_attribute("#continue", "rel") or "").split()
    assert {"noopener", "noreferrer"} <= set(rel), f"rel={rel}"
    href = page.get_attribute("#continue", "href")
    assert href == page.evaluate("href => new URL(href).href", case.destination), "href is the parsed URL"
    assert page.get_by_role("link", name="Continue to").count() == 1


@pytest.fixture(scope="module")
def pending_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that never waits for privacy lookups: a new host's notice is pending and loads notice.js."""
    server = LiveServer(tmp_path_factory.mktemp("pending"), {"fetch": {"privacy_wait_ms": 0}}).start()
    yield server
    server.stop()


def test_notice_works_with_javascript_disabled(pending_server: LiveServer, new_page: Any) -> None:
    destination = "https://no-script.example/forms"
    page = new_page(java_script_enabled=False)
    page.goto(pending_server.url + "/go?" + urlencode({"url": destination}))
    assert page.locator('script[src$="notice.js"]').count() == 1, "the page should offer its script"
    continue_link = page.get_by_role("link", name="Continue to no-script.example")
    assert continue_link.is_visible()
    assert continue_link.get_attribute("href") == destination
    # Without the script, the pending privacy lookup is still reachable: a link reloads the page.
    assert page.get_by_role("link", name="Check again").is_visible()


def test_notice_page_runs_under_its_csp_without_errors(pending_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response", lambda answer: answer.status >= 400 and problems.append(f"{answer.status} {answer.url}")
    )
    page.add_init_script(CSP_RECORDER)
    with page.expect_response(lambda response: "/api/site/" in response.url) as lookup:
        page.goto(pending_server.url + "/go?" + urlencode({"url": "https://csp-check.example/"}))
    assert lookup.value.ok, "notice.js asked the site API for the privacy lookup"
    assert page.locator('script[src$="notice.js"]').count() == 1
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []
    # The stylesheet loaded under the CSP: the header has the brand colour, not the browser default.
    assert (
        page.locator(".site-header").evaluate("el => getComputedStyle(el).backgroundColor")
        == "rgb(23, 70, 58)"
    )

    # The recorder works: an inline script, which the CSP forbids, is refused and reported.
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
    }""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.inlineRan === undefined")
    assert any("script-src" in item for item in page.evaluate("window.__cspViolations"))
    assert any("Content Security Policy" in problem for problem in problems)


def test_axe_finds_and_reports_known_violations(new_page: Any, axe: Any) -> None:
    page = new_page(bypass_csp=True)
    page.set_content("<html><body><img src='data:,'><a href='/somewhere'></a></body></html>")
    violations = axe(page)
    assert {"html-has-lang", "image-alt", "link-name"} <= {v["id"] for v in violations}
    with pytest.raises(AssertionError, match=r"(?s)image-alt \[critical\].*at \['img'\]"):
        assert_no_serious_violations(violations, "a broken page")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_notice_screenshots_render_at_both_widths(
    browser: Any, gate_link: Callable[[Case], str], tmp_path: Path
) -> None:
    link = gate_link(Case(screenshots.DESTINATION, 200, (), signed=True))
    paths = screenshots.capture_notice(browser, link, tmp_path)
    assert [path.name for path in paths] == [
        "notice-en-1280.png",
        "notice-en-320.png",
        "notice-es-1280.png",
        "notice-es-320.png",
    ]
    for path, width in zip(paths, screenshots.WIDTHS * 2, strict=True):
        shot_width, shot_height = png_size(path)
        assert shot_width == width, f"{path.name} is {shot_width} px wide: the page scrolls sideways"
        assert shot_height >= 600
