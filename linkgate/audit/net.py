"""The audit's network client: asynchronous, and bound by the same rules as :mod:`linkgate.fetch`.

Every request goes through :class:`SafeClient`. For each host it resolves the name with
:func:`linkgate.fetch.resolve_checked` (so the address rules, the port rules and ``allow_networks`` are
the fetcher's own), checks the addresses again for each request, and pins them for the transport,
which connects to a pinned address or to nothing. The Host header, the TLS server name and the
certificate check use the real host name, and a kept-alive connection is only ever reused for the
scheme, host and port it was opened for.

Each request is an ``httpx.Request`` sent through httpx's transport interface (:class:`_AuditTransport`,
an ``httpx.AsyncBaseTransport``, called directly as :mod:`linkgate.fetch` calls its own), and HTTP/1.1
is spoken by httpcore's ``AsyncHTTP11Connection`` (httpx's transport library) over asyncio's streams.
Only the keeping of connections is linkgate's (:class:`_Pool`): it counts every socket from its connect
to the end of its close, so the connections open at once never exceed ``concurrency``, which httpcore's
own pool does not promise, and costs about a third less per request than that pool (whose queue
hands one idle connection to several waiting requests, all but one of which then try again). A
semaphore per host caps the requests per host; redirects are followed by hand, each hop parsed by
the browser's rules and checked again.

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
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

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
    check_destination,
    default_ssl_context,
    effective_port,
    media_type,
    parse_target,
    request_target,
    resolve_checked,
)
from linkgate.urls import Destination, is_local_name

__all__ = ["Answer", "Hop", "SafeClient", "parse_retry_after"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
TRANSIENT_REASONS = frozenset({"timeout", "connect", "protocol"})
MAX_REDIRECTS = 10
KEPT_HEADERS = ("content-type", "cf-mitigated", "retry-after")
WALL_BYTES = 20_000  # enough of a refusal to tell a bot wall from an error
SHARED_HEADER_SETS = 256
READ_BYTES = 65_536
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
    """One kept-alive HTTP/1.1 connection (httpcore's) to one host's checked address."""

    __slots__ = ("http", "key", "reused", "stream")

    def __init__(self, key: tuple[str, str, int], stream: _Stream) -> None:
        self.key = key
        self.stream = stream
        scheme, host, port = key
        self.http = httpcore.AsyncHTTP11Connection(
            httpcore.Origin(scheme.encode(), host.encode(), port), stream, keepalive_expiry=KEEPALIVE_SECONDS
        )
        self.reused = False

    def is_stale(self) -> bool:
        return not self.http.is_idle() or self.http.has_expired()


class _Stream(httpcore.AsyncNetworkStream):
    """One connection to a checked address, on asyncio's streams, for httpcore's HTTP/1.1 code."""

    __slots__ = ("_closed", "_pool", "_reader", "_writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pool: _Pool) -> None:
        self._reader = reader
        self._writer = writer
        self._pool = pool
        self._closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as error:
            raise httpcore.ReadTimeout(str(error)) from error
        except ssl.SSLError:
            raise
        except OSError as error:
            raise httpcore.ReadError(str(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as error:
            raise httpcore.WriteTimeout(str(error)) from error
        except ssl.SSLError:
            raise
        except OSError as error:
            raise httpcore.WriteError(str(error)) from error

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.closing(self._writer)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # asked of an idle connection: has the server closed it?
            return self._reader.at_eof() or self._writer.is_closing()
        if info in ("ssl_object", "socket"):
            return self._writer.get_extra_info(info)
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        return None


class _Pool:
    """At most ``cap`` sockets open at once (in use, idle or closing), each connection for one host.

    A connection is opened only to an address the caller has checked for that host, and kept alive only
    for requests to the same scheme, host and port. With the cap reached, the longest-idle connection (of
    any host) is closed, and a new one is opened only once its socket is closed, so the count never
    overshoots. (httpcore's own pool counts a connection as gone when its close starts, and may hand a
    request to a connection another request has just taken; a crawl's few hosts and many short requests
    are better served by this one.)
    """

    def __init__(self, cap: int, ssl_context: ssl.SSLContext, connect_timeout: float) -> None:
        self._cap = cap
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_order: dict[_Connection, None] = {}  # oldest first
        self._used = 0  # slots taken: sockets open, opening or closing
        self._freed = asyncio.Event()
        self._closing: set[asyncio.Future[None]] = set()
        self.open = 0
        self.peak = 0
        self.opened = 0  # connections opened in all

    async def connection(
        self, key: tuple[str, str, int], addresses: Iterable[IPAddress], *, fresh: bool = False
    ) -> _Connection:
        """A kept-alive connection for ``key`` (unless ``fresh``), else a new one to a checked address."""
        idle = self._idle.get(key)
        while idle and not fresh:
            connection = idle.pop()
            del self._idle_order[connection]
            if not connection.is_stale():
                connection.reused = True
                return connection
            await connection.http.aclose()
        while self._used >= self._cap:
            if self._idle_order:
                oldest = next(iter(self._idle_order))
                self._forget(oldest)
                await oldest.http.aclose()
                continue
            self._freed.clear()
            await self._freed.wait()
        self._used += 1
        try:
            stream = await self._connect(key, addresses)
        except BaseException:
            self._release()
            raise
        self.open += 1
        self.opened += 1
        self.peak = max(self.peak, self.open)
        return _Connection(key, stream)

    async def _connect(self, key: tuple[str, str, int], addresses: Iterable[IPAddress]) -> _Stream:
        scheme, host, port = key
        tls = scheme == "https"
        failure: BaseException | None = None
        for ip in addresses:  # the host's next address when one fails, as a browser does
            try:
                async with asyncio.timeout(self._connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        str(ip),
                        port,
                        ssl=self._ssl_context if tls else None,
                        # The real host's name: the certificate is checked for it.
                        server_hostname=host.rstrip(".") if tls else None,
                        limit=READ_BYTES,
                    )
                return _Stream(reader, writer, self)
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
        self._idle.setdefault(connection.key, []).append(connection)
        self._idle_order[connection] = None

    def _forget(self, connection: _Connection) -> None:
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)
            del self._idle_order[connection]

    async def close(self, connection: _Connection) -> None:
        """Close at once (nothing more is read or written); its slot is free once the socket is closed."""
        self._forget(connection)
        await connection.http.aclose()

    def closing(self, writer: asyncio.StreamWriter) -> None:
        """A stream's socket is being closed: abort it, and free its slot once it is closed."""
        writer.transport.abort()
        closing = asyncio.ensure_future(self._closed(writer))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _closed(self, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.wait_closed()
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
            await self.close(connection)
        await asyncio.gather(*self._closing, return_exceptions=True)


class _AuditTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over :class:`_Pool`, for hosts whose addresses have been pinned.

    As in :mod:`linkgate.fetch`, the client calls it directly, not through ``httpx.AsyncClient``: only
    the browser's parser decides where a redirect goes, and nothing (no cookie) is carried from one
    request to the next. A request goes to its host's pinned addresses or nowhere; requests have no body.
    """

    def __init__(self, pool: _Pool, *, keep_alive: bool) -> None:
        self._pool = pool
        self._keep_alive = keep_alive
        self._pinned: dict[str, tuple[IPAddress, ...]] = {}

    def pin(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """The checked addresses of ``host``: the only ones its requests may connect to."""
        self._pinned[host] = tuple(addresses)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        # The name as sent (IDNA, ASCII), as it was pinned and as TLS checks it: httpx's ``host`` would
        # decode it to Unicode, by stricter IDNA rules than the URL Standard's.
        host = url.raw_host.decode("ascii")
        addresses = self._pinned.get(host)
        if not addresses:
            raise FetchRefused(
                f"linkgate will not connect to {host}: its address was not checked.",
                reason="ssrf_refused",
                url=host,
            )
        key = (url.scheme, host, url.port or (443 if url.scheme == "https" else 80))
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=key[2], target=url.raw_path),
            headers=request.headers.raw,
            extensions=request.extensions,
        )
        connection = await self._pool.connection(key, addresses)
        try:
            response = await connection.http.handle_async_request(core)
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as error:
            await self._pool.close(connection)
            if not connection.reused or isinstance(error.__context__, ssl.SSLError):
                raise
            # A kept-alive connection the server had closed meanwhile: once more, on a new one.
            connection = await self._pool.connection(key, addresses, fresh=True)
            try:
                response = await connection.http.handle_async_request(core)
            except BaseException:
                await self._pool.close(connection)
                raise
        except BaseException:
            await self._pool.close(connection)
            raise
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_BodyStream(response, connection, self),
            extensions=response.extensions,
        )

    async def done(self, connection: _Connection) -> None:
        """The response on ``connection`` is closed: keep the connection for its host, or close it."""
        if self._keep_alive and connection.http.is_idle():
            self._pool.keep(connection)
        else:
            await self._pool.close(connection)

    async def aclose(self) -> None:
        await self._pool.aclose()


class _BodyStream(httpx.AsyncByteStream):
    def __init__(
        self, response: httpcore.Response, connection: _Connection, transport: _AuditTransport
    ) -> None:
        self._response = response
        self._connection = connection
        self._transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._response.aiter_stream():
            yield part

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            await self._transport.done(self._connection)


def _look_up(resolver: Resolver, host: str) -> list[str] | str:
    """``host``'s addresses by ``resolver``, or why the lookup failed (what :func:`_replay` raises again).
    Kept as text, not as the exception, which would gather a traceback each time it was raised again."""
    try:
        return list(resolver(host))
    except (OSError, UnicodeError, ValueError) as error:  # what resolve_checked reports as ``dns``
        return str(error) or type(error).__name__


def _replay(found: list[str] | str) -> list[str]:
    """A resolver that gives :func:`resolve_checked` a lookup already made."""
    if isinstance(found, str):
        raise OSError(found)
    return found


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
            ssl_context or default_ssl_context(),
            policy.connect_timeout,
        )
        # With no connection to spare, none is kept idle while outside work holds the only one.
        self._transport = _AuditTransport(self._pool, keep_alive=reserve < concurrency)
        self._total = asyncio.Semaphore(max(1, concurrency - reserve))
        # Outside work takes a reserved connection, or, with none reserved, one of the pool's.
        self._outside = asyncio.Semaphore(reserve) if 0 < reserve < concurrency else self._total
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_slot: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        # Each host's name lookup (its names, or why it failed), made once per run and judged again for
        # every request, so that each refusal names its own address.
        self._lookups: dict[str, asyncio.Future[list[str] | str]] = {}
        self.requests = 0

    @property
    def peak_connections(self) -> int:
        """The most connections that were open at once."""
        return self._pool.peak

    @property
    def connections_opened(self) -> int:
        """How many connections were opened in all (fewer than requests when kept alive)."""
        return self._pool.opened

    async def aclose(self) -> None:
        await self._transport.aclose()

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
        within: Callable[[str], bool] | None = None,
    ) -> Answer:
        """``method`` ``url``, redirects followed by hand (each hop re-checked), transient failures retried.

        ``read_body(status, headers)`` says how many bytes of the final body to keep (0: none, the
        default). ``within(address)``, when given, says which addresses a redirect may lead to: one that
        leads elsewhere is not followed (reason ``out_of_scope``). Never raises for a network failure or a
        refusal: the :class:`Answer` says what happened.
        """
        try:
            destination = parse_target(url, drop_fragment=True)
        except FetchError as error:
            return Answer(url, url, error=str(error), reason=error.reason, method=method)
        first = destination.href
        hops: list[Hop] = []
        seen = {first}
        attempts = 0

        def stopped(at: str, error: str, reason: str) -> Answer:
            """The redirect at ``at`` is not followed: why, with the hops so far."""
            return Answer(
                first,
                at,
                redirects=tuple(hops),
                attempts=attempts,
                method=method,
                error=error,
                reason=reason,
            )

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
                return stopped(destination.href, str(error), error.reason)
            if within is not None and not within(destination.href):
                return stopped(
                    destination.href,
                    f"{first} redirects to {destination.href}, outside what the audit may read.",
                    "out_of_scope",
                )
            if destination.href in seen:
                return stopped(
                    destination.href,
                    f"{first} redirects in a loop (back to {destination.href}).",
                    "redirect_loop",
                )
            if len(hops) > MAX_REDIRECTS:
                return stopped(
                    destination.href,
                    f"{first} redirected more than {MAX_REDIRECTS} times.",
                    "too_many_redirects",
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
        except (TimeoutError, httpcore.TimeoutException):
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
        except OSError as error:
            return Answer(
                destination.href,
                destination.href,
                error=f"Could not connect to {host} on port {effective_port(destination)} ({error}).",
                reason="connect",
            )
        except httpcore.NetworkError as error:  # the connection failed during the exchange
            return Answer(
                destination.href,
                destination.href,
                error=f"Could not connect to {host} on port {effective_port(destination)} ({error}).",
                reason="connect",
            )
        except httpcore.ProtocolError as error:
            # The server closed the connection without answering, or did not answer with valid HTTP.
            return Answer(
                destination.href,
                destination.href,
                error=f"{host} did not answer with valid HTTP ({error or 'it closed the connection'}).",
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
        """The checked addresses of the destination's host: looked up once per run, judged for each request
        by :func:`linkgate.fetch.resolve_checked` (so its refusal or failure names this request's address,
        not that of the first request to the host)."""
        check_destination(destination, self.policy)
        host = destination.host
        if destination.is_ip or is_local_name(host):
            return resolve_checked(destination, self.policy, self._resolver)  # judged without a lookup
        lookup = self._lookups.get(host)
        if lookup is None:
            lookup = asyncio.ensure_future(asyncio.to_thread(_look_up, self._resolver, host))
            self._lookups[host] = lookup
        found = await asyncio.shield(lookup)
        return resolve_checked(destination, self.policy, lambda _host: _replay(found))

    async def _send(
        self,
        method: str,
        destination: Destination,
        accept: str,
        read_body: Callable[[int, httpx.Headers], int] | None,
    ) -> Answer:
        addresses = await self._addresses(destination)
        self._transport.pin(destination.host, addresses)
        target = request_target(destination)
        host = f"[{destination.host}]" if ":" in destination.host else destination.host
        extensions: dict[str, Any] = {
            "timeout": {"connect": self.policy.connect_timeout, "read": self._timeout, "write": self._timeout}
        }
        request = httpx.Request(
            method,
            httpx.URL(
                scheme=destination.scheme,
                host=destination.host,
                port=effective_port(destination),
                raw_path=target.encode("ascii"),
            ),
            headers={
                "Host": host if destination.port is None else f"{host}:{destination.port}",
                "User-Agent": self.policy.user_agent,
                "Accept": accept,
                "Accept-Encoding": "identity",
            },
            extensions=extensions,
        )
        self.requests += 1
        response = await self._transport.handle_async_request(request)
        try:
            headers = response.headers
            limit = 0 if read_body is None or method == "HEAD" else read_body(response.status_code, headers)
            body = bytearray()
            truncated = False
            drained = 0
            # A short body nobody asked for is read anyway (up to DRAIN_BYTES), so the connection is kept.
            async for part in response.aiter_raw():
                if len(body) < limit:
                    body += part
                    if len(body) > limit:
                        truncated = True
                        del body[limit:]
                        break
                else:
                    drained += len(part)
                    if limit or drained > DRAIN_BYTES:
                        truncated = bool(limit)
                        break
        finally:
            await response.aclose()
        return Answer(
            destination.href,
            destination.href,
            status=response.status_code,
            headers=headers,
            content=bytes(body),
            truncated=truncated,
        )
