"""Fetching pages from other sites: the only code in linkgate that talks to them.

Every fetch passes the same guards, hop by hop:

* the address is parsed exactly as a browser parses it (:func:`linkgate.urls.parse_destination`): only
  ``http`` and ``https``, no user name or password, ports 80 and 443 unless the policy says otherwise;
* the host name is resolved here, once, and every address it resolves to must be a public (global
  unicast) address: loopback, private, link-local (with 169.254.169.254, the cloud metadata service),
  shared (100.64.0.0/10), "this network" (0.0.0.0/8), multicast, reserved and documentation ranges, and
  the IPv6 forms that embed an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) are refused;
* the connection goes to the address that was checked, never to a second lookup of the name; the Host
  header, the TLS server name and the certificate check use the real host name;
* redirects are followed by hand, at most ``max_redirects``, each one parsed and checked like the first;
* the body is streamed and cut at ``max_bytes`` (counted after decompression too); one deadline covers
  the whole fetch: name lookups, every redirect, every byte of every body.

This module must never connect to an address it has not checked, and never follows a redirect without
re-checking the address. It keeps no cookies, uses no proxy from the environment and sends no Referer.
``FetchPolicy.allow_networks`` exists for tests, which run their servers on 127.0.0.0/8; in production it
stays empty.
"""

from __future__ import annotations

import codecs
import ipaddress
import socket
import ssl
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from types import TracebackType
from typing import Any, Self

import ada_url
import httpcore
import httpx

from linkgate.errors import InvalidDestination, LinkgateError
from linkgate.urls import DEFAULT_MAX_LENGTH, Destination, is_local_name, is_public_address, parse_destination

__all__ = [
    "DEFAULT_ACCEPT",
    "DEFAULT_USER_AGENT",
    "HTML_TYPES",
    "FetchError",
    "FetchFailed",
    "FetchPolicy",
    "FetchRefused",
    "FetchResult",
    "Fetcher",
    "Resolver",
    "charset",
    "check_addresses",
    "check_destination",
    "default_ssl_context",
    "effective_port",
    "is_forbidden_address",
    "media_type",
    "parse_target",
    "request_target",
    "resolve_checked",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Iterable[str]]
"""Turns a host name into address strings; :func:`system_resolver` unless a test injects another."""

DEFAULT_USER_AGENT = "linkgate/0.1 (Missoula County link checker; +https://www.missoulacounty.us/)"
DEFAULT_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_forbidden_address(address: IPAddress | str, allow_networks: Iterable[IPNetwork] = ()) -> bool:
    """True when linkgate must not connect to ``address``: anything but a public unicast address
    (:func:`linkgate.urls.is_public_address`). ``allow_networks`` lifts the ban for the networks named
    (tests only)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if any(ip.version == network.version and ip in network for network in allow_networks):
        return False
    return not is_public_address(ip)


@dataclass(frozen=True)
class FetchPolicy:
    """The limits of every fetch. The defaults are the production rules."""

    allow_networks: tuple[IPNetwork, ...] = ()
    """Non-public networks the fetcher may reach anyway, on any port. For tests; empty in production."""
    allowed_ports: frozenset[int] = frozenset({80, 443})
    max_bytes: int = 2_000_000
    """The most body bytes kept (after decompression); a longer body is cut and marked truncated."""
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    """One deadline for the whole fetch: lookups, connections, redirects and bodies."""
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {self.max_bytes}.")
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("connect_timeout and total_timeout must be more than 0 seconds.")
        if not self.allowed_ports:
            raise ValueError("allowed_ports cannot be empty: linkgate could fetch nothing.")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects cannot be negative ({self.max_redirects}).")
        if not all(
            isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network)
            for network in self.allow_networks
        ):
            raise ValueError("allow_networks must hold ipaddress networks (use ipaddress.ip_network).")

    def in_allowed_network(self, ip: IPAddress) -> bool:
        return any(ip.version == network.version and ip in network for network in self.allow_networks)


class FetchError(LinkgateError):
    """A fetch that gave no response. ``reason`` is a short code for reports and counters."""

    def __init__(self, message: str, *, reason: str, url: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.url = url


class FetchRefused(FetchError):
    """linkgate would not make the request: ``reason`` is ``ssrf_refused``, ``scheme_refused``,
    ``port_refused`` or ``credentials_refused``. Each one is a security event."""


class FetchFailed(FetchError):
    """The request was allowed but did not work: ``reason`` is ``invalid_url``, ``dns``, ``connect``,
    ``tls``, ``timeout``, ``protocol``, ``encoding`` or ``too_many_redirects``."""


HTML_TYPES = ("text/html", "application/xhtml+xml")


def media_type(headers: httpx.Headers) -> str:
    """A response's media type in lower case, without parameters (``text/html``); empty when not sent."""
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def charset(headers: httpx.Headers) -> str | None:
    """The ``charset`` parameter of a response's Content-Type, as sent (None when absent or empty)."""
    _, _, parameters = headers.get("content-type", "").partition(";")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


