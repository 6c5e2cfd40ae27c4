"""The link audit's crawler against real local sites (pytest-httpserver on 127.0.0.1).

The crawler runs in-process with linkgate's fetch rules: 127.0.0.0/8 is allowed only because each test
opts in, and names resolve only when a test pins them, so nothing ever leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from linkgate.audit import AuditOptions, Crawler, build_report
from linkgate.audit import crawl as crawl_module
from linkgate.audit.checks import is_bot_wall, verdict
from linkgate.audit.extract import is_soft_404, link_text_problem, normalise, read_page
from linkgate.audit.sitemaps import read_sitemap
from linkgate.classify import Classifier, RuleSet, make_rule
from linkgate.config import DEFAULT_ACTIONS
from linkgate.gateaddress import gate_address
from linkgate.http import Answer, FetchPolicy, parse_retry_after
from linkgate.sites import SiteFacts
from linkgate.urls import resolve_web_link
from tests.conftest import HeldPage, wait_for

pytestmark = pytest.mark.database_free

LOCAL = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
PINNED = {"site.test", "ext.test", "other.test", "www.county.test", "maps.county.test"}
GATE = gate_address("https://links.county.test")


def resolver(host: str) -> list[str]:
    if host in PINNED:
        return ["127.0.0.1"]
    raise OSError(f"{host} is not pinned")


def html(body: str, title: str = "A page") -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>\n{body}\n</body></html>"


def serve(server: HTTPServer, path: str, body: str, **kwargs: Any) -> None:
    kwargs.setdefault("content_type", "text/html")
    server.expect_request(path).respond_with_data(body, **kwargs)


class StillClock:
    """Time that stands still for a crawl's waits between requests: each wait is recorded as the turn it
    asks for (now + seconds) and not waited, so a test sees the delays without a timed assertion."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.turns: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.turns.append(self.now + seconds)
        await asyncio.sleep(0)

    @property
    def waits(self) -> list[float]:
        return [round(turn - self.now, 6) for turn in self.turns]


def run(
    start: str,
    *,
    rules: RuleSet | None = None,
    privacy: Any = None,
    policy: FetchPolicy = LOCAL,
    stop_after: float | None = None,
    stop_when: threading.Event | None = None,
    renderer: Any = None,
    clock: StillClock | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Crawl from ``start``; stopped (a partial run) ``stop_after`` seconds in, or once ``stop_when`` is set
    (by a test site's handler, say); its waits between requests on ``clock`` when given."""
    options.setdefault("timeout", 3.0)
    options.setdefault("retries", 0)
    classifier = Classifier(("county.test",), DEFAULT_ACTIONS, rules or RuleSet())
    crawler = Crawler(
        AuditOptions(start, **options),
        policy=policy,
        resolver=resolver,
        classifier=classifier,
        gate=GATE,
        privacy=privacy,
        renderer=renderer,
        clock=clock,
        sleep=clock.sleep if clock is not None else asyncio.sleep,
    )

    async def stop_once_set(event: threading.Event) -> None:
        await asyncio.to_thread(event.wait)
        crawler.stop()

    async def main() -> Any:
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, crawler.stop)
        if stop_when is None:
            return await crawler.run()
        watcher = asyncio.create_task(stop_once_set(stop_when))
        try:
            return await crawler.run()
        finally:
            stop_when.set()  # the run is over: the thread that waits for the event may end
            await watcher

    # In a thread of its own: under the browser tests, Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, main()).result()
    report = build_report(result)
    report["_peak"] = result.peak_connections
    return report


def link(report: dict[str, Any], url: str) -> dict[str, Any]:
    for entry in report["links"]:
        if entry["url"] == url:
            return entry
    raise AssertionError(f"{url} not in the report: {[entry['url'] for entry in report['links']]}")


def paths(server: HTTPServer, method: str = "GET") -> list[str]:
    return [request.path for request, _ in server.log if request.method == method]


# ---- pure parts ----


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Click here", "vague"),
        ("  MORE  ", "vague"),
        ("Read more…", "vague"),
        ("aquí", "vague"),
        ("https://example.org/page", "url"),
        ("www.example.org", "url"),
        ("", "empty"),
        ("Missoula County Parks and Trails", None),
        ("More about property taxes", None),
    ],
)
def test_link_text_that_does_not_describe_its_link(text, problem):
    assert link_text_problem(text) == problem


@pytest.mark.parametrize(
    ("title", "missing"),
    [
        ("404", True),
        ("Error 404", True),
        ("404 - Not Found", True),
        ("Page Not Found | Missoula County", True),
        ("Not found", True),
        ("Página no encontrada", True),
        ("Sorry, this page does not exist", True),
        ("County page 404", False),
        ("Form 404 instructions", False),
        ("Lost and found", False),
        ("Parks and Trails", False),
    ],
)
def test_soft_404_pages_are_told_from_pages_that_mention_404(title, missing):
    assert is_soft_404(title, "") is missing
    assert is_soft_404("Missoula County", title) is missing


