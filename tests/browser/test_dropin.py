"""The drop-in script (static/linkgate.js) in a real Chromium: every way of following a link, the marks,
the CSP, and the demo County page.

Two set-ups, and nothing leaves the machine:

* A County site served by a local HTTP server under the name ``county.localhost`` (Chromium sends every
  ``*.localhost`` name to this computer), under a strict CSP whose ``script-src`` is the gate alone. The
  gate runs on ``127.0.0.1`` with ``county.localhost`` as its County domain, so the browser's Referer
  makes a click trusted, as on a real County page. Destinations are other ``*.localhost`` names on the
  same local server (``partner.localhost`` is allowlisted), so every click is followed to where it lands.
* The gate's own demo County page (demo mode), whose destinations are real sites. There, links are
  followed only as far as the gate's notice; links added by a test lead to the local server.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from linkgate.gateaddress import gate_address, gate_link, read_gate_link
from linkgate.signing import Signer
from linkgate.web.demo import DEMO_LINKS, SKIP_LINK
from tests.browser.conftest import NARROW, WIDE, assert_no_serious_violations
from tests.conftest import ROOT, LiveServer

pytestmark = pytest.mark.browser

COUNTY = "county.localhost"
PARTNER = "partner.localhost"  # allowlisted: a trusted click is redirected straight there
ELSEWHERE = "elsewhere.localhost"  # an ordinary site: the gate shows its notice
STRAIGHT = "straight.localhost"  # where the skipped links lead
NOTE = "(leaves the Missoula County website)"

# The links of the test County page: id -> (href, extra attributes, content). {port} is the local
# server's, {gate} the gate's address.
LINKS = {
    "partner": (
        "http://partner.localhost:{port}/parks/hours?day=sat&q=caf%C3%A9#summer",
        "",
        "Partner parks",
    ),
    "elsewhere": ("http://elsewhere.localhost:{port}/forms/apply?step=1", "", "Apply for a permit"),
    "blank": ("http://elsewhere.localhost:{port}/events", ' target="_blank"', "Events elsewhere"),
    "noreferrer": ("http://partner.localhost:{port}/trails", ' rel="noreferrer"', "Partner trails"),
    "image": (
        "http://partner.localhost:{port}/about",
        "",
        '<img src="/logo.svg" alt="About our partner" width="40" height="20">',
    ),
    "skip": ("http://straight.localhost:{port}/direct", ' data-linkgate="skip"', "Straight there"),
    "skip-selector": (
        "http://straight.localhost:{port}/by-selector",
        ' class="no-gate"',
        "Also straight there",
    ),
    "county": ("http://www.county.localhost:{port}/other", "", "Another County page"),
    "own": ("/", "", "County home"),
    "mail": ("mailto:help@county.localhost", "", "Email us"),
    "tel": ("tel:+14065550100", "", "Call us"),
    "fragment": ("#bottom", "", "To the bottom"),
    "gated": ("{gate}/go?url=http%3A%2F%2Felsewhere.localhost%3A{port}%2Fsigned", "", "Through the gate"),
}
# Besides LINKS: an image map's area and a link inside inline SVG, both to elsewhere.localhost.
ROUTED = ("partner", "elsewhere", "blank", "noreferrer", "image", "area", "svg")
LEFT_ALONE = ("skip", "skip-selector", "county", "own", "mail", "tel", "fragment", "gated")
MARKED = ("partner", "elsewhere", "blank", "noreferrer", "image", "gated")

LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
LANDING = "<!doctype html><html lang=en><link rel=icon href=data:,><title>{host}</title><h1>{host}</h1>"

# Records, for every click, middle-click and context menu on a link, the address the browser would
# follow at that moment (the drop-in swaps it in the capture phase, before this bubbling listener), and
# cancels it so that nothing is followed. Playwright's init scripts are not subject to the page's CSP.
FOLLOW_RECORDER = """
window.__followed = [];
for (const type of ["click", "auxclick", "contextmenu"]) {
  document.addEventListener(type, event => {
    const link = event.target.closest && event.target.closest("a, area");
    if (link) { window.__followed.push([type, link.getAttribute("href")]); event.preventDefault(); }
  });
}
"""
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", event => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""
MARKS = """() => [...document.querySelectorAll("a")].filter(a => a.id).map(a => ({
  id: a.id,
  marked: a.classList.contains("linkgate-external"),
  notes: [...a.querySelectorAll(".linkgate-note")].map(note => note.textContent),
  icons: a.querySelectorAll("svg.linkgate-icon").length,
  text: [...a.childNodes].filter(node => !/^linkgate-/.test(node.getAttribute?.("class") || ""))
    .map(node => node.outerHTML || node.data).join(""),
}))"""


class Sites:
    """One local HTTP server answering for the County site and every destination, by host name."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.gate_url = ""

    @property
    def port(self) -> int:
        return int(self.server.port)

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def href(self, link_id: str) -> str:
        return LINKS[link_id][0].format(port=self.port, gate=self.gate_url)

    def resolved(self, link_id: str) -> str:
        """The link's address as the browser resolves it on the County page."""
        href = self.href(link_id)
        return self.url(COUNTY, href) if href.startswith("/") else href

    def requests_to(self, host: str) -> list[Request]:
        return [request for request, _ in self.server.log if request.host.partition(":")[0] == host]

    def respond(self, request: Request) -> Response:
        host = request.host.partition(":")[0]
        if request.path == "/favicon.ico":
            return Response(status=204)
        if host not in {COUNTY, f"www.{COUNTY}"}:
            return Response(LANDING.format(host=host), content_type="text/html")
        if request.path == "/logo.svg":
            return Response(LOGO, content_type="image/svg+xml")
        pages = {
            "/": (False, {}),
            "/page": (True, {}),
            "/plain": (False, {}),
            "/no-referrer": (True, {"Referrer-Policy": "no-referrer"}),
        }
        if request.path not in pages:
            return Response("not found", status=404)
        with_script, headers = pages[request.path]
        csp = (
            f"default-src 'none'; script-src {self.gate_url}; style-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        body = self.page(with_script) if request.path != "/" else "<h1>County home</h1>"
        document = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>County page</title>'
            + (
                f'<script src="{self.gate_url}/static/linkgate.js" data-gate="{self.gate_url}" '
                f'data-county="{COUNTY}" data-skip=".no-gate" defer></script>'
                if with_script
                else ""
            )
            + f"</head><body><main>{body}</main></body></html>"
        )
        return Response(
            document, content_type="text/html", headers={"Content-Security-Policy": csp, **headers}
        )

    def page(self, with_script: bool) -> str:
        items = "".join(
            f'<li><a id="{link_id}" href="{html.escape(self.href(link_id))}"{attributes}>{content}</a></li>'
            for link_id, (_, attributes, content) in LINKS.items()
        )
        elsewhere = html.escape(self.url(ELSEWHERE, "/"))
        return (
            f"<h1>A County page{' with the drop-in' if with_script else ''}</h1><ul>{items}</ul>"
            '<p><img id="map" src="/logo.svg" alt="Map" width="40" height="20" usemap="#places">'
            f'<map name="places"><area id="area" shape="rect" coords="0,0,40,20" href="{elsewhere}map" '
            'alt="Map of places"></map></p>'
            f'<svg width="120" height="24"><a id="svg" href="{elsewhere}svg"><text x="0" y="18">SVG link'
            '</text></a></svg><p id="bottom">The end.</p>'
        )


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    sites = Sites()
    sites.server.expect_request(re.compile(".*")).respond_with_handler(sites.respond)
    sites.server.start()
    yield sites
    sites.server.clear()
    sites.server.stop()


