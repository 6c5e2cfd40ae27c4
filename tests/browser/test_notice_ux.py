"""Issue 17, the notice and the other visitor pages, in a real Chromium at 320 and 1280 px, in English and
Spanish: the site's name never breaks inside a label, the privacy link is the call to action, Go back
returns to the County page, a deceptive link puts Go back first, the page's own links count nothing
again, the invalid-link and privacy wordings, and the endorsement line.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import NARROW, WIDE, assert_no_serious_violations
from tests.conftest import HeldPage, LiveServer, wait_for
from tests.console import query

pytestmark = pytest.mark.browser

VIEWPORTS = pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
LANGUAGES = pytest.mark.parametrize("language", ["en", "es"])
COUNTY_PAGE = "https://www.missoulacounty.us/departments/parks-trails"
HOME = "https://www.missoulacounty.us/"


def label(length: int, word: str = "missoulacountyfair") -> str:
    return (word * (length // len(word) + 1))[:length]


# Hosts whose registrable domains run from 4 to 67 characters, a label of up to 63 (the most DNS allows),
# with hyphens, several labels and a long name before the registrable domain.
HOSTS = [
    "a.co",
    "www.missoulian.com",
    "missoulacounty-payments.com",
    "www.news.bbc.co.uk",
    *(f"www.{label(length)}.com" for length in (12, 16, 20, 24, 28, 32, 40, 50, 63)),
    "www.montana-fish-wildlife-and-parks-outdoor-recreation.org",
    f"{label(40, 'subdomain')}.{label(30, 'another')}.example.org",
]


def gate_link(server: LiveServer, destination: str, **params: str) -> str:
    return server.url + "/go?" + urlencode({"url": destination, **params})


@pytest.fixture(scope="module")
def notice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A gate whose hosts above have a privacy link set by hand, so each notice shows its call to action."""
    server = LiveServer(tmp_path_factory.mktemp("notice-ux"))
    for host in HOSTS:
        server.cli("site", "set-privacy", host, f"https://{host}/privacy")
    server.start()
    yield server
    server.stop()


HELD_HOSTS = ("held-en.test", "held-es.test", "held.test")


