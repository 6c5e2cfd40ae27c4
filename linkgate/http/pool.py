"""The async transport: kept-alive connections to checked addresses, never more open at once than a cap.

:class:`PinnedAsyncTransport` sends httpcore's requests over :class:`_Pool` and hands each answer back as
a :class:`Reply` (status, headers, the body as it streams). A request goes to
the addresses pinned for its host or nowhere, and a kept-alive connection is only ever reused for the
scheme, host and port it was opened for. HTTP/1.1 is spoken by httpcore's ``AsyncHTTP11Connection``
(httpx's transport library) over asyncio's streams; only the keeping of connections is linkgate's: the
pool counts every socket from its connect to the end of its close, so the connections open at once never
exceed the cap, which httpcore's own pool does not promise, and it costs about a third less per request
than that pool (whose queue hands one idle connection to several waiting requests, all but one of which
then try again).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

from linkgate.http.core import Pins, pinned_host
from linkgate.http.policy import DEFAULT_PORTS, IPAddress

__all__ = ["PinnedAsyncTransport", "Reply"]

READ_BYTES = 65_536
KEEPALIVE_SECONDS = 5.0


class _Unshared:
    """The state lock of a connection the pool lends to one request at a time: nothing to wait for.

    httpcore guards each connection's state with anyio's lock, which gives the event loop a turn on every
    acquire (twice a request: sending, and the response closed); the pool never lends a connection to
    two requests, so the lock has nothing to exclude, and those turns cost a crawl about a tenth of its
    time in the event loop."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_exc: object) -> None:
        return None


class _HTTP11(httpcore.AsyncHTTP11Connection):
    """httpcore's HTTP/1.1 connection, for one request at a time (:class:`_Unshared`)."""

    def __init__(self, origin: httpcore.Origin, stream: _Stream, keepalive_expiry: float) -> None:
        super().__init__(origin, stream, keepalive_expiry=keepalive_expiry)
        self._state_lock = _Unshared()  # type: ignore[assignment]


class _Connection:
    """One kept-alive HTTP/1.1 connection (httpcore's) to one host's checked address."""

    __slots__ = ("http", "key", "reused", "stream")

    def __init__(self, key: tuple[str, str, int], stream: _Stream) -> None:
        self.key = key
        self.stream = stream
        scheme, host, port = key
        self.http = _HTTP11(httpcore.Origin(scheme.encode(), host.encode(), port), stream, KEEPALIVE_SECONDS)
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
            if timeout is None:  # the caller's deadline covers the whole exchange
                return await self._reader.read(max_bytes)
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
            self._writer.write(buffer)
            if timeout is None:
                await self._writer.drain()
                return
            async with asyncio.timeout(timeout):
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
        await self._take()
        try:
            stream = await self._connect(key, addresses)
        except BaseException:
            self._release()
            raise
        self.open += 1
        self.opened += 1
        self.peak = max(self.peak, self.open)
        return _Connection(key, stream)

    async def _take(self) -> None:
        """One slot of the cap, the longest-idle connection (of any host) closed for it when none is free:
        one, then its close is waited for (closing every idle one before the first had gone cost each
        host its kept-alive connections whenever the cap was reached)."""
        while self._used >= self._cap:
            self._freed.clear()
            if self._idle_order:
                oldest = next(iter(self._idle_order))
                self._forget(oldest)
                await oldest.http.aclose()
            await self._freed.wait()
        self._used += 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot of the cap for a connection made outside the pool."""
        await self._take()
        try:
            yield
        finally:
            self._release()

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
            except TimeoutError as error:
                failure = httpcore.ConnectTimeout(str(error))
            except OSError as error:
                failure = httpcore.ConnectError(str(error))
                failure.__cause__ = error
        assert failure is not None  # the transport refuses a host without addresses
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


class PinnedAsyncTransport:
    """Requests (:func:`linkgate.http.core.build_request`'s) over :class:`_Pool`, for hosts whose
    addresses have been pinned; the answer as a :class:`Reply`, whose body is read as it streams.

    At most ``cap`` connections open at once; with ``keep_alive`` off, none is kept between requests.
    A request goes to its host's pinned addresses or nowhere; requests have no body.
    """

    def __init__(
        self, cap: int, ssl_context: ssl.SSLContext, connect_timeout: float, *, keep_alive: bool
    ) -> None:
        self.pool = _Pool(cap, ssl_context, connect_timeout)
        self._keep_alive = keep_alive
        self.pins = Pins()

    async def handle_async_request(self, request: httpcore.Request) -> Reply:
        url = request.url
        host = pinned_host(url)
        addresses = self.pins.addresses(host)
        scheme = url.scheme.decode("ascii")
        key = (scheme, host, url.port or DEFAULT_PORTS[scheme])
        connection = await self.pool.connection(key, addresses)
        try:
            response = await connection.http.handle_async_request(request)
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as error:
            await self.pool.close(connection)
            if not connection.reused or isinstance(error.__context__, ssl.SSLError):
                raise
            # A kept-alive connection the server had closed meanwhile: once more, on a new one.
            connection = await self.pool.connection(key, addresses, fresh=True)
            try:
                response = await connection.http.handle_async_request(request)
            except BaseException:
                await self.pool.close(connection)
                raise
        except BaseException:
            await self.pool.close(connection)
            raise
        return Reply(response, connection, self)

    async def done(self, connection: _Connection) -> None:
        """The response on ``connection`` is closed: keep the connection for its host, or close it."""
        if self._keep_alive and connection.http.is_idle():
            self.pool.keep(connection)
        else:
            await self.pool.close(connection)

    async def aclose(self) -> None:
        await self.pool.aclose()


class Reply:
    """An answer as it arrives: its status and headers, its body read as it streams (:meth:`aiter_raw`,
    as sent: never decoded), then :meth:`aclose`, which keeps the connection for its host or closes it.
    (Not an ``httpx.Response``, whose layers over httpcore's stream cost about a tenth of a request.)"""

    __slots__ = ("_closed", "_connection", "_response", "_transport", "headers", "status_code")

    def __init__(
        self, response: httpcore.Response, connection: _Connection, transport: PinnedAsyncTransport
    ) -> None:
        self.status_code = response.status
        self.headers = httpx.Headers(response.headers)
        self._response = response
        self._connection = connection
        self._transport = transport
        self._closed = False

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive, as sent."""
        return self._response.aiter_stream()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._response.aclose()
        finally:
            await self._transport.done(self._connection)
