"""linkgate's blocking client (:class:`linkgate.http.sync.Fetcher`) against real servers on 127.0.0.0/8:
no mock of httpx or of the network.

Two kinds of server: a *canary* (listening sockets on 127.0.0.1 and ::1 that nobody accepts on, so any
connection the fetcher makes waits in the backlog where the test can count it) and an *allowed* server
(pytest-httpserver on 127.0.0.2, the only address the test policy allows). Names are resolved by an
injected resolver, so ``allowed.test`` and ``canary.test`` need no DNS and no /etc/hosts entry.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from linkgate.http import (
    DEFAULT_USER_AGENT,
    Fetcher,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    Hop,
    system_resolver,
)
from linkgate.http.core import Pins, default_ssl_context
from linkgate.http.policy import is_forbidden_address, parse_target, resolve_checked
from linkgate.http.sync import _Deadline, _PinnedBackend
from linkgate.privacy import find_privacy_link, is_privacy_page

pytestmark = pytest.mark.database_free

ALLOWED_IP = "127.0.0.2"
ALLOWED_NETWORK = ipaddress.ip_network("127.0.0.2/32")


class Canary:
    """Listening sockets that never accept: every connection made to them is counted, none answered."""

    def __init__(self) -> None:
        self._v4 = self._listen(socket.AF_INET, "127.0.0.1")
        self._v6 = self._listen(socket.AF_INET6, "::1")
        self.port: int = self._v4.getsockname()[1]
        self.port6: int = self._v6.getsockname()[1]

    @staticmethod
    def _listen(family: socket.AddressFamily, address: str) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((address, 0))
        sock.listen(16)
        sock.setblocking(False)
        return sock

    def heard(self) -> int:
        count = 0
        for sock in (self._v4, self._v6):
            while True:
                try:
                    connection, _ = sock.accept()
                except BlockingIOError:
                    break
                connection.close()
                count += 1
        return count

    def close(self) -> None:
        self._v4.close()
        self._v6.close()


class Resolver:
    """Test names for test addresses; anything else (``localhost``) goes to the system resolver."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    def __call__(self, host: str) -> Iterable[str]:
        self.asked.append(host)
        if host in self.names:
            return self.names[host]
        return system_resolver(host)


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def running_server() -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host=ALLOWED_IP, port=0, threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def server(running_server: HTTPServer) -> Iterator[HTTPServer]:
    yield running_server
    running_server.clear()


@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        {
            "allowed.test": [ALLOWED_IP],
            "other.test": [ALLOWED_IP],
            "canary.test": ["127.0.0.1"],
            "public.test": ["93.184.215.14"],
            "mixed.test": ["93.184.215.14", "10.0.0.7"],
            "fallback.test": ["127.0.0.3", ALLOWED_IP],
        }
    )


@pytest.fixture
def refusals() -> list[str]:
    return []


@pytest.fixture
def fetcher(resolver: Resolver, refusals: list[str], canary: Canary) -> Iterator[Fetcher]:
    """The test policy: 127.0.0.2 allowed; the canary's ports open so the address rules are what refuse."""
    policy = FetchPolicy(
        allow_networks=(ALLOWED_NETWORK,),
        allowed_ports=frozenset({80, 443, canary.port, canary.port6}),
        total_timeout=2.0,  # a broken guard then fails these tests in seconds, not minutes
    )
    with Fetcher(policy, resolver=resolver, on_refused=refusals.append) as instance:
        yield instance


def base(server: HTTPServer, host: str = "allowed.test", scheme: str = "http") -> str:
    return f"{scheme}://{host}:{server.port}"