@dataclass(frozen=True)
class FetchResult:
    """A response, after any redirects. ``content`` holds at most ``max_bytes``; ``truncated`` says
    whether there was more. ``redirects`` lists the addresses redirected to, in order, so its last
    entry is ``final_url``."""

    url: str
    final_url: str
    status: int
    headers: httpx.Headers
    content: bytes
    redirects: tuple[str, ...]
    elapsed: float
    truncated: bool

    @property
    def content_type(self) -> str:
        """The media type in lower case, without parameters (``text/html``); empty when not sent."""
        return media_type(self.headers)

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES

    @property
    def encoding(self) -> str | None:
        """The character set named by the Content-Type header, when Python knows it."""
        named = charset(self.headers)
        try:
            return codecs.lookup(named).name if named else None
        except LookupError:
            return None

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")


def system_resolver(host: str) -> list[str]:
    """The addresses the operating system gives for ``host`` (``getaddrinfo``), in its order."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def effective_port(destination: Destination) -> int:
    return destination.port if destination.port is not None else DEFAULT_PORTS[destination.scheme]


def check_destination(destination: Destination, policy: FetchPolicy) -> None:
    """Refuse what can be refused before any lookup: credentials, and ports outside the policy."""
    if destination.has_credentials:
        raise FetchRefused(
            f"linkgate will not fetch an address that contains a user name or password "
            f"(on {destination.host}).",
            reason="credentials_refused",
            url=_without_credentials(destination.href),
        )
    port = effective_port(destination)
    if port not in policy.allowed_ports and not policy.allow_networks:
        raise FetchRefused(
            _port_message(destination, port, policy), reason="port_refused", url=destination.href
        )


def check_addresses(
    destination: Destination, addresses: Iterable[IPAddress], policy: FetchPolicy
) -> list[IPAddress]:
    """Refuse ``destination`` unless every address its host resolved to is allowed; the addresses."""
    checked = list(dict.fromkeys(addresses))
    for ip in checked:
        if is_forbidden_address(ip, policy.allow_networks):
            how = "is" if destination.is_ip else f"resolves to {ip}, which is"
            raise FetchRefused(
                f"linkgate will not fetch {destination.href}: {destination.host} {how} not a public "
                f"internet address (it belongs to a private, local or special-purpose network).",
                reason="ssrf_refused",
                url=destination.href,
            )
    port = effective_port(destination)
    if port not in policy.allowed_ports and not all(policy.in_allowed_network(ip) for ip in checked):
        raise FetchRefused(
            _port_message(destination, port, policy), reason="port_refused", url=destination.href
        )
    return checked


def resolve_checked(
    destination: Destination, policy: FetchPolicy, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """Resolve the destination's host (IP literals are not looked up) and check every address.

    Blocking; the addresses returned are the only ones a caller may connect to for this destination.
    Raises :class:`FetchRefused` or :class:`FetchFailed` (``dns``).
    """
    check_destination(destination, policy)
    if is_local_name(destination.host):
        raise FetchRefused(
            f"linkgate will not fetch {destination.href}: {destination.host} names this computer.",
            reason="ssrf_refused",
            url=destination.href,
        )
    if destination.is_ip:
        return check_addresses(destination, [ipaddress.ip_address(destination.host)], policy)
    try:
        addresses = [ipaddress.ip_address(name) for name in resolver(destination.host)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise FetchFailed(
            f"The name {destination.host} could not be looked up ({exc}), so {destination.href} cannot "
            f"be reached. Check the spelling of the address.",
            reason="dns",
            url=destination.href,
        ) from exc
    if not addresses:
        raise FetchFailed(
            f"The name {destination.host} has no internet address, so {destination.href} cannot be reached.",
            reason="dns",
            url=destination.href,
        )
    return check_addresses(destination, addresses, policy)


def _port_message(destination: Destination, port: int, policy: FetchPolicy) -> str:
    allowed = [str(number) for number in sorted(policy.allowed_ports)]
    ports = f"ports {', '.join(allowed[:-1])} and {allowed[-1]}" if len(allowed) > 1 else f"port {allowed[0]}"
    return f"linkgate only fetches from {ports}; {destination.href} asks for port {port}."


def _without_credentials(href: str) -> str:
    url = ada_url.URL(href)
    url.username = ""
    url.password = ""
    return str(url.href)


def parse_target(raw: str, base: str | None = None, *, drop_fragment: bool = False) -> Destination:
    """Parse ``raw`` (resolved against ``base`` for a redirect) into a checked-scheme destination;
    ``drop_fragment`` for callers that treat ``page#a`` and ``page#b`` as one address (the audit)."""
    text = raw.strip()
    try:
        if base is not None:
            text = ada_url.join_url(base, text)
        # The length limit applies to the serialised address, without its fragment when it is dropped.
        destination = parse_destination(text, max_length=sys.maxsize)
    except InvalidDestination as exc:
        if exc.reason == "scheme":
            raise FetchRefused(
                f"linkgate only follows http:// and https:// addresses; this one is a "
                f'"{exc.params.get("scheme", "")}:" address.',
                reason="scheme_refused",
                url=text[:200],
            ) from None
        raise _not_valid(raw) from None
    except ValueError:  # join_url: not a URL even against the base
        raise _not_valid(raw) from None
    if drop_fragment and "#" in destination.href:
        # In a serialised URL the first "#" starts the fragment: elsewhere it is percent-encoded.
        destination = replace(destination, href=destination.href.partition("#")[0])
    if len(destination.href) > DEFAULT_MAX_LENGTH:
        raise FetchFailed(
            f"The web address is too long ({len(destination.href):,} characters; the limit is "
            f"{DEFAULT_MAX_LENGTH:,}).",
            reason="invalid_url",
            url=raw[:200],
        )
    return destination


