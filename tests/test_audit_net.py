"""The audit's network client (:class:`linkgate.http.SafeClient`) against real servers on 127.0.0.1.

The server here is a small HTTP/1.1 server on asyncio's streams that counts its connections from the
server's side, so what the tests assert about keep-alive and the connection cap is what a site sees.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import ada_url
import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkgate.http import FetchFailed, FetchPolicy, FetchRefused, SafeClient
from linkgate.http.policy import parse_target, request_target
from tests.conftest import wait_for

pytestmark = pytest.mark.database_free

LOCAL = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
T = TypeVar("T")


def resolver(host: str) -> list[str]:
    if host.endswith(".test"):
        return ["127.0.0.1"]
    raise OSError(f"{host} is not pinned")


class CountingServer:
    """Answers every request with 200 and ``ok <target>``, keeping the connection unless the target
    starts with ``/close``; ``/slow`` answers after 50 ms and ``/long`` with 100,000 bytes."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.opened = 0
        self.open = 0
        self.peak = 0
        self.requests: list[tuple[str, str, str]] = []  # method, target, Host header
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def __aenter__(self) -> CountingServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.drop_connections()
        self._server.close()
        await self._server.wait_closed()

    def drop_connections(self) -> None:
        """Close every open connection from the server's side, as a server ending keep-alive does."""
        for writer in list(self._writers):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                lines = head.split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                host = next(
                    line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("host:")
                )
                self.requests.append((method, target, host))
                if target.startswith("/slow"):
                    await asyncio.sleep(0.05)
                body = b"x" * 100_000 if target.startswith("/long") else f"ok {target}".encode()
                close = target.startswith("/close")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(body)}\r\n".encode()
                    + (b"Connection: close\r\n" if close else b"")
                    + b"\r\n"
                    + (b"" if method == "HEAD" else body)
                )
                try:
                    await writer.drain()
                except ConnectionError:
                    break
                if close:
                    break
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()


def run(main: Callable[[], Awaitable[T]]) -> T:
    # In a thread of its own: under the browser tests, Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()  # type: ignore[arg-type]


def text_body(_status: int, _headers: httpx.Headers) -> int:
    return 200_000


def test_requests_to_one_host_share_one_kept_alive_connection() -> None:
    async def main() -> tuple[list[Any], CountingServer, int]:
        async with CountingServer() as server:
            client = SafeClient(LOCAL, resolver, concurrency=4, per_host=4)
            base = f"http://a.test:{server.port}"
            answers = [await client.request(f"{base}/page/{n}", read_body=text_body) for n in range(10)]
            answers.append(await client.request(f"{base}/head", method="HEAD"))
            answers.append(await client.request(f"{base}/after-head", read_body=text_body))
            opened = client.connections_opened
            await client.aclose()
            return answers, server, opened

    answers, server, opened = run(main)
    assert [answer.status for answer in answers] == [200] * 12
    assert answers[3].content == b"ok /page/3"
    assert answers[10].content == b"" and answers[10].method == "HEAD"
    assert answers[11].content == b"ok /after-head"
    assert server.opened == 1 and opened == 1
    assert {host for _, _, host in server.requests} == {f"a.test:{server.port}"}
    assert [method for method, _, _ in server.requests].count("HEAD") == 1


def test_the_connection_cap_holds_at_the_server_across_hosts() -> None:
    async def main() -> tuple[list[Any], CountingServer, int]:
        async with CountingServer() as server:
            client = SafeClient(LOCAL, resolver, concurrency=3, per_host=3)
            urls = [f"http://h{n % 5}.test:{server.port}/slow/{n}" for n in range(40)]
            answers = await asyncio.gather(*(client.request(url, read_body=text_body) for url in urls))
            peak = client.peak_connections
            await client.aclose()
            return list(answers), server, peak

    answers, server, peak = run(main)
    assert [answer.status for answer in answers] == [200] * 40
    assert len(server.requests) == 40
    assert server.peak <= 3 and peak <= 3
    assert server.peak == 3  # the cap is used, not just respected
    assert {host.split(":")[0] for _, _, host in server.requests} == {f"h{n}.test" for n in range(5)}