# The local host written every way a browser accepts; {p} is the canary's IPv4 port, {p6} its IPv6 port.
CANARY_FORMS = [
    "http://localhost:{p}/",
    "http://localhost.:{p}/",
    "http://LOCALHOST:{p}/",
    "http://www.localhost:{p}/",
    "http://127.0.0.1:{p}/",
    "http://127.1:{p}/",
    "http://0x7f000001:{p}/",
    "http://0x7f.1:{p}/",
    "http://2130706433:{p}/",
    "http://0177.0.0.1:{p}/",
    "http://0.0.0.0:{p}/",
    "http://0:{p}/",
    "http://[::1]:{p6}/",
    "http://[0:0:0:0:0:0:0:1]:{p6}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "http://[::ffff:7f00:1]:{p}/",
    "http://[::127.0.0.1]:{p}/",
    "https://127.0.0.1:{p}/",
    "http://canary.test:{p}/",
]


def canary_url(form: str, canary: Canary) -> str:
    return form.format(p=canary.port, p6=canary.port6)


# --- addresses ---------------------------------------------------------------------------------------

FORBIDDEN = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.255",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::127.0.0.1",
    "::8.8.8.8",
    "::ffff:0:7f00:1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::c0a8:101",
    "64:ff9b:1::808:808",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "2002:a00:1::",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "fe80::1",
    "fe80::1%2",
    "fec0::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "ff0e::1",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_non_public_address_is_forbidden(address: str) -> None:
    assert is_forbidden_address(address)
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_address_is_allowed(address: str) -> None:
    assert not is_forbidden_address(address)


def test_allow_networks_lifts_the_ban_only_for_the_networks_named() -> None:
    allowed = (ipaddress.ip_network("127.0.0.0/8"),)
    assert not is_forbidden_address("127.0.0.5", allowed)
    assert is_forbidden_address("10.0.0.1", allowed)
    assert is_forbidden_address("::1", allowed)


@given(st.ip_addresses(v=4))
def test_ipv6_forms_embedding_an_ipv4_address_are_judged_by_it(ip: ipaddress.IPv4Address) -> None:
    expected = is_forbidden_address(ip)
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1)
    assert [is_forbidden_address(form) for form in (mapped, nat64, sixtofour)] == [expected] * 3


# --- the canary: nothing reaches the local host ------------------------------------------------------


def test_canary_hears_a_fetch_the_policy_allows(canary: Canary, resolver: Resolver) -> None:
    """The control for the tests below: the canary does count connections."""
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), total_timeout=0.3)
    with Fetcher(policy, resolver=resolver) as fetcher, pytest.raises(FetchFailed) as failure:
        fetcher.get(f"http://canary.test:{canary.port}/")
    assert failure.value.reason == "timeout"
    assert canary.heard() == 1


@pytest.mark.parametrize("form", CANARY_FORMS)
def test_local_host_is_refused_in_every_spelling(
    form: str, fetcher: Fetcher, canary: Canary, refusals: list[str]
) -> None:
    with pytest.raises(FetchRefused) as refusal:
        fetcher.get(canary_url(form, canary))
    assert refusal.value.reason == "ssrf_refused"
    assert refusals == ["ssrf_refused"]
    assert canary.heard() == 0


@pytest.mark.parametrize("form", CANARY_FORMS)
def test_redirect_to_the_local_host_is_refused_in_every_spelling(
    form: str, fetcher: Fetcher, canary: Canary, server: HTTPServer, refusals: list[str]
) -> None:
    server.expect_request("/away").respond_with_data(
        "", status=302, headers={"Location": canary_url(form, canary)}
    )
    with pytest.raises(FetchRefused) as refusal:
        fetcher.get(f"{base(server)}/away")
    assert refusal.value.reason == "ssrf_refused"
    assert refusals == ["ssrf_refused"]
    assert canary.heard() == 0
    assert len(server.log) == 1


def test_default_policy_refuses_the_local_host(canary: Canary) -> None:
    with Fetcher() as fetcher:
        for url in (
            "http://localhost/",
            "http://127.1/",
            "https://[::1]/",
            f"http://127.0.0.1:{canary.port}/",
        ):
            with pytest.raises(FetchRefused):
                fetcher.get(url)
    assert canary.heard() == 0


