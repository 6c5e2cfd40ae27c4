"""The privacy-link cache on the click path, against real servers: linkgate (gunicorn) and local sites."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from linkgate.store import now
from tests.console import query

pytestmark = pytest.mark.server

HOME = """<!doctype html><html><head><title>Example site</title></head><body>
<main><p>Welcome.</p></main>
<footer><a href="/about">About</a> <a href="{href}">Privacy Policy</a></footer></body></html>"""


def site_config(**cache: int) -> dict:
    return {
        "fetch": {
            "allow_networks": ["127.0.0.0/8"],
            "resolve": ["site.test=127.0.0.1", "other.test=127.0.0.1"],
            "privacy_wait_ms": 800,
        },
        "cache": cache,
    }


def notice(server, url: str) -> httpx.Response:
    response = server.get("/go?url=" + quote(url, safe=""))
    assert response.status_code == 200
    return response


def privacy_href(response: httpx.Response) -> str | None:
    match = re.search(r'<a id="privacy-link" href="([^"]*)"', response.text)
    return None if match is None else match.group(1).replace("&amp;", "&")


def home_hits(httpserver: HTTPServer) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == "/")


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_notice_shows_the_privacy_link_and_a_cache_hit_costs_no_network(make_server, httpserver):
    httpserver.expect_request("/").respond_with_data(
        HOME.format(href="/legal/privacy"), content_type="text/html"
    )
    server = make_server(site_config())
    site = f"http://site.test:{httpserver.port}"
    first = notice(server, site + "/news/item")
    assert privacy_href(first) == site + "/legal/privacy"
    hits = home_hits(httpserver)
    for _ in range(5):
        assert privacy_href(notice(server, site + "/other")) == site + "/legal/privacy"
    assert home_hits(httpserver) == hits == 1


def test_cold_miss_renders_within_the_budget_then_the_api_has_the_answer(make_server, httpserver):
    def slow_home(_request: Request) -> Response:
        time.sleep(4.0)
        return Response(HOME.format(href="/privacy"), content_type="text/html")

    httpserver.expect_request("/").respond_with_handler(slow_home)
    config = site_config()
    config["fetch"]["privacy_wait_ms"] = 1500
    server = make_server(config)
    site = f"http://site.test:{httpserver.port}"
    started = time.monotonic()
    response = notice(server, site + "/")
    elapsed = time.monotonic() - started
    # One budget and some slack; waiting twice (the fast path, then Flask's view) would be 3 s or more.
    assert 1.5 <= elapsed < 2.9, f"the notice waited {elapsed:.2f} s for a site that answers in 4 s"
    assert privacy_href(response) is None
    assert "We are still looking for this site" in response.text
    assert "Check again" in response.text
    api = re.search(r'data-site-api="([^"]+)"', response.text).group(1)
    assert wait_for(lambda: server.get(api).json()["status"] == "found", timeout=15)
    assert server.get(api).json()["privacy_url"] == site + "/privacy"
    assert privacy_href(notice(server, site + "/")) == site + "/privacy"


def test_two_workers_clicking_a_cold_host_at_once_fetch_it_once(make_server, httpserver):
    def slow_home(_request: Request) -> Response:
        time.sleep(1.0)
        return Response(HOME.format(href="/privacy"), content_type="text/html")

    httpserver.expect_request("/").respond_with_handler(slow_home)
    server = make_server(site_config(), workers=2)
    site = f"http://site.test:{httpserver.port}/page"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: notice(server, site).status_code, range(16)))
    assert statuses == [200] * 16
    time.sleep(1.5)
    assert home_hits(httpserver) == 1


def test_a_background_refresh_takes_a_lookup_another_server_just_finished(database_url, httpserver):
    """The race behind two lookups of one cold host: server B misses the cache while server A's lookup runs,
    A saves and lets the lease go, then B's refresh gets the lease. B must take A's answer, whatever A's
    stamp says about when A started."""
    from linkgate.fetch import Fetcher, FetchPolicy
    from linkgate.sites import SiteCache
    from linkgate.store import Store

    httpserver.expect_request("/").respond_with_data(HOME.format(href="/privacy"), content_type="text/html")
    store = Store(database_url)
    store.create_schema()
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), total_timeout=5.0)

    def fetcher() -> Fetcher:
        return Fetcher(policy, resolver=lambda _host: ["127.0.0.1"])

    first, second = SiteCache(store, fetcher), SiteCache(store, fetcher)
    host = f"site.test:{httpserver.port}"
    # Cold: B saw no check at all.
    done = first.refresh(host, force=True)
    assert done is not None and done.privacy_url == f"http://{host}/privacy"
    taken = second.refresh(host, background=True, seen=None)
    assert taken is not None and taken.privacy_url == done.privacy_url
    assert home_hits(httpserver) == 1
    # Stale: B saw an older check than the one now stored.
    stale = store.get_site(host)
    assert stale is not None and stale.checked_at is not None
    again = first.refresh(host, force=True)
    assert again is not None and home_hits(httpserver) == 2
    assert second.refresh(host, background=True, seen=stale.checked_at) is not None
    assert home_hits(httpserver) == 2
    # B saw the check that is still stored: nobody has refreshed it since, so B looks it up itself.
    current = store.get_site(host)
    assert current is not None
    assert second.refresh(host, background=True, seen=current.checked_at) is not None
    assert home_hits(httpserver) == 3
    # Taking someone else's answer gives the lease back: a forced lookup right after makes its own.
    newest = store.get_site(host)
    assert newest is not None
    assert second.refresh(host, background=True, seen=None) is not None
    assert home_hits(httpserver) == 3
    assert first.refresh(host, force=True) is not None
    assert home_hits(httpserver) == 4


def test_a_lookup_asked_for_during_another_one_waits_for_its_answer_not_the_old_one(database_url, httpserver):
    """The console's "look it up now" while another server's lookup holds the lease: the answer is that
    lookup's, not the stored one it replaces."""
    from linkgate.fetch import Fetcher, FetchPolicy
    from linkgate.sites import SiteCache
    from linkgate.store import Store

    httpserver.expect_request("/").respond_with_data(
        HOME.format(href="/old-privacy"), content_type="text/html"
    )
    store = Store(database_url)
    store.create_schema()
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), total_timeout=5.0)
    cache = SiteCache(store, lambda: Fetcher(policy, resolver=lambda _host: ["127.0.0.1"]))
    host = f"site.test:{httpserver.port}"
    old = cache.refresh(host, force=True)
    assert old is not None and old.privacy_url == f"http://{host}/old-privacy"
    assert store.try_lease(host, "another-server", now() + timedelta(seconds=30))

    def other_server_finishes() -> None:
        time.sleep(0.6)
        store.save_site_check(
            host,
            {
                "status": "found",
                "privacy_url": f"http://{host}/new-privacy",
                "found_by": "home page",
                "checked_at": now(),
            },
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        finishing = pool.submit(other_server_finishes)
        facts = cache.refresh(host, force=True)
        finishing.result()
    assert facts is not None and facts.privacy_url == f"http://{host}/new-privacy"
    assert home_hits(httpserver) == 1  # it waited for the other lookup rather than making its own


def test_override_beats_the_lookup(make_server, httpserver):
    httpserver.expect_request("/").respond_with_data(HOME.format(href="/privacy"), content_type="text/html")
    server = make_server(site_config())
    key = f"site.test:{httpserver.port}"
    server.cli("site", "set-privacy", key, "https://policies.example/site-test")
    assert privacy_href(notice(server, f"http://{key}/")) == "https://policies.example/site-test"
    assert home_hits(httpserver) == 0
    server.cli("site", "set-privacy", key, "none")
    time.sleep(5.5)  # each worker trusts what it read for at most 5 s
    response = notice(server, f"http://{key}/")
    assert privacy_href(response) is None
    assert "We could not find a privacy policy" in response.text
    server.cli("site", "clear", key)
    time.sleep(5.5)
    assert privacy_href(notice(server, f"http://{key}/")) == f"http://{key}/privacy"


def test_expired_entry_is_served_while_it_refreshes(make_server, httpserver):
    page = {"href": "/old-privacy"}
    httpserver.expect_request("/").respond_with_handler(
        lambda _r: Response(HOME.format(href=page["href"]), content_type="text/html")
    )
    server = make_server(site_config(found_ttl=1))
    site = f"http://site.test:{httpserver.port}"
    assert privacy_href(notice(server, site + "/")) == site + "/old-privacy"
    page["href"] = "/new-privacy"
    time.sleep(1.5)
    assert privacy_href(notice(server, site + "/")) == site + "/old-privacy"  # stale, while refreshing
    assert wait_for(lambda: privacy_href(notice(server, site + "/")) == site + "/new-privacy")


def test_a_site_that_errors_is_retried_on_schedule(make_server, httpserver):
    state = {"up": False}

    def home(_request: Request) -> Response:
        if not state["up"]:
            return Response("down for maintenance", status=503)
        return Response(HOME.format(href="/privacy"), content_type="text/html")

    httpserver.expect_request("/").respond_with_handler(home)
    server = make_server(site_config(error_ttl=2))
    key = f"site.test:{httpserver.port}"
    assert privacy_href(notice(server, f"http://{key}/")) is None
    assert server.get(f"/api/site/{key}").json()["status"] == "error"
    state["up"] = True
    hits = home_hits(httpserver)
    notice(server, f"http://{key}/")
    assert home_hits(httpserver) == hits  # not retried before error_ttl
    time.sleep(2.5)
    notice(server, f"http://{key}/")
    assert wait_for(lambda: server.get(f"/api/site/{key}").json()["status"] == "found")


def test_fallback_path_is_used_when_the_home_page_has_no_link(make_server, httpserver):
    httpserver.expect_request("/").respond_with_data(
        "<html><body><p>Hi</p></body></html>", content_type="text/html"
    )
    httpserver.expect_request("/privacy").respond_with_data(
        "<html><head><title>Privacy Policy | Example</title></head>"
        "<body><h1>Privacy Policy</h1></body></html>",
        content_type="text/html",
    )
    server = make_server(site_config())
    key = f"site.test:{httpserver.port}"
    result = json.loads(server.cli("check-site", f"http://{key}/", "--json").stdout)
    assert result["status"] == "found"
    assert result["privacy_url"] == f"http://{key}/privacy"
    assert result["found_by"] == "fallback path"


def test_a_page_merely_at_a_fallback_path_is_not_accepted(make_server, httpserver):
    httpserver.expect_request("/").respond_with_data("<html><body>Hi</body></html>", content_type="text/html")
    httpserver.expect_request("/privacy").respond_with_data(
        "<html><head><title>Page not found</title></head><body><h1>Oops</h1></body></html>",
        content_type="text/html",
    )
    server = make_server(site_config())
    result = json.loads(server.cli("check-site", f"http://site.test:{httpserver.port}/", "--json").stdout)
    assert result["status"] == "none"
    assert result["privacy_url"] is None


def test_gpc_support_is_read_from_the_well_known_file(make_server, httpserver):
    httpserver.expect_request("/").respond_with_data(HOME.format(href="/privacy"), content_type="text/html")
    httpserver.expect_request("/.well-known/gpc.json").respond_with_json(
        {"gpc": True, "lastUpdate": "2026-01-01"}
    )
    server = make_server(site_config())
    response = notice(server, f"http://site.test:{httpserver.port}/")
    assert "Global Privacy Control" in response.text
    text = server.cli("check-site", f"http://site.test:{httpserver.port}/").stdout
    assert re.search(r"GPC\s+yes", text)


def test_remote_links_are_untrusted(make_server, httpserver):
    hostile = (
        '<footer><a href="javascript:alert(1)">Privacy Policy</a>'
        '<a href="/p?&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">Privacy Policy</a></footer>'
    )
    httpserver.expect_request("/").respond_with_data(hostile, content_type="text/html")
    server = make_server(site_config())
    response = notice(server, f"http://site.test:{httpserver.port}/")
    assert "javascript:alert" not in response.text
    assert "<script>alert(1)</script>" not in response.text
    href = privacy_href(response)
    assert href is None or href.startswith(f"http://site.test:{httpserver.port}/p?")


def test_refused_lookups_never_reach_local_addresses_and_are_counted(make_server, httpserver):
    httpserver.expect_request("/").respond_with_data(HOME.format(href="/privacy"), content_type="text/html")
    # The site's port is allowed, so only the address check stands between linkgate and the local site.
    server = make_server(
        {
            "fetch": {
                "resolve": ["internal.test=127.0.0.1", "other.internal.test=127.0.0.1"],
                "allowed_ports": [80, 443, httpserver.port],
                "privacy_wait_ms": 800,
            }
        }
    )
    for url in (
        f"http://internal.test:{httpserver.port}/",
        f"http://localhost:{httpserver.port}/",
        f"http://other.internal.test:{httpserver.port}/",
    ):
        response = notice(server, url)
        assert privacy_href(response) is None
    time.sleep(1.0)
    assert len(httpserver.log) == 0
    assert wait_for(lambda: _events(server).get("ssrf_refused", 0) >= 3)


def _events(server) -> dict[str, int]:
    return dict(query(server, "select kind, sum(count) from security_events group by kind"))


def test_site_commands_reject_bad_input_with_status_2(make_server):
    server = make_server(start=False)
    result = server.cli("site", "set-privacy", "exa mple.org", "https://x.example/", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("linkgate: error:")
    result = server.cli("site", "set-privacy", "example.org", "javascript:alert(1)", check=False)
    assert result.returncode == 2
    result = server.cli("site", "clear", "never-seen.example", check=False)
    assert result.returncode == 2


def test_api_refuses_names_that_are_not_hosts(gate_server):
    assert gate_server.get("/api/site/exa%20mple.org").status_code == 404
    assert gate_server.get("/api/site/a..b.example").status_code == 404  # an empty label
    assert gate_server.get("/api/site/user@example.org").status_code == 404


def test_with_the_system_resolver_off_an_unpinned_name_is_not_looked_up(make_server):
    server = make_server(site_config())  # tests' servers run with fetch.system_resolver = false
    notice(server, "https://www.unpinned.example/")

    def failed() -> bool:
        facts = server.get("/api/site/www.unpinned.example").json()
        return facts["status"] == "error"

    assert wait_for(failed)
    facts = server.get("/api/site/www.unpinned.example").json()
    assert "not pinned by fetch.resolve" in facts["error"]
    assert facts["privacy_url"] is None
