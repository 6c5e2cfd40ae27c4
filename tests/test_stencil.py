"""Stencilled pages and the click path before Flask: each answer is the one the view renders.

A notice or block page filled in from its stencil is the page the template renders, and ``GET /go``
answered by :class:`linkgate.web.gate.ClickPath` is what Flask's view answers, header for header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, render_template, request_started, template_rendered
from jinja2 import DictLoader, Environment

import linkgate.web.gate as gate_module
from linkgate.classify import make_rule
from linkgate.config import load_settings
from linkgate.sites import SiteFacts
from linkgate.web import create_app
from linkgate.web.app_runtime import WebRuntime
from linkgate.web.gate import ClickPath
from linkgate.web.stencil import Stencils, cut

# ---- the stencils themselves, on plain Jinja ------------------------------------------------------------

TEMPLATES = {
    "plain": '<p title="{{ a }}">{{ a }} and {{ b }}, {{ a }}</p>',
    "upper": "<p>{{ a|upper }} {{ b }}</p>",
    "length": "<p>{% if a|length > 12 %}long {% endif %}{{ a }}</p>",
    "sliced": "<p>{{ a[:3] }}</p>",
}


@pytest.fixture
def jinja() -> Iterator[tuple[Stencils, list[str]]]:
    environment = Environment(loader=DictLoader(TEMPLATES), autoescape=True)
    rendered: list[str] = []

    def render(name: str, context: Mapping[str, Any]) -> str:
        rendered.append(name)
        return environment.get_template(name).render(context)

    yield Stencils(render, size=3), rendered


def direct(name: str, values: Mapping[str, str]) -> str:
    return Environment(loader=DictLoader(TEMPLATES), autoescape=True).get_template(name).render(values)


@pytest.mark.parametrize(
    "values",
    [
        {"a": "https://example.org/?q=1&r=2", "b": "plain"},
        {"a": "<script>alert('x')</script>", "b": '"quoted" & more'},
        {"a": "\u00e9t\u00e9 \U0001f600", "b": "\ue000 0 \ue001"},
    ],
)
def test_a_filled_stencil_is_the_rendered_page_escaped_alike(jinja, values):
    stencils, rendered = jinja
    stencils.page("plain", "kind", {"a": "first", "b": "build"}, dict)
    assert rendered == ["plain", "plain"]  # two markers' renders, once
    assert stencils.page("plain", "kind", values, dict) == direct("plain", values)
    assert rendered == ["plain", "plain"]


@pytest.mark.parametrize("name", ["upper", "length", "sliced"])
def test_a_template_that_changes_or_judges_a_value_is_rendered_every_time(jinja, name, caplog):
    stencils, rendered = jinja
    for values in ({"a": "short", "b": "x"}, {"a": "a much longer value", "b": "y"}):
        assert stencils.page(name, "kind", values, dict) == direct(name, values)
    assert rendered.count(name) == 4  # two to try the stencil, then one per page
    assert "rendered every time" in caplog.text


def test_an_empty_value_is_rendered_not_filled(jinja):
    stencils, rendered = jinja
    stencils.page("plain", "kind", {"a": "x", "b": "y"}, dict)
    assert stencils.page("plain", "kind", {"a": "", "b": "y"}, dict) == direct("plain", {"a": "", "b": "y"})
    assert len(rendered) == 3


def test_kinds_are_stencilled_apart_and_the_oldest_go_first(jinja):
    stencils, rendered = jinja
    for kind in ("one", "two", "three", "four", "one"):
        stencils.page("plain", kind, {"a": "x", "b": "y"}, lambda values, kind=kind: {**values, "b": kind})
    assert len(rendered) == 10  # "one" was dropped for "four", then made again
    assert stencils.page("plain", "four", {"a": "x", "b": "y"}, dict) == direct(
        "plain", {"a": "x", "b": "four"}
    )


def test_the_kind_used_longest_ago_goes_first_not_the_one_made_first(jinja):
    stencils, rendered = jinja

    def show(kind: str) -> str:
        return stencils.page("plain", kind, {"a": "x", "b": "y"}, lambda values: {**values, "b": kind})

    for kind in ("kept", "two", "three"):
        show(kind)
    for made_up in ("four", "five", "six"):
        assert show("kept") == direct("plain", {"a": "x", "b": "kept"})  # in use between the made-up kinds
        show(made_up)
    assert len(rendered) == 12  # six kinds made once each: "kept" was never dropped
    assert stencils.filled("plain", "kept", {"a": "z", "b": "y"}) == direct("plain", {"a": "z", "b": "kept"})
    assert stencils.filled("plain", "two", {"a": "z", "b": "y"}) is None


def test_a_marker_cut_apart_is_not_a_stencil():
    assert cut("<p>\ue0000\ue001</p>", ("a",)) is not None
    assert cut("<p>\ue0000</p>", ("a",)) is None
    assert cut("<p>\ue0003\ue001</p>", ("a",)) is None


# ---- the gate's notice and block pages -------------------------------------------------------------------

COUNTY = {"Referer": "https://www.missoulacounty.us/"}
FOUND = {"status": "found", "gpc": False}
# Two clicks of one kind each (the first makes the stencil, the second is filled from it), and what the
# site cache knows of both hosts.
KINDS = [
    ("https://www.example.org/news?id=1", "https://news.example.com/a/b?q=<x>&r='\"", COUNTY, FOUND),
    ("https://www.untrusted.example/", "https://shop.untrusted.example/cart", {}, FOUND),
    ("https://www.none.example/", "https://shop.none.example/cart", {}, {"status": "none"}),
    ("https://www.unknown.example/", "https://shop.unknown.example/cart", COUNTY, {"status": "unknown"}),
    ("https://www.pending.example/", "https://shop.pending.example/cart", COUNTY, {"status": "pending"}),
    ("https://www.gpc.example/", "https://shop.gpc.example/", COUNTY, {**FOUND, "gpc": True}),
    ("http://a.example:8080/", "http://b.example:9090/x?y=1", COUNTY, FOUND),
    ("https://user:pw@c.example/", "https://name:secret@d.example/path", COUNTY, FOUND),
    ("http://127.0.0.1/", "http://10.1.2.3/admin", COUNTY, FOUND),
    ("https://xn--bcher-kva.example/", "https://xn--mnchen-3ya.example/stadt", COUNTY, FOUND),
    ("https://missoulacounty.us.example.com/", "https://missoulacounty.us.evil.example/", COUNTY, FOUND),
    ("https://www.mt.gov/", "https://dnrc.mt.gov/forests", COUNTY, FOUND),
    ("https://www.umt.edu/", "https://www.mtech.edu/apply", {}, FOUND),
    ("https://partner.example/", "https://www.partner.example/forms?a=1", {}, FOUND),
    ("https://blocked.example/", "https://www.blocked.example/page?x=<y>", COUNTY, FOUND),
]
FACTS = {urlsplit(url).hostname: facts for first, second, _, facts in KINDS for url in (first, second)}
LANGUAGES = [({}, {}), ({"lang": "es"}, {}), ({}, {"Accept-Language": "es-MX,es;q=0.9"})]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, WebRuntime]]:
    directory: Path = tmp_path_factory.mktemp("stencil")
    app = create_app(
        load_settings(
            {
                "LINKGATE_INSTANCE": str(directory),
                "LINKGATE_DATABASE_URL": f"sqlite:///{directory / 'linkgate.db'}",
                "LINKGATE_FETCH_SYSTEM_RESOLVER": "false",
            }
        )
    )
    runtime: WebRuntime = app.extensions["linkgate"]
    runtime.store.rules.add(make_rule("partner.example", "allow"), "test")
    runtime.store.rules.add(make_rule("blocked.example", "block"), "test")
    runtime.rules.refresh()

    def site_facts_for_host(host: str, wait_ms: int) -> SiteFacts:
        facts = FACTS[host.split(":", maxsplit=1)[0]]
        url = f"https://{host}/privacy?from=<{host}>" if facts["status"] == "found" else None
        return SiteFacts(host=host, privacy_url=url, **facts)

    runtime.site_facts_for_host = site_facts_for_host  # type: ignore[method-assign]
    yield app, runtime


def rendering(app: Flask, names: list[str]) -> Any:
    """While in this context, the name of each template ``app`` renders is added to ``names``."""

    def note(_sender: Flask, template: Any, context: dict[str, Any], **_extra: Any) -> None:
        names.append(template.name)

    return template_rendered.connected_to(note, app)


def flask_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every /go to Flask's view."""
    monkeypatch.setattr(ClickPath, "answer", lambda self, request: None)