def test_name_resolving_to_public_and_private_addresses_is_refused(fetcher: Fetcher) -> None:
    with pytest.raises(FetchRefused, match=r"10\.0\.0\.7") as refusal:
        fetcher.get("http://mixed.test/")
    assert refusal.value.reason == "ssrf_refused"


def test_connection_goes_only_to_checked_addresses(canary: Canary) -> None:
    pins = Pins()
    pins.pin("allowed.test", [ipaddress.ip_address(ALLOWED_IP)])
    backend = _PinnedBackend(_Deadline(1.0), pins)
    for host in ("127.0.0.1", "localhost", "::1", ALLOWED_IP, "canary.test"):
        with pytest.raises(FetchRefused):
            backend.connect_tcp(host, canary.port)
    assert canary.heard() == 0


def test_the_checked_addresses_are_found_without_connecting(
    fetcher: Fetcher, resolver: Resolver, canary: Canary
) -> None:
    def check(url: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return resolve_checked(parse_target(url), fetcher.policy, resolver)

    assert check("http://allowed.test/") == [ipaddress.ip_address(ALLOWED_IP)]
    with pytest.raises(FetchRefused):
        check(f"http://canary.test:{canary.port}/")
    assert canary.heard() == 0


# --- schemes, ports and credentials ----------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "ftp://allowed.test/",
        "gopher://127.0.0.1:70/",
        "javascript:alert(1)",
        "data:,hi",
    ],
)
def test_redirect_to_a_non_web_scheme_is_refused(
    location: str, fetcher: Fetcher, server: HTTPServer, refusals: list[str]
) -> None:
    server.expect_request("/away").respond_with_data("", status=301, headers={"Location": location})
    with pytest.raises(FetchRefused, match="only follows http:// and https://") as refusal:
        fetcher.get(f"{base(server)}/away")
    assert refusal.value.reason == "scheme_refused"
    assert refusals == ["scheme_refused"]


def test_non_web_scheme_is_refused(fetcher: Fetcher, refusals: list[str]) -> None:
    with pytest.raises(FetchRefused):
        fetcher.get("file:///etc/passwd")
    assert refusals == ["scheme_refused"]


def test_port_outside_the_policy_is_refused_before_any_lookup(
    resolver: Resolver, refusals: list[str]
) -> None:
    with Fetcher(resolver=resolver, on_refused=refusals.append) as fetcher:
        with pytest.raises(FetchRefused, match="port 8080") as refusal:
            fetcher.get("http://public.test:8080/")
    assert refusal.value.reason == "port_refused"
    assert refusals == ["port_refused"]
    assert resolver.asked == []


def test_allowed_network_does_not_open_other_ports_on_public_hosts(fetcher: Fetcher) -> None:
    with pytest.raises(FetchRefused) as refusal:
        fetcher.get("http://public.test:8080/")
    assert refusal.value.reason == "port_refused"


def test_credentials_are_refused_and_not_repeated(
    fetcher: Fetcher, server: HTTPServer, refusals: list[str]
) -> None:
    with pytest.raises(FetchRefused) as refusal:
        fetcher.get(f"http://webmaster:s3cret@allowed.test:{server.port}/")
    assert refusal.value.reason == "credentials_refused"
    assert "s3cret" not in str(refusal.value) + refusal.value.url
    assert refusals == ["credentials_refused"]
    assert server.log == []


def test_redirect_to_an_address_with_credentials_is_refused(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/away").respond_with_data(
        "", status=302, headers={"Location": f"http://a:b@allowed.test:{server.port}/in"}
    )
    with pytest.raises(FetchRefused) as refusal:
        fetcher.get(f"{base(server)}/away")
    assert refusal.value.reason == "credentials_refused"
    assert len(server.log) == 1


