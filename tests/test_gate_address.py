"""One gate address: what every part makes for the gate, every part recognises, with the gate on a path.

Here ``server.public_url`` is ``https://links.county.test/links``: the gate answers at ``/links/go``. Each
producer (``linkgate sign``, ``linkgate rewrite``, the console's link builder, the demo page that tells the
drop-in script its gate, the notice's "Check again") is checked against the one reader
(:func:`linkgate.gateaddress.read_gate_link`), and ``linkgate audit`` and ``linkgate rewrite --check`` take
the links made by ``sign`` and ``rewrite`` for gate links, not bypasses. The drop-in script itself is run
in Chromium in tests/browser/test_dropin.py.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import pytest

from linkgate.accounts import create_account
from linkgate.audit.extract import gate_destination
from linkgate.errors import InvalidDestination
from linkgate.gateaddress import GateAddress, gate_address, gate_link, read_gate_link
from linkgate.signing import Signer
from linkgate.urls import parse_destination
from linkgate.web.app_runtime import WebRuntime
from linkgate.web.demo import DEMO_LINKS
from linkgate.web.security import mount_point
from tests.conftest import HeldPage, in_process_app, local_server
from tests.console import ADMIN_PASSWORD
from tests.test_audit import html as page_html
from tests.test_audit import serve

PUBLIC_URL = "https://links.county.test/links"
GATE = gate_address(PUBLIC_URL)


def destination_of(url: str, gate: GateAddress) -> str | None:
    """Where the gate link ``url`` leads, or None when it is not one."""
    found = read_gate_link(url, gate)
    return found.destination if found is not None else None


# ---- the address and the recogniser ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "root"),
    [
        ("https://links.county.test/links", "https://links.county.test/links"),
        ("https://links.county.test/links/", "https://links.county.test/links"),
        ("https://links.county.test/links//", "https://links.county.test/links"),
        ("https://links.county.test", "https://links.county.test"),
        ("https://links.county.test/", "https://links.county.test"),
        ("https://links.county.test/a/b/?q=1#top", "https://links.county.test/a/b"),
        ("http://user:pw@Links.County.Test:8443/links", "http://links.county.test:8443/links"),
        ("https://links.county.test:443/links", "https://links.county.test/links"),
    ],
)
def test_the_gate_address_is_the_public_urls_host_and_path(public_url: str, root: str) -> None:
    gate = gate_address(public_url)
    assert (gate.root, gate.go) == (root, root + "/go")


@pytest.mark.parametrize(
    ("public_url", "script_name"),
    [
        ("https://links.county.test/links/", "/links"),
        ("https://links.county.test", ""),
        # Read as a browser reads it: dot segments gone, a space percent-encoded (SCRIPT_NAME is decoded).
        ("https://links.county.test/a/../links", "/links"),
        ("https://links.county.test/County Links/", "/County Links"),
    ],
)
def test_the_mount_point_is_the_gate_addresss_path(public_url: str, script_name: str) -> None:
    assert mount_point(public_url) == script_name
    assert gate_address(public_url).go.endswith(quote(script_name) + "/go")


def test_the_gate_address_of_something_other_than_a_web_address_is_refused() -> None:
    for public_url in ("ftp://links.county.test/links", "links.county.test", ""):
        with pytest.raises(ValueError):
            gate_address(public_url)


DESTINATION = "https://partner.example/a?b=1&c=2"
LINK_PARAMS = "?url=" + quote(DESTINATION, safe="") + "&sig=k.m"


@pytest.mark.parametrize(
    ("url", "recognised"),
    [
        (f"https://links.county.test/links/go{LINK_PARAMS}", True),
        (f"http://links.county.test/links/go{LINK_PARAMS}", True),  # the gate answers http too
        (f"https://someone@links.county.test/links/go{LINK_PARAMS}", True),  # still reaches the gate
        (f"https://links.county.test/links/go{LINK_PARAMS}#top", True),
        (f"https://links.county.test/go{LINK_PARAMS}", False),  # not under the mount point
        (f"https://links.county.test/links/go/more{LINK_PARAMS}", False),
        (f"https://links.county.test/links/goto{LINK_PARAMS}", False),
        (f"https://links.county.test/other/links/go{LINK_PARAMS}", False),
        (f"https://links.county.test:8443/links/go{LINK_PARAMS}", False),
        (f"https://links.county.test.evil.example/links/go{LINK_PARAMS}", False),
        (f"https://evil.example/links/go{LINK_PARAMS}", False),
        (f"ftp://links.county.test/links/go{LINK_PARAMS}", False),
    ],
)
def test_a_gate_link_is_on_the_gates_own_host_port_and_path(url: str, recognised: bool) -> None:
    found = read_gate_link(url, GATE)
    if recognised:
        assert found is not None and found.destination == DESTINATION and found.signatures == ("k.m",)
    else:
        assert found is None


def test_a_gate_link_names_exactly_one_destination_or_none_the_gate_follows() -> None:
    none = read_gate_link(GATE.go, GATE)
    several = read_gate_link(f"{GATE.go}?url=https%3A%2F%2Fa.example%2F&url=https%3A%2F%2Fb.example%2F", GATE)
    assert none is not None and none.destinations == () and none.destination is None
    assert several is not None and len(several.destinations) == 2 and several.destination is None


@pytest.mark.parametrize(
    "destination",
    [
        "https://partner.example/",
        "https://partner.example/caf%C3%A9?q=a&r=b#c",
        "http://x.example:8080/?a=%26",
    ],
)
def test_every_link_made_is_read_back_with_its_destination_and_a_signature_that_verifies(
    destination: str,
) -> None:
    signer = Signer("a secret for the test")
    for public_url in (PUBLIC_URL, PUBLIC_URL + "/", "https://links.county.test"):
        gate = gate_address(public_url)
        found = read_gate_link(gate_link(gate, destination, signer), gate)
        assert found is not None and found.destination == destination
        assert signer.verify(destination, found.signatures[0])


# ---- linkgate sign and linkgate rewrite, read by linkgate audit and rewrite --check -----------------


@pytest.fixture
def site() -> Any:
    server = local_server()
    yield server
    server.stop()


# On a County host, a link to the gate the audit did not recognise was a County link, and its destination
# went unchecked; on another host, it was a bypass.
@pytest.mark.parametrize("public_url", [PUBLIC_URL, "https://gate.example/links/"])
def test_links_from_sign_and_rewrite_are_gate_links_to_the_audit_and_to_rewrite_check(
    public_url: str, make_app: Any, site: Any, tmp_path: Path
) -> None:
    server = make_app(
        {
            "county": {"domains": ["county.test"]},
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": ["www.county.test=127.0.0.1", "ext.test=127.0.0.1"],
            },
            "server": {"public_url": public_url},
        },
        start=False,
    )
    gate = gate_address(public_url)
    ext = f"http://ext.test:{site.port}"
    signed = server.cli("sign", ext + "/signed").stdout.strip()
    page = tmp_path / "page.html"
    page.write_text(
        f'<a href="{html.escape(signed)}">Signed partner page</a>\n'
        f'<a href="{ext}/rewritten">Rewritten partner page</a>\n',
        encoding="utf-8",
    )
    server.cli("rewrite", str(page))
    rewritten = page.read_text(encoding="utf-8")
    assert rewritten.count(html.escape(gate.go + "?url=")) == 2
    assert server.cli("rewrite", "--check", str(page), check=False).returncode == 0

    serve(site, "/", page_html(rewritten + f'<a href="{ext}/plain">Plain partner page</a>'))
    for path in ("/signed", "/rewritten", "/plain"):
        serve(site, path, page_html("<h1>Partner</h1>"))
    out = tmp_path / "report"
    result = server.cli(
        "audit",
        f"http://www.county.test:{site.port}/",
        "--out",
        str(out),
        "--format",
        "json",
        "--no-check-privacy",
        "--no-store",
        "--fail-on",
        "bypass",
        check=False,
    )
    # Only the plain link bypasses the gate.
    assert result.returncode == 1, result.stderr
    assert "audit found 1 bypass" in result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    routed = {link["url"]: link["routed"] for link in report["links"] if link["url"].startswith(ext)}
    assert routed == {ext + "/signed": "all", ext + "/rewritten": "all", ext + "/plain": "none"}


# ---- the console's link builder, the demo page and "Check again" -----------------------------------


def test_the_link_builder_makes_links_on_the_gates_path(tmp_path: Path, database_url: str) -> None:
    app = in_process_app(tmp_path / "instance", database_url, SERVER_PUBLIC_URL=PUBLIC_URL)
    runtime: WebRuntime = app.extensions["linkgate"]
    try:
        create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
        client = app.test_client()
        login = client.get("/links/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.get_data(as_text=True))
        assert token is not None
        signed_in = client.post(
            "/links/admin/login",
            data={"csrf_token": token.group(1), "name": "admin", "password": ADMIN_PASSWORD},
        )
        assert signed_in.status_code == 302
        page = client.get("/links/admin/links/", query_string={"url": DESTINATION})
        assert page.status_code == 200
        value = re.search(r'id="gate-link-value"[^>]*value="([^"]+)"', page.get_data(as_text=True))
        assert value is not None
        link = html.unescape(value.group(1))
        found = read_gate_link(link, GATE)
        assert link.startswith(GATE.go + "?")
        assert found is not None and found.destination == DESTINATION
        assert runtime.signer.verify(DESTINATION, found.signatures[0])
    finally:
        runtime.shutdown()


def test_the_demo_page_tells_the_drop_in_script_the_gate_on_its_path(make_app: Any) -> None:
    """The demo page is served wherever the demo runs: its gate is the address it was reached at, with
    the mount point (server.public_url's path)."""
    server = make_app({"": {"demo": True}, "server": {"public_url": PUBLIC_URL}})
    page = server.get("/links/demo")
    assert page.status_code == 200
    script = re.search(r'<script src="([^"]+)" data-gate="([^"]+)"', page.text)
    assert script is not None
    assert script.group(1) == "/links/static/linkgate.js"
    assert script.group(2) == server.url + "/links"
    # The first list: the signed links, in the order of DEMO_LINKS.
    signed = [html.unescape(href) for href in re.findall(r'<li><a href="([^"]+)">', page.text)]
    gate = gate_address(script.group(2))
    assert [destination_of(href, gate) for href in signed[: len(DEMO_LINKS)]] == [
        href for href, _ in DEMO_LINKS
    ]


def test_check_again_leads_back_to_the_gate_on_its_path(make_app: Any, threaded_site: Any) -> None:
    held = HeldPage("<h1>Home</h1>")  # the privacy lookup stays in flight: the notice says "Check again"
    threaded_site.expect_request("/").respond_with_handler(held)
    server = make_app(
        {
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": ["site.test=127.0.0.1"],
                "privacy_wait_ms": 0,
            },
            "server": {"public_url": PUBLIC_URL},
        }
    )
    destination = f"http://site.test:{threaded_site.port}/news?a=1&b=2"
    try:
        response = server.get("/links/go?url=" + quote(destination, safe=""))
    finally:
        held.release.set()
    assert response.status_code == 200
    again = re.search(r'<a id="check-again" href="([^"]+)">Check again</a>', response.text)
    assert again is not None
    # As the browser follows it from the notice, which is at the gate's address.
    followed = urljoin(GATE.go + "?url=" + quote(destination, safe=""), html.unescape(again.group(1)))
    found = read_gate_link(followed, GATE)
    assert found is not None and found.destination == destination


@pytest.mark.parametrize(
    "value",
    [
        "https://partner.example/a?b=1",
        "HTTPS://Partner.Example:443/a",
        "/admin",  # relative: the gate answers an error page, it does not resolve it against itself
        "//partner.example/",
        "javascript:alert(1)",
        "",
        "https://" + "a" * 64 + ".example/",
    ],
)
def test_the_audit_reads_a_gate_links_destination_as_the_gate_does(value: str) -> None:
    gate = gate_address("https://links.county.test/links")
    try:
        expected: str | None = parse_destination(value).href
    except InvalidDestination:
        expected = None  # the gate refuses it: the audit checks the gate link itself
    assert gate_destination(f"{gate.go}?url={quote(value, safe='')}", gate) == expected