def test_a_connection_the_server_closed_or_refused_to_keep_is_not_reused() -> None:
    async def main() -> tuple[list[Any], CountingServer]:
        async with CountingServer() as server:
            client = SafeClient(LOCAL, resolver, concurrency=2, per_host=2, retries=0)
            base = f"http://a.test:{server.port}"
            answers = [await client.request(f"{base}/first", read_body=text_body)]
            server.drop_connections()  # the kept-alive connection, closed by the server while idle
            await asyncio.to_thread(wait_for, lambda: server.open == 0, what="the server to close it")
            answers.append(await client.request(f"{base}/second", read_body=text_body))
            answers.append(await client.request(f"{base}/close", read_body=text_body))  # Connection: close
            answers.append(await client.request(f"{base}/third", read_body=text_body))
            await client.aclose()
            return answers, server

    answers, server = run(main)
    assert [answer.status for answer in answers] == [200] * 4
    assert [answer.attempts for answer in answers] == [1] * 4  # never reported, never retried as a failure
    assert [answer.content for answer in answers] == [b"ok /first", b"ok /second", b"ok /close", b"ok /third"]
    assert server.opened == 3


def test_a_body_cut_at_its_limit_is_marked_and_its_connection_not_kept() -> None:
    async def main() -> tuple[list[Any], CountingServer]:
        async with CountingServer() as server:
            client = SafeClient(LOCAL, resolver, concurrency=2, per_host=2)
            base = f"http://a.test:{server.port}"
            first = await client.request(f"{base}/long", read_body=lambda _s, _h: 1_000)
            second = await client.request(f"{base}/next", read_body=text_body)
            await client.aclose()
            return [first, second], server

    (first, second), server = run(main)
    assert first.status == 200 and first.truncated and first.content == b"x" * 1_000
    assert second.content == b"ok /next" and not second.truncated
    assert server.opened == 2  # the rest of the long body was not read, so that connection was closed