def test_failures_are_not_counted_as_refusals(fetcher: Fetcher, refusals: list[str]) -> None:
    with pytest.raises(FetchFailed) as failure:
        fetcher.get("http://[not a url/")
    assert failure.value.reason == "invalid_url"
    assert refusals == []


# --- requests that are allowed ----------------------------------------------------------------------


def test_request_carries_the_real_host_and_the_user_agent(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/page", query_string="q=1").respond_with_data(
        "<p>hello</p>", content_type="text/html; charset=utf-8"
    )
    result = fetcher.get(f"{base(server)}/page?q=1#fragment")
    request, _ = server.log[0]
    assert request.headers["Host"] == f"allowed.test:{server.port}"
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert "linkgate" in DEFAULT_USER_AGENT and "missoulacounty.us" in DEFAULT_USER_AGENT
    assert "Cookie" not in request.headers and "Referer" not in request.headers
    assert (result.status, result.text, result.content_type, result.is_html) == (
        200,
        "<p>hello</p>",
        "text/html",
        True,
    )
    assert result.url == result.final_url == f"{base(server)}/page?q=1#fragment"
    assert result.redirects == ()
    assert not result.truncated


def test_a_caller_s_allowed_headers_are_sent_on_every_hop(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/timegate").respond_with_data("", status=302, headers={"Location": "/memento"})
    server.expect_request("/memento").respond_with_data("<p>then</p>", content_type="text/html")
    when = "Sun, 01 May 2022 06:07:08 GMT"
    answer = fetcher.get(f"{base(server)}/timegate", headers={"accept-datetime": when})
    assert answer.status == 200 and answer.final_url == f"{base(server)}/memento"
    assert [request.headers.get("Accept-Datetime") for request, _ in server.log] == [when, when]
    fetcher.get(f"{base(server)}/memento")  # and nothing when none is given
    assert "Accept-Datetime" not in server.log[-1][0].headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "other.test"},
        {"Cookie": "session=1"},
        {"Authorization": "Bearer x"},
        {"Proxy-Authorization": "Basic eA=="},
        {"Content-Length": "0"},
        {"Transfer-Encoding": "chunked"},
        {"Accept-Datetime": "Sun, 01 May 2022 00:00:00 GMT\r\nCookie: x=1"},
        {"Accept-Datetime": "x" * 129},
        {"Accept-Datetime": ""},
        {"Accept-Datetime": " padded "},
        {"Accept-Language": "espa\u00f1ol"},
        {"Accept-Datetime": "a", "accept-datetime": "b"},
    ],
    ids=lambda headers: ",".join(headers)[:40],
)
def test_any_other_header_or_value_is_refused_before_a_request(
    fetcher: Fetcher, server: HTTPServer, headers: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="header"):
        fetcher.get(f"{base(server)}/page", headers=headers)
    assert server.log == []


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        # The one sniffer (linkgate.encoding): a <meta> names the encoding when the header does not ...
        (b'<meta charset="windows-1252"><p>\x93quoted\x94', "text/html", "<p>\u201cquoted\u201d"),
        # ... a label Python's codecs do not know is passed over for the page's own <meta> ...
        (b'<meta charset="koi8-r"><p>\xf0\xd2', "text/html; charset=x-unknown", "<p>\u041f\u0440"),
        # ... and latin1 is windows-1252, as browsers read it (Python's latin-1 would give U+0080).
        (b"<p>\x80", "text/html; charset=latin1", "<p>\u20ac"),
    ],
)
def test_an_answers_text_is_decoded_as_a_browser_reads_it(
    fetcher: Fetcher, server: HTTPServer, body: bytes, content_type: str, text: str
) -> None:
    server.expect_request("/page").respond_with_data(body, content_type=content_type)
    result = fetcher.get(f"{base(server)}/page")
    assert result.text.endswith(text)


