"""A cold privacy lookup in a real Chromium: the notice comes within the budget, the script fills it in."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

pytestmark = pytest.mark.browser

SLOW_HOME = (
    "<!doctype html><html><head><title>Slow site</title></head><body><main>Hello</main>"
    '<footer><a href="/legal/privacy-notice">Privacy Notice</a></footer></body></html>'
)


def test_slow_site_notice_renders_in_budget_and_the_script_fills_in_the_link(
    make_server: Any, httpserver: HTTPServer, new_page: Any
) -> None:
    def slow_home(_request: Request) -> Response:
        time.sleep(2.0)
        return Response(SLOW_HOME, content_type="text/html")

    httpserver.expect_request("/").respond_with_handler(slow_home)
    server = make_server(
        {
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": ["slow.test=127.0.0.1"],
                "privacy_wait_ms": 500,
            }
        }
    )
    site = f"http://slow.test:{httpserver.port}"
    page = new_page()
    started = time.monotonic()
    response = page.goto(f"{server.url}/go?url={quote(site + '/events', safe='')}")
    elapsed = time.monotonic() - started
    assert response is not None and response.status == 200
    assert elapsed < 1.8, f"the notice took {elapsed:.2f} s behind a site that takes 2 s"
    assert page.locator("#privacy-link").count() == 0
    assert "still looking" in page.locator("#privacy-status").inner_text()

    link = page.locator("#privacy-link")
    link.wait_for(state="visible", timeout=15_000)
    assert link.get_attribute("href") == site + "/legal/privacy-notice"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert "slow.test" in link.inner_text()
    assert page.locator("#continue").get_attribute("href") == site + "/events"
