"""The click path through the whole application, in process: actions, categories, flags, precedence."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from linkgate.errors import InvalidDestination
from linkgate.store import engine_url
from linkgate.store.schema import metadata
from linkgate.urls import parse_destination
from linkgate.web.gate import ClickPath, breakable
from tests.conftest import ON_POSTGRES, in_process_app, wait_for
from tests.console import query

COUNTY_REFERER = {"Referer": "https://www.missoulacounty.us/departments/parks"}


def go(server, url: str, **kwargs) -> httpx.Response:
    return server.get("/go?url=" + quote(url, safe=""), **kwargs)


def continue_href(response: httpx.Response) -> str:
    match = re.search(r'<a id="continue"[^>]*href="([^"]*)"', response.text)
    assert match, "the notice has no Continue link"
    return html.unescape(match.group(1))


def flags_of(response: httpx.Response) -> set[str]:
    return set(re.findall(r'data-flag="([a-z_]+)"', response.text))


# ---- actions and categories ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://www.missoulacounty.us/departments",
        "https://missoulacounty.us/",
        "https://co.missoula.mt.us/page?x=1",
        "https://deep.sub.missoulacounty.us/a#frag",
    ],
)
def test_county_destinations_redirect_even_without_trust(gate_server, url):
    response = go(gate_server, url)
    assert response.status_code == 302
    assert response.headers["location"] == parse_destination(url).href
    assert response.headers["cache-control"] == "no-store"


def test_partner_redirects_when_referer_is_a_county_page(gate_server):
    response = go(gate_server, "https://www.partner.example/apply", headers=COUNTY_REFERER)
    assert response.status_code == 302
    assert response.headers["location"] == "https://www.partner.example/apply"


def test_partner_redirects_when_signed(gate_server):
    link = gate_server.cli("sign", "https://partner.example/forms").stdout.strip()
    assert link.startswith(gate_server.url + "/go?url=")
    response = gate_server.get(link)
    assert response.status_code == 302
    assert response.headers["location"] == "https://partner.example/forms"


def test_unsigned_partner_link_from_elsewhere_gets_the_notice_saying_so(gate_server):
    response = go(gate_server, "https://partner.example/", headers={"Referer": "https://evil.example.net/"})
    assert response.status_code == 200
    assert 'data-untrusted="true"' in response.text
    assert "did not come from a Missoula County page" in response.text


def test_signature_for_another_destination_is_not_trusted(gate_server):
    link = gate_server.cli("sign", "https://partner.example/a").stdout.strip()
    signature = link.rsplit("sig=", 1)[1]
    response = gate_server.get(f"/go?url={quote('https://partner.example/b', safe='')}&sig={signature}")
    assert response.status_code == 200
    assert 'data-untrusted="true"' in response.text


def test_referer_that_only_mentions_the_county_is_not_trusted(gate_server):
    for referer in (
        "https://missoulacounty.us.evil.example/",
        "https://evil.example/?https://www.missoulacounty.us/",
        "https://www.missoulacounty.us@evil.example/",
        "javascript:alert(1)",
    ):
        response = go(gate_server, "https://partner.example/", headers={"Referer": referer})
        assert response.status_code == 200, referer


@pytest.mark.parametrize(
    ("url", "category_text"),
    [
        ("https://www.mt.gov/", "a government website"),
        ("https://www.usa.gov/", "a government website"),
        ("https://ci.missoula.mt.us/", "a government website"),
        ("https://www.umt.edu/", "a school, college or university website"),
        ("https://www.mcps.k12.mt.us/", "a school, college or university website"),
        ("https://www.missoulian.com/", "a website not run by Missoula County"),
    ],
)
def test_government_education_and_external_get_the_notice(gate_server, url, category_text):
    response = go(gate_server, url, headers=COUNTY_REFERER)
    assert response.status_code == 200
    assert "You are leaving Missoula County" in response.text
    assert category_text in response.text
    assert continue_href(response) == parse_destination(url).href
    assert 'rel="noopener noreferrer"' in response.text
    assert 'href="https://www.missoulacounty.us/"' in response.text  # back to the County
    assert "https://www.missoulacounty.us/privacy-policy" in response.text  # the County's own policy


def test_rule_with_notice_action_shows_notice_even_when_trusted(gate_server):
    response = go(gate_server, "https://notice-partner.example/", headers=COUNTY_REFERER)
    assert response.status_code == 200
    assert "a partner website that Missoula County trusts" in response.text


def test_blocked_destination_gets_403_with_no_way_on(gate_server):
    response = go(gate_server, "https://www.blocked.example/page", headers=COUNTY_REFERER)
    assert response.status_code == 403
    assert "This link is blocked" in response.text
    assert 'id="continue"' not in response.text
    assert 'https://www.blocked.example/page"' not in response.text  # never a link to it
    assert "helpdesk@co.missoula.mt.us" in response.text


# ---- rule precedence -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://bad.partner.example/", 403),  # exact block beats the domain allow above it
        ("https://x.bad.partner.example/", 302),  # ...but an exact rule does not cover subdomains
        ("https://blocked.example/", 403),
        ("https://ok.blocked.example/", 302),  # exact allow inside a blocked domain
        ("https://sub.ok.blocked.example/", 403),
        ("https://evil.example.org/", 403),
        ("https://www.evil.example.org/", 302),  # more specific allow wins
        ("https://a.www.evil.example.org/", 302),
        ("https://other.example.org/", 200),  # no rule: external notice
    ],
)
def test_most_specific_rule_wins(gate_server, url, status):
    assert go(gate_server, url, headers=COUNTY_REFERER).status_code == status


# ---- risk flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "flags"),
    [
        ("https://user:secret@partner.example/", {"credentials"}),
        ("https://www.missoulacounty.us@evil.example/", {"credentials"}),
        ("https://93.184.216.34/", {"ip_address"}),
        ("http://0x5db8d822/", {"ip_address", "insecure"}),
        ("https://[2606:2800:220:1::]/", {"ip_address"}),
        ("https://missoulacounty-payments.com/", {"lookalike"}),
        ("https://misoulacounty.us/", {"lookalike"}),
        ("https://m\u0456ssoulacounty.us/", {"lookalike", "mixed_script", "idn"}),
        ("http://www.missoulian.com/", {"insecure"}),
        ("https://www.missoulian.com:8443/", {"port"}),
        ("https://b\u00fccher.example/", {"idn"}),
    ],
)
def test_flags_are_shown_and_explained(gate_server, url, flags):
    response = go(gate_server, url, headers=COUNTY_REFERER)
    assert response.status_code == 200
    assert flags_of(response) == flags


@pytest.mark.parametrize(
    "url",
    [
        "https://user@www.missoulacounty.us/",  # County host, but with credentials
        "https://user:pw@partner.example/",  # trusted partner, but with credentials
    ],
)
def test_deceptive_flag_forces_the_notice_whatever_the_rules_say(gate_server, url):
    response = go(gate_server, url, headers=COUNTY_REFERER)
    assert response.status_code == 200
    assert "Warning:" in response.text


def test_idn_notice_shows_the_international_form(gate_server):
    response = go(gate_server, "https://xn--bcher-kva.example/", headers=COUNTY_REFERER)
    assert "bücher.<wbr>example" in response.text
    assert "xn--bcher-kva.<wbr>example" in response.text


def test_registrable_domain_is_emphasised(gate_server):
    response = go(gate_server, "https://www.news.bbc.co.uk/story?id=1", headers=COUNTY_REFERER)
    # A line may break after each dot of the site's name (<wbr>), never inside a label.
    assert (
        '<span class="address">https://www.<wbr>news.<wbr><strong class="domain">bbc.<wbr>co.<wbr>uk</strong>'
        "<wbr>/story?id=1</span>" in response.text
    )


# ---- bad input -----------------------------------------------------------------------------------


LONG_HOST = "https://" + "a" * 300 + ".com/"  # the issue's: accepted by the URL Standard, not by DNS


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "This link is incomplete: it does not say which website it should take you to."),
        ("url=", "This link is incomplete"),
        ("url=%2Fhome", "not complete"),
        ("url=%2F%2Fevil.example%2F", "not complete"),
        ("url=javascript%3Aalert(1)", "&#34;javascript:&#34; address"),
        ("url=data%3Atext%2Fhtml%2C%3Cscript%3E", "&#34;data:&#34; address"),
        ("url=file%3A%2F%2F%2Fetc%2Fpasswd", "&#34;file:&#34; address"),
        ("url=ftp%3A%2F%2Fexample.com%2F", "&#34;ftp:&#34; address"),
        ("url=http%3A%2F%2Fa%20b.example%2F", "not valid"),
        ("url=https%3A%2F%2F%5B%3A%3A1%2F", "not valid"),
        ("url=https%3A%2F%2Fa.example%2F&url=https%3A%2F%2Fb.example%2F", "more than one destination"),
        ("url=https%3A%2F%2Fexample.com%2F" + "a" * 4100, "too long"),
        # Names the URL Standard accepts and DNS cannot hold.
        ("url=" + quote(LONG_HOST, safe=""), "too long to be a real website (304 characters; a name can"),
        ("url=https%3A%2F%2F" + "b" * 64 + ".example%2F", "(64 characters between two dots; the most is 63)"),
        ("url=http%3A%2F%2Fa..example.com%2F", "has an empty part (two dots together"),
    ],
)
def test_bad_destinations_get_a_400_page_that_says_what_is_wrong(gate_server, query, message):
    response = gate_server.get("/go?" + query)
    assert response.status_code == 400
    assert "This link cannot be followed" in response.text
    assert message in response.text
    assert "location" not in response.headers


def test_a_host_too_long_for_dns_is_explained_in_spanish(gate_server):
    response = go(gate_server, LONG_HOST, headers={"Accept-Language": "es"})
    assert response.status_code == 400
    assert "demasiado largo para ser un sitio web real (304 caracteres" in response.text


def test_a_host_too_long_for_dns_is_refused_and_the_clicks_after_it_are_counted(make_app):
    """The issue's reproduction: on PostgreSQL the 300-letter host's count row stopped every count after
    it; now it is refused before it is counted."""
    server = make_app()
    assert go(server, LONG_HOST).status_code == 400
    assert go(server, "https://www.missoulian.com/").status_code == 200
    clicks, events = (
        "select domain, outcome, count from click_counts",
        "select kind, count from security_events",
    )
    wait_for(lambda: query(server, clicks) and query(server, events), what="the next flush")
    assert query(server, clicks) == [("missoulian.com", "notice", 1)]
    assert query(server, events) == [("invalid_url", 1)]
    assert server.get("/healthz").json()["db"] == "ok"


def test_the_click_path_leaves_a_host_too_long_for_dns_to_the_views_error_page(tmp_path, database_url):
    app = in_process_app(tmp_path, database_url)
    runtime = app.extensions["linkgate"]
    environ = EnvironBuilder(path="/go", query_string={"url": LONG_HOST}).get_environ()
    assert ClickPath(app.wsgi_app, runtime).answer(WerkzeugRequest(environ)) is None
    response = app.test_client().get("/go", query_string={"url": LONG_HOST})
    runtime.shutdown()  # what it counted, written
    assert response.status_code == 400
    assert "too long to be a real website (304 characters" in response.get_data(as_text=True)
    today = runtime.counts.today()
    assert runtime.store.counts.click_totals(today, today) == []
    assert runtime.store.counts.events_by_kind(today, today) == {"invalid_url": 1}


def test_hostile_markup_in_the_destination_is_escaped(gate_server):
    url = 'https://example.com/"><script>alert(1)</script>'
    response = go(gate_server, url)
    assert "<script>alert(1)</script>" not in response.text
    assert continue_href(response) == parse_destination(url).href


# ---- headers, cookies, privacy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/go?url=https%3A%2F%2Fwww.missoulian.com%2F",
        "/go?url=https%3A%2F%2Fblocked.example%2F",
        "/go?url=javascript%3A1",
        "/go?url=https%3A%2F%2Fwww.missoulacounty.us%2F",
        "/healthz",
        "/static/linkgate.css",
        "/no-such-page",
    ],
)
def test_every_response_has_the_security_headers_and_no_cookie(gate_server, path):
    response = gate_server.get(path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in response.headers
    assert response.status_code < 500


def test_pages_have_no_inline_script_or_style(gate_server):
    for url in ("https://www.missoulian.com/", "https://blocked.example/", "javascript:1"):
        text = go(gate_server, url).text
        assert "<style" not in text
        assert not re.search(r"<script(?![^>]*\bsrc=)", text)
        assert " style=" not in text


def test_clicks_are_counted_per_domain_and_day_only(gate_server):
    token = f"zz{time.time_ns()}"
    go(gate_server, f"https://www.missoulian.com/{token}?q={token}")
    go(gate_server, f"https://www.missoulian.com/{token}?q={token}")
    go(gate_server, f"https://www.missoulacounty.us/{token}")
    go(gate_server, f"https://blocked.example/{token}")
    wanted = {("missoulian.com", "notice"), ("missoulacounty.us", "redirect"), ("blocked.example", "block")}

    def stored() -> dict[tuple[str, str], int]:
        return {
            (d, o): c for d, o, c in query(gate_server, "select domain, outcome, count from click_counts")
        }

    wait_for(lambda: wanted <= set(stored()), what="the clicks to be written")
    counts = stored()
    assert counts[("missoulian.com", "notice")] >= 2
    assert counts[("missoulacounty.us", "redirect")] >= 1
    assert counts[("blocked.example", "block")] >= 1
    # Nothing identifying anywhere: not the path, not the query, not an address; in no table, and (SQLite)
    # not even in the file's free pages or its write-ahead log.
    for table in metadata.sorted_tables:
        assert token not in repr(query(gate_server, f"select * from {table.name}")), table.name
    if not ON_POSTGRES:
        raw = gate_server.database.read_bytes()
        wal = gate_server.database.with_name("linkgate.db-wal")
        if wal.exists():
            raw += wal.read_bytes()
        assert token.encode() not in raw
    assert token not in gate_server.log()
    assert "/go" not in gate_server.log()  # no request lines, so no addresses or destinations
    assert columns_of(gate_server, "click_counts") == {"day", "domain", "outcome", "count"}
    assert columns_of(gate_server, "security_events") == {"day", "kind", "count"}


def columns_of(server, table: str) -> set[str]:
    engine = sa.create_engine(engine_url(server.database_url), poolclass=NullPool)
    try:
        return {column["name"] for column in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_security_events_are_counted_by_kind(gate_server):
    gate_server.get("/go?url=javascript%3A1")
    gate_server.get(f"/go?url={quote('https://partner.example/', safe='')}&sig=deadbeef.AAAA")
    go(gate_server, "https://blocked.example/")
    go(gate_server, "https://missoulacounty-payments.com/")
    wanted = {"invalid_url", "bad_signature", "blocked_destination", "deceptive_flag"}
    wait_for(lambda: wanted <= {row[0] for row in query(gate_server, "select kind from security_events")})


def test_healthz_says_nothing_that_a_click_changes(make_app):
    """Anyone may read /healthz: a figure that one click moves would tell a watcher when someone clicked."""
    server = make_app({"server": {"counts_flush_seconds": 300}})
    before = server.get("/healthz").content
    for url in ("https://www.missoulian.com/", "https://www.missoulacounty.us/", "javascript:1"):
        server.get("/go?url=" + quote(url, safe=""))
    assert server.app.extensions["linkgate"].counts.pending == 3  # held, not written yet
    assert server.get("/healthz").content == before


def test_demo_page_exists_only_in_demo_mode(gate_server):
    assert gate_server.get("/demo").status_code == 404


def test_healthz_reports_rules_version_and_database(gate_server):
    response = gate_server.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["db"] == "ok"
    assert body["rules"] == 7
    assert body["rules_version"] >= 8


# ---- the database going away ---------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_click_path_survives_the_database_going_away(make_app):
    server = make_app(start=False)
    server.cli("block", "blocked.example")
    server.cli("allow", "partner.example")
    server.start()
    assert server.get("/healthz").json()["db"] == "ok"
    moved = server.database.with_name("moved-away.db")
    server.database.rename(moved)
    for suffix in ("-wal", "-shm"):
        side = server.database.with_name("linkgate.db" + suffix)
        if side.exists():
            side.rename(moved.with_name("moved-away.db" + suffix))
    rules = server.app.extensions["linkgate"].rules
    wait_for(lambda: not rules.healthy, what="a rules refresh against the missing database")
    health = server.get("/healthz")
    assert health.status_code == 200
    assert health.json()["db"] == "degraded"
    for _ in range(20):
        assert go(server, "https://blocked.example/").status_code == 403  # last loaded rules still apply
        assert go(server, "https://partner.example/", headers=COUNTY_REFERER).status_code == 302
        notice = go(server, "https://cold-site.example/")
        assert notice.status_code == 200
        assert 'id="continue"' in notice.text
        assert server.get("/go?url=nope").status_code == 400
    assert server.app.extensions["linkgate"].counts.pending >= 60
    moved.rename(server.database)

    def stored() -> dict[str, int]:
        return dict(query(server, "select outcome, sum(count) from click_counts group by outcome"))

    # Not counts.pending, which is 0 while a flush holds the batch it is writing.
    wait_for(lambda: stored() == {"block": 20, "redirect": 20, "notice": 20}, what="the kept counts written")
    assert server.get("/healthz").json()["db"] == "ok"
    assert server.app.extensions["linkgate"].counts.pending == 0


@pytest.mark.sqlite_only
def test_corrupt_database_file_is_degraded_not_an_error(make_app):
    server = make_app()
    server.database.write_bytes(b"this is not a database" * 100)
    wait_for(lambda: server.get("/healthz").json()["db"] == "degraded")
    assert go(server, "https://www.missoulian.com/").status_code == 200


# ---- properties: never a 5xx, never an open redirect ---------------------------------------------

SEED_URLS = [
    "https://www.missoulacounty.us/departments?x=1#top",
    "https://partner.example/apply",
    "https://user:pw@evil.example:8080/path",
    "http://127.0.0.1/",
    "https://blocked.example/",
    "https://www.mt.gov/",
    "https://xn--bcher-kva.example/",
]
HOSTILE = [
    *"\\/@:.#?%\t\n\r \x00[]\u3002\uff0e\u0456\u200b",
    "%2e",
    "%40",
    "//",
    "\\\\",
    "@www.missoulacounty.us",
]
ALLOWED_REDIRECT_DOMAINS = (
    "missoulacounty.us",
    "co.missoula.mt.us",
    "partner.example",
    "ok.blocked.example",
    "www.evil.example.org",
)


@st.composite
def mutated_urls(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEED_URLS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            text = text[:position] + draw(st.sampled_from(HOSTILE)) + text[position:]
        elif choice == 1 and text:
            text = text[:position] + text[position + 1 :]
        else:
            text = text[:position] + draw(st.text(max_size=3)) + text[position:]
    return text


TIMEOUT = httpx.Timeout(10).as_dict()


class Sender:
    """Sends each request as it is and returns the answer, redirect or not. (``httpx.Client`` reads every
    redirect's Location as a URL of its own, with IDNA 2008 for the host, and raises on hosts that
    browsers accept, such as ``xn--www-hta.missoulacounty.us``.)"""

    def __init__(self, base_url: str, transport: httpx.BaseTransport) -> None:
        self.base_url = base_url
        self.transport = transport

    def get(self, path: str, params: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        request = httpx.Request(
            "GET", self.base_url + path, params=params, headers=headers, extensions={"timeout": TIMEOUT}
        )
        response = self.transport.handle_request(request)
        response.read()
        return response


def check_invariants(client: Sender, raw: str, headers: dict[str, str]) -> None:
    response = client.get("/go", params={"url": raw}, headers=headers)
    assert response.status_code < 500, raw
    try:
        destination = parse_destination(raw)
    except InvalidDestination:
        assert response.status_code == 400, raw
        return
    if 300 <= response.status_code < 400:
        assert response.headers["location"] == destination.href
        # A final dot names the same host (an absolute DNS name): www.missoulacounty.us. is the County's.
        host = parse_destination(response.headers["location"]).host.removesuffix(".")
        assert any(host == d or host.endswith("." + d) for d in ALLOWED_REDIRECT_DOMAINS), raw
    elif response.status_code == 200:
        assert parse_destination(continue_href(response)).host == destination.host
        assert continue_href(response) == destination.href
    else:
        assert response.status_code == 403


@pytest.fixture(scope="module")
def client(gate_server):
    with httpx.WSGITransport(app=gate_server.app) as transport:
        yield Sender(gate_server.url, transport)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(max_size=120), trusted=st.booleans())
def test_arbitrary_text_is_never_a_5xx_or_an_open_redirect(client, raw, trusted):
    check_invariants(client, raw, COUNTY_REFERER if trusted else {})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=mutated_urls(), trusted=st.booleans())
@example(raw="https://www.missoulacounty.us\u3002/departments?x=1#top", trusted=False)  # found in CI
def test_mutated_real_urls_are_never_a_5xx_or_an_open_redirect(client, raw, trusted):
    check_invariants(client, raw, COUNTY_REFERER if trusted else {})


# ---- configuration: category actions and key rotation ---------------------------------------------


def test_category_action_from_configuration_sends_government_links_straight_through(make_app):
    server = make_app({"actions": {"government": "redirect", "external": "block"}})
    assert go(server, "https://www.usa.gov/benefits", headers=COUNTY_REFERER).status_code == 302
    # untrusted links are never redirected without the notice unless they go to the County
    assert go(server, "https://www.usa.gov/benefits").status_code == 200
    assert go(server, "https://www.missoulian.com/").status_code == 403
    assert go(server, "https://www.umt.edu/", headers=COUNTY_REFERER).status_code == 200


def test_links_signed_with_a_previous_key_still_verify_after_rotation(make_app):
    old = make_app({"": {"secret_key": "old-secret-0123456789"}}, start=False)
    old.cli("allow", "partner.example")
    old_link = old.cli("sign", "https://partner.example/x").stdout.strip()
    server = make_app(
        {"": {"secret_key": "new-secret-9876543210", "previous_secret_keys": ["old-secret-0123456789"]}},
        start=False,
    )
    server.cli("allow", "partner.example")
    server.start()
    query = old_link.split("?", 1)[1]
    assert server.get("/go?" + query).status_code == 302
    retired = make_app({"": {"secret_key": "new-secret-9876543210"}}, start=False)
    retired.cli("allow", "partner.example")
    retired.start()
    assert retired.get("/go?" + query).status_code == 200  # the retired key no longer verifies


# ---- the notice's own links: going back, counting once (issue 17) ---------------------------------


def back_href(response: httpx.Response) -> str:
    match = re.search(r'<a id="back"[^>]*href="([^"]*)"', response.text)
    assert match, "the page has no Go back link"
    return html.unescape(match.group(1))


def own_links(response: httpx.Response) -> list[str]:
    """The page's links to itself: its language switch and, while a lookup runs, "Check again"."""
    links = re.findall(r'<a href="([^"]+)" hreflang=', response.text)
    links += re.findall(r'<a id="check-again" href="([^"]+)"', response.text)
    return [html.unescape(link) for link in links]