def test_tls_is_checked_against_the_host_name_not_the_address(
    certificates: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async def main() -> tuple[list[Any], CountingServer]:
        async with CountingServer(certificates[0]) as server:
            client = SafeClient(
                LOCAL, resolver, concurrency=2, per_host=2, retries=0, ssl_context=certificates[1]
            )
            good = await client.request(f"https://allowed.test:{server.port}/", read_body=text_body)
            again = await client.request(f"https://allowed.test:{server.port}/again", read_body=text_body)
            wrong = await client.request(f"https://other.test:{server.port}/", read_body=text_body)
            await client.aclose()
            return [good, again, wrong], server

    (good, again, wrong), server = run(main)
    assert good.status == 200 and good.content == b"ok /"
    assert again.status == 200 and again.content == b"ok /again"
    assert wrong.status is None and wrong.reason == "tls"
    assert "certificate" in (wrong.error or "")
    # The certificate for allowed.test never served other.test, even on a kept-alive connection.
    assert [host for _, _, host in server.requests] == [f"allowed.test:{server.port}"] * 2


def test_tls_uses_the_system_certificates_by_default(
    certificates: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    async def main() -> tuple[Any, CountingServer]:
        async with CountingServer(certificates[0]) as server:
            client = SafeClient(LOCAL, resolver, retries=0)
            answer = await client.request(f"https://allowed.test:{server.port}/", read_body=text_body)
            await client.aclose()
            return answer, server

    answer, server = run(main)
    assert answer.reason == "tls" and server.requests == []


def test_the_transport_refuses_a_host_whose_addresses_were_not_checked() -> None:
    async def main() -> tuple[BaseException | None, CountingServer]:
        async with CountingServer() as server:
            client = SafeClient(LOCAL, resolver)
            request = httpcore.Request("GET", f"http://a.test:{server.port}/")
            failure: BaseException | None = None
            try:
                await client._transport.handle_async_request(request)
            except FetchRefused as error:
                failure = error
            await client.aclose()
            return failure, server

    failure, server = run(main)
    assert isinstance(failure, FetchRefused) and failure.reason == "ssrf_refused"
    assert server.opened == 0


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_private_addresses_are_refused_before_any_connection(address: str) -> None:
    async def main() -> tuple[Any, CountingServer]:
        async with CountingServer() as server:
            client = SafeClient(FetchPolicy(), lambda _host: [address], retries=0)
            answer = await client.request(f"http://a.test:{server.port}/", read_body=text_body)
            await client.aclose()
            return answer, server

    answer, server = run(main)
    assert answer.status is None and answer.reason in ("ssrf_refused", "port_refused")
    assert server.opened == 0


def _no_such_name(host: str) -> list[str]:
    raise OSError(f"{host}: no such name")


@pytest.mark.parametrize(
    ("resolve", "reason"), [(lambda _host: ["10.0.0.1"], "ssrf_refused"), (_no_such_name, "dns")]
)
def test_each_address_on_a_refused_host_is_named_in_its_own_problem(
    resolve: Callable[[str], list[str]], reason: str
) -> None:
    """The host is looked up once, but the refusal cached for it named the first address asked for in the
    problem of every other address on that host."""
    urls = [f"https://a.test/page/{n}" for n in range(4)]
    lookups: list[str] = []

    def counted(host: str) -> list[str]:
        lookups.append(host)
        return resolve(host)

    async def main() -> list[Any]:
        client = SafeClient(FetchPolicy(), counted, retries=0)
        answers = list(await asyncio.gather(*(client.request(url) for url in urls)))
        answers.append(await client.request(urls[0] + "?again", method="HEAD"))
        await client.aclose()
        return answers

    answers = run(main)
    for url, answer in zip([*urls, urls[0] + "?again"], answers, strict=True):
        assert answer.reason == reason and answer.status is None
        assert url in answer.error
        assert not any(other in answer.error for other in urls if not url.startswith(other))
    assert lookups == ["a.test"]  # still one lookup per host


_PIECE = st.lists(st.sampled_from([*"ab/?#@:%&=.~ -_\\[]^|é", "%2F", "%23"]), max_size=8).map("".join)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    user=_PIECE,
    host=st.sampled_from(["example.org", "[::1]", "127.0.0.1", "xn--bcher-kva.example", "bücher.example"]),
    port=st.sampled_from(["", ":8080", ":80", ":443"]),
    path=_PIECE,
    query=_PIECE,
    fragment=_PIECE,
)
def test_the_request_target_is_the_path_and_query_the_browser_would_send(
    scheme: str, user: str, host: str, port: str, path: str, query: str, fragment: str
) -> None:
    raw = f"{scheme}://{user + '@' if user else ''}{host}{port}/{path}?{query}#{fragment}"
    try:
        url = ada_url.URL(raw)
    except ValueError:
        url = None
    # A "/" or "@" in the pieces can move the host: a name with an empty label ("." of "http://./@x") is
    # linkgate's one refusal of a URL the browser reads, as no DNS lookup can reach it.
    empty_label = (
        url is not None
        and url.host_type == ada_url.HostType.DEFAULT
        and "" in url.hostname.removesuffix(".").split(".")
    )
    if url is None or empty_label:
        with pytest.raises(FetchFailed) as refused:
            parse_target(raw, drop_fragment=True)
        assert refused.value.reason == "invalid_url"
        return
    destination = parse_target(raw, drop_fragment=True)
    without_fragment = url.href.partition("#")[0]
    # An empty query is sent as "?", as browsers send it (the URL's search is "" then).
    query = url.search or ("?" if without_fragment.endswith("?") else "")
    assert request_target(destination) == url.pathname + query
    assert "#" not in destination.href
    assert destination.href == url.href.partition("#")[0]


def test_redirect_targets_are_resolved_against_the_page_and_lose_their_fragment() -> None:
    base = "https://example.org/a/b?x=1"
    assert parse_target("../c#top", base, drop_fragment=True).href == "https://example.org/c"
    assert parse_target("?y=2", base).href == "https://example.org/a/b?y=2"
    assert parse_target("//other.example/#f", base).href == "https://other.example/#f"
    with pytest.raises(FetchRefused) as refusal:
        parse_target("javascript:alert(1)", base)
    assert refusal.value.reason == "scheme_refused" and '"javascript:"' in str(refusal.value)


@pytest.mark.parametrize(
    ("name", "ascii_name"), [("bücher.test", "xn--bcher-kva.test"), ("☃.test", "xn--n3h.test")]
)
def test_international_host_names_are_asked_for_by_their_ascii_form(name: str, ascii_name: str) -> None:
    async def main() -> tuple[Any, CountingServer, list[str]]:
        looked_up: list[str] = []

        def lookup(host: str) -> list[str]:
            looked_up.append(host)
            return resolver(host)

        async with CountingServer() as server:
            client = SafeClient(LOCAL, lookup, retries=0)
            answer = await client.request(f"http://{name}:{server.port}/idn", read_body=text_body)
            await client.aclose()
            return answer, server, looked_up

    answer, server, looked_up = run(main)
    # "☃" is a name the URL Standard accepts and stricter IDNA refuses: it must not break the client.
    assert answer.status == 200 and answer.content == b"ok /idn"
    assert looked_up == [ascii_name]
    assert server.requests == [("GET", "/idn", f"{ascii_name}:{server.port}")]


def test_the_length_limit_is_that_of_the_address_as_sent() -> None:
    # Short as typed, long as sent: each of these characters is sent as 12 (four %XX escapes).
    with pytest.raises(FetchFailed, match="too long") as failure:
        parse_target("https://a.example/" + "\U0001d11e" * 400)
    assert failure.value.reason == "invalid_url"
    # Long only with the fragment, which is not sent.
    long_path = "https://a.example/" + "p" * 4000
    assert parse_target(long_path + "#" + "f" * 200, drop_fragment=True).href == long_path
    with pytest.raises(FetchFailed, match="too long"):
        parse_target(long_path + "#" + "f" * 200)


def test_the_first_hosts_requests_are_not_held_behind_other_hosts() -> None:
    """Slow requests to other hosts, asked first, leave the site (``first``) its per-host share of the cap:
    the site's requests finish long before theirs, and the cap holds."""

    async def main() -> tuple[list[str], CountingServer, int]:
        async with CountingServer() as server:
            client = SafeClient(
                LOCAL, resolver, concurrency=4, per_host=2, first=lambda host: host == "site.test"
            )
            finished: list[str] = []

            async def ask(host: str, n: int) -> None:
                answer = await client.request(f"http://{host}:{server.port}/slow/{n}")
                assert answer.status == 200
                finished.append(host)

            others = [asyncio.create_task(ask(f"o{n % 4}.test", n)) for n in range(16)]
            await asyncio.sleep(0)  # one turn of the loop: the other hosts' requests are all asked first
            site = [asyncio.create_task(ask("site.test", n)) for n in range(6)]
            await asyncio.gather(*others, *site)
            peak = client.peak_connections
            await client.aclose()
            return finished, server, peak

    finished, server, peak = run(main)
    # The four connections go to the others first; then two are the site's: its six requests take three
    # rounds of 50 ms, while the others' last six take three more on the other two. Without ``first``,
    # the others held all four and the site came last.
    assert "site.test" not in finished[-5:]
    assert server.peak <= 4 and peak <= 4


def test_work_outside_the_pool_takes_a_connection_of_the_cap_only_while_it_runs() -> None:
    async def main() -> tuple[int, int, list[Any], int]:
        async with CountingServer() as server:
            client = SafeClient(LOCAL, resolver, concurrency=2, per_host=2)
            base = f"http://a.test:{server.port}"
            await asyncio.gather(*(client.request(f"{base}/slow/{n}") for n in range(2)))  # two kept alive
            async with client.outside():
                # The idle connection closed for it is gone at the server.
                await asyncio.to_thread(
                    wait_for, lambda: server.open == 1, what="the idle connection to close"
                )
                open_inside = server.open
                server.peak = server.open
                answers = list(await asyncio.gather(*(client.request(f"{base}/slow/{n}") for n in range(4))))
                peak_inside = server.peak
            # Once it is over, both connections are the pool's again.
            await asyncio.gather(*(client.request(f"{base}/slow/{n}") for n in range(4)))
            peak_after = client.peak_connections
            await client.aclose()
            return open_inside, peak_inside, answers, peak_after

    open_inside, peak_inside, answers, peak_after = run(main)
    assert open_inside == 1 and peak_inside == 1
    assert [answer.status for answer in answers] == [200] * 4
    assert peak_after == 2