def test_address_fallback_tries_the_next_checked_address(
    resolver: Resolver, server: HTTPServer, canary: Canary
) -> None:
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.2/31"),))
    server.expect_request("/").respond_with_data("ok")
    with Fetcher(policy, resolver=resolver) as fetcher:
        assert fetcher.get(f"http://fallback.test:{server.port}/").text == "ok"


def test_five_redirects_are_followed(fetcher: Fetcher, server: HTTPServer) -> None:
    for hop in range(1, 6):
        server.expect_request(f"/hop/{hop}").respond_with_data(
            "", status=307, headers={"Location": f"/hop/{hop - 1}", "Set-Cookie": "session=1"}
        )
    server.expect_request("/hop/0").respond_with_data("arrived")
    result = fetcher.get(f"{base(server)}/hop/5")
    assert result.text == "arrived"
    assert result.redirects == tuple(Hop(f"{base(server)}/hop/{hop}", 307) for hop in range(5, 0, -1))
    assert result.final_url == f"{base(server)}/hop/0"
    assert all("Cookie" not in request.headers for request, _ in server.log)


def test_sixth_redirect_is_refused(fetcher: Fetcher, server: HTTPServer) -> None:
    for hop in range(1, 7):
        server.expect_request(f"/hop/{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/hop/{hop - 1}"}
        )
    server.expect_request("/hop/0").respond_with_data("arrived")
    with pytest.raises(FetchFailed, match="more than 5 times") as failure:
        fetcher.get(f"{base(server)}/hop/6")
    assert failure.value.reason == "too_many_redirects"
    assert [request.path for request, _ in server.log] == [f"/hop/{hop}" for hop in range(6, 0, -1)]


def test_relative_redirect_is_resolved_against_the_current_address(
    fetcher: Fetcher, server: HTTPServer
) -> None:
    server.expect_request("/a/b/c").respond_with_data("", status=301, headers={"Location": "../d?x=1"})
    server.expect_request("/a/d", query_string="x=1").respond_with_data(
        "", status=302, headers={"Location": f"//other.test:{server.port}/e"}
    )
    server.expect_request("/e").respond_with_data("end")
    result = fetcher.get(f"{base(server)}/a/b/c")
    assert result.final_url == f"{base(server, 'other.test')}/e"
    assert result.redirects == (Hop(f"{base(server)}/a/b/c", 301), Hop(f"{base(server)}/a/d?x=1", 302))
    assert server.log[-1][0].headers["Host"] == f"other.test:{server.port}"


def test_redirect_without_location_is_the_final_response(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/").respond_with_data("moved somewhere", status=302)
    result = fetcher.get(f"{base(server)}/")
    assert (result.status, result.text) == (302, "moved somewhere")


# --- size and time ----------------------------------------------------------------------------------


def test_long_body_is_cut_at_max_bytes(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/big").respond_with_data(b"a" * 3_000_000)
    result = fetcher.get(f"{base(server)}/big")
    assert len(result.content) == 2_000_000
    assert result.truncated


def test_body_of_exactly_max_bytes_is_not_truncated(resolver: Resolver, server: HTTPServer) -> None:
    server.expect_request("/").respond_with_data(b"b" * 1000)
    policy = FetchPolicy(allow_networks=(ALLOWED_NETWORK,), max_bytes=1000)
    with Fetcher(policy, resolver=resolver) as fetcher:
        result = fetcher.get(f"{base(server)}/")
    assert (len(result.content), result.truncated) == (1000, False)


def serve_once(response: bytes) -> int:
    """A one-request server on 127.0.0.2 that sends ``response`` as it is; its port.

    For measuring memory: unlike the werkzeug server, it allocates nothing while it serves.
    """
    listener = socket.create_server((ALLOWED_IP, 0))

    def answer() -> None:
        with listener, listener.accept()[0] as connection:
            connection.recv(65536)
            connection.sendall(response)

    threading.Thread(target=answer, daemon=True).start()
    return int(listener.getsockname()[1])


def test_compressed_body_is_decoded(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/page").respond_with_data(
        gzip.compress(b"<p>small</p>"), headers={"Content-Encoding": "gzip"}
    )
    assert fetcher.get(f"{base(server)}/page").text == "<p>small</p>"
    assert server.log[0][0].headers["Accept-Encoding"] == "gzip, deflate"


def test_compression_bomb_is_cut_without_being_inflated(resolver: Resolver) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=1)
    port = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(bomb)}\r\n\r\n".encode()
        + bomb
    )
    policy = FetchPolicy(allow_networks=(ALLOWED_NETWORK,), max_bytes=100_000)
    with Fetcher(policy, resolver=resolver) as fetcher:
        tracemalloc.start()
        try:
            result = fetcher.get(f"http://allowed.test:{port}/")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (len(result.content), result.truncated) == (100_000, True)
    assert peak < 2_000_000, "the bomb was inflated beyond max_bytes"