def test_links_keep_their_line_text_and_attributes_and_lose_fragments():
    page = (
        b"<html><head><base href='/sub/'></head><body>\n"
        b"<p><a href='a.html#top'>Alpha</a></p>\n\n"
        b"<a href='mailto:x@y.org'>mail</a><a href='javascript:void(0)'>js</a>\n"
        b"<a href='https://ext.test/?b=2&a=1' target='_blank'><img alt='Ext logo'></a>\n"
        b"<a href='https://ext.test/' target='_blank' rel='noreferrer'>Ext</a>\n"
        b"<span data-linkgate='skip'><area href='https://other.test/' aria-label='Other site'></span>\n"
        b"</body></html>"
    )
    reading = read_page(page, "https://site.test/dir/page", sort_query=True)
    assert [(lnk.url, lnk.line, lnk.text) for lnk in reading.links] == [
        ("https://site.test/sub/a.html", 2, "Alpha"),
        ("https://ext.test/?a=1&b=2", 5, "Ext logo"),
        ("https://ext.test/", 6, "Ext"),
        ("https://other.test/", 7, "Other site"),
    ]
    assert [lnk.target_blank_unsafe for lnk in reading.links] == [False, True, False, False]
    assert [lnk.skipped_by_dropin for lnk in reading.links] == [False, False, False, True]


def test_pages_are_read_in_the_encoding_a_browser_finds():
    # The shared sniffer (linkgate.encoding, tested in test_encoding.py): libxml2 was handed the server's
    # charset and otherwise guessed with labels of its own.
    quoted = b"<a href='/a'>\x93Report\x94</a>"  # iso-8859-1 means windows-1252 on the web
    assert read_page(quoted, "https://site.test/", charset="iso-8859-1").links[0].text == "\u201cReport\u201d"
    # A label no browser knows is passed over (libxml2 gave up on the page: no links at all).
    assert [
        lnk.url for lnk in read_page(b"<a href='/a'>A</a>", "https://site.test/", charset="x-no").links
    ] == ["https://site.test/a"]
    # A <meta> in a comment declares nothing; the one after it counts.
    cyrillic = "<!-- <meta charset=koi8-r> --><meta charset=windows-1251><a href='/a'>Отчёт</a>".encode(
        "cp1251"
    )
    assert read_page(cyrillic, "https://site.test/").links[0].text == "Отчёт"


def test_a_page_whose_server_names_an_unknown_charset_is_still_crawled(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/", html('<a href="/a">Page A</a>'), content_type="text/html; charset=no-such-charset")
    serve(site, "/a", html("<p>a</p>"))
    report = run(base + "/")
    assert link(report, base + "/a")["verdict"] == "ok"


@pytest.mark.parametrize(
    "href",
    [
        "/a?x=1#f",
        " /a ",
        "//other.test/x",
        "/\\evil.test/x",
        "/\n/evil.test/x",
        "/a\tb",
        "b/c",
        "../d",
        "?q",
        "HTTPS://Ext.TEST/%7e",
        "http:x",
        "https:/\\ext.test/",
        "/",
    ],
)
def test_links_resolve_as_one_by_one_however_many_pages_share_them(href):
    html_page = f"<a href='{href}'>x</a>".encode()
    for page_url in (
        "http://u:p@site.test:8080/dir/page",
        "http://site.test:8080/other/",
        "https://site.test/",
    ):
        expected = resolve_web_link(href.strip(), page_url)
        urls = [lnk.url for lnk in read_page(html_page, page_url).links]
        assert urls == ([normalise(expected)] if expected is not None else [])


def test_normalise_follows_the_url_standard():
    assert normalise("HTTP://Site.TEST:80/a/../b?x=1#frag") == "http://site.test/b?x=1"
    assert normalise("https://site.test/?b=2&a=1", sort_query=True) == "https://site.test/?a=1&b=2"
    assert normalise("https://site.test/?b=2&a=1") == "https://site.test/?b=2&a=1"


def test_sitemaps_plain_gzip_index_and_hostile():
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://site.test/a</loc></url><url><loc> /b </loc></url>"
        b"<url><loc>javascript:alert(1)</loc></url></urlset>"
    )
    assert read_sitemap(urlset, "https://site.test/sitemap.xml").pages == (
        "https://site.test/a",
        "https://site.test/b",
    )
    assert read_sitemap(gzip.compress(urlset), "https://site.test/s.xml.gz").pages[0] == "https://site.test/a"
    index = b"<sitemapindex><sitemap><loc>https://site.test/s1.xml</loc></sitemap></sitemapindex>"
    assert read_sitemap(index, "https://site.test/").sitemaps == ("https://site.test/s1.xml",)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<urlset><url><loc>https://site.test/&b;</loc></url></urlset>"
    )
    assert all(len(page) < 100 for page in read_sitemap(bomb, "https://site.test/").pages)
    assert read_sitemap(b"not xml at all", "https://site.test/").pages == ()
    assert read_sitemap(gzip.compress(b"x" * 1000), "https://site.test/", max_bytes=10).pages == ()