def rendered_directly(runtime: WebRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every /go to Flask's view, and every page rendered from its template."""
    flask_only(monkeypatch)
    monkeypatch.setattr(
        runtime.pages,
        "page",
        lambda template, kind, values, context: render_template(template, **context(values)),
    )


@pytest.mark.parametrize(("params", "headers"), LANGUAGES)
@pytest.mark.parametrize(("first", "second", "referer", "facts"), KINDS)
def test_a_stencilled_gate_page_is_the_page_the_template_renders(
    gate, monkeypatch, first, second, referer, facts, params, headers
):
    app, runtime = gate
    client = app.test_client()
    renders: list[str] = []
    runtime.pages.clear()
    with rendering(app, renders):
        made = client.get("/go", query_string={"url": first, **params}, headers={**referer, **headers})
        assert made.status_code in (200, 403)
        assert len(renders) == 2, "the first click makes the stencil: one render for each of its markers"
        filled = client.get("/go", query_string={"url": second, **params}, headers={**referer, **headers})
    assert filled.status_code == made.status_code
    assert len(renders) == 2, "the second click is filled from the stencil, with no render"

    rendered_directly(runtime, monkeypatch)
    rendered = client.get("/go", query_string={"url": second, **params}, headers={**referer, **headers})
    assert filled.get_data(as_text=True) == rendered.get_data(as_text=True)
    assert filled.headers == rendered.headers


def test_every_kind_has_a_stencil_of_its_own(gate, monkeypatch):
    """All kinds in one run, so that a kind that left out something its page shows would be caught."""
    app, runtime = gate
    client = app.test_client()
    clicks = [
        ({"url": url, **params}, {**referer, **headers}, url == second)
        for first, second, referer, _ in KINDS
        for url in (first, second)
        for params, headers in LANGUAGES
    ]
    runtime.pages.clear()
    filled, renders = [], []
    for query, headers, _ in clicks:
        names: list[str] = []
        with rendering(app, names):
            filled.append(client.get("/go", query_string=query, headers=headers).get_data(as_text=True))
        renders.append(len(names))
    # A kind's first page makes its stencil (two renders) unless a language of the same kind made it; every
    # second click of a kind is filled in. With stencils switched off, each page would be one render.
    assert set(renders) == {0, 2}
    assert [count for (_, _, is_second), count in zip(clicks, renders, strict=True) if is_second] == [0] * (
        len(clicks) // 2
    )
    rendered_directly(runtime, monkeypatch)
    for (query, headers, _), page in zip(clicks, filled, strict=True):
        assert page == client.get("/go", query_string=query, headers=headers).get_data(as_text=True), query


# ---- the click path before Flask --------------------------------------------------------------------------

REDIRECTS = [
    ("https://www.missoulacounty.us/departments?x=1", {}),
    ("https://www.partner.example/forms?a=<b>", COUNTY),
    ("http://co.missoula.mt.us/a%20b/", {"Accept-Language": "es"}),
]


def answers(client: Any, method: str, query: dict[str, str], headers: dict[str, str]) -> tuple[Any, ...]:
    response = client.open("/go", method=method, query_string=query, headers=headers)
    return response.status, list(response.headers.items()), response.get_data()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_click_path_answers_as_the_view_does(gate, monkeypatch, method):
    app, runtime = gate
    client = app.test_client()
    clicks = [({"url": url}, headers) for url, headers in REDIRECTS] + [
        ({"url": url, **params}, {**referer, **headers})
        for first, second, referer, _ in KINDS
        for url in (first, second)
        for params, headers in LANGUAGES
    ]
    for query, headers in clicks:  # every page kind stencilled
        client.get("/go", query_string=query, headers=headers)
    by_flask: list[str] = []
    fast = []
    with request_started.connected_to(lambda _sender, **_extra: by_flask.append("flask"), app):
        for query, headers in clicks:
            before = runtime.counts.pending
            fast.append((*answers(client, method, query, headers), runtime.counts.pending - before))
    pending_notices = sum(
        FACTS.get(urlsplit(query["url"]).hostname, {}).get("status") == "pending" for query, _ in clicks
    )
    assert len(by_flask) == pending_notices, "only a site still being looked up goes to Flask"

    flask_only(monkeypatch)
    for (query, headers), expected in zip(clicks, fast, strict=True):
        before = runtime.counts.pending
        assert (*answers(client, method, query, headers), runtime.counts.pending - before) == expected, query


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_answer_of_go_carries_the_one_definition_of_its_headers(gate, monkeypatch, method):
    """Every outcome from either path (and the last-resort page) has exactly the headers of ANSWER_HEADERS,
    each once, then a redirect's Location and the length: a header added to the one definition reaches
    every answer, and no after-request hook adds a second Vary or anything else."""
    app, _ = gate
    client = app.test_client()
    monkeypatch.setattr(gate_module, "ANSWER_HEADERS", (*gate_module.ANSWER_HEADERS, ("X-Gate-Test", "1")))
    clicks = [
        ({"url": "https://www.partner.example/forms"}, COUNTY),  # redirect
        ({"url": "https://www.example.org/a", "lang": "es"}, COUNTY),  # notice
        ({"url": "https://www.blocked.example/x"}, COUNTY),  # block
        ({"url": "https://shop.pending.example/cart"}, COUNTY),  # a site still being looked up
        ({"url": "javascript:alert(1)"}, {}),  # the error page
    ]
    for query, headers in clicks:  # every page kind stencilled
        client.get("/go", query_string=query, headers=headers)
    by_flask: list[str] = []
    with request_started.connected_to(lambda _sender, **_extra: by_flask.append("flask"), app):
        answered = [client.open("/go", method=method, query_string=q, headers=h) for q, h in clicks]
    monkeypatch.setattr(gate_module, "judge", lambda *_args: 1 / 0)
    answered.append(client.open("/go", method=method, query_string={"url": "https://www.example.org/"}))

    assert len(by_flask) == 2, (
        "the pending notice and the error page are the view's, the rest answered before"
    )
    assert [response.status_code for response in answered] == [302, 200, 403, 200, 400, 200]
    for response in answered:
        length = int(response.headers["Content-Length"])
        if method == "HEAD":
            assert response.get_data() == b""
        else:
            assert length == len(response.get_data())
        assert list(response.headers.items()) == gate_module.answer_headers(
            length, response.headers.get("Location")
        )
        assert response.headers.getlist("Vary") == ["Accept-Language"]
        assert response.headers["X-Gate-Test"] == "1"


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"url": "javascript:alert(1)"},
        {"url": ["https://a.example/", "https://b.example/"]},
        {"url": "/x"},
    ],
)
def test_invalid_clicks_get_the_views_error_page(gate, query):
    app, runtime = gate
    before = runtime.counts.pending
    response = app.test_client().get("/go", query_string=query)
    assert response.status_code == 400
    assert 'id="error-message"' in response.get_data(as_text=True)
    assert runtime.counts.pending == before + 1  # one invalid_url event, counted once


