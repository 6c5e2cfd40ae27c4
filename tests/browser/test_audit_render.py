"""The link audit's ``--render``: pages read in a real headless Chromium, started by linkgate itself.

The sites are the crawler tests' (tests/test_audit.py): pytest-httpserver on 127.0.0.1 under pinned names.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from linkgate.audit.render import Renderer
from tests.conftest import local_server, require_chromium
from tests.test_audit import LOCAL, html, link, paths, run, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def sites() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    """The County site and an external one."""
    site, ext = local_server(), local_server()
    yield site, ext
    site.stop()
    ext.stop()


def test_render_finds_links_added_by_javascript_and_chromium_never_touches_the_network(sites):
    require_chromium()
    site, ext = sites
    base = f"http://site.test:{site.port}"
    e = f"http://ext.test:{ext.port}"
    serve(
        site,
        "/",
        html(
            '<a href="/plain">Plain page</a><img src="/logo.png" alt="">'
            f'<script src="/app.js"></script><script src="{e}/tracker.js"></script>'
        ),
    )
    site.expect_request("/app.js").respond_with_data(
        "var a = document.createElement('a'); a.href = '/from-script'; a.textContent = 'Added by script';"
        "document.body.appendChild(a);"
        "fetch('/data.json').then(r => r.json()).then(d => { var b = document.createElement('a');"
        "b.href = d.href; b.textContent = 'Added from data'; document.body.appendChild(b); });",
        content_type="application/javascript",
    )
    site.expect_request("/data.json").respond_with_json({"href": f"{e}/partner"})
    ext.expect_request("/tracker.js").respond_with_data("", content_type="application/javascript")
    ext.expect_request("/partner").respond_with_data("", status=200)
    serve(site, "/plain", html("plain"))
    serve(site, "/from-script", html("scripted"))
    report = run(base + "/", renderer=Renderer(settle=1.0), timeout=5, render=True, max_depth=1)
    assert link(report, base + "/from-script")["appearances"][0]["text"] == "Added by script"
    assert link(report, e + "/partner")["status"] == 200
    assert all(page["rendered"] for page in report["pages"])
    assert "/logo.png" not in paths(site)  # images add no links: never fetched
    # Every request reached the sites through linkgate's client (its User-Agent), none from Chromium.
    agents = {request.headers.get("User-Agent") for server in (site, ext) for request, _ in server.log}
    assert agents == {LOCAL.user_agent}
