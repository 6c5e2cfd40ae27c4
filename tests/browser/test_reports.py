"""Reporting a link in a real headless Chromium against a real server (issue 19 §5): the form works with
JavaScript off and from the keyboard alone, with a visible focus, and axe-core finds nothing serious on
the notice with the form open or on the thank-you page, at 320 and 1280 px, in English and Spanish."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from linkgate.store.schema import destination_reports
from tests.browser.conftest import NARROW, WIDE, assert_no_serious_violations
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

FOCUSED_STYLE = """() => {
  const style = getComputedStyle(document.activeElement);
  return {outline: style.outlineStyle, width: style.outlineWidth, shadow: style.boxShadow};
}"""
THANKS = {"en": "Thank you for your report", "es": "Gracias por su aviso"}
SUMMARY = {"en": "Report a problem with this link", "es": "Informar de un problema con este enlace"}


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A gunicorn of its own, so that this module's reports (all from 127.0.0.1) meet no other's limit."""
    server = LiveServer(tmp_path_factory.mktemp("reports"), {"reports": {"per_client_per_hour": 100}})
    server.cli("block", "blocked.example")
    server.start()
    yield server
    server.stop()


def counted(server: LiveServer, host: str) -> dict[str, int]:
    with server.store().db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(destination_reports.c.choice, destination_reports.c.count).where(
                destination_reports.c.host == host
            )
        ).all()
    return {choice: count for choice, count in rows}


def visibly_focused(page: Any) -> bool:
    style = page.evaluate(FOCUSED_STYLE)
    return (style["outline"] != "none" and style["width"] != "0px") or style["shadow"] != "none"


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
def test_a_visitor_reports_a_link_with_the_keyboard_and_no_javascript(
    gate: LiveServer, new_page: Any, language: str, viewport: dict[str, int]
) -> None:
    host = f"report-{language}-{viewport['width']}.example"
    page = new_page(viewport=viewport, java_script_enabled=False)
    notice = page.goto(gate.url + "/go?" + urlencode({"url": f"https://{host}/a?b=1", "lang": language}))
    assert notice is not None and notice.status == 200
    assert not page.locator("#report-broken").is_visible(), "the choices wait until the visitor asks"

    page.locator("#back").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert page.evaluate("document.activeElement.textContent") == SUMMARY[language]
    assert visibly_focused(page), "no visible focus on the report's summary"
    page.keyboard.press("Enter")  # <details> opens without a script
    assert page.locator("#report-broken").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "report-broken"
    assert visibly_focused(page), "no visible focus on the first choice"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "report-unsafe"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.url.startswith(gate.url + "/report")
    assert page.locator("h1").inner_text() == THANKS[language]
    assert page.get_attribute("html", "lang") == language
    assert counted(gate, host) == {"unsafe": 1}
    assert page.context.cookies() == []
    assert page.get_attribute("#back", "href") == "https://www.missoulacounty.us/"  # no Referer: home


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
def test_the_notice_with_the_form_open_and_the_thank_you_page_pass_axe(
    gate: LiveServer, new_page: Any, axe: Any, language: str, viewport: dict[str, int]
) -> None:
    # bypass_csp: axe is injected as an inline script, which the gate's CSP forbids (as it should).
    page = new_page(viewport=viewport, bypass_csp=True)
    where = f"({language}) at {viewport['width']} px"
    for url, status in (("https://axe-report.example/x", 200), ("https://www.blocked.example/", 403)):
        response = page.goto(gate.url + "/go?" + urlencode({"url": url, "lang": language}))
        assert response is not None and response.status == status
        page.locator("#report summary").click()
        assert page.locator("#report-wrong-site").is_visible()
        assert_no_serious_violations(axe(page), f"{url}'s page with the report form open {where}")
    with page.expect_navigation():
        page.locator("#report-wrong-site").click()
    assert page.locator("h1").inner_text() == THANKS[language]
    assert_no_serious_violations(axe(page), f"the thank-you page {where}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
