"""The audit's network client: asynchronous, and bound by the same rules as :mod:`linkgate.fetch`.

Every request goes through :class:`SafeClient`. For each host it resolves the name with
:func:`linkgate.fetch.resolve_checked` (so the address rules, the port rules and ``allow_networks`` are
the fetcher's own), checks the addresses again for each request, and hands them to :class:`_Pool`,
which connects to a checked address or to nothing. The Host header, the TLS server name and the
certificate check use the real host name, and a kept-alive connection is only ever reused for the
scheme, host and port it was opened for.

HTTP/1.1 is spoken with h11 (httpx's own parser) over asyncio streams: a crawl makes thousands of short
requests, and a connection pool of our own, which knows exactly how many sockets are open, costs a
fraction of a general-purpose one. :class:`_Pool` caps the connections open at once (``concurrency``);
a semaphore per host caps them per host; redirects are followed by hand, each hop parsed by the
browser's rules and checked again.

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

import ada_url
import h11
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
READ_BYTES = 65_536
MAX_HEAD_BYTES = 65_536  # status line and headers
DRAIN_BYTES = 65_536  # of a body nobody asked for, read to keep the connection rather than close it
KEEPALIVE_SECONDS = 5.0
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


class _Connection:
    """One HTTP/1.1 connection to one host's checked address, kept alive for that host's next request."""

    __slots__ = ("idle_since", "key", "protocol", "reader", "reused", "writer")

    def __init__(self, key: tuple[str, str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.key = key
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since = 0.0
        self.reused = False

    def is_stale(self, now: float) -> bool:
        return now - self.idle_since > KEEPALIVE_SECONDS or self.reader.at_eof() or self.writer.is_closing()


class _Pool:
    """At most ``cap`` connections open at once (in use, idle or closing), each for one host.

    A connection is opened only to an address the caller has checked for that host, and kept alive only
    for requests to the same scheme, host and port. With the cap reached, the longest-idle connection (of
    any host) is closed, and a new one is opened only once it is closed, so the count never overshoots.
    """

    def __init__(self, cap: int, ssl_context: ssl.SSLContext, connect_timeout: float) -> None:
        self._cap = cap
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_order: dict[_Connection, None] = {}  # oldest first
        self._used = 0  # slots taken: connections open, opening or closing
        self._freed = asyncio.Event()
        self._closing: set[asyncio.Future[None]] = set()
        self.open = 0
        self.peak = 0

    async def connection(
        self, key: tuple[str, str, int], addresses: Iterable[IPAddress], *, fresh: bool = False
    ) -> _Connection:
        """A kept-alive connection for ``key`` (unless ``fresh``), else a new one to a checked address."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle and not fresh:
            connection = idle.pop()
            del self._idle_order[connection]
            if not connection.is_stale(now):
                connection.reused = True
                return connection
            self.close(connection)
        while self._used >= self._cap:
            if self._idle_order:
                self.close(next(iter(self._idle_order)))
            self._freed.clear()
            await self._freed.wait()
        self._used += 1
        try:
            reader, writer = await self._connect(key, addresses)
        except BaseException:
            self._release()
            raise
        self.open += 1
        self.peak = max(self.peak, self.open)
        return _Connection(key, reader, writer)

    async def _connect(
        self, key: tuple[str, str, int], addresses: Iterable[IPAddress]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        scheme, host, port = key
        tls = scheme == "https"
        failure: BaseException | None = None
        for ip in addresses:  # the host's next address when one fails, as a browser does
            try:
                async with asyncio.timeout(self._connect_timeout):
                    return await asyncio.open_connection(
                        str(ip),
                        port,
                        ssl=self._ssl_context if tls else None,
                        server_hostname=host.rstrip(".") if tls else None,
                        limit=READ_BYTES,
                    )
            except (OSError, TimeoutError) as error:
                failure = error
        if failure is None:
            raise FetchRefused(
                f"linkgate will not connect to {host}: its address was not checked.",
                reason="ssrf_refused",
                url=host,
            )
        raise failure

    def keep(self, connection: _Connection) -> None:
        """Put a connection whose exchange is complete back for its host's next request."""
        connection.protocol.start_next_cycle()
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)
        self._idle_order[connection] = None

    def close(self, connection: _Connection) -> None:
        """Close at once (nothing more is read or written); its slot is free once the socket is closed."""
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)
            del self._idle_order[connection]
        connection.writer.transport.abort()
        closing = asyncio.ensure_future(self._closed(connection))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _closed(self, connection: _Connection) -> None:
        try:
            await connection.writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass  # closed by force: how the peer took it does not matter
        finally:
            self.open -= 1
            self._release()

    def _release(self) -> None:
        self._used -= 1
        self._freed.set()

    async def aclose(self) -> None:
        for connection in list(self._idle_order):
            self.close(connection)
        await asyncio.gather(*self._closing, return_exceptions=True)