@pytest.fixture(scope="module")
def gate(sites: Sites, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The gate for the County site: county.localhost is the County, partner.localhost a partner."""
    server = LiveServer(
        tmp_path_factory.mktemp("dropin-gate"),
        {
            "county": {
                "domains": [COUNTY],
                "home_url": sites.url(COUNTY, "/"),
                "privacy_url": sites.url(COUNTY, "/privacy"),
            },
            "fetch": {"privacy_wait_ms": 0},
        },
    )
    server.cli("allow", PARTNER)
    server.start()
    sites.gate_url = server.url
    yield server
    server.stop()


@dataclass
class Visit:
    """A page of its own context, with every request the context made (new tabs included)."""

    page: Any
    requests: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def gate_requests(self, gate: LiveServer) -> list[Any]:
        return [request for request in self.requests if request.url.startswith(gate.url + "/go?")]


def gate_destination(gate: LiveServer, url: str) -> str | None:
    """The destination a gate link names, or None for any other address."""
    if not url.startswith(gate.url + "/go?"):
        return None
    return parse_qs(urlsplit(url).query)["url"][0]


@pytest.fixture
def visit(new_page: Callable[..., Any]) -> Callable[..., Visit]:
    def open_page(url: str, *, scripts: tuple[str, ...] = (), **options: Any) -> Visit:
        page = new_page(**options)
        result = Visit(page)
        # A lambda: Playwright cannot take a built-in method as a handler.
        page.context.on("request", lambda request: result.requests.append(request))  # noqa: PLW0108
        page.on("console", lambda message: message.type == "error" and result.problems.append(message.text))
        page.on("pageerror", lambda error: result.problems.append(str(error)))
        for script in (CSP_RECORDER, *scripts):
            page.add_init_script(script)
        page.goto(url)
        return result

    return open_page


def follow_target(page: Any, link_id: str) -> Any:
    """What to click to follow a link: the image of an image map, the text of an SVG link."""
    if link_id == "area":
        return page.locator("#map")
    if link_id == "svg":
        return page.locator("#svg text")
    return page.locator(f"#{link_id}")


@pytest.mark.parametrize("link_id", ROUTED + LEFT_ALONE)
def test_following_a_link_uses_the_gate_only_for_off_site_links(
    link_id: str, sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    page = visit(sites.url(COUNTY, "/page"), scripts=(FOLLOW_RECORDER,)).page
    before = page.locator(f"#{link_id}").get_attribute("href")
    follow_target(page, link_id).click()
    (event, followed), *_ = page.evaluate("window.__followed")
    assert event == "click"
    if link_id in ROUTED:
        resolved = page.locator(f"#{link_id}").evaluate(
            "link => new URL(link.getAttribute('href'), document.baseURI).href"
        )
        assert gate_destination(gate, followed) == resolved, f"{link_id} followed {followed}"
    else:
        assert followed == before, f"{link_id} should be left alone, but {followed} was followed"
    # The swap lasts only for the instant of following: the real address is back at once.
    page.wait_for_function(
        "([id, href]) => document.getElementById(id).getAttribute('href') === href", arg=[link_id, before]
    )
    assert page.locator(f"#{link_id}").get_attribute("href") == before


def test_plain_click_goes_through_the_gate_and_lands_on_the_exact_destination(
    sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    county_page = sites.url(COUNTY, "/page")
    visited = visit(county_page)
    page = visited.page
    destination = sites.href("partner")
    with page.expect_request(lambda request: request.url.startswith(gate.url + "/go?")) as routed:
        page.locator("#partner").click()
    page.wait_for_url(destination)
    assert page.url == destination
    assert gate_destination(gate, routed.value.url) == destination
    # The Referer made the click trusted (a partner is redirected only then); only the origin is sent.
    assert routed.value.header_value("referer") == sites.url(COUNTY, "/")
    arrived = sites.requests_to(PARTNER)[-1]
    assert arrived.full_path == "/parks/hours?day=sat&q=caf%C3%A9"
    assert "Referer" not in arrived.headers, "the gate must not pass the County page on to the destination"

    # Back returns to the County page, whose link shows its real address again.
    page.go_back()
    page.wait_for_url(county_page)
    assert page.locator("#partner").get_attribute("href") == destination
    assert visited.problems == []


def test_notice_continue_goes_to_the_exact_destination_and_back_to_the_county_home(
    sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    page = visit(sites.url(COUNTY, "/page")).page
    destination = sites.href("elsewhere")
    page.locator("#elsewhere").click()
    page.wait_for_url(f"{gate.url}/go?*")
    assert gate_destination(gate, page.url) == destination
    assert page.locator("[data-untrusted]").count() == 0, "a click from a County page is trusted"
    assert page.locator("#continue").get_attribute("href") == destination
    page.locator("#continue").click()
    page.wait_for_url(destination)
    assert sites.requests_to(ELSEWHERE)[-1].full_path == "/forms/apply?step=1"

    page.go_back()
    page.wait_for_url(f"{gate.url}/go?*")
    page.locator("#back").click()
    page.wait_for_url(sites.url(COUNTY, "/"))
    assert page.locator("h1").inner_text() == "County home"


NEW_TAB_WAYS = {
    "middle-click": ("elsewhere", {"button": "middle"}),
    "ctrl-click": ("elsewhere", {"modifiers": ["Control"]}),
    "shift-click": ("elsewhere", {"modifiers": ["Shift"]}),
    "target-blank": ("blank", {}),
}


@pytest.mark.parametrize("way", list(NEW_TAB_WAYS))
def test_new_tab_and_window_ways_go_through_the_gate(
    way: str, sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    link_id, options = NEW_TAB_WAYS[way]
    page = visit(sites.url(COUNTY, "/page")).page
    destination = sites.href(link_id)
    with page.context.expect_page() as opened:
        page.locator(f"#{link_id}").click(**options)
    # The new tab shows the gate's notice (the destination is not a partner), which names the
    # destination: Playwright does not reliably report a new tab's first request, its address does.
    tab = opened.value
    tab.wait_for_url(f"{gate.url}/go?*")
    assert gate_destination(gate, tab.url) == destination
    assert tab.locator("[data-untrusted]").count() == 0, "a click from a County page is trusted"
    tab.locator("#continue").click()
    tab.wait_for_url(destination)
    # The County page stays where it was, its link showing the real address.
    assert page.url == sites.url(COUNTY, "/page")
    assert page.locator(f"#{link_id}").get_attribute("href") == destination


@pytest.mark.parametrize("way", ["enter", "tap"])
def test_enter_on_a_focused_link_and_a_tap_go_through_the_gate(
    way: str, sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    visited = visit(sites.url(COUNTY, "/page"), has_touch=way == "tap")
    page = visited.page
    if way == "tap":
        page.locator("#partner").tap()
    else:
        page.locator("#partner").focus()
        page.keyboard.press("Enter")
    page.wait_for_url(sites.href("partner"))
    assert [gate_destination(gate, request.url) for request in visited.gate_requests(gate)] == [
        sites.href("partner")
    ]


def test_link_added_after_load_is_marked_and_routed(
    sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    page = visit(sites.url(COUNTY, "/page")).page
    destination = sites.url(ELSEWHERE, "/added/later?x=1")
    page.evaluate(
        """href => {
            const link = document.createElement("a");
            link.id = "later";
            link.href = href;
            link.textContent = "Added later";
            document.querySelector("main").append(link);
            const named = document.createElement("a");  // given its address only once on the page
            named.id = "named-later";
            named.textContent = "Named later";
            document.querySelector("main").append(named);
            named.href = href;
        }""",
        destination,
    )
    for link_id in ("later", "named-later"):
        page.wait_for_selector(f"#{link_id} .linkgate-note", state="attached")
    page.locator("#later").click()
    page.wait_for_url(f"{gate.url}/go?*")
    assert gate_destination(gate, page.url) == destination
    page.locator("#continue").click()
    page.wait_for_url(destination)


def test_link_inside_a_web_component_goes_through_the_gate(
    sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    page = visit(sites.url(COUNTY, "/page")).page
    destination = sites.url(ELSEWHERE, "/component")
    page.evaluate(
        """href => {
            const host = document.createElement("county-card");
            const link = document.createElement("a");
            link.href = href;
            link.textContent = "In a component";
            host.attachShadow({mode: "open"}).append(link);
            document.querySelector("main").append(host);
        }""",
        destination,
    )
    page.locator("county-card a").click()
    page.wait_for_url(f"{gate.url}/go?*")
    assert gate_destination(gate, page.url) == destination


@pytest.mark.parametrize("link_id", ["skip", "skip-selector"])
def test_skipped_link_goes_straight_to_its_destination(
    link_id: str, sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    visited = visit(sites.url(COUNTY, "/page"))
    visited.page.locator(f"#{link_id}").click()
    visited.page.wait_for_url(sites.href(link_id))
    assert visited.gate_requests(gate) == []


def test_off_site_links_are_marked_once_and_keep_their_text(
    sites: Sites, visit: Callable[..., Visit]
) -> None:
    page = visit(sites.url(COUNTY, "/page")).page
    marks = {mark["id"]: mark for mark in page.evaluate(MARKS)}
    for link_id, (_, _, content) in LINKS.items():
        mark = marks[link_id]
        assert mark["text"] == content, f"{link_id}: its own content changed"
        if link_id in MARKED:
            assert mark["marked"], f"{link_id} should be marked"
            assert mark["notes"] == [f" {NOTE}"], f"{link_id}: {mark['notes']}"
            assert mark["icons"] == (0 if link_id == "image" else 1), f"{link_id}: {mark['icons']} icons"
        else:
            assert not mark["marked"] and not mark["notes"] and not mark["icons"], f"{link_id} is marked"
    for name in ("Partner parks", "About our partner", "Through the gate"):
        assert page.get_by_role("link", name=f"{name} {NOTE}", exact=True).count() == 1
    note = page.locator("#partner .linkgate-note")
    box = note.bounding_box()
    assert box is not None and box["width"] <= 1 and box["height"] <= 1, f"the note is visible: {box}"
    icon = page.locator("#partner .linkgate-icon").bounding_box()
    assert icon is not None and icon["width"] >= 8, f"the icon is not drawn: {icon}"
    assert page.locator("#partner .linkgate-icon").get_attribute("aria-hidden") == "true"

    # Moving links around (which re-scans them) adds nothing.
    page.evaluate("""() => {
        const list = document.querySelector("ul");
        list.append(...list.children);
        document.getElementById("partner").setAttribute("href", document.getElementById("partner").href);
    }""")
    page.evaluate("() => new Promise(resolve => setTimeout(resolve, 50))")
    again = {mark["id"]: mark for mark in page.evaluate(MARKS)}
    assert again == marks


def test_focus_order_is_the_same_with_and_without_the_script(
    sites: Sites, visit: Callable[..., Visit]
) -> None:
    orders = []
    for path in ("/plain", "/page"):
        page = visit(sites.url(COUNTY, path)).page
        order = []
        for _ in range(len(LINKS) + 3):
            page.keyboard.press("Tab")
            order.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        orders.append(order)
        assert page.locator("[tabindex]").count() == 0
    assert orders[0] == orders[1]
    assert orders[1][: len(LINKS)] == list(LINKS)


def test_right_click_and_alt_click_keep_the_real_address(sites: Sites, visit: Callable[..., Visit]) -> None:
    page = visit(sites.url(COUNTY, "/page"), scripts=(FOLLOW_RECORDER,)).page
    page.locator("#partner").click(button="right")
    page.locator("#partner").click(modifiers=["Alt"])
    followed = page.evaluate("window.__followed")
    assert {event for event, _ in followed} >= {"contextmenu", "click"}
    assert {href for _, href in followed} == {sites.href("partner")}


def test_page_without_the_script_still_works(
    sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    visited = visit(sites.url(COUNTY, "/plain"))
    page = visited.page
    assert page.locator(".linkgate-external, .linkgate-note").count() == 0
    page.locator("#elsewhere").click()
    page.wait_for_url(sites.href("elsewhere"))
    assert visited.gate_requests(gate) == []


def test_script_runs_under_a_strict_csp_without_violations(
    sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    with_script = visit(sites.url(COUNTY, "/page"))
    page = with_script.page
    assert "script-src " + gate.url in with_script.requests[0].response().header_value(
        "content-security-policy"
    )
    script = [request for request in with_script.requests if request.url.endswith("/static/linkgate.js")]
    assert len(script) == 1 and script[0].response().ok
    assert page.locator(".linkgate-note").count() == len(MARKED)
    assert page.locator("#partner .linkgate-note").evaluate("note => getComputedStyle(note).position") == (
        "absolute"
    )
    assert page.evaluate("window.__cspViolations") == []
    assert with_script.problems == []

    # The recorder works: an inline style, which this CSP forbids, is refused and reported.
    page.evaluate("""() => {
        const style = document.createElement("style");
        style.textContent = "body { color: red }";
        document.head.append(style);
    }""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert any("style-src" in item for item in page.evaluate("window.__cspViolations"))


@pytest.mark.parametrize("link_id", ["partner", "noreferrer"])
def test_click_is_trusted_even_where_the_page_sends_no_referrer(
    link_id: str, sites: Sites, gate: LiveServer, visit: Callable[..., Visit]
) -> None:
    visited = visit(sites.url(COUNTY, "/no-referrer"))
    page = visited.page
    destination = sites.href(link_id)
    rel = page.locator(f"#{link_id}").get_attribute("rel")
    page.locator(f"#{link_id}").click()
    page.wait_for_url(destination)  # redirected straight there: only a trusted click is
    (routed,) = visited.gate_requests(gate)
    assert routed.header_value("referer") == sites.url(COUNTY, "/")
    assert "Referer" not in sites.requests_to(PARTNER)[-1].headers
    page.go_back()
    page.wait_for_url(sites.url(COUNTY, "/no-referrer"))
    assert page.locator(f"#{link_id}").get_attribute("rel") == rel
    assert page.locator(f"#{link_id}").get_attribute("referrerpolicy") is None


# ---- a gate on a path (server.public_url = http://gate.localhost:PORT/links) ----


@pytest.fixture
def mounted_gate_site() -> Iterator[HTTPServer]:
    """A local server answering for the gate (its script under /links/static/) and a County page that
    loads it with data-gate (a final slash and all) or without it; no linkgate behind it: what the
    script sends a click to is recorded, not followed."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    script = (ROOT / "static" / "linkgate.js").read_text(encoding="utf-8")
    port = {"value": 0}

    def respond(request: Request) -> Response:
        gate = f"http://gate.localhost:{port['value']}/links"
        if request.path == "/links/static/linkgate.js":
            return Response(script, content_type="text/javascript")
        option = f' data-gate="{gate}/"' if request.path == "/with-data-gate" else ""
        signed = gate_link(gate_address(gate), f"http://{ELSEWHERE}:{port['value']}/signed", Signer("k"))
        return Response(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>County page</title>'
            f'<script src="{gate}/static/linkgate.js"{option} data-county="{COUNTY}" defer></script>'
            f'</head><body><a id="off" href="http://{ELSEWHERE}:{port["value"]}/forms?step=1">Apply</a> '
            f'<a id="signed" href="{html.escape(signed)}">Signed</a></body></html>',
            content_type="text/html",
        )

    server.expect_request(re.compile(".*")).respond_with_handler(respond)
    server.start()
    port["value"] = server.port
    yield server
    server.clear()
    server.stop()


@pytest.mark.parametrize("path", ["/with-data-gate", "/without-data-gate"])
def test_a_gate_on_a_path_gets_the_clicks_at_its_own_go(
    path: str, mounted_gate_site: HTTPServer, visit: Callable[..., Visit]
) -> None:
    """data-gate (server.public_url) may have a path; without it, the gate is where the script came from,
    its path included. Either way a followed link is a gate link the gate and the audit recognise."""
    port = mounted_gate_site.port
    gate = gate_address(f"http://gate.localhost:{port}/links")
    page = visit(f"http://{COUNTY}:{port}{path}", scripts=(FOLLOW_RECORDER,)).page
    page.wait_for_selector("#signed.linkgate-external")  # a signed link is marked by where it leads
    page.locator("#off").click()
    page.locator("#signed").click()
    (_, off), (_, signed) = page.evaluate("window.__followed")
    found = read_gate_link(off, gate)
    assert found is not None, f"followed {off}, not a link to {gate.go}"
    assert found.destination == f"http://{ELSEWHERE}:{port}/forms?step=1"
    assert signed == page.locator("#signed").get_attribute("href")  # already through the gate: left alone


# ---- the demo County page, served by the gate itself in demo mode ----

DEMO_EXTERNAL = "https://www.missoulian.com/"  # an ordinary site: always the notice, trusted or not
DEMO_HOSTS = sorted({urlsplit(href).hostname or "" for href, _ in (*DEMO_LINKS, SKIP_LINK)})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A demo-mode gate whose County home is its demo page, and which never looks up the real sites.

    Every demo destination is pinned to 127.0.0.1, which the fetcher refuses: the notice's privacy
    lookup stays on this computer.
    """
    server = LiveServer(
        tmp_path_factory.mktemp("dropin-demo"),
        {"": {"demo": True}, "fetch": {"resolve": [f"{host}=127.0.0.1" for host in DEMO_HOSTS]}},
    )
    server.env["LINKGATE_COUNTY_HOME_URL"] = server.url + "/"
    server.start()
    yield server
    server.stop()


@pytest.fixture
def demo_visit(visit: Callable[..., Visit]) -> Iterator[Callable[..., Visit]]:
    """Pages of the demo whose requests may go to this computer only.

    The demo's links name real sites. Following one is expected to reach the gate (on 127.0.0.1), but
    should a test go wrong, a request could leave for the real site: Playwright's routing is used here
    only as that fence, aborting and recording any such request, and every test asserts it recorded none.
    """
    fenced: list[str] = []

    def fence(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host == "127.0.0.1" or host.endswith(".localhost"):
            route.continue_()
        else:
            fenced.append(route.request.url)
            route.abort()

    def open_page(url: str, **options: Any) -> Visit:
        visited = visit("about:blank", **options)
        visited.page.context.route("**/*", fence)
        visited.page.goto(url)
        visited.page.wait_for_selector(".linkgate-note", state="attached")
        return visited

    yield open_page
    assert fenced == [], f"requests that would have left this computer: {fenced}"


def dropin_link(page: Any, href: str) -> Any:
    return page.locator(f'#dropin-list a[href="{href}"]')


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
def test_demo_page_with_the_script_has_no_serious_axe_violations(
    viewport: dict[str, int], language: str, demo: LiveServer, demo_visit: Callable[..., Visit], axe: Any
) -> None:
    # bypass_csp: axe is injected as an inline script; the next test runs the page under its CSP.
    page = demo_visit(f"{demo.url}/?lang={language}", viewport=viewport, bypass_csp=True).page
    assert page.get_attribute("html", "lang") == language
    assert page.locator("#dropin-list .linkgate-note").count() == len(DEMO_LINKS) - 1  # all but the County
    where = f"the demo page ({language}) with the drop-in at {viewport['width']} px"
    assert_no_serious_violations(axe(page), where)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_demo_page_runs_the_script_under_the_gate_csp(
    demo: LiveServer, demo_visit: Callable[..., Visit]
) -> None:
    visited = demo_visit(demo.url + "/")
    page = visited.page
    assert page.evaluate("window.__cspViolations") == []
    assert visited.problems == []
    county, *off_site = DEMO_LINKS
    assert dropin_link(page, county[0]).locator(".linkgate-note").count() == 0
    for href, label in off_site:
        assert page.get_by_role("link", name=f"{label} {NOTE}", exact=True).count() == 2, href  # both lists
        assert dropin_link(page, href).get_attribute("href") == href


DEMO_WAYS = {
    "click": {},
    "middle-click": {"button": "middle"},
    "ctrl-click": {"modifiers": ["Control"]},
    "enter": None,
}


@pytest.mark.parametrize("way", list(DEMO_WAYS))
def test_demo_dropin_link_reaches_the_notice_for_its_exact_destination(
    way: str, demo: LiveServer, demo_visit: Callable[..., Visit]
) -> None:
    page = demo_visit(demo.url + "/").page
    link = dropin_link(page, DEMO_EXTERNAL)
    options = DEMO_WAYS[way]
    if options is None:
        link.focus()
        page.keyboard.press("Enter")
        notice = page
    elif options:
        with page.context.expect_page() as opened:
            link.click(**options)
        notice = opened.value
    else:
        link.click()
        notice = page
    notice.wait_for_url(f"{demo.url}/go?*")
    assert gate_destination(demo, notice.url) == DEMO_EXTERNAL
    assert notice.locator("#continue").get_attribute("href") == DEMO_EXTERNAL
    # The demo page is on 127.0.0.1, not a County address: the notice says so, as the page explains.
    assert notice.locator("[data-untrusted]").count() == 1
    if notice is not page:
        assert link.get_attribute("href") == DEMO_EXTERNAL


def test_demo_notice_back_returns_to_the_county_home(
    demo: LiveServer, demo_visit: Callable[..., Visit]
) -> None:
    page = demo_visit(demo.url + "/").page
    dropin_link(page, DEMO_EXTERNAL).click()
    page.wait_for_url(f"{demo.url}/go?*")
    page.locator("#back").click()
    page.wait_for_url(demo.url + "/")
    assert page.locator("#dropin-list").count() == 1


def test_demo_link_added_later_lands_on_its_destination(
    demo: LiveServer, demo_visit: Callable[..., Visit], sites: Sites
) -> None:
    page = demo_visit(demo.url + "/").page
    destination = sites.url(ELSEWHERE, "/from/the/demo?ok=1")
    page.evaluate(
        """href => {
            const item = document.createElement("li");
            item.innerHTML = '<a id="later">A link added after the page loaded</a>';
            item.firstChild.href = href;
            document.getElementById("dropin-list").append(item);
        }""",
        destination,
    )
    page.wait_for_selector("#later .linkgate-note", state="attached")
    page.locator("#later").click()
    page.wait_for_url(f"{demo.url}/go?*")
    assert gate_destination(demo, page.url) == destination
    page.locator("#continue").click()
    page.wait_for_url(destination)
    assert sites.requests_to(ELSEWHERE)[-1].full_path == "/from/the/demo?ok=1"


def test_demo_skipped_signed_and_county_links_are_not_rerouted(
    demo: LiveServer, demo_visit: Callable[..., Visit]
) -> None:
    page = demo_visit(demo.url + "/").page
    page.evaluate(FOLLOW_RECORDER)
    candidates = {
        "skip": dropin_link(page, SKIP_LINK[0]),
        "county": dropin_link(page, DEMO_LINKS[0][0]),
        "mail": page.locator('#dropin-list a[href^="mailto:"]'),
        "fragment": page.locator('#dropin-list a[href="#signed-links"]'),
        "signed": page.locator(".demo-links").first.locator("a").nth(4),
    }
    for link in candidates.values():
        link.click()
    followed = [href for _, href in page.evaluate("window.__followed")]
    assert followed == [link.get_attribute("href") for link in candidates.values()]
    assert "&sig=" in followed[-1]
    assert dropin_link(page, SKIP_LINK[0]).locator(".linkgate-note").count() == 0


def capture_dropin(browser: Any, demo_url: str, folder: Path) -> Path:
    """A PNG of the demo page's drop-in list at 1280 px: the marks as visitors see them."""
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        page = context.new_page()
        page.goto(demo_url)
        page.wait_for_selector(".linkgate-note", state="attached")
        path = folder / "dropin-links.png"
        page.locator("#dropin-list").screenshot(path=str(path), animations="disabled")
        return path
    finally:
        context.close()


def test_dropin_screenshot_shows_the_marks(browser: Any, demo: LiveServer, tmp_path: Path) -> None:
    path = capture_dropin(browser, demo.url + "/", tmp_path)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") >= 400


def main() -> int:
    """``python -m tests.browser.test_dropin`` writes docs/images/dropin-links.png for docs/dropin.md."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS
    from tests.conftest import chromium_path

    executable = chromium_path()
    if executable is None:
        print("Chromium not found: install Debian's chromium package", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as directory:
        server = LiveServer(Path(directory), {"": {"demo": True}}).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=executable, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    path = capture_dropin(browser, server.url + "/", ROOT / "docs" / "images")
                    print(path.relative_to(ROOT))
                finally:
                    browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