HOME = "https://www.missoulacounty.us/"


@pytest.mark.parametrize(
    ("url", "status"),
    [("https://www.missoulian.com/", 200), ("https://blocked.example/", 403), ("javascript:alert(1)", 400)],
)
@pytest.mark.parametrize(
    ("referer", "back"),
    [
        ("https://www.missoulacounty.us/departments/parks?tab=hours", None),
        ("https://co.missoula.mt.us/", None),
        ("http://sheriff.missoulacounty.us/a b/<x>", "http://sheriff.missoulacounty.us/a%20b/%3Cx%3E"),
        # Read as browsers read it: a backslash ends the host, so this is a County page.
        ("https://www.missoulacounty.us\\@evil.example/", "https://www.missoulacounty.us/@evil.example/"),
    ],
)
def test_go_back_returns_to_the_county_page_the_visitor_came_from(gate_server, url, status, referer, back):
    response = go(gate_server, url, headers={"Referer": referer})
    assert response.status_code == status
    assert back_href(response) == (back or referer)  # the parser's serialisation, never the raw header


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/",
        "https://missoulacounty.us.evil.example/page",
        "https://www.missoulacounty.us@evil.example/",
        "https://evil.example/?https://www.missoulacounty.us/",
        "//www.missoulacounty.us/parks",
        "/parks",
        "javascript:alert(1)//missoulacounty.us",
        "data:text/html,missoulacounty.us",
        "http://127.0.0.1/",
        "https://missou1acounty.us/",
        "https://www.missoulacounty.us:99999/",
        "not an address",
        "",
    ],
)
def test_go_back_goes_home_for_any_other_referer(gate_server, referer):
    for url in ("https://www.missoulian.com/", "https://blocked.example/"):
        assert back_href(go(gate_server, url, headers={"Referer": referer})) == HOME, (url, referer)
    assert back_href(gate_server.get("/go", headers={"Referer": referer})) == HOME


