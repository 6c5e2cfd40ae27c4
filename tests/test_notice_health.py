"""The notice says what the site cache last saw of a destination's health (templates/_health.html): it led
to a different website, looked like a domain for sale, or changed hands since the last complete audit; in
English and Spanish, the same page from both of /go's paths, with no query of its own per click.

Real local sites (pytest-httpserver) under names pinned to 127.0.0.1; the site cache looks each up as it
does for any click.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from babel.dates import format_date
from flask import render_template
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from linkgate.clock import county_datetime
from linkgate.web.gate import ClickPath
from tests.conftest import statements_on_requests

pytestmark = pytest.mark.server

PARKING = Path(__file__).parent / "data" / "parking"
NAMES = ("oldpartner.org", "www.oldpartner.org", "newname.org", "parked-partner.org", "river.org")
HOME = """<!doctype html><html><head><title>{title}</title>
<meta property="og:site_name" content="{name}"></head><body><main><p>Welcome.</p></main>
<footer><a href="/privacy">Privacy Policy</a></footer></body></html>"""


def config(**fetch: Any) -> dict[str, Any]:
    return {
        "fetch": {
            "allow_networks": ["127.0.0.0/8"],
            "resolve": [f"{name}=127.0.0.1" for name in NAMES],
            "privacy_wait_ms": 5000,
            **fetch,
        }
    }


class Sites:
    """One local server answering for every pinned name, each name's home page as the test sets it."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.pages: dict[str, Response] = {}
        server.expect_request("/").respond_with_handler(self.answer)

    def answer(self, request: Request) -> Response:
        host = request.headers.get("Host", "").rpartition(":")[0]
        return self.pages.get(host) or Response("<p>nothing here</p>", status=404, content_type="text/html")

    def url(self, name: str, path: str = "/") -> str:
        return f"http://{name}:{self.server.port}{path}"

    def home(self, name: str, title: str, site_name: str = "") -> None:
        self.pages[name] = Response(
            HOME.format(title=title, name=site_name or title), content_type="text/html"
        )

    def redirect(self, name: str, to: str) -> None:
        self.pages[name] = Response("", status=301, headers={"Location": to})

    def fixture(self, name: str, path: str) -> None:
        self.pages[name] = Response((PARKING / path).read_bytes(), content_type="text/html")


@pytest.fixture
def sites(httpserver: HTTPServer) -> Sites:
    made = Sites(httpserver)
    made.home("newname.org", "New Name Consulting")
    made.home("river.org", "River Trust | Home", "River Trust")
    made.fixture("parked-partner.org", "sedo-style.html")
    made.redirect("oldpartner.org", made.url("newname.org"))
    return made