def request_target(destination: Destination) -> str:
    """The path and query to ask for: in a serialised http(s) URL, everything from the first "/" after
    the "//" (the authority has none: a "/" in the user name or password is percent-encoded), without
    the fragment (the first "#": elsewhere it is percent-encoded)."""
    href = destination.href
    return href[href.index("/", len(destination.scheme) + 3) :].partition("#")[0]


def _not_valid(raw: str) -> FetchFailed:
    shown = raw if len(raw) <= 200 else raw[:200] + "…"
    return FetchFailed(f"{shown!r} is not a valid web address.", reason="invalid_url", url=shown)


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
    """Opens connections only to IP addresses the fetcher has checked and permitted, by the deadline.

    The fetcher already puts the checked address in the request; this is the second lock on the door.
    """

    def __init__(self, deadline: _Deadline) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline
        self._permitted: set[IPAddress] = set()

    def permit(self, ip: IPAddress) -> None:
        self._permitted.add(ip)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            ip: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is None or ip not in self._permitted:
            raise FetchRefused(
                f"linkgate will not connect to {host}: the address was not checked.",
                reason="ssrf_refused",
                url=host,
            )
        timeout = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)


class _PinnedTransport(httpx.BaseTransport):
    """httpx's transport interface over an httpcore pool whose only way out is :class:`_PinnedBackend`.

    The fetcher calls it directly, not through ``httpx.Client``: the client parses every Location header
    with httpx's own URL parser (even with redirects off) and keeps cookies, while here only the
    browser's parser decides where a redirect goes and nothing is carried from one hop to the next.
    GET only: request bodies are not forwarded.
    """

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_BodyStream(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _BodyStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


class _BodyDecoder:
    """Undoes gzip or deflate content coding without ever producing more bytes than asked for, so a
    compressed bomb costs no more memory than ``max_bytes``."""

    def __init__(self, coding: str, url: str) -> None:
        self._coding = coding.strip().lower()
        self._url = url
        self._started = False
        if self._coding in ("", "identity"):
            self._zlib = None
        elif self._coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self._coding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise FetchFailed(
                f"{url} was sent with a compression linkgate does not read ({coding!r}).",
                reason="encoding",
                url=url,
            )

    def decode(self, data: bytes, max_length: int) -> bytes:
        if self._zlib is None:
            return data[:max_length]
        try:
            return self._decompress(data, max_length)
        except zlib.error as exc:
            raise FetchFailed(
                f"{self._url} was sent with damaged {self._coding} compression ({exc}).",
                reason="encoding",
                url=self._url,
            ) from exc

    def _decompress(self, data: bytes, max_length: int) -> bytes:
        assert self._zlib is not None
        first, self._started = not self._started, True
        try:
            return self._zlib.decompress(data, max_length)
        except zlib.error:
            if not (first and self._coding == "deflate"):
                raise
            # Some servers send "deflate" without its zlib wrapper; browsers accept both.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._zlib.decompress(data, max_length)


class _SharedContext(ssl.SSLContext):
    """A client TLS context whose ALPN offer (HTTP/1.1) is set once, when it is made.

    httpcore sets the ALPN protocols on its context before each connection. On a context that fetchers
    in several threads share, that would be a write racing other threads' connections (OpenSSL copies
    the list while CPython has let go of the GIL), so asking again for HTTP/1.1 changes nothing and
    asking for anything else is refused.
    """

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        if list(alpn_protocols) != ["http/1.1"]:
            raise ValueError("linkgate's shared TLS context offers HTTP/1.1 only")


@cache
def default_ssl_context() -> ssl.SSLContext:
    """The certificate store and TLS settings of every fetch, made once and shared by every fetcher and
    thread (loading the CA bundle takes tens of milliseconds): what ``httpx.create_ssl_context`` makes
    (certifi's CA bundle, certificates and host names checked), without reading the environment."""
    import certifi

    context = _SharedContext(ssl.PROTOCOL_TLS_CLIENT)  # certificate and host name checked
    context.load_verify_locations(cafile=certifi.where())
    ssl.SSLContext.set_alpn_protocols(context, ["http/1.1"])
    return context


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
    ) -> FetchResult:
        """GET ``url``, following redirects under the policy.

        ``timeout`` and ``max_redirects`` lower the policy's ``total_timeout`` and ``max_redirects`` for
        this fetch alone: a caller making several fetches under one budget of its own (a privacy lookup)
        gives each what is left of it.

        Raises :class:`FetchRefused` (the policy forbids it; ``on_refused`` has been called) or
        :class:`FetchFailed` (it did not work). A body longer than ``max_bytes`` is not an error: the
        result holds its first ``max_bytes`` and ``truncated`` is true.
        """
        try:
            return self._get(url, accept, timeout, max_redirects)
        except FetchRefused as refusal:
            if self._on_refused is not None:
                self._on_refused(refusal.reason)
            raise

    def check_address(self, url: str) -> list[IPAddress]:
        """Parse, resolve and check ``url`` as a fetch would, without connecting: the addresses a fetch
        may use. Raises like :meth:`get`, but a check is not an attempt, so ``on_refused`` is not called."""
        destination = parse_target(url)
        return self._lookup(destination, _Deadline(self.policy.total_timeout))

    def _get(self, url: str, accept: str, timeout: float | None, max_redirects: int | None) -> FetchResult:
        seconds = self.policy.total_timeout if timeout is None else min(timeout, self.policy.total_timeout)
        deadline = _Deadline(max(seconds, 0.001))
        limit = self.policy.max_redirects
        hops = limit if max_redirects is None else min(max_redirects, limit)
        destination = parse_target(url)
        first_url = destination.href
        backend = _PinnedBackend(deadline)
        # No keep-alive: a TLS connection checked for one host name is never reused for another.
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl_context, max_keepalive_connections=0, network_backend=backend
        )
        redirects: list[str] = []
        with _PinnedTransport(pool) as transport:
            while True:
                response = self._send(transport, backend, destination, accept, deadline)
                try:
                    location = response.headers.get("location")
                    if response.status_code not in REDIRECT_STATUSES or location is None:
                        content, truncated = self._read_body(response, destination, deadline)
                        return FetchResult(
                            url=first_url,
                            final_url=destination.href,
                            status=response.status_code,
                            headers=response.headers,
                            content=content,
                            redirects=tuple(redirects),
                            elapsed=deadline.seconds - deadline.remaining(),
                            truncated=truncated,
                        )
                finally:
                    response.close()
                if len(redirects) >= hops:
                    raise FetchFailed(
                        f"{first_url} redirected more than {hops} times; "
                        f"linkgate stopped at {destination.href}.",
                        reason="too_many_redirects",
                        url=destination.href,
                    )
                destination = parse_target(location, destination.href)
                redirects.append(destination.href)

    def _lookup(self, destination: Destination, deadline: _Deadline) -> list[IPAddress]:
        if destination.is_ip:
            return resolve_checked(destination, self.policy, self._resolver)
        lookup = self._lookups.submit(resolve_checked, destination, self.policy, self._resolver)
        try:
            return lookup.result(timeout=max(deadline.remaining(), 0))
        except TimeoutError:
            lookup.cancel()
            raise _timeout(destination, deadline) from None

    def _send(
        self,
        transport: _PinnedTransport,
        backend: _PinnedBackend,
        destination: Destination,
        accept: str,
        deadline: _Deadline,
    ) -> httpx.Response:
        addresses = self._lookup(destination, deadline)
        failure: Exception | None = None
        for ip in addresses:
            if deadline.remaining() <= 0:
                break
            backend.permit(ip)
            request = _request(destination, ip, accept, self.policy, deadline)
            try:
                return transport.handle_request(request)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                if _tls_error(exc) is not None:
                    raise _failure(exc, destination, ip, deadline) from exc
                failure = exc  # try the host's next address, as a browser would
            except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise _failure(exc, destination, ip, deadline) from exc
        if failure is None:
            raise _timeout(destination, deadline)
        raise _failure(failure, destination, addresses[-1], deadline) from failure

    def _read_body(
        self, response: httpx.Response, destination: Destination, deadline: _Deadline
    ) -> tuple[bytes, bool]:
        limit = self.policy.max_bytes
        decoder = _BodyDecoder(response.headers.get("content-encoding", ""), destination.href)
        body = bytearray()
        received = 0
        try:
            for chunk in response.iter_raw():
                received += len(chunk)
                # Ask for one byte more than the limit: getting it is how we know there was more.
                body += decoder.decode(chunk, limit + 1 - len(body))
                if len(body) > limit or received > limit:
                    return bytes(body[:limit]), True
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _failure(exc, destination, None, deadline) from exc
        return bytes(body), False