def test_a_compressed_bomb_of_hostile_markup_is_cut_at_the_cap_and_read_in_proportion(
    resolver: Resolver,
) -> None:
    # 21 MB of unclosed <i> in 20 KB: a privacy lookup of such a page grew a worker to 475 MB.
    page = b"<html><head><title>Home</title></head><body>" + b"<i>" * 7_000_000
    bomb = gzip.compress(page, compresslevel=9)
    port = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(bomb)}\r\n\r\n".encode()
        + bomb
    )
    with Fetcher(FetchPolicy(allow_networks=(ALLOWED_NETWORK,)), resolver=resolver) as fetcher:
        result = fetcher.get(f"http://allowed.test:{port}/")
    assert (len(result.content), result.truncated) == (2_000_000, True)
    tracemalloc.start()
    started = time.process_time()
    try:
        assert find_privacy_link(result.content, result.final_url) is None
        assert not is_privacy_page(result.content)
        seconds, peak = time.process_time() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (seconds < 2.0, peak < 50_000_000) == (True, True), (seconds, peak)


def test_unknown_compression_is_a_failure(fetcher: Fetcher, server: HTTPServer) -> None:
    server.expect_request("/").respond_with_data(b"\x00", headers={"Content-Encoding": "compress"})
    with pytest.raises(FetchFailed) as failure:
        fetcher.get(f"{base(server)}/")
    assert failure.value.reason == "encoding"


