"""The audit's network client: asynchronous, and bound by the same rules as :mod:`linkgate.fetch`.

Every request goes through :class:`SafeClient`. For each host it resolves the name with
:func:`linkgate.fetch.resolve_checked` (so the address rules, the port rules and ``allow_networks`` are
the fetcher's own) and hands the checked addresses to :class:`_PinnedBackend`, the only way out of the
connection pool: it connects to a checked address or to nothing. The URL keeps the real host name, so
the Host header, the TLS server name and the certificate check use it, and a kept-alive connection is
only ever reused for the host it was opened for.

One connection pool caps the connections open at once (``concurrency``); a semaphore per host caps them
per host; redirects are followed by hand, each hop parsed by the browser's rules and checked again.

This module must never connect to an address it has not checked, never follow a redirect without
re-checking it, and never keep more connections open than the caps allow. It keeps no cookies and sends
no Referer.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import random
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ada_url
import httpcore
import httpx

from linkgate.fetch import (
    DEFAULT_ACCEPT,
    HTML_TYPES,
    REDIRECT_STATUSES,
    FetchError,
    FetchPolicy,
    FetchRefused,
    Resolver,
    charset,
    check_addresses,
    check_destination,
    effective_port,
    media_type,
    parse_target,
    resolve_checked,
)
from linkgate.urls import Destination

__all__ = ["Answer", "Hop", "SafeClient", "parse_retry_after"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
TRANSIENT_REASONS = frozenset({"timeout", "connect", "protocol"})
MAX_REDIRECTS = 10
KEPT_HEADERS = ("content-type", "cf-mitigated", "retry-after")
WALL_BYTES = 20_000  # enough of a refusal to tell a bot wall from an error
SHARED_HEADER_SETS = 256
_SHARED_HEADERS: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}


@dataclass(frozen=True, slots=True)
class Hop:
    """One response on the way to the final answer: the address asked for and its status."""

    url: str
    status: int


@dataclass(slots=True)
class Answer:
    """The outcome of a request, redirects followed: a status, or an error with a short ``reason``."""

    url: str
    final_url: str
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    content: bytes = b""
    truncated: bool = False
    redirects: tuple[Hop, ...] = ()
    error: str | None = None
    reason: str | None = None
    attempts: int = 1
    method: str = "GET"

    def slim(self) -> None:
        """Forget what the report does not need (the body, most headers), so a long crawl stays small."""
        keep = tuple((name, self.headers[name]) for name in KEPT_HEADERS if name in self.headers)
        if self.status in (403, 429, 503):
            self.headers = httpx.Headers(dict(keep))
            self.content = self.content[:WALL_BYTES]
            return
        # Most answers keep the same few headers: share one copy of each set.
        shared = _SHARED_HEADERS.get(keep)
        if shared is None:
            shared = httpx.Headers(dict(keep))
            if len(_SHARED_HEADERS) < SHARED_HEADER_SETS:
                _SHARED_HEADERS[keep] = shared
        self.headers = shared
        self.content = b""

    @property
    def content_type(self) -> str:
        return media_type(self.headers)

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES

    @property
    def charset(self) -> str | None:
        return charset(self.headers)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (a number of seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _CountedStream(httpcore.AsyncNetworkStream):
    """A connection that tells the backend when it closes, so the number open is known exactly."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, backend: _PinnedBackend) -> None:
        self._stream = stream
        self._backend = backend
        self._closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._backend.opened(-1)
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        self._stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """The pool's only way out: connects a host name to the addresses checked for it, or refuses."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()
        self._addresses: dict[str, tuple[IPAddress, ...]] = {}
        self.open = 0
        self.peak = 0

    def pin(self, host: str, addresses: Iterable[IPAddress]) -> None:
        self._addresses[host] = tuple(addresses)

    def opened(self, change: int) -> None:
        self.open += change
        self.peak = max(self.peak, self.open)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._addresses.get(host)
        if not addresses:
            raise FetchRefused(
                f"linkgate will not connect to {host}: its address was not checked.",
                reason="ssrf_refused",
                url=host,
            )
        failure: Exception | None = None
        for ip in addresses:
            try:
                stream = await self._backend.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the host's next address, as a browser would
                continue
            self.opened(1)
            return _CountedStream(stream, self)
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class SafeClient:
    """Requests for the audit under a :class:`FetchPolicy`, with caps, retries and politeness.

    ``concurrency`` caps the connections open at once, ``per_host`` those to one host; ``delay`` is the
    least time between two requests to one host (raised per host by :meth:`set_delay`, for robots.txt's
    Crawl-delay). Transient failures (timeouts, refused connections, 429, 502, 503, 504) are retried
    ``retries`` times with exponential backoff, or after the server's Retry-After when it asks for at most
    ``max_retry_wait`` seconds.

    ``reserve`` connections of the ``concurrency`` are kept for work outside the pool (the site cache's
    privacy lookups, which use the blocking fetcher): :meth:`outside` holds one while that work runs, so
    that the connections open at once, pool and outside together, never exceed ``concurrency``.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        resolver: Resolver,
        *,
        concurrency: int = 8,
        reserve: int = 0,
        per_host: int = 4,
        timeout: float = 15.0,
        delay: float = 0.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_retry_wait: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self._resolver = resolver
        self._timeout = timeout
        self._delay = delay
        self._retries = retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._per_host = per_host
        self._backend = _PinnedBackend()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=max(1, concurrency - reserve),
            # With no connection to spare, none is kept idle while outside work holds the only one.
            max_keepalive_connections=max(1, concurrency - reserve) if reserve < concurrency else 0,
            keepalive_expiry=5.0,
            network_backend=self._backend,
        )
        self._total = asyncio.Semaphore(max(1, concurrency - reserve))
        # Outside work takes a reserved connection, or, with none reserved, one of the pool's.
        self._outside = asyncio.Semaphore(reserve) if 0 < reserve < concurrency else self._total
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_slot: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self._checked: dict[str, asyncio.Future[list[IPAddress]]] = {}
        self.requests = 0

    @property
    def peak_connections(self) -> int:
        """The most connections that were open at once."""
        return self._backend.peak

    async def aclose(self) -> None:
        await self._pool.aclose()

    def outside(self) -> asyncio.Semaphore:
        """Hold this while making a connection outside the pool (``async with client.outside():``)."""
        return self._outside

    def set_delay(self, host: str, seconds: float) -> None:
        self._host_delay[host] = max(self._delay, seconds)

    async def request(
        self,
        url: str,
        *,
        method: str = "GET",
        accept: str = DEFAULT_ACCEPT,
        read_body: Callable[[int, httpx.Headers], int] | None = None,
    ) -> Answer:
        """``method`` ``url``, redirects followed by hand (each hop re-checked), transient failures retried.

        ``read_body(status, headers)`` says how many bytes of the final body to keep (0: none, the
        default). Never raises for a network failure or a refusal: the :class:`Answer` says what happened.
        """
        try:
            destination = parse_target(url, drop_fragment=True)
        except FetchError as error:
            return Answer(url, url, error=str(error), reason=error.reason, method=method)
        first = destination.href
        hops: list[Hop] = []
        seen = {first}
        attempts = 0
        while True:
            answer, tries = await self._with_retries(method, destination, accept, read_body)
            attempts += tries
            answer.url, answer.attempts, answer.method = first, attempts, method
            location = answer.headers.get("location") if answer.status in REDIRECT_STATUSES else None
            if location is None:
                answer.redirects = tuple(hops)
                return answer
            hops.append(Hop(destination.href, answer.status or 0))
            try:
                destination = parse_target(location, destination.href, drop_fragment=True)
            except FetchError as error:
                return Answer(
                    first,
                    destination.href,
                    redirects=tuple(hops),
                    error=str(error),
                    reason=error.reason,
                    attempts=attempts,
                    method=method,
                )
            if destination.href in seen:
                return Answer(
                    first,
                    destination.href,
                    redirects=tuple(hops),
                    attempts=attempts,
                    method=method,
                    error=f"{first} redirects in a loop (back to {destination.href}).",
                    reason="redirect_loop",
                )
            if len(hops) > MAX_REDIRECTS:
                return Answer(
                    first,
                    destination.href,
                    redirects=tuple(hops),
                    attempts=attempts,
                    method=method,
                    error=f"{first} redirected more than {MAX_REDIRECTS} times.",
                    reason="too_many_redirects",
                )
            seen.add(destination.href)

    async def _with_retries(
        self,
        method: str,
        destination: Destination,
        accept: str,
        read_body: Callable[[int, httpx.Headers], int] | None,
    ) -> tuple[Answer, int]:
        attempt = 0
        while True:
            attempt += 1
            answer = await self._once(method, destination, accept, read_body)
            transient = answer.reason in TRANSIENT_REASONS or answer.status in TRANSIENT_STATUSES
            if not transient or attempt > self._retries:
                return answer, attempt
            wait = self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)  # noqa: S311 (jitter)
            asked = parse_retry_after(answer.headers.get("retry-after"))
            if asked is not None:
                if asked > self._max_retry_wait:
                    return answer, attempt  # the server asks for longer than we wait: report it as it is
                wait = max(wait, asked)
            await asyncio.sleep(wait)

    async def _once(
        self,
        method: str,
        destination: Destination,
        accept: str,
        read_body: Callable[[int, httpx.Headers], int] | None,
    ) -> Answer:
        host = destination.host
        semaphore = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with semaphore:
            await self._wait_turn(host)
            async with self._total:
                return await self._timed(method, destination, accept, read_body)

    async def _timed(
        self,
        method: str,
        destination: Destination,
        accept: str,
        read_body: Callable[[int, httpx.Headers], int] | None,
    ) -> Answer:
        host = destination.host
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(method, destination, accept, read_body)
        except TimeoutError:
            return Answer(
                destination.href,
                destination.href,
                error=f"{host} did not answer within {self._timeout:g} seconds.",
                reason="timeout",
            )
        except FetchError as error:
            return Answer(destination.href, destination.href, error=str(error), reason=error.reason)
        except httpcore.TimeoutException:
            return Answer(
                destination.href, destination.href, error=f"{host} did not answer in time.", reason="timeout"
            )
        except (httpcore.ConnectError, OSError) as error:
            return Answer(
                destination.href,
                destination.href,
                error=f"Could not connect to {host} on port {effective_port(destination)} ({error}).",
                reason="tls" if isinstance(error.__cause__ or error.__context__, ssl.SSLError) else "connect",
            )
        except (httpcore.NetworkError, httpcore.ProtocolError) as error:
            return Answer(
                destination.href,
                destination.href,
                error=f"{host} did not answer with valid HTTP ({error}).",
                reason="protocol",
            )

    async def _wait_turn(self, host: str) -> None:
        delay = self._host_delay.get(host, self._delay)
        if delay <= 0:
            return
        loop = asyncio.get_running_loop()
        slot = max(loop.time(), self._next_slot.get(host, 0.0))
        self._next_slot[host] = slot + delay
        if slot > loop.time():
            await asyncio.sleep(slot - loop.time())

    async def _addresses(self, destination: Destination) -> list[IPAddress]:
        """The checked addresses of the destination's host: looked up once per run, re-checked each time."""
        check_destination(destination, self.policy)
        future = self._checked.get(destination.host)
        if future is None:
            future = asyncio.ensure_future(
                asyncio.to_thread(resolve_checked, destination, self.policy, self._resolver)
            )
            self._checked[destination.host] = future
        addresses = await asyncio.shield(future)
        return check_addresses(destination, addresses, self.policy)

    async def _send(
        self,
        method: str,
        destination: Destination,
        accept: str,
        read_body: Callable[[int, httpx.Headers], int] | None,
    ) -> Answer:
        addresses = await self._addresses(destination)
        self._backend.pin(destination.host, addresses)
        target = ada_url.URL(destination.href)
        host = f"[{destination.host}]" if ":" in destination.host else destination.host
        extensions: dict[str, Any] = {
            "timeout": {"connect": self.policy.connect_timeout, "read": self._timeout, "write": self._timeout}
        }
        if destination.scheme == "https":
            extensions["sni_hostname"] = destination.host.rstrip(".")
        request = httpcore.Request(
            method,
            httpcore.URL(
                scheme=destination.scheme,
                host=destination.host,
                port=effective_port(destination),
                target=(str(target.pathname) + str(target.search)).encode("ascii"),
            ),
            headers=[
                (b"Host", (host if destination.port is None else f"{host}:{destination.port}").encode()),
                (b"User-Agent", self.policy.user_agent.encode()),
                (b"Accept", accept.encode()),
                (b"Accept-Encoding", b"identity"),
            ],
            extensions=extensions,
        )
        self.requests += 1
        response = await self._pool.handle_async_request(request)
        try:
            headers = httpx.Headers(response.headers)
            limit = 0 if read_body is None or method == "HEAD" else read_body(response.status, headers)
            body = bytearray()
            truncated = False
            if limit > 0:
                async for chunk in response.aiter_stream():
                    body += chunk
                    if len(body) > limit:
                        truncated = True
                        del body[limit:]
                        break
        finally:
            await response.aclose()
        return Answer(
            destination.href,
            destination.href,
            status=response.status,
            headers=headers,
            content=bytes(body),
            truncated=truncated,
        )