class _NoAnswer(Exception):
    """The server closed the connection without answering."""


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
        self._pool = _Pool(
            max(1, concurrency - reserve),
            ssl_context or httpx.create_ssl_context(trust_env=False),
            policy.connect_timeout,
        )
        # With no connection to spare, none is kept idle while outside work holds the only one.
        self._keep_alive = reserve < concurrency
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
        return self._pool.peak

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
        except ssl.SSLError as error:
            return Answer(
                destination.href,
                destination.href,
                error=f"Could not connect to {host} on port {effective_port(destination)} ({error}).",
                reason="tls",
            )
        except _NoAnswer:
            return Answer(
                destination.href,
                destination.href,
                error=f"{host} closed the connection without answering.",
                reason="protocol",
            )
        except OSError as error:
            return Answer(
                destination.href,
                destination.href,
                error=f"Could not connect to {host} on port {effective_port(destination)} ({error}).",
                reason="connect",
            )
        except h11.ProtocolError as error:
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
        target = ada_url.URL(destination.href)
        host = f"[{destination.host}]" if ":" in destination.host else destination.host
        request = h11.Request(
            method=method,
            target=(str(target.pathname) + str(target.search)).encode("ascii"),
            headers=[
                (b"Host", (host if destination.port is None else f"{host}:{destination.port}").encode()),
                (b"User-Agent", self.policy.user_agent.encode()),
                (b"Accept", accept.encode()),
                (b"Accept-Encoding", b"identity"),
            ],
        )
        key = (destination.scheme, destination.host, effective_port(destination))
        self.requests += 1
        connection = await self._pool.connection(key, addresses)
        try:
            status, headers, body, truncated = await self._exchange(connection, request, read_body)
        except (OSError, _NoAnswer) as error:
            self._pool.close(connection)
            if not connection.reused or isinstance(error, ssl.SSLError):
                raise
            # A kept-alive connection the server had closed meanwhile: once more, on a new one.
            connection = await self._pool.connection(key, addresses, fresh=True)
            try:
                status, headers, body, truncated = await self._exchange(connection, request, read_body)
            except BaseException:
                self._pool.close(connection)
                raise
        except BaseException:
            self._pool.close(connection)
            raise
        protocol = connection.protocol
        if self._keep_alive and protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            self._pool.keep(connection)
        else:
            self._pool.close(connection)
        return Answer(
            destination.href,
            destination.href,
            status=status,
            headers=headers,
            content=bytes(body),
            truncated=truncated,
        )

    async def _exchange(
        self,
        connection: _Connection,
        request: h11.Request,
        read_body: Callable[[int, httpx.Headers], int] | None,
    ) -> tuple[int, httpx.Headers, bytearray, bool]:
        """Send ``request`` and read the answer: the body up to what ``read_body`` asks for. A short
        body nobody asked for is read anyway (up to :data:`DRAIN_BYTES`) so the connection can be kept."""
        protocol, reader = connection.protocol, connection.reader
        connection.writer.write(protocol.send(request) + (protocol.send(h11.EndOfMessage()) or b""))
        await connection.writer.drain()
        answered = False
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(READ_BYTES)
                if not data and not answered:
                    raise _NoAnswer
                answered = True
                protocol.receive_data(data)
            elif isinstance(event, h11.Response):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _NoAnswer
        headers = httpx.Headers(list(event.headers))
        limit = 0 if read_body is None or request.method == b"HEAD" else read_body(event.status_code, headers)
        body = bytearray()
        truncated = False
        drained = 0
        while True:
            part = protocol.next_event()
            if part is h11.NEED_DATA:
                protocol.receive_data(await reader.read(READ_BYTES))
            elif isinstance(part, h11.Data):
                if len(body) < limit:
                    body += part.data
                    if len(body) > limit:
                        truncated = True
                        del body[limit:]
                        break
                else:
                    drained += len(part.data)
                    if limit or drained > DRAIN_BYTES:
                        truncated = bool(limit)
                        break
            elif isinstance(part, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        return event.status_code, headers, body, truncated
