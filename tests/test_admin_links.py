"""The console's link builder: warnings for a blocked site and a County page, and who may make links."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from tests.console import VIEWER_PASSWORD, signed_in


def built(browser, url: str):
    return browser.get("/admin/links/?url=" + quote(url, safe=""))


def gate_link(page: str) -> str:
    found = re.search(r'id="gate-link-value"[^>]*value="([^"]+)"', page)
    assert found is not None, "no gate link on the page"
    return html.unescape(found.group(1))


def test_a_blocked_destination_is_warned_about(console):
    console.cli("block", "builder-blocked.example")
    page = built(signed_in(console), "https://www.builder-blocked.example/prize")
    assert page.status_code == 200
    assert 'id="link-warning" data-category="blocked"' in page.text
    assert "Visitors cannot follow this link" in page.text
    assert console.get(gate_link(page.text)).status_code == 403  # the block page, as the warning says


def test_a_county_page_is_warned_about(console):
    page = built(signed_in(console), "https://www.missoulacounty.us/departments")
    assert 'id="link-warning" data-category="county"' in page.text
    assert "This is a County page" in page.text


def test_an_ordinary_destination_has_no_warning_and_copy_buttons_wait_for_the_script(console):
    page = built(signed_in(console), "https://www.example.org/events")
    assert 'id="link-warning"' not in page.text
    assert gate_link(page.text).startswith(console.url)
    # Without JavaScript the fields are read-only and selectable; the buttons appear only with the script.
    assert re.search(r'<input id="gate-link-value"[^>]*readonly', page.text)
    assert re.search(r'<button type="button"[^>]*data-copy="gate-link-value" hidden>', page.text)
    assert 'src="/static/console.js"' in page.text
    assert 'id="copy-status" role="status"' in page.text


def test_viewers_may_make_signed_links_and_the_page_says_so(console):
    page = built(signed_in(console, "viewer", VIEWER_PASSWORD), "https://www.example.org/events")
    assert page.status_code == 200
    assert "&sig=" in gate_link(page.text)
    assert "Every console account, viewers too, may make gate links" in page.text