def test_go_back_survives_a_language_switch_and_never_makes_a_link_trusted(gate_server):
    page = "https://www.missoulacounty.us/departments/parks"
    first = go(gate_server, "https://www.missoulian.com/", headers={"Referer": page})
    switch = own_links(first)[0]
    assert parse_qs(urlsplit(switch).query)["back"] == [page]
    spanish = gate_server.get(switch)  # the gate sends no Referer: the link carries the page instead
    assert spanish.status_code == 200
    assert back_href(spanish) == page
    # Carried in a link, a County page is where Go back goes, and nothing more: the link is no more trusted.
    carried = gate_server.get("/go", params={"url": "https://partner.example/", "back": page})
    assert carried.status_code == 200
    assert 'data-untrusted="true"' in carried.text
    assert back_href(carried) == page
    carried_only = page + "?carried"  # a back= value is checked each time, never remembered
    answer = gate_server.get("/go", params={"url": "https://www.missoulian.com/", "back": carried_only})
    assert back_href(answer) == carried_only
    assert carried_only not in gate_server.app.extensions["linkgate"].county_referers
    for elsewhere in (
        "https://evil.example/",
        "javascript:alert(1)",
        "https://www.missoulacounty.us@evil.example/",
    ):
        answer = gate_server.get("/go", params={"url": "https://www.missoulian.com/", "back": elsewhere})
        assert back_href(answer) == HOME, elsewhere


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(referer=mutated_urls(), carried=st.booleans())
def test_go_back_only_ever_links_to_a_county_page(client, referer, carried):
    """Whatever the Referer (or a link's ``back``), Go back leads to a page on a County host."""
    params = {"url": "https://www.missoulian.com/", **({"back": referer} if carried else {})}
    # A header is ASCII here (httpx's WSGI transport): other characters as backslash escapes.
    headers = {} if carried else {"Referer": referer.encode("ascii", "backslashreplace").decode()}
    response = client.get("/go", params=params, headers=headers)
    assert response.status_code == 200
    host = parse_destination(back_href(response)).host.removesuffix(".")
    assert any(host == d or host.endswith("." + d) for d in ("missoulacounty.us", "co.missoula.mt.us")), (
        referer
    )


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def test_a_language_switch_or_check_again_does_not_count_the_click_again(make_app, monkeypatch):
    """Issue 17: two loads raised a domain from 11 to 13. The notice's own links say the click is counted;
    the browser's Sec-Fetch-Site says they were followed from the gate's page."""
    server = make_app({"fetch": {"privacy_wait_ms": 0}}, start=False)
    server.cli("block", "blocked.example")
    server.start()
    counts = server.app.extensions["linkgate"].counts
    monkeypatch.setattr(counts, "flush", lambda: True)  # every count stays where this test reads it

    def counted(path: str, headers: dict[str, str] | None = None, status: int = 200) -> int:
        before = counts.pending
        response = server.get(path, headers=headers or {})
        assert response.status_code == status, path
        return counts.pending - before

    notice = go(server, "https://www.missoulian.com/", headers=COUNTY_REFERER)  # still being looked up
    assert counts.pending == 1
    switch, check_again = own_links(notice)
    assert "Check again" in notice.text
    for link in (switch, check_again, own_links(server.get(switch, headers=SAME_ORIGIN))[0]):
        assert counted(link, SAME_ORIGIN) == 0, link
    blocked = go(server, "https://blocked.example/")  # a click and a blocked_destination event
    assert counted(own_links(blocked)[0], SAME_ORIGIN, status=403) == 0
    assert counted(own_links(blocked)[0], SAME_ORIGIN, status=403) == 0  # the click path before Flask too
    invalid = server.get("/go")
    assert counted(own_links(invalid)[0], SAME_ORIGIN, status=400) == 0
    # The parameter alone hides nothing: a link from anywhere else that carries it is counted.
    for headers in (
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
    ):
        assert counted(switch, headers) == 1, headers
    assert counted(switch.replace("counted=1", "counted=yes"), SAME_ORIGIN) == 1
    assert counted(own_links(blocked)[0], status=403) == 2


