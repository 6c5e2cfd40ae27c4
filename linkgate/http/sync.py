"""The blocking client (:class:`Fetcher`), for the privacy lookup: one fetch at a time per thread, under
one deadline that covers the whole fetch (name lookups, every redirect, every byte of every body).

Its transport is httpcore's connection pool with no keep-alive (a TLS connection checked for one host
name is never reused for another) over :class:`_PinnedBackend`, whose only way out is a connection to an
address checked for the host asked for. Bodies are asked for compressed and cut at ``max_bytes`` while
they are decompressed (:class:`linkgate.http.policy.Body`).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

import httpcore
import httpx

from linkgate.http.core import (
    DEFAULT_ACCEPT,
    FAILURES,
    REDIRECT_STATUSES,
    Answer,
    Pins,
    Redirects,
    build_request,
    caller_headers,
    default_ssl_context,
    describe_failure,
)
from linkgate.http.policy import (
    Body,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    IPAddress,
    Resolver,
    parse_target,
    resolve_checked,
    system_resolver,
)
from linkgate.urls import Destination

__all__ = ["Fetcher"]


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def clamp(self, timeout: float | None, expired: type[Exception]) -> float:
        """``timeout`` cut to what is left of the deadline; ``expired`` is raised when nothing is."""
        remaining = self.remaining()
        if remaining <= 0:
            raise expired("The fetch deadline has passed.")
        return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the fetch's deadline, however slow the peer."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Opens connections only to the addresses pinned for the host asked for, by the deadline: the
    host's next address when one cannot be reached, as a browser does."""

    def __init__(self, deadline: _Deadline, pins: Pins) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline
        self._pins = pins
        self.last_address: IPAddress | None = None
        """The address last tried, for the account of a failure."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for ip in self._pins.addresses(host):
            self.last_address = ip
            try:
                limit = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
                stream = self._backend.connect_tcp(str(ip), port, limit, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert failure is not None
        raise failure


class _PinnedTransport:
    """Requests (:func:`linkgate.http.core.build_request`'s) over an httpcore pool whose only way out is
    :class:`_PinnedBackend`; the answer as an ``httpx.Response``. GET only: no request bodies."""

    def __init__(self, deadline: _Deadline, ssl_context: ssl.SSLContext) -> None:
        self.pins = Pins()
        self.backend = _PinnedBackend(deadline, self.pins)
        # No keep-alive: a TLS connection checked for one host name is never reused for another.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_keepalive_connections=0, network_backend=self.backend
        )

    def handle_request(self, request: httpcore.Request) -> httpx.Response:
        response = self._pool.handle_request(request)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_BodyStream(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> _PinnedTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _BodyStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


class Fetcher:
    """Fetches web pages under a :class:`FetchPolicy`. Safe to share between threads.

    ``resolver`` replaces the system's name lookup (tests); ``on_refused(reason)`` is called for every
    refused fetch, so the caller can count security events; ``ssl_context`` replaces the default
    certificate store (tests).
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        on_refused: Callable[[str], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy if policy is not None else FetchPolicy()
        self._resolver = resolver if resolver is not None else system_resolver
        self._on_refused = on_refused
        self._ssl_context = ssl_context if ssl_context is not None else default_ssl_context()
        # Name lookups run here so that a stuck resolver cannot outlast the deadline.
        self._lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="linkgate-dns")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the name-lookup threads. Connections are never kept between fetches."""
        self._lookups.shutdown(wait=False, cancel_futures=True)

    def get(
        self,
        url: str,
        *,
        accept: str = DEFAULT_ACCEPT,
        timeout: float | None = None,
        max_redirects: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """GET ``url``, following redirects under the policy.

        ``timeout`` and ``max_redirects`` lower the policy's ``total_timeout`` and ``max_redirects`` for
        this fetch alone: a caller making several fetches under one budget of its own (a privacy lookup)
        gives each what is left of it. ``headers`` are sent with each request of the fetch, redirects
        included: only the few :func:`linkgate.http.core.caller_headers` allows (``Accept-Datetime`` for a
        Memento TimeGate), with short printable values; anything else raises ValueError before any request.

        Raises :class:`FetchRefused` (the policy forbids it; ``on_refused`` has been called) or
        :class:`FetchFailed` (it did not work), so the answer always has a status. A body longer than
        ``max_bytes`` is not an error: the answer holds its first ``max_bytes`` and ``truncated`` is true.
        """
        extra = caller_headers(headers)
        try:
            return self._get(url, accept, timeout, max_redirects, extra)
        except FetchRefused as refusal:
            if self._on_refused is not None:
                self._on_refused(refusal.reason)
            raise

    def _get(
        self,
        url: str,
        accept: str,
        timeout: float | None,
        max_redirects: int | None,
        extra: tuple[tuple[str, str], ...],
    ) -> Answer:
        seconds = self.policy.total_timeout if timeout is None else min(timeout, self.policy.total_timeout)
        deadline = _Deadline(max(seconds, 0.001))
        limit = self.policy.max_redirects
        redirects = Redirects(
            parse_target(url), limit if max_redirects is None else min(max_redirects, limit)
        )
        with _PinnedTransport(deadline, self._ssl_context) as transport:
            while True:
                destination = redirects.current
                response = self._send(transport, destination, accept, deadline, extra)
                try:
                    location = response.headers.get("location")
                    if response.status_code not in REDIRECT_STATUSES or location is None:
                        body = self._read_body(response, destination, deadline)
                        return Answer(
                            url=redirects.first,
                            final_url=destination.href,
                            status=response.status_code,
                            headers=response.headers,
                            content=body.content,
                            truncated=body.truncated,
                            redirects=tuple(redirects.hops),
                        )
                finally:
                    response.close()
                redirects.follow(response.status_code, location)

    def _lookup(self, destination: Destination, deadline: _Deadline) -> list[IPAddress]:
        if destination.is_ip:
            return resolve_checked(destination, self.policy, self._resolver)
        lookup = self._lookups.submit(resolve_checked, destination, self.policy, self._resolver)
        try:
            return lookup.result(timeout=max(deadline.remaining(), 0))
        except TimeoutError:
            lookup.cancel()
            raise FetchFailed(
                _timed_out(destination, deadline), reason="timeout", url=destination.href
            ) from None

    def _send(
        self,
        transport: _PinnedTransport,
        destination: Destination,
        accept: str,
        deadline: _Deadline,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> httpx.Response:
        transport.pins.pin(destination.host, self._lookup(destination, deadline))
        remaining = max(deadline.remaining(), 0.001)
        request = build_request(
            "GET",
            destination,
            accept=accept,
            user_agent=self.policy.user_agent,
            timeout={
                "connect": min(self.policy.connect_timeout, remaining),
                "read": remaining,
                "write": remaining,
                "pool": remaining,
            },
            compressed=True,
            extra=extra,
        )
        try:
            return transport.handle_request(request)
        except FAILURES as exc:
            ip = transport.backend.last_address
            raise describe_failure(exc, destination, ip, _timed_out(destination, deadline)) from exc

    def _read_body(self, response: httpx.Response, destination: Destination, deadline: _Deadline) -> Body:
        body = Body(self.policy.max_bytes, response.headers, destination.href)
        try:
            for chunk in response.iter_raw():
                if body.take(chunk):
                    break
        except FAILURES as exc:
            raise describe_failure(exc, destination, None, _timed_out(destination, deadline)) from exc
        return body


def _timed_out(destination: Destination, deadline: _Deadline) -> str:
    return (
        f"{destination.host} did not answer in time: linkgate gives a page {deadline.seconds:g} seconds, "
        f"redirects included, and {destination.href} took longer."
    )