def _request(
    destination: Destination, ip: IPAddress, accept: str, policy: FetchPolicy, deadline: _Deadline
) -> httpx.Request:
    """A GET for ``destination`` sent to ``ip``: the URL carries the checked address, the headers and
    the TLS server name carry the real host."""
    remaining = max(deadline.remaining(), 0.001)
    extensions: dict[str, Any] = {
        "timeout": {
            "connect": min(policy.connect_timeout, remaining),
            "read": remaining,
            "write": remaining,
            "pool": remaining,
        }
    }
    if destination.scheme == "https":
        # httpcore uses this name for SNI and for checking the certificate (ssl check_hostname).
        extensions["sni_hostname"] = destination.host.rstrip(".")
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    return httpx.Request(
        "GET",
        httpx.URL(
            scheme=destination.scheme,
            host=str(ip),
            port=effective_port(destination),
            raw_path=request_target(destination).encode("ascii"),
        ),
        headers={
            "Host": host if destination.port is None else f"{host}:{destination.port}",
            "User-Agent": policy.user_agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate",
        },
        extensions=extensions,
    )


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    cause = exc.__cause__ or exc.__context__
    return cause if isinstance(cause, ssl.SSLError) else None


def _timeout(destination: Destination, deadline: _Deadline) -> FetchFailed:
    return FetchFailed(
        f"{destination.host} did not answer in time: linkgate gives a page {deadline.seconds:g} seconds, "
        f"redirects included, and {destination.href} took longer.",
        reason="timeout",
        url=destination.href,
    )


def _failure(
    exc: Exception, destination: Destination, ip: IPAddress | None, deadline: _Deadline
) -> FetchFailed:
    """The webmaster's account of an httpcore error."""
    where = destination.host if ip is None or destination.is_ip else f"{destination.host} ({ip})"
    if isinstance(exc, httpcore.TimeoutException):
        return _timeout(destination, deadline)
    tls = _tls_error(exc)
    if tls is not None:
        return FetchFailed(
            f"The secure connection to {where} failed ({tls.reason or tls}): its certificate may be "
            f"expired, self-signed or issued for another name.",
            reason="tls",
            url=destination.href,
        )
    if isinstance(exc, httpcore.ConnectError):
        return FetchFailed(
            f"Could not connect to {where} on port {effective_port(destination)} ({exc}).",
            reason="connect",
            url=destination.href,
        )
    if isinstance(exc, httpcore.ProtocolError):
        return FetchFailed(
            f"{where} did not answer with valid HTTP ({exc}).", reason="protocol", url=destination.href
        )
    return FetchFailed(
        f"The connection to {where} broke off ({exc}).", reason="connect", url=destination.href
    )