# ---- the invalid-link page and the endorsement line (issue 17) ------------------------------------


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This link is incomplete: it does not say which website it should take you to."),
        ("es", "Este enlace está incompleto: no dice a qué sitio web debe llevarle."),
    ],
)
def test_an_invalid_link_says_what_is_wrong_plainly_and_links_to_the_webmaster(
    gate_server, language, message
):
    response = gate_server.get("/go", params={"lang": language})
    assert response.status_code == 400
    assert f'<p class="lead" id="error-message">{message}</p>' in response.text
    assert "parameter" not in response.text and "parámetro" not in response.text
    assert (
        '<a id="webmaster-email" href="mailto:helpdesk@co.missoula.mt.us">helpdesk@co.missoula.mt.us</a>'
        in response.text
    )


def test_a_lookup_that_failed_is_worded_as_the_script_words_it(make_app):
    """Without JavaScript the page says what notice.js writes when the site API answers "error"."""
    server = make_app({"fetch": {"privacy_wait_ms": 3000}})
    failed = go(server, "https://no-such-host.example/")  # no name resolves here: the lookup fails
    text = (
        "We could not look up this site's privacy policy. "
        "Look for one before you share anything about yourself."
    )
    assert f"<p>{text}</p>" in failed.text
    pending = make_app({"fetch": {"privacy_wait_ms": 0}})
    assert f'data-error-text="{text}"' in go(pending, "https://no-such-host.example/").text