def notice(server: Any, url: str, language: str = "en") -> str:
    response = server.get("/go?url=" + quote(url, safe=""), headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.text


def checked_day(server: Any, host: str, language: str) -> str:
    """The day the notice names for ``host``'s last check: the County's, in ``language``."""
    runtime = server.app.extensions["linkgate"]
    row = runtime.store.sites.get(host)
    assert row is not None and row.health_at is not None
    day = county_datetime(row.health_at, runtime.settings.timezone).date()
    return format_date(day, format="long", locale=language)


def test_a_destination_that_now_leads_elsewhere_says_so_in_english_and_spanish(make_app, sites):
    server = make_app(config())
    page = notice(server, sites.url("oldpartner.org", "/about"))
    host = f"oldpartner.org:{sites.server.port}"
    day = checked_day(server, host, "en")
    assert 'data-health="moved"' in page
    assert (
        f"When it was last checked on {day}, this address led to a different website: "
        '<span class="site-name">newname.<wbr>org</span>.' in page
    )
    spanish = notice(server, sites.url("oldpartner.org", "/about"), "es")
    dia = checked_day(server, host, "es")
    assert f"Cuando se comprobó por última vez, el {dia}, esta dirección llevaba a otro sitio web:" in spanish
    assert "Es posible que este enlace ya no lleve adonde llevaba" in spanish


def test_a_parked_destination_looks_like_a_domain_for_sale(make_app, sites):
    server = make_app(config())
    page = notice(server, sites.url("parked-partner.org", "/events"))
    day = checked_day(server, f"parked-partner.org:{sites.server.port}", "en")
    assert 'data-health="parked"' in page
    assert f"When it was last checked on {day}, this address looked like a domain for sale." in page
    spanish = notice(server, sites.url("parked-partner.org", "/events"), "es")
    assert "esta dirección parecía un dominio en venta." in spanish


def test_a_www_or_https_hop_and_an_ordinary_site_say_nothing(make_app, sites):
    sites.redirect("oldpartner.org", sites.url("www.oldpartner.org"))
    sites.home("www.oldpartner.org", "Old Partner")
    server = make_app(config())
    for url in (sites.url("oldpartner.org"), sites.url("river.org")):
        assert 'id="health"' not in notice(server, url)


def test_a_move_an_allow_rule_expects_says_nothing(make_app, sites):
    server = make_app(config())
    server.cli("allow", "newname.org", "--action", "notice")
    assert 'id="health"' not in notice(server, sites.url("oldpartner.org"))


def test_a_site_that_changed_hands_since_the_last_complete_audit_says_so(make_app, sites):
    server = make_app(config())
    host = f"river.org:{sites.server.port}"
    assert 'id="health"' not in notice(server, sites.url("river.org"))
    runtime = server.app.extensions["linkgate"]
    runtime.store.destinations.set_baseline([host], datetime.now(UTC))  # what a complete audit does
    sites.home("river.org", "Best Online Slots 2026", "Lucky Spin Casino")
    server.cli("site", "refresh", host)
    runtime.sites.forget(host)
    page = notice(server, sites.url("river.org"))
    day = checked_day(server, host, "en")
    assert 'data-health="changed"' in page
    assert (
        f"When it was last checked on {day}, this website had changed since Missoula County last reviewed "
        "it, as if it had a new owner." in page
    )
    assert "como si tuviera un nuevo dueño" in notice(server, sites.url("river.org"), "es")
    # A routine edit is no change of hands.
    runtime.store.destinations.set_baseline([host], datetime.now(UTC))
    sites.home("river.org", "Best Online Slots 2027", "Lucky Spin Casino")
    server.cli("site", "refresh", host)
    runtime.sites.forget(host)
    assert 'id="health"' not in notice(server, sites.url("river.org"))


def test_both_paths_and_the_template_give_the_same_page(make_app, sites, monkeypatch):
    server = make_app(config())
    runtime = server.app.extensions["linkgate"]
    urls = [sites.url(name, "/x?a=1") for name in ("oldpartner.org", "parked-partner.org", "river.org")]
    clicks = [(url, language) for url in urls for language in ("en", "es")]
    for url, language in clicks:  # looked up, and every kind stencilled
        notice(server, url, language)

    def answers() -> list[Any]:
        return [
            server.get("/go?url=" + quote(url, safe=""), headers={"Accept-Language": language})
            for url, language in clicks
        ]

    fast = answers()
    monkeypatch.setattr(ClickPath, "answer", lambda self, request: None)
    by_view = answers()
    with server.app.app_context():
        monkeypatch.setattr(
            runtime.pages,
            "page",
            lambda template, kind, values, context: render_template(template, **context(values)),
        )
    rendered = answers()
    for number, click in enumerate(clicks):
        assert fast[number].content == by_view[number].content == rendered[number].content, click
        assert fast[number].headers == by_view[number].headers, click
    assert sum('id="health"' in response.text for response in fast) == 4


def test_a_click_asks_the_database_nothing_for_it(make_app, sites):
    """The health comes with the site's row, read in the site cache's one query (a join), and kept in
    the worker's memory like the rest of the site's facts."""
    server = make_app(config())
    runtime = server.app.extensions["linkgate"]
    url = sites.url("oldpartner.org")
    notice(server, url)  # looked up, and the kind's stencil made
    notice(server, url)  # the row read once with its health (one query, as before), then kept in memory
    with statements_on_requests(runtime.store.db.engine) as statements:
        for _ in range(3):
            assert 'data-health="moved"' in notice(server, url)
    assert statements == []