@pytest.fixture(scope="module")
def pending_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A gate that never waits for a lookup, one worker. The lookups of HELD_HOSTS (on ``held_port``) stay
    in flight until the module ends, so their notices keep saying "Check again"; any other name is found
    nowhere, so its lookup fails at once."""
    from pytest_httpserver import HTTPServer

    site = HTTPServer(host="127.0.0.1", threaded=True)
    site.start()
    held = HeldPage("<h1>Held</h1>")
    site.expect_request("/").respond_with_handler(held)
    fetch = {
        "privacy_wait_ms": 0,
        "allow_networks": ["127.0.0.0/8"],
        "resolve": [f"{host}=127.0.0.1" for host in HELD_HOSTS],
        "allowed_ports": [80, 443, site.port],
    }
    server = LiveServer(tmp_path_factory.mktemp("notice-pending"), {"fetch": fetch})
    server.held_port = site.port  # type: ignore[attr-defined]
    server.start()
    yield server
    held.release.set()
    server.stop()
    site.clear()
    site.stop()


def held(server: LiveServer, host: str) -> str:
    return f"http://{host}:{server.held_port}/"  # type: ignore[attr-defined]


# ---- 10: the site's name breaks only between its labels ---------------------------------------------

# Every character of ``selector``'s rendered text (inside ``name``, the site's name, or not), with its box.
CHARACTERS = """([selector, name]) => {
  const root = document.querySelector(selector);
  const named = root.matches(name) ? root : root.querySelector(name);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const characters = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let index = 0; index < node.length; index++) {
      const range = document.createRange();
      range.setStart(node, index);
      range.setEnd(node, index + 1);
      const box = range.getClientRects()[0];
      if (!box || box.width === 0) { continue; }  // collapsed white space
      characters.push({
        text: node.data[index], top: box.top, bottom: box.bottom, width: box.width,
        named: named.contains(node),
      });
    }
  }
  // The line's width is the block's that holds the text (an inline element has none of its own).
  const block = getComputedStyle(root).display === "inline" ? root.parentElement : root;
  const style = getComputedStyle(block);
  const line = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {characters, line, overflows: block.scrollWidth > block.clientWidth};
}"""


def breaks_inside_labels(measured: dict[str, Any]) -> list[str]:
    """Where the site's name breaks other than after a dot or a hyphen; empty when nowhere. A piece between
    two of those that alone is wider than the line may break anywhere, but must then start a line."""
    characters = measured["characters"]
    named = [index for index, character in enumerate(characters) if character["named"]]
    assert named == list(range(named[0], named[-1] + 1)), "the site's name is one run of text"
    problems = []
    start = named[0]
    for end in [*(i + 1 for i in named if characters[i]["text"] in ".-"), named[-1] + 1]:
        piece = characters[start:end]
        text = "".join(character["text"] for character in piece)
        too_wide = sum(character["width"] for character in piece) > measured["line"]
        for before, after in itertools.pairwise(piece):
            if after["top"] >= before["bottom"] - 2 and not too_wide:
                problems.append(f"{text!r} breaks after {before['text']!r}")
        if too_wide and start > 0 and piece[0]["top"] < characters[start - 1]["bottom"] - 2:
            problems.append(f"{text!r} is wider than the line but does not start one")
        start = end
    return problems


@LANGUAGES
@pytest.mark.parametrize("host", HOSTS)
def test_no_registrable_domain_breaks_inside_a_label_at_320px(notice_server, new_page, host, language):
    page = new_page(viewport=NARROW)
    page.goto(gate_link(notice_server, f"https://{host}/events/summer-fair-2027?day=saturday", lang=language))
    assert page.locator("#privacy-link").is_visible()
    for selector, name in (
        ("#destination .address", ".domain"),
        ("#continue", ".site-name"),
        ("#privacy-link", ".site-name"),
    ):
        measured = page.evaluate(CHARACTERS, [selector, name])
        assert not measured["overflows"], f"{selector} is cut off or scrolls at 320 px"
        assert breaks_inside_labels(measured) == [], f"{selector} for {host}"
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]


def test_the_label_check_sees_a_name_broken_mid_label(new_page):
    """The measurement can fail: the old page (no <wbr>, overflow-wrap anywhere) broke missoulian.c/om."""
    page = new_page(viewport=NARROW)
    page.set_content(
        '<p id="old" style="width: 150px; font: 16px monospace; overflow-wrap: anywhere; margin: 0">'
        'https://www.<strong class="domain">missoulian.com</strong>/events</p>'
    )
    assert breaks_inside_labels(page.evaluate(CHARACTERS, ["#old", ".domain"]))


# ---- 11: the privacy link is the section's call to action, before Continue ---------------------------

LOOKS = """selector => {
  const style = getComputedStyle(document.querySelector(selector));
  return {size: parseFloat(style.fontSize), weight: style.fontWeight, background: style.backgroundColor,
          decoration: style.textDecorationLine, color: style.color, border: style.borderLeftWidth};
}"""


@LANGUAGES
@VIEWPORTS
def test_the_privacy_link_is_the_call_to_action_before_continue(
    notice_server, new_page, axe, viewport, language
):
    page = new_page(viewport=viewport, bypass_csp=True)
    page.goto(gate_link(notice_server, "https://www.missoulian.com/news", lang=language))
    privacy, cont = page.locator("#privacy-link"), page.locator("#continue")
    assert privacy.get_attribute("href") == "https://www.missoulian.com/privacy"
    assert privacy.bounding_box()["y"] < cont.bounding_box()["y"], "on screen before Continue"
    # Before Continue to the keyboard too: the first stop after the page's content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "privacy-link"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "continue"
    # Set apart: larger and bolder than the text around it, in a tinted box with an edge...
    text, action, link = (page.evaluate(LOOKS, s) for s in ("#privacy p", ".privacy-action", "#privacy-link"))
    assert link["size"] > text["size"] and int(link["weight"]) >= 700
    assert action["background"] != "rgba(0, 0, 0, 0)" and action["border"] != "0px"
    # ... but a link, not a button like Continue: underlined, in the link colour, on no button fill.
    button = page.evaluate(LOOKS, "#continue")
    assert link["decoration"] == "underline" and button["decoration"] == "none"
    assert link["color"] != button["color"] and action["background"] != button["background"]
    assert_no_serious_violations(
        axe(page), f"the notice with its privacy link ({language}, {viewport['width']} px)"
    )


# ---- 12: Go back returns to the County page the visitor came from --------------------------------------


@LANGUAGES
@VIEWPORTS
def test_go_back_returns_to_the_county_page_and_stays_after_a_language_switch(
    notice_server, new_page, viewport, language
):
    page = new_page(viewport=viewport)
    page.goto(gate_link(notice_server, "https://www.missoulian.com/", lang=language), referer=COUNTY_PAGE)
    assert page.get_attribute("#back", "href") == COUNTY_PAGE
    assert page.locator("#back").is_visible()
    other = "es" if language == "en" else "en"
    with page.expect_navigation():
        page.click(f"#language-{other}")
    assert page.get_attribute("html", "lang") == other
    assert page.get_attribute("#back", "href") == COUNTY_PAGE
    elsewhere = new_page(viewport=viewport)
    elsewhere.goto(gate_link(notice_server, "https://www.missoulian.com/"), referer="https://evil.example/")
    assert elsewhere.get_attribute("#back", "href") == HOME


# ---- 13: on a deceptive link, Go back comes first ----------------------------------------------------


@LANGUAGES
@VIEWPORTS
def test_on_a_deceptive_link_go_back_comes_first_on_screen_and_to_the_keyboard(
    notice_server, new_page, viewport, language
):
    page = new_page(viewport=viewport)
    page.goto(gate_link(notice_server, "https://missoulacounty-payments.com/pay", lang=language))
    assert page.locator('[data-flag="lookalike"]').count() == 1
    back, cont = page.locator("#back").bounding_box(), page.locator("#continue").bounding_box()
    # In a row, Go back is to the left; stacked (always at 320 px; at 1280 px when the two are too wide
    # for one row), it is above.
    in_a_row = back["y"] == cont["y"]
    assert in_a_row or back["y"] + back["height"] <= cont["y"], "stacked: Go back above Continue"
    assert not in_a_row or back["x"] + back["width"] <= cont["x"], "in a row: Go back to the left"
    assert viewport is not NARROW or not in_a_row
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order.index("back") < order.index("continue"), order
    emphasised = "rgb(23, 70, 58)"  # the brand green of the main button
    assert page.locator("#back").evaluate("el => getComputedStyle(el).backgroundColor") == emphasised


# ---- 14: the page's own links do not count the click again -------------------------------------------


def stored_count(server: LiveServer, domain: str) -> int:
    rows = query(server, "select sum(count) from click_counts where domain = ?", domain)
    return int(rows[0][0] or 0)


@LANGUAGES
def test_a_language_switch_and_check_again_count_the_click_once(pending_server, new_page, language):
    domain = f"held-{language}.test"  # its lookup stays in flight: the page keeps its Check again
    page = new_page(java_script_enabled=False)
    page.goto(gate_link(pending_server, held(pending_server, domain), lang=language))
    wait_for(lambda: stored_count(pending_server, domain) == 1, what="the click to be written")
    for selector in ("#language-es" if language == "en" else "#language-en", "#check-again", "#check-again"):
        with page.expect_navigation():
            page.click(selector)
        assert page.locator("#continue").is_visible()
    # The server writes its counts in order: once a later click is written, any of the above would be too.
    page.goto(gate_link(pending_server, f"https://www.later-{language}.org/"))
    wait_for(lambda: stored_count(pending_server, f"later-{language}.org") == 1, what="a later click written")
    assert stored_count(pending_server, domain) == 1


# ---- 15: plain words on the invalid-link page; one wording with and without JavaScript ---------------

INVALID = {
    "en": ("This link is incomplete: it does not say which website it should take you to.", "Go to"),
    "es": ("Este enlace está incompleto: no dice a qué sitio web debe llevarle.", "Ir al sitio web"),
}


@LANGUAGES
@VIEWPORTS
def test_the_invalid_link_page_says_what_is_wrong_and_links_to_the_webmaster(
    notice_server, new_page, viewport, language
):
    page = new_page(viewport=viewport)
    response = page.goto(f"{notice_server.url}/go?lang={language}")
    assert response.status == 400
    message, back = INVALID[language]
    assert page.locator("#error-message").inner_text() == message
    webmaster = page.locator("#webmaster-email")
    assert webmaster.is_visible()
    assert webmaster.get_attribute("href") == "mailto:helpdesk@co.missoula.mt.us"
    assert page.locator("#back").inner_text().startswith(back)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@LANGUAGES
def test_a_failed_lookup_reads_the_same_with_and_without_javascript(pending_server, new_page, language):
    """A lookup that fails after the page was sent: notice.js writes what the page says once reloaded."""
    scripted = new_page()
    scripted.goto(gate_link(pending_server, f"https://www.failed-{language}.org/", lang=language))
    scripted.locator("#check-again").wait_for(state="detached")  # notice.js wrote the answer
    with_script = scripted.locator("#privacy-status").inner_text()
    plain = new_page(java_script_enabled=False)
    host = f"www.failed-{language}-plain.org"
    plain.goto(gate_link(pending_server, f"https://{host}/", lang=language))
    assert plain.locator("#check-again").is_visible()
    wait_for(lambda: pending_server.get(f"/api/site/{host}").json()["status"] == "error", what="the lookup")
    with plain.expect_navigation():
        plain.click("#check-again")
    assert plain.locator("#privacy-status").inner_text() == with_script
    assert with_script.startswith({"en": "We could not look up", "es": "No pudimos consultar"}[language])


@VIEWPORTS
def test_check_again_and_go_back_cannot_be_confused_in_spanish(pending_server, new_page, viewport):
    page = new_page(viewport=viewport, java_script_enabled=False)
    page.goto(gate_link(pending_server, held(pending_server, "held.test"), lang="es"))
    check_again = page.locator("#check-again").inner_text()
    go_back = page.locator("#back").inner_text()
    assert check_again == "Buscar de nuevo"
    assert go_back.startswith("Volver al sitio web")
    assert check_again.split()[0] != go_back.split()[0]


# ---- 16: the County does not endorse the site ------------------------------------------------------------

DISCLAIMER = {
    "en": "Missoula County does not endorse or control this website or what it says.",
    "es": "El Condado de Missoula no respalda ni controla este sitio web ni lo que dice.",
}


@LANGUAGES
@VIEWPORTS
def test_the_notice_says_the_county_does_not_endorse_or_control_the_site(
    notice_server, new_page, viewport, language
):
    page = new_page(viewport=viewport)
    page.goto(gate_link(notice_server, "https://www.missoulian.com/", lang=language))
    line = page.locator("#disclaimer")
    assert line.is_visible()
    assert line.inner_text() == DISCLAIMER[language]
    assert line.bounding_box()["y"] < page.locator("#privacy-heading").bounding_box()["y"]


def test_a_privacy_link_found_after_the_page_is_shown_as_the_server_shows_it(
    make_server, httpserver, new_page
):
    """notice.js writes the call to action the server writes once the link is known: the same markup, the
    site's name with the same break points."""
    release = threading.Event()

    def home(_request: Any) -> Any:
        from werkzeug import Response

        release.wait(timeout=30)
        body = '<!doctype html><title>Late</title><footer><a href="/privacy">Privacy policy</a></footer>'
        return Response(body, content_type="text/html")

    httpserver.expect_request("/").respond_with_handler(home)
    httpserver.expect_request("/privacy").respond_with_data(
        "<title>Privacy</title>", content_type="text/html"
    )
    fetch = {"allow_networks": ["127.0.0.0/8"], "resolve": ["www.late.test=127.0.0.1"], "privacy_wait_ms": 0}
    server = make_server({"fetch": fetch})
    link = gate_link(server, f"http://www.late.test:{httpserver.port}/page")
    scripted = new_page()
    try:
        scripted.goto(link)
        assert scripted.locator("#check-again").is_visible()
    finally:
        release.set()
    scripted.locator("#privacy-link").wait_for()
    written = scripted.locator("#privacy-status p").evaluate("p => p.outerHTML")
    served = new_page(java_script_enabled=False)
    served.goto(link)
    assert served.locator("#privacy-status p").evaluate("p => p.outerHTML") == written
    assert "late.<wbr>test" in written and 'class="privacy-action"' in written