DISCLAIMER = {
    "en": "Missoula County does not endorse or control this website or what it says.",
    "es": "El Condado de Missoula no respalda ni controla este sitio web ni lo que dice.",
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_notice_says_the_county_does_not_endorse_the_site(gate_server, language):
    response = gate_server.get("/go", params={"url": "https://www.missoulian.com/", "lang": language})
    assert f'<p class="disclaimer" id="disclaimer">{DISCLAIMER[language]}</p>' in response.text
    # Not where it would be untrue (a County site with a deceptive sign) or beside the point (blocked).
    county = gate_server.get("/go", params={"url": "https://user@www.missoulacounty.us/", "lang": language})
    assert county.status_code == 200 and 'id="disclaimer"' not in county.text
    assert 'id="disclaimer"' not in go(gate_server, "https://blocked.example/").text


def test_the_endorsement_line_can_be_turned_off(make_app):
    server = make_app({"notice": {"disclaimer": False}})
    response = go(server, "https://www.missoulian.com/")
    assert response.status_code == 200
    assert 'id="disclaimer"' not in response.text


def test_on_a_deceptive_link_go_back_comes_first(gate_server):
    deceptive = go(gate_server, "https://missoulacounty-payments.com/", headers=COUNTY_REFERER).text
    assert deceptive.index('id="back"') < deceptive.index('id="continue"')
    assert '<a id="back" class="button" ' in deceptive  # the emphasised choice
    plain = go(gate_server, "https://www.missoulian.com/", headers=COUNTY_REFERER).text
    assert plain.index('id="continue"') < plain.index('id="back"')


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("missoulian.com", "missoulian.<wbr>com"),
        ("https://www.news.", "https://www.<wbr>news."),  # the page breaks after the last dot anyway
        ("https://", "https://"),
        ('a<b>".example.', "a&lt;b&gt;&#34;.<wbr>example."),
        ("[2606:2800:220:1::]", "[2606:2800:220:1::]"),
    ],
)
def test_a_sites_name_may_break_after_each_dot_and_is_escaped(name, shown):
    assert str(breakable(name)) == shown