def _drip(stop: threading.Event) -> Callable[[Request], Response]:
    """A page sent a byte every 0.1 s, for 30 s or until ``stop`` is set."""

    def handler(request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(300):
                yield b"x"
                if stop.wait(0.1):
                    return

        return Response(body(), content_type="text/html")

    return handler


def _slow(seconds: float, location: str | None, arrived: list[str]) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        arrived.append(request.path)
        time.sleep(seconds)  # the slow server, not the test, waits
        if location is None:
            return Response("late")
        return Response("", status=302, headers={"Location": location})

    return handler


@pytest.fixture
def quick_fetcher(resolver: Resolver) -> Iterator[Fetcher]:
    policy = FetchPolicy(allow_networks=(ALLOWED_NETWORK,), total_timeout=1.0)
    with Fetcher(policy, resolver=resolver) as instance:
        yield instance


def test_slow_drip_body_hits_the_total_deadline(quick_fetcher: Fetcher, server: HTTPServer) -> None:
    """Each byte comes well within any read timeout; only the total deadline (1 s) ends a 30 s body.
    No upper bound closer than half the drip: a loaded machine makes the deadline late, not wrong."""
    stop = threading.Event()
    server.expect_request("/drip").respond_with_handler(_drip(stop))
    started = time.monotonic()
    try:
        with pytest.raises(FetchFailed, match="1 seconds") as failure:
            quick_fetcher.get(f"{base(server)}/drip")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
    assert failure.value.reason == "timeout"
    assert 1.0 <= elapsed < 15


def test_deadline_covers_every_redirect(quick_fetcher: Fetcher, server: HTTPServer) -> None:
    """Each hop answers within the 1 s deadline (0.3 s, then 0.9 s), the two together do not: a deadline
    started again at each redirect would let the fetch succeed."""
    arrived: list[str] = []
    server.expect_request("/first").respond_with_handler(_slow(0.3, "/second", arrived))
    server.expect_request("/second").respond_with_handler(_slow(0.9, None, arrived))
    with pytest.raises(FetchFailed) as failure:
        quick_fetcher.get(f"{base(server)}/first")
    assert failure.value.reason == "timeout"
    assert arrived == ["/first", "/second"]


def test_deadline_covers_a_stuck_name_lookup() -> None:
    release = threading.Event()

    def stuck(host: str) -> list[str]:
        release.wait(30)
        return ["93.184.215.14"]

    started = time.monotonic()
    try:
        with (
            Fetcher(FetchPolicy(total_timeout=0.3), resolver=stuck) as fetcher,
            pytest.raises(FetchFailed) as failure,
        ):
            fetcher.get("http://stuck.test/")
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert failure.value.reason == "timeout"
    assert elapsed < 15  # the lookup would have taken 30 s


def test_unknown_name_is_a_dns_failure(fetcher: Fetcher) -> None:
    with pytest.raises(FetchFailed, match=r"nowhere\.invalid") as failure:
        fetcher.get("http://nowhere.invalid/")
    assert failure.value.reason == "dns"


def test_closed_port_is_a_connect_failure(fetcher: Fetcher, canary: Canary) -> None:
    with socket.socket() as probe:
        probe.bind((ALLOWED_IP, 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(FetchFailed) as failure:
        fetcher.get(f"http://allowed.test:{closed_port}/")
    assert failure.value.reason == "connect"


# --- TLS: server name and certificate checked against the real host name ---------------------------


@pytest.fixture(scope="module")
def tls_server(certificates: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host=ALLOWED_IP, port=0, ssl_context=certificates[0], threaded=True)
    httpserver.start()
    httpserver.expect_request("/").respond_with_data("secure")
    yield httpserver
    httpserver.stop()


def test_tls_checks_the_certificate_against_the_host_name_not_the_address(
    certificates: tuple[ssl.SSLContext, ssl.SSLContext], tls_server: HTTPServer, resolver: Resolver
) -> None:
    policy = FetchPolicy(allow_networks=(ALLOWED_NETWORK,))
    with Fetcher(policy, resolver=resolver, ssl_context=certificates[1]) as fetcher:
        assert fetcher.get(f"{base(tls_server, scheme='https')}/").text == "secure"
        with pytest.raises(FetchFailed, match="certificate") as failure:
            fetcher.get(f"{base(tls_server, 'other.test', scheme='https')}/")
    assert failure.value.reason == "tls"
    assert [request.headers["Host"] for request, _ in tls_server.log] == [f"allowed.test:{tls_server.port}"]


def test_tls_uses_the_system_certificates_by_default(tls_server: HTTPServer, resolver: Resolver) -> None:
    with Fetcher(FetchPolicy(allow_networks=(ALLOWED_NETWORK,)), resolver=resolver) as fetcher:
        with pytest.raises(FetchFailed) as failure:
            fetcher.get(f"{base(tls_server, scheme='https')}/")
    assert failure.value.reason == "tls"


def test_every_fetcher_shares_one_tls_context_whose_alpn_is_fixed() -> None:
    context = default_ssl_context()
    with Fetcher() as first, Fetcher() as second:
        assert first._ssl_context is context and second._ssl_context is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs()  # certifi's bundle is loaded
    context.set_alpn_protocols(["http/1.1"])  # what httpcore asks before each connection: no change
    with pytest.raises(ValueError, match=r"HTTP/1\.1 only"):
        context.set_alpn_protocols(["h2", "http/1.1"])