def test_a_failure_before_flask_leaves_the_click_to_the_view(gate, monkeypatch, caplog):
    app, _ = gate

    def broken(self: ClickPath, request: Any) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(ClickPath, "answer", broken)
    response = app.test_client().get(
        "/go", query_string={"url": "https://www.partner.example/"}, headers=COUNTY
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://www.partner.example/"
    assert "gate: unexpected RuntimeError" in caplog.text


def test_a_pending_notice_asks_the_site_cache_once_and_links_under_the_mount_point(gate, monkeypatch):
    """A site still being looked up: the fast path hands it to Flask's view with the facts it has (asking
    again would wait out the lookup's budget twice), and the page's links keep the service's mount point
    (server.public_url's path)."""
    _app, runtime = gate
    app = create_app(replace(runtime.settings, public_url="http://localhost/links"))
    mounted: WebRuntime = app.extensions["linkgate"]
    asked: list[str] = []
    looked_up = runtime.site_facts_for_host

    def counted(host: str, wait_ms: int) -> SiteFacts:
        asked.append(host)
        return looked_up(host, wait_ms)

    monkeypatch.setattr(mounted, "site_facts_for_host", counted)
    url = "https://shop.pending.example/cart?a=1&b=2"
    response = app.test_client().get(
        "/go", query_string={"url": url}, headers=COUNTY, base_url="http://localhost/links/"
    )
    mounted.shutdown()
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert asked == ["shop.pending.example"]
    check_again = re.search(r'<a id="check-again" href="([^"]+)">Check again</a>', page)
    assert check_again is not None
    again = urlsplit(check_again.group(1).replace("&amp;", "&"))
    assert (again.path, parse_qs(again.query)) == (
        "/links/go",
        {"url": [url], "counted": ["1"]},  # the Referer is the County's home page: no back= to carry
    )
    assert 'data-site-api="/links/api/' in page


# ---- County Referers parsed once --------------------------------------------------------------------------


def test_a_county_referer_is_parsed_once_and_no_other_referer_is_remembered(gate, monkeypatch):
    app, runtime = gate
    client = app.test_client()
    runtime.county_referers.clear()
    parsed: list[str] = []
    real_parse = gate_module.parse_destination

    def counting_parse(raw: str | None, *args: Any) -> Any:
        parsed.append(raw or "")
        return real_parse(raw, *args)

    monkeypatch.setattr(gate_module, "parse_destination", counting_parse)
    partner = {"url": "https://www.partner.example/forms"}
    referers = [
        "https://www.missoulacounty.us/",
        "https://evil.example/",
        "https://www.missoulacounty.us@evil.example/",
        "https://missoulacounty.us.evil.example/",
        "https://co.missoula.mt.us/parks",
    ]
    for _ in range(3):
        statuses = [
            client.get("/go", query_string=partner, headers={"Referer": referer}).status_code
            for referer in referers
        ]
        assert statuses == [302, 200, 200, 200, 302]
    assert list(runtime.county_referers) == [
        "https://www.missoulacounty.us/",
        "https://co.missoula.mt.us/parks",
    ]
    for referer in referers:  # a County page's Referer once; any other, every time
        assert parsed.count(referer) == (1 if referer in runtime.county_referers else 3), referer
