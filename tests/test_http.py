"""What the blocking client (the privacy lookup's :class:`~linkgate.http.Fetcher`) and the async one (the
audit's :class:`~linkgate.http.SafeClient`) share, held for both: each test runs once per client, or
once per transport, against a real server on 127.0.0.2 (the only address the policy allows) and a
canary on 127.0.0.1 that must never hear a refused request.

The clients differ where they are meant to: the blocking one raises and the async one answers with a
``reason``; the blocking one asks for compressed bodies. Everything else, the rules for redirects (the
policy's limit), addresses, pinning, bodies and failures, is one code path and is tested here as one.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx
import pytest
from pytest_httpserver import HTTPServer

from linkgate.http import Answer, Fetcher, FetchError, FetchPolicy, FetchRefused, Hop, SafeClient
from linkgate.http.core import build_request, default_ssl_context
from linkgate.http.policy import parse_target
from linkgate.http.pool import PinnedAsyncTransport
from linkgate.http.sync import _Deadline, _PinnedTransport
from tests import test_fetch
from tests.conftest import HeldPage
from tests.test_fetch import ALLOWED_IP, ALLOWED_NETWORK, Canary, serve_once

pytestmark = pytest.mark.database_free

LIMIT = 10_000


@dataclass(frozen=True)
class Outcome:
    """What either client made of a request: an answer, or why there was none."""

    status: int | None
    reason: str | None
    final_url: str = ""
    redirects: tuple[Hop, ...] = ()
    content: bytes = b""
    truncated: bool = False
    error: str = ""


def _outcome(answer: Answer) -> Outcome:
    return Outcome(
        answer.status,
        answer.reason,
        answer.final_url,
        answer.redirects,
        answer.content,
        answer.truncated,
        answer.error or "",
    )


Get = Callable[[str, FetchPolicy, Callable[[str], Iterable[str]]], Outcome]


def sync_get(url: str, policy: FetchPolicy, resolver: Callable[[str], Iterable[str]]) -> Outcome:
    with Fetcher(policy, resolver=resolver) as fetcher:
        try:
            return _outcome(fetcher.get(url))
        except FetchError as error:
            return Outcome(None, error.reason, error=str(error))


def async_get(url: str, policy: FetchPolicy, resolver: Callable[[str], Iterable[str]]) -> Outcome:
    async def main() -> Answer:
        client = SafeClient(policy, resolver, retries=0, timeout=policy.total_timeout)
        try:
            return await client.request(url, read_body=lambda _status, _headers: policy.max_bytes)
        finally:
            await client.aclose()

    # In a thread of its own: under the browser tests, Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return _outcome(pool.submit(asyncio.run, main()).result())


CLIENTS = pytest.mark.parametrize("get", [sync_get, async_get], ids=["sync", "async"])


# The privacy lookup's tests' own servers and canary, the same fixtures for both clients here.
running_server = test_fetch.running_server
server = test_fetch.server
canary = test_fetch.canary


@pytest.fixture
def policy(canary: Canary) -> FetchPolicy:
    return FetchPolicy(
        allow_networks=(ALLOWED_NETWORK,),
        allowed_ports=frozenset({80, 443, canary.port}),
        max_bytes=LIMIT,
        total_timeout=2.0,
    )


def resolver(host: str) -> list[str]:
    names = {"allowed.test": [ALLOWED_IP], "other.test": [ALLOWED_IP], "canary.test": ["127.0.0.1"]}
    if host not in names:
        raise OSError(f"{host} is not a test name")
    return names[host]


def base(port: int, host: str = "allowed.test") -> str:
    return f"http://{host}:{port}"


# --- redirects ---------------------------------------------------------------------------------------


@CLIENTS
def test_redirects_are_resolved_by_the_browsers_rules_and_each_is_a_hop(
    get: Get, server: HTTPServer, policy: FetchPolicy
) -> None:
    server.expect_request("/a/b/c").respond_with_data("", status=301, headers={"Location": "../d?x=1"})
    server.expect_request("/a/d", query_string="x=1").respond_with_data(
        "", status=308, headers={"Location": f"//other.test:{server.port}/e", "Set-Cookie": "s=1"}
    )
    server.expect_request("/e").respond_with_data("end")
    outcome = get(f"{base(server.port)}/a/b/c", policy, resolver)
    assert (outcome.status, outcome.content, outcome.final_url) == (
        200,
        b"end",
        f"{base(server.port, 'other.test')}/e",
    )
    assert outcome.redirects == (
        Hop(f"{base(server.port)}/a/b/c", 301),
        Hop(f"{base(server.port)}/a/d?x=1", 308),
    )
    assert [request.headers["Host"] for request, _ in server.log] == [
        f"allowed.test:{server.port}",
        f"allowed.test:{server.port}",
        f"other.test:{server.port}",
    ]
    assert all("Cookie" not in request.headers for request, _ in server.log)


@CLIENTS
def test_a_redirect_loop_stops_at_the_first_address_visited_again(
    get: Get, server: HTTPServer, policy: FetchPolicy
) -> None:
    server.expect_request("/one").respond_with_data("", status=302, headers={"Location": "/two"})
    server.expect_request("/two").respond_with_data("", status=302, headers={"Location": "/one"})
    outcome = get(f"{base(server.port)}/one", policy, resolver)
    assert (outcome.status, outcome.reason) == (None, "redirect_loop")
    assert f"back to {base(server.port)}/one" in outcome.error
    assert [request.path for request, _ in server.log] == ["/one", "/two"]


@CLIENTS
@pytest.mark.parametrize("limit", [0, 3])
def test_a_chain_longer_than_the_policys_limit_is_not_followed_to_its_end(
    get: Get, server: HTTPServer, policy: FetchPolicy, limit: int
) -> None:
    for hop in range(1, 13):
        server.expect_request(f"/hop/{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/hop/{hop - 1}"}
        )
    server.expect_request("/hop/0").respond_with_data("arrived")
    outcome = get(f"{base(server.port)}/hop/12", replace(policy, max_redirects=limit), resolver)
    assert (outcome.status, outcome.reason) == (None, "too_many_redirects")
    assert f"more than {limit} times" in outcome.error
    # The first address and ``limit`` redirects were asked for; the redirect past the limit was not.
    assert [request.path for request, _ in server.log] == [f"/hop/{12 - hop}" for hop in range(limit + 1)]


@CLIENTS
def test_a_chain_as_long_as_the_policys_limit_is_followed(
    get: Get, server: HTTPServer, policy: FetchPolicy
) -> None:
    for hop in range(1, 4):
        server.expect_request(f"/hop/{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/hop/{hop - 1}"}
        )
    server.expect_request("/hop/0").respond_with_data("arrived")
    outcome = get(f"{base(server.port)}/hop/3", replace(policy, max_redirects=3), resolver)
    assert (outcome.status, outcome.content, len(outcome.redirects)) == (200, b"arrived", 3)


@CLIENTS
@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://canary.test:{port}/", "ssrf_refused"),
        ("http://127.0.0.1:{port}/", "ssrf_refused"),
        ("http://[::ffff:127.0.0.1]:{port}/", "ssrf_refused"),
        ("http://localhost:{port}/", "ssrf_refused"),
        ("http://user:secret@allowed.test:{port}/", "credentials_refused"),
        ("file:///etc/passwd", "scheme_refused"),
    ],
)
def test_every_redirect_hop_is_checked_again_and_a_refused_one_is_never_reached(
    get: Get, server: HTTPServer, policy: FetchPolicy, canary: Canary, location: str, reason: str
) -> None:
    server.expect_request("/").respond_with_data(
        "", status=302, headers={"Location": location.format(port=canary.port)}
    )
    outcome = get(f"{base(server.port)}/", policy, resolver)
    assert (outcome.status, outcome.reason) == (None, reason)
    assert "secret" not in outcome.error
    assert canary.heard() == 0
    assert len(server.log) == 1


@CLIENTS
def test_the_connection_goes_to_the_address_checked_not_to_a_second_lookup(
    get: Get, server: HTTPServer, policy: FetchPolicy, canary: Canary
) -> None:
    answers = iter([[ALLOWED_IP]])

    def rebinding(host: str) -> list[str]:  # a public answer for the check, then the canary's address
        return next(answers, ["127.0.0.1"])

    server.expect_request("/").respond_with_data("checked")
    outcome = get(f"{base(server.port, 'rebind.test')}/", policy, rebinding)
    assert (outcome.status, outcome.content) == (200, b"checked")
    assert canary.heard() == 0


# --- bodies --------------------------------------------------------------------------------------------


@CLIENTS
@pytest.mark.parametrize(("length", "truncated"), [(LIMIT - 1, False), (LIMIT, False), (LIMIT + 1, True)])
def test_a_body_is_kept_up_to_the_limit(
    get: Get, server: HTTPServer, policy: FetchPolicy, length: int, truncated: bool
) -> None:
    server.expect_request("/").respond_with_data(b"x" * length)
    outcome = get(f"{base(server.port)}/", policy, resolver)
    assert (outcome.status, outcome.content, outcome.truncated) == (200, b"x" * min(length, LIMIT), truncated)


@CLIENTS
def test_a_compression_bomb_is_cut_at_the_limit_without_being_inflated(get: Get, policy: FetchPolicy) -> None:
    # Sent compressed whether or not it was asked for (the async client asks for none).
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=1)
    port = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(bomb)}\r\n\r\n".encode()
        + bomb
    )
    tracemalloc.start()
    try:
        outcome = get(f"{base(port)}/", policy, resolver)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (outcome.status, outcome.content, outcome.truncated) == (200, b"\0" * LIMIT, True)
    assert peak < 3_000_000, "the bomb was inflated beyond the limit"


@CLIENTS
def test_a_compression_linkgate_cannot_read_is_a_failure(
    get: Get, server: HTTPServer, policy: FetchPolicy
) -> None:
    server.expect_request("/").respond_with_data(b"\x00", headers={"Content-Encoding": "br"})
    outcome = get(f"{base(server.port)}/", policy, resolver)
    assert (outcome.status, outcome.reason) == (None, "encoding")
    assert "a compression linkgate does not read ('br')" in outcome.error


# --- failures ----------------------------------------------------------------------------------------


@CLIENTS
def test_a_server_slower_than_the_timeout_is_a_timeout(get: Get, server: HTTPServer, canary: Canary) -> None:
    late = HeldPage("late")  # answers after 30 s, or once the test is over
    server.expect_request("/").respond_with_handler(late)
    quick = FetchPolicy(allow_networks=(ALLOWED_NETWORK,), total_timeout=1.0)
    started = time.monotonic()
    try:
        outcome = get(f"{base(server.port)}/", quick, resolver)
        elapsed = time.monotonic() - started
    finally:
        late.release.set()
    assert (outcome.status, outcome.reason) == (None, "timeout")
    assert outcome.error.startswith("allowed.test did not answer")
    assert late.arrived  # the request was sent: the deadline, not the connection, ended it
    assert elapsed < 15


@CLIENTS
def test_a_refused_connection_is_a_connect_failure(get: Get, policy: FetchPolicy) -> None:
    with socket.create_server((ALLOWED_IP, 0)) as listener:
        port = listener.getsockname()[1]  # closed again before the request
    outcome = get(f"http://{ALLOWED_IP}:{port}/", policy, resolver)
    assert (outcome.status, outcome.reason) == (None, "connect")
    assert outcome.error.startswith(f"Could not connect to {ALLOWED_IP} on port {port} (")


# --- the transports ----------------------------------------------------------------------------------


def sync_send(url: str) -> None:
    with _PinnedTransport(_Deadline(2.0), default_ssl_context()) as transport:
        transport.pins.pin("allowed.test", [ipaddress.ip_address(ALLOWED_IP)])
        transport.handle_request(_request(url))


def async_send(url: str) -> None:
    async def main() -> None:
        transport = PinnedAsyncTransport(2, default_ssl_context(), 2.0, keep_alive=True)
        transport.pins.pin("allowed.test", [ipaddress.ip_address(ALLOWED_IP)])
        try:
            await transport.handle_async_request(_request(url))
        finally:
            await transport.aclose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()


def _request(url: str) -> httpx.Request:
    timeout = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
    destination = parse_target(url)
    return build_request(
        "GET", destination, accept="*/*", user_agent="test", timeout=timeout, compressed=False
    )


@pytest.mark.parametrize("send", [sync_send, async_send], ids=["sync", "async"])
@pytest.mark.parametrize("host", ["canary.test", "127.0.0.1", "localhost", "other.test"])
def test_a_transport_connects_only_to_the_addresses_pinned_for_the_host(
    send: Callable[[str], None], canary: Canary, host: str
) -> None:
    with pytest.raises(FetchRefused) as refusal:
        send(f"http://{host}:{canary.port}/")
    # One refusal (linkgate.http.core.Pins) for both transports: the same reason, the same words.
    assert refusal.value.reason == "ssrf_refused"
    assert str(refusal.value) == f"linkgate will not connect to {host}: its address was not checked."
    assert canary.heard() == 0