def test_retry_after_in_seconds_and_as_a_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_refusals_are_could_not_verify_and_errors_are_broken():
    assert verdict(Answer("u", "u", status=403)).state == "unverified"
    assert verdict(Answer("u", "u", status=429)).state == "unverified"
    wall = Answer("u", "u", status=503, content=b"<title>Just a moment...</title>")
    assert is_bot_wall(wall) and verdict(wall).state == "unverified"
    assert verdict(Answer("u", "u", status=503)).state == "broken"
    assert verdict(Answer("u", "u", status=404)).state == "broken"
    assert verdict(Answer("u", "u", reason="dns", error="no such name")).state == "broken"
    assert verdict(Answer("u", "u", reason="ssrf_refused", error="private")).state == "refused"
    assert verdict(Answer("u", "u", status=200)).state == "ok"


# ---- crawling real local sites ----


def test_robots_rules_are_honoured_and_disallowed_pages_never_requested(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
    serve(site, "/", html('<a href="/open">Open page</a> <a href="/private/secret">Secret page</a>'))
    serve(site, "/open", html("<p>open</p>"))
    serve(site, "/private/secret", html("<p>secret</p>"))
    report = run(base + "/")
    assert "/private/secret" not in paths(site) + paths(site, "HEAD")
    assert link(report, base + "/private/secret")["skipped"].startswith("not checked: robots.txt")
    assert link(report, base + "/open")["verdict"] == "ok"


def test_ignore_robots_reads_every_page(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    serve(site, "/", html('<a href="/a">Page A</a>'))
    serve(site, "/a", html("<p>a</p>"))
    run(base + "/", ignore_robots=True)
    assert "/a" in paths(site)
    assert "/robots.txt" not in paths(site)


def test_crawl_delay_spaces_requests_to_one_host(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain")
    serve(site, "/", html("".join(f'<a href="/p{i}">Page {i}</a>' for i in range(3))))
    for i in range(3):
        serve(site, f"/p{i}", html("x"))
    clock = StillClock()
    run(base + "/", concurrency=4, per_host=4, clock=clock)
    assert sorted(p for p in paths(site) if p.startswith("/p")) == ["/p0", "/p1", "/p2"]
    # Once robots.txt is read, the first request (of /sitemap.xml, /, /p0…/p2) goes at once and each of
    # the others has its turn 0.3 s after the one before.
    after_robots = len(site.log) - 1
    assert after_robots == 5
    assert clock.waits == pytest.approx([0.3 * turn for turn in range(1, after_robots)])


def test_an_unreadable_robots_txt_means_nothing_is_crawled(site):
    base = f"http://site.test:{site.port}"
    site.expect_request("/robots.txt").respond_with_data("oops", status=500)
    serve(site, "/", html('<a href="/a">A</a>'))
    report = run(base + "/")
    assert report["pages"] == []
    assert "robots.txt could not be read" in report["notes"][0]
    assert "/" not in paths(site)


def test_sitemaps_from_robots_index_and_gzip_add_pages(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/robots.txt", f"User-agent: *\nSitemap: {base}/index.xml\n", content_type="text/plain")
    serve(
        site,
        "/index.xml",
        f"<sitemapindex><sitemap><loc>{base}/pages.xml.gz</loc></sitemap></sitemapindex>",
        content_type="application/xml",
    )
    site.expect_request("/pages.xml.gz").respond_with_data(
        gzip.compress(f"<urlset><url><loc>{base}/orphan</loc></url></urlset>".encode()),
        content_type="application/gzip",
    )
    serve(site, "/sitemap.xml", f"<urlset><url><loc>{base}/second</loc></url></urlset>")
    serve(site, "/", html("<p>no links</p>"))
    serve(site, "/orphan", html('<a href="/deeper">Deeper page</a>'))
    serve(site, "/second", html("<p>second</p>"))
    serve(site, "/deeper", html("<p>deep</p>"))
    report = run(base + "/")
    read = {page["url"] for page in report["pages"]}
    assert {base + "/", base + "/orphan", base + "/second", base + "/deeper"} <= read


def test_a_sitemap_keeps_its_first_entries_and_counts_the_rest():
    entries = "".join(
        f"<url><loc>https://site.test/p{i}</loc><lastmod>2024-01-01</lastmod></url>" for i in range(500)
    )
    urlset = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()
    for data in (urlset, gzip.compress(urlset)):
        sitemap = read_sitemap(data, "https://site.test/sitemap.xml", max_entries=120)
        assert sitemap.pages == tuple(f"https://site.test/p{i}" for i in range(120))
        assert sitemap.left_out == 380
    index = "".join(f"<sitemap><loc>/s{i}.xml</loc></sitemap>" for i in range(30))
    sitemap = read_sitemap(
        f"<sitemapindex>{index}</sitemapindex>".encode(), "https://site.test/", max_entries=5
    )
    assert sitemap.sitemaps == tuple(f"https://site.test/s{i}.xml" for i in range(5))
    assert (sitemap.pages, sitemap.left_out) == ((), 25)
    cut = read_sitemap(
        urlset[: urlset.index(b"<url><loc>https://site.test/p7<")], "https://site.test/", max_entries=120
    )
    assert cut.pages == tuple(f"https://site.test/p{i}" for i in range(7))  # a broken end keeps the rest


def test_sitemap_entries_past_the_cap_are_neither_requested_nor_kept_and_the_notes_say_so(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/robots.txt", f"User-agent: *\nSitemap: {base}/index.xml\n", content_type="text/plain")
    serve(
        site,
        "/index.xml",
        f"<sitemapindex><sitemap><loc>{base}/a.xml.gz</loc></sitemap>"
        f"<sitemap><loc>{base}/b.xml</loc></sitemap></sitemapindex>",
    )
    site.expect_request("/a.xml.gz").respond_with_data(
        gzip.compress(
            (
                "<urlset>" + "".join(f"<url><loc>{base}/a{i}</loc></url>" for i in range(150)) + "</urlset>"
            ).encode()
        ),
        content_type="application/gzip",
    )
    serve(
        site,
        "/b.xml",
        "<urlset>" + "".join(f"<url><loc>{base}/b{i}</loc></url>" for i in range(150)) + "</urlset>",
    )
    serve(site, "/", html("<p>home</p>"))
    for letter in "ab":
        for i in range(150):
            serve(site, f"/{letter}{i}", html("<p>a page</p>"))
    report = run(base + "/", max_sitemap_entries=40, max_pages=1000, concurrency=4)
    # 40 entries in all: the index's two, then 38 of a.xml.gz's; b.xml is not read.
    requested = [path for path in paths(site) + paths(site, "HEAD") if re.fullmatch(r"/[ab]\d+", path)]
    assert sorted(requested) == sorted(f"/a{i}" for i in range(38))
    assert "/b.xml" not in paths(site)
    assert len(report["pages"]) == 39 and report["options"]["max_sitemap_entries"] == 40
    assert any(
        "more than 40 entries (--max-sitemap-entries): the rest (112) were left out" in note
        for note in report["notes"]
    )
    assert any(note.startswith("Sitemaps not read (1)") for note in report["notes"])


def test_sitemap_entries_past_the_page_limit_are_neither_read_nor_checked(site):
    base = f"http://site.test:{site.port}"
    serve(
        site,
        "/sitemap.xml",
        "<urlset>" + "".join(f"<url><loc>{base}/p{i}</loc></url>" for i in range(40)) + "</urlset>",
    )
    serve(site, "/", html("<p>home</p>"))
    for i in range(40):
        serve(site, f"/p{i}", html("<p>a page</p>"))
    report = run(base + "/", max_pages=5)
    assert len([path for path in paths(site) if path.startswith("/p")]) == 4
    assert paths(site, "HEAD") == []
    assert any("past the page limit (--max-pages 5) were left out (36)" in note for note in report["notes"])


def test_a_sitemap_never_leads_the_audit_to_a_host_out_of_scope(site, ext):
    """Sitemap entries, sitemaps named by robots.txt or an index, and a sitemap's redirect on another host
    are never requested: the other server sees nothing."""
    base, other = f"http://site.test:{site.port}", f"http://ext.test:{ext.port}"
    serve(
        site,
        "/robots.txt",
        f"User-agent: *\nSitemap: {other}/theirs.xml\nSitemap: {base}/moved.xml\nSitemap: {base}/index.xml\n",
        content_type="text/plain",
    )
    site.expect_request("/moved.xml").respond_with_data(
        "", status=301, headers={"Location": f"{other}/moved.xml"}
    )
    serve(
        site,
        "/index.xml",
        f"<sitemapindex><sitemap><loc>{other}/nested.xml</loc></sitemap>"
        f"<sitemap><loc>{base}/pages.xml</loc></sitemap></sitemapindex>",
    )
    entries = [f"{other}/page{i}" for i in range(20)] + [f"{base}/local"]
    serve(
        site,
        "/pages.xml",
        "<urlset>" + "".join(f"<url><loc>{url}</loc></url>" for url in entries) + "</urlset>",
    )
    serve(site, "/", html("<p>home</p>"))
    serve(site, "/local", html("<p>only in the sitemap</p>"))
    ext.expect_request("/theirs.xml").respond_with_data(
        f"<urlset><url><loc>{base}/theirs</loc></url></urlset>"
    )
    for path in ("/moved.xml", "/nested.xml", *(f"/page{i}" for i in range(20))):
        serve(ext, path, html("<p>elsewhere</p>"))
    report = run(base + "/")
    assert len(ext.log) == 0
    assert {page["url"] for page in report["pages"]} == {base + "/", base + "/local"}
    assert not [entry for entry in report["links"] if "ext.test" in entry["url"]]
    notes = " ".join(report["notes"])
    assert "Sitemap entries on other hosts were left out, not requested (20, such as" in notes
    assert "Sitemaps on other hosts were not read (2, such as" in notes
    assert (
        f"The sitemap {base}/moved.xml could not be read ({base}/moved.xml redirects to {other}/moved.xml"
        in notes
    )


def test_a_page_gives_at_most_ten_thousand_links_and_the_notes_say_how_many_more_it_had(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/", html("".join(f'<a href="https://ext.test/p{i}">Page {i}</a>' for i in range(10_005))))
    report = run(base + "/", check_external=False)
    assert len(report["links"]) == 10_000 and report["pages"][0]["links"] == 10_000
    assert (
        f"{base}/ has more links than the audit reads from one page (10,000): the 5 after"
        in report["notes"][0]
    )
    reading = read_page(
        b'<a href="/a">A</a><a href="mailto:x@y">M</a><a href="/b">B</a>', "https://s.test/", max_links=1
    )
    assert [link.url for link in reading.links] == ["https://s.test/a"] and reading.more_links == 2


def test_scope_other_hosts_are_checked_not_crawled_and_patterns_limit_pages(site):
    base = f"http://site.test:{site.port}"
    other = f"http://other.test:{site.port}"
    serve(
        site,
        "/",
        html(
            f'<a href="/docs/a">Docs A</a> <a href="/news/b">News B</a> <a href="{other}/elsewhere">Other</a>'
        ),
    )
    serve(site, "/docs/a", html('<a href="/docs/c">Docs C</a>'))
    serve(site, "/docs/c", html("c"))
    serve(site, "/news/b", html('<a href="/news/hidden">Hidden</a>'))
    serve(site, "/elsewhere", html('<a href="/never">Never followed</a>'))
    report = run(base + "/", exclude=("/news/",))
    read = {page["url"] for page in report["pages"]}
    assert read == {base + "/", base + "/docs/a", base + "/docs/c"}
    assert link(report, other + "/elsewhere")["method"] == "HEAD"
    assert "/never" not in paths(site)
    assert link(report, base + "/news/b")["skipped"].startswith("not checked: excluded")
    report = run(base + "/", include=("/docs/",))
    assert {page["url"] for page in report["pages"]} == {base + "/", base + "/docs/a", base + "/docs/c"}


def test_depth_and_page_limits(site):
    base = f"http://site.test:{site.port}"
    for i in range(6):
        serve(site, f"/{i}" if i else "/", html(f'<a href="/{i + 1}">Next page {i + 1}</a>'))
    report = run(base + "/", max_depth=2)
    assert {page["depth"] for page in report["pages"]} == {0, 1, 2}
    assert link(report, base + "/3")["method"] == "HEAD"  # beyond the depth: checked, not read
    report = run(base + "/", max_pages=2)
    assert len(report["pages"]) == 2


def test_redirect_chains_loops_and_insecure_redirects(site, ext):
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    serve(
        site, "/", html(f'<a href="{e}/r1">Chain</a> <a href="{e}/loop">Loop</a> <a href="{e}/far">Far</a>')
    )
    ext.expect_request("/r1").respond_with_data("", status=301, headers={"Location": "/r2"})
    ext.expect_request("/r2").respond_with_data("", status=302, headers={"Location": f"{e}/final"})
    ext.expect_request("/final").respond_with_data(html("final"), content_type="text/html")
    ext.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop2"})
    ext.expect_request("/loop2").respond_with_data("", status=302, headers={"Location": "/loop"})
    for i in range(12):
        ext.expect_request(f"/far{i or ''}").respond_with_data(
            "", status=302, headers={"Location": f"/far{i + 1}"}
        )
    report = run(base + "/")
    chain = link(report, e + "/r1")
    assert chain["status"] == 200
    assert [(hop["status"], hop["url"]) for hop in chain["redirects"]] == [(301, e + "/r1"), (302, e + "/r2")]
    assert chain["final_url"] == e + "/final"
    assert chain["final_host"] == "ext.test"
    assert "insecure" in chain["problems"]
    loop = link(report, e + "/loop")
    assert loop["reason"] == "redirect_loop" and "broken" in loop["problems"]
    assert link(report, e + "/far")["reason"] == "too_many_redirects"


def test_timeouts_and_transient_failures_are_retried_with_backoff_and_retry_after(site, ext):
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    serve(
        site,
        "/",
        html(f'<a href="{e}/slow">Slow</a> <a href="{e}/flaky">Flaky</a> <a href="{e}/busy">Busy</a>'),
    )
    slow = HeldPage("late")  # answers only once the run is over: every attempt times out
    ext.expect_request("/slow").respond_with_handler(slow)
    flaky = {"calls": 0}

    def flaky_handler(_request: Request) -> Response:
        flaky["calls"] += 1
        return (
            Response("down", status=503)
            if flaky["calls"] <= 2
            else Response(html("up"), content_type="text/html")
        )

    ext.expect_request("/flaky").respond_with_handler(flaky_handler)
    busy: list[str] = []

    def busy_handler(request: Request) -> Response:
        busy.append(request.method)
        if len(busy) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response("", status=200)

    ext.expect_request("/busy").respond_with_handler(busy_handler)
    clock = StillClock()
    try:
        report = run(base + "/", timeout=0.5, retries=2, backoff=0.05, clock=clock)
    finally:
        slow.release.set()
    slow_link = link(report, e + "/slow")
    assert slow_link["reason"] == "timeout" and "broken" in slow_link["problems"]
    assert slow_link["attempts"] >= 3
    flaky_link = link(report, e + "/flaky")
    assert flaky_link["status"] == 200 and flaky_link["problems"] == ["insecure", "bypass"]
    assert link(report, e + "/busy")["status"] == 200
    assert len(busy) == 2
    assert 1.0 in clock.waits  # Retry-After: 1 was honoured: the second request waited its turn 1 s on


def test_an_address_that_keeps_failing_is_asked_once_with_head_then_retried_with_get(site, ext):
    """HEAD is asked once: any failure goes on to GET (a server may refuse HEAD), and GET is the request
    retried. Retrying both made an address that answers 503 cost six requests and twice the backoff."""
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    serve(site, "/", html(f'<a href="{e}/down">The county fair tickets</a>'))
    methods: list[str] = []

    def down(request: Request) -> Response:
        methods.append(request.method)
        return Response("down", status=503)

    ext.expect_request("/down").respond_with_handler(down)
    report = run(base + "/", retries=2, backoff=0.01)
    assert methods == ["HEAD", "GET", "GET", "GET"]
    down_link = link(report, e + "/down")
    assert down_link["status"] == 503 and "broken" in down_link["problems"]


def test_a_retry_after_longer_than_we_wait_is_reported_as_could_not_verify(site, ext):
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    serve(site, "/", html(f'<a href="{e}/later">Later</a>'))
    ext.expect_request("/later").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    clock = StillClock()
    report = run(base + "/", retries=3, clock=clock)
    assert clock.waits == []  # neither waited for nor retried
    assert paths(ext, "HEAD") + paths(ext, "GET") == ["/later", "/later"]
    assert "unverified" in link(report, e + "/later")["problems"]


def test_each_external_link_is_checked_once_head_then_get_when_head_is_refused(site, ext):
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    pages = "".join(f'<a href="/p{i}">Page {i}</a>' for i in range(5))
    serve(site, "/", html(pages + f'<a href="{e}/shared">Shared</a>'))
    for i in range(5):
        serve(site, f"/p{i}", html(f'<a href="{e}/shared">Shared link</a> <a href="{e}/nohead">No HEAD</a>'))
    ext.expect_request("/shared", method="HEAD").respond_with_data("", status=200)
    ext.expect_request("/nohead", method="HEAD").respond_with_data("", status=405)
    ext.expect_request("/nohead", method="GET").respond_with_data(html("fine"), content_type="text/html")
    report = run(base + "/")
    assert paths(ext, "HEAD").count("/shared") == 1
    assert paths(ext, "GET").count("/shared") == 0
    assert len(link(report, e + "/shared")["appearances"]) == 6
    nohead = link(report, e + "/nohead")
    assert nohead["method"] == "GET" and nohead["status"] == 200
    assert paths(ext, "HEAD").count("/nohead") == 1 and paths(ext, "GET").count("/nohead") == 1


def test_every_problem_kind_is_found_where_it_is_and_nowhere_else(site, ext):
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    body = "\n".join(
        [
            f'<a href="{e}/gone">Gone page</a>',
            f'<a href="http://nowhere.test:{ext.port}/">Unresolvable site</a>',
            f'<a href="{e}/forbidden">Members area</a>',
            f'<a href="{e}/wall">Behind a bot wall</a>',
            f'<a href="{e}/soft">Soft missing</a>',
            f'<a href="http://other.test:{ext.port}/blocked">Blocked site</a>',
            f'<a href="https://links.county.test/go?url={e}/routed">Routed through the gate</a>',
            f'<a href="{e}/ok">click here</a>',
            f'<a href="{e}/ok" target="_blank">County partner page</a>',
            '<a href="/missing">Missing County page</a>',
            '<a href="/fine">Fine County page</a>',
        ]
    )
    serve(site, "/", html(body))
    serve(site, "/fine", html("<h1>Fine</h1>"))
    ext.expect_request("/gone").respond_with_data("no", status=404)
    ext.expect_request("/forbidden").respond_with_data("no", status=403)
    ext.expect_request("/wall").respond_with_data(
        "<title>Just a moment...</title>", status=503, headers={"cf-mitigated": "challenge"}
    )
    ext.expect_request("/soft", method="HEAD").respond_with_data("", status=404)
    ext.expect_request("/soft").respond_with_data(
        html("<h1>Sorry</h1>", title="Page Not Found"), content_type="text/html"
    )
    ext.expect_request("/routed").respond_with_data(html("ok"), content_type="text/html")
    ext.expect_request("/ok").respond_with_data(html("ok"), content_type="text/html")
    rules = RuleSet([make_rule("other.test", "block")], 2)

    def privacy(key: str) -> SiteFacts:
        return SiteFacts(host=key, status="none")

    report = run(base + "/", rules=rules, privacy=privacy)
    expected = {
        e + "/gone": {"broken", "insecure", "bypass"},
        f"http://nowhere.test:{ext.port}/": {"broken", "insecure", "bypass"},
        e + "/forbidden": {"unverified", "insecure", "bypass"},
        e + "/wall": {"unverified", "insecure", "bypass"},
        e + "/soft": {"soft_404", "insecure", "bypass", "no_privacy"},
        f"http://other.test:{ext.port}/blocked": {"insecure", "blocked", "bypass"},  # and not requested
        e + "/routed": {"insecure", "no_privacy"},
        e + "/ok": {"insecure", "bypass", "no_privacy", "link_text", "target_blank"},
        base + "/missing": {"broken", "insecure"},
        base + "/fine": {"insecure"},
    }
    for url, problems in expected.items():
        assert set(link(report, url)["problems"]) == problems, url
    assert link(report, e + "/routed")["routed"] == "all"
    ok = link(report, e + "/ok")
    assert [(a["line"], a["text"], sorted(a["problems"])) for a in ok["appearances"]] == [
        (9, "click here", ["bypass", "insecure", "link_text", "no_privacy"]),
        (10, "County partner page", ["bypass", "insecure", "no_privacy", "target_blank"]),
    ]
    blocked = link(report, f"http://other.test:{ext.port}/blocked")
    assert blocked["category"] == "blocked" and blocked["rule"] == "*.other.test"
    assert not blocked["checked"] and "/blocked" not in paths(ext) + paths(ext, "HEAD")
    assert report["problems"]["broken"] == 3
    assert report["worst_pages"][0]["url"] == base + "/"


def test_the_drop_in_script_routes_a_pages_off_site_links_except_skipped_ones(site, ext):
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    serve(
        site,
        "/",
        html(
            '<script src="https://links.county.test/static/linkgate.js" defer></script>'
            f'<a href="{e}/a">Partner A</a><p data-linkgate="skip"><a href="{e}/b">Partner B</a></p>'
        ),
    )
    ext.expect_request("/a").respond_with_data("", status=200)
    ext.expect_request("/b").respond_with_data("", status=200)
    report = run(base + "/")
    assert link(report, e + "/a")["appearances"][0]["routed"] == "drop-in script"
    assert "bypass" not in link(report, e + "/a")["problems"]
    assert "bypass" in link(report, e + "/b")["problems"]


def test_county_links_never_bypass_and_no_external_check_when_asked(site):
    base = f"http://www.county.test:{site.port}"
    serve(
        site,
        "/",
        html(
            f'<a href="http://maps.county.test:{site.port}/m">County maps</a><a href="https://ext.test/x">Ext</a>'
        ),
    )
    site.expect_request("/m").respond_with_data("", status=200)
    report = run(base + "/", check_external=False)
    maps = link(report, f"http://maps.county.test:{site.port}/m")
    assert maps["internal"] and "bypass" not in maps["problems"] and maps["status"] == 200
    external = link(report, "https://ext.test/x")
    assert not external["checked"] and "bypass" in external["problems"]


def test_same_site_reads_every_county_host(site):
    base = f"http://www.county.test:{site.port}"
    maps = f"http://maps.county.test:{site.port}"
    serve(site, "/", html(f'<a href="{maps}/m">County maps</a>'))
    serve(site, "/m", html('<a href="/deep">Deep county page</a>'))
    serve(site, "/deep", html("deep"))
    report = run(base + "/", same_site=True)
    assert {page["url"] for page in report["pages"]} == {base + "/", maps + "/m", maps + "/deep"}


def test_connections_never_exceed_the_caps(site):
    base = f"http://site.test:{site.port}"
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    release = threading.Event()

    def held(_request: Request) -> Response:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        release.wait(timeout=10)  # the first pages are held until the cap is reached
        with lock:
            state["now"] -= 1
        return Response(html("x"), content_type="text/html")

    def release_at_the_cap() -> None:
        # A crawl that broke the cap would send a fourth page in the same moment as the third: it would
        # be in by the time this sees three (every 50 ms).
        try:
            wait_for(lambda: state["now"] >= 3, what="three pages at once")
        finally:
            release.set()

    serve(site, "/", html("".join(f'<a href="/p{i}">Page {i}</a>' for i in range(20))))
    for i in range(20):
        site.expect_request(f"/p{i}").respond_with_handler(held)
    releaser = threading.Thread(target=release_at_the_cap)
    releaser.start()
    try:
        report = run(base + "/", concurrency=6, per_host=3)
    finally:
        release.set()
        releaser.join()
    assert len(report["pages"]) == 21
    assert state["peak"] == 3  # per host
    assert report["_peak"] <= 6


def test_private_addresses_are_refused_unless_allowed(site):
    serve(site, "/", html("<p>never</p>"))
    # The site's port is allowed, so only the address check stands between the crawler and the site.
    policy = FetchPolicy(allowed_ports=frozenset({80, 443, site.port}))
    report = run(f"http://site.test:{site.port}/", policy=policy)
    assert report["pages"][0]["verdict"] == "refused"
    assert "not a public internet address" in report["pages"][0]["error"]
    assert len(site.log) == 0


def test_interrupted_runs_are_partial_and_keep_what_they_found(site):
    base = f"http://site.test:{site.port}"
    serve(site, "/", html("".join(f'<a href="/p{i}">Page {i}</a>' for i in range(30))))
    held = HeldPage(html("x"))  # no page but the first answers before the run is stopped
    stop = threading.Event()

    def stop_the_run_then_hold(request: Request) -> Response:
        stop.set()  # as if the webmaster pressed Ctrl-C while the second page was being read
        return held(request)

    for i in range(30):
        site.expect_request(f"/p{i}").respond_with_handler(stop_the_run_then_hold)
    try:
        report = run(base + "/", concurrency=2, per_host=2, stop_when=stop, stop_after=30)
    finally:
        held.release.set()
    assert report["partial"] is True
    read = [page["url"] for page in report["pages"] if page["status"] is not None]
    assert read == [base + "/"]


def test_the_documented_json_schema_names_every_field_a_report_has(site):
    """docs/audit.md's schema and build_report agree on the fields, at every level."""
    import json
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "audit.md").read_text(encoding="utf-8")
    schema = json.loads(re.search(r"```json\n(.*?)\n```", text, re.DOTALL).group(1))
    base = f"http://site.test:{site.port}"
    serve(site, "/", html(f'<a href="/a">A page</a><a href="{base}/r">Moved</a>'))
    site.expect_request("/r").respond_with_data("", status=301, headers={"Location": "/a"})
    serve(site, "/a", html("a"))
    report = run(base + "/")
    report.pop("_peak")
    assert set(report) == set(schema["properties"]) == set(schema["required"])
    assert set(report["options"]) == set(schema["properties"]["options"]["properties"])
    assert set(report["totals"]) == set(schema["properties"]["totals"]["properties"])
    page, link_schema = schema["$defs"]["page"], schema["$defs"]["link"]
    assert all(set(entry) == set(page["properties"]) for entry in report["pages"])
    assert all(set(entry) == set(link_schema["properties"]) for entry in report["links"])
    appearance = link_schema["properties"]["appearances"]["items"]["properties"]
    assert all(set(a) == set(appearance) for entry in report["links"] for a in entry["appearances"])
    assert set(report["problems"]) == set(schema["$defs"]["problem"]["enum"])


def test_an_internal_error_on_one_page_costs_that_page_not_the_crawl(site: Any, monkeypatch: Any) -> None:
    base = f"http://site.test:{site.port}"
    serve(site, "/", html("".join(f'<a href="/p{i}">Page {i}</a>' for i in range(12))))
    for i in range(12):
        serve(site, f"/p{i}", html(f'<a href="/deep{i}">Deep {i}</a>'))
    for i in range(12):
        serve(site, f"/deep{i}", html("deep"))
    real = crawl_module.read_page

    def flaky(content: bytes, url: str, **kwargs: Any) -> Any:
        if url.endswith(("/p3", "/p7")):
            raise RuntimeError("a bug in the page reader")
        return real(content, url, **kwargs)

    monkeypatch.setattr(crawl_module, "read_page", flaky)
    # Two workers: two failures would stop both, and the crawl would wait (stopped at 30 s, partial).
    report = run(base + "/", concurrency=2, per_host=2, stop_after=30)
    assert not report["partial"]
    read = {page["url"] for page in report["pages"]}
    assert {f"{base}/deep{i}" for i in range(12) if i not in (3, 7)} <= read
    assert f"{base}/deep3" not in read
    notes = [note for note in report["notes"] if "internal error" in note]
    assert len(notes) == 2 and all("RuntimeError: a bug in the page reader" in note for note in notes)
    # The page answered 200: its own entry stays as it was read; nothing is called broken.
    assert not [entry for entry in report["links"] if "broken" in entry["problems"]]


def test_work_for_a_host_at_its_cap_waits_while_other_hosts_work_is_handed_out() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = crawl_module.WorkQueue(per_host=2)
        for n in range(4):
            queue.put(1, "check", f"https://slow.test/{n}", "slow.test")
        queue.put(2, "check", "https://other.test/a", "other.test")
        queue.put(0, "page", "https://www.county.test/", "www.county.test")
        taken = [await queue.get() for _ in range(4)]
        assert queue.qsize() == 2  # slow.test's last two: it has two out
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        queue.done("slow.test")  # one of its two is done
        taken.append(await waiting)
        for _, _, host in taken[:1] + taken[2:]:  # the others out
            queue.done(host)
        taken.append(await queue.get())
        queue.done("slow.test")
        await asyncio.wait_for(queue.join(), 1)
        return [(url, host) for _, url, host in taken]

    assert asyncio.run(scenario()) == [
        ("https://www.county.test/", "www.county.test"),  # by depth, then by arrival
        ("https://slow.test/0", "slow.test"),
        ("https://slow.test/1", "slow.test"),
        ("https://other.test/a", "other.test"),  # deeper, but slow.test has two out
        ("https://slow.test/2", "slow.test"),
        ("https://slow.test/3", "slow.test"),
    ]


def test_a_sitemaps_entries_are_read_after_the_linked_pages_of_their_depth_and_before_deeper_ones() -> None:
    async def scenario() -> list[str]:
        queue = crawl_module.WorkQueue(per_host=10)
        queue.put(1, "page", "https://www.county.test/listed-1", "www.county.test", listed=True)
        queue.put(1, "page", "https://www.county.test/listed-2", "www.county.test", listed=True)
        queue.put(2, "page", "https://www.county.test/deeper", "www.county.test")
        queue.put(1, "page", "https://www.county.test/linked", "www.county.test")
        return [(await queue.get())[1] for _ in range(4)]

    assert asyncio.run(scenario()) == [
        "https://www.county.test/linked",
        "https://www.county.test/listed-1",
        "https://www.county.test/listed-2",
        "https://www.county.test/deeper",
    ]
