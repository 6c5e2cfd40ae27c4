"""A cold privacy lookup in Chromium: the notice comes before the site answers, the script fills it in."""

from __future__ import annotations

import threading
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


def test_slow_site_notice_renders_before_the_site_answers_and_the_script_fills_in_the_link(
    make_server: Any, httpserver: HTTPServer, new_page: Any
) -> None:
    # The site answers only once the notice is on screen: a notice that waited for it would never come.
    notice_shown = threading.Event()

    def slow_home(_request: Request) -> Response:
        notice_shown.wait(timeout=30)
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
    try:
        response = page.goto(f"{server.url}/go?url={quote(site + '/events', safe='')}", timeout=15_000)
        assert response is not None and response.status == 200
        assert page.locator("#privacy-link").count() == 0
        assert "still looking" in page.locator("#privacy-status").inner_text()
    finally:
        notice_shown.set()

    link = page.locator("#privacy-link")
    link.wait_for(state="visible", timeout=15_000)
    assert link.get_attribute("href") == site + "/legal/privacy-notice"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert "slow.test" in link.inner_text()
    assert page.locator("#continue").get_attribute("href") == site + "/events"
