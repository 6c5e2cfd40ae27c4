"""What the sync and the async client share: the request, the redirect rules, the addresses each
transport may connect to (:class:`Pins`), the account of a failure, the TLS settings and the result
(the body's limits are in :mod:`linkgate.http.policy`).

Both clients call their transport directly (``handle_request`` / ``handle_async_request``), not through
``httpx.Client``, which parses every Location header with httpx's own URL parser (even with redirects
off) and keeps cookies: here only the browser's parser decides where a redirect goes (:class:`Redirects`),
and nothing is carried from one request to the next. Each request is built by :func:`build_request`, as
httpcore takes it: the URL names the real host, whose checked addresses the transport has pinned (it
connects to those or to nothing); the Host header, the TLS server name and the certificate check use the
real host name. No cookies, no proxy from the environment, no Referer.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

import httpcore
import httpx

from linkgate.encoding import decode
from linkgate.http.policy import (
    FetchError,
    FetchFailed,
    FetchRefused,
    IPAddress,
    effective_port,
    parse_target,
    request_target,
)
from linkgate.urls import Destination

__all__ = [
    "DEFAULT_ACCEPT",
    "HTML_TYPES",
    "REDIRECT_STATUSES",
    "Answer",
    "Hop",
    "Pins",
    "Redirects",
    "build_request",
    "caller_headers",
    "charset",
    "default_ssl_context",
    "describe_failure",
    "media_type",
]

DEFAULT_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
KEPT_HEADERS = ("content-type", "cf-mitigated", "retry-after")
WALL_BYTES = 20_000  # enough of a refusal to tell a bot wall from an error
SHARED_HEADER_SETS = 256
# The request headers a caller may add (:func:`caller_headers`), by name in lower case, as sent: none of
# them names a host, carries a credential or a cookie, or changes how the answer is framed or read.
CALLER_HEADERS = {"accept-datetime": "Accept-Datetime", "accept-language": "Accept-Language"}
MAX_HEADER_VALUE = 128  # characters of a caller's header value
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")  # printable ASCII, no CR or LF
_SHARED_HEADERS: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}


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


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect on the way to the final answer: the address asked for and its status."""

    url: str
    status: int


@dataclass(slots=True)
class Answer:
    """The outcome of a request, redirects followed: a status, or (the audit's client) an error with a
    short ``reason``. ``content`` holds at most the body's limit; ``truncated`` says there was more.
    ``redirects`` lists each redirect on the way, in order, so ``final_url`` is where the last one led."""

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
        """The media type in lower case, without parameters (``text/html``); empty when not sent."""
        return media_type(self.headers)

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES

    @property
    def charset(self) -> str | None:
        return charset(self.headers)

    @property
    def text(self) -> str:
        """The body as text, in the encoding a browser would read it in (linkgate.encoding)."""
        return decode(self.content, self.charset)


def caller_headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The headers a caller asks to send (``headers``), checked: only those :data:`CALLER_HEADERS` names
    (any case; never Host, Cookie, Authorization or one that frames the body), each once, with a value of
    at most :data:`MAX_HEADER_VALUE` printable ASCII characters (no line break, nothing to split a header
    with). Raises ValueError for anything else: a caller's mistake, never sent in part."""
    if not headers:
        return ()
    checked: dict[str, tuple[str, str]] = {}
    for name, value in headers.items():
        key = name.lower() if isinstance(name, str) else ""
        if key not in CALLER_HEADERS:
            allowed = ", ".join(CALLER_HEADERS.values())
            raise ValueError(f"linkgate does not send a caller's {name!r} header (only {allowed})")
        if key in checked:
            raise ValueError(f"the {CALLER_HEADERS[key]} header is given twice")
        if not isinstance(value, str) or len(value) > MAX_HEADER_VALUE or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(
                f"the {CALLER_HEADERS[key]} header's value must be 1 to {MAX_HEADER_VALUE} printable ASCII "
                f"characters"
            )
        checked[key] = (CALLER_HEADERS[key], value)
    return tuple(checked.values())


def build_request(
    method: str,
    destination: Destination,
    *,
    accept: str,
    user_agent: str,
    timeout: dict[str, float],
    compressed: bool,
    extra: tuple[tuple[str, str], ...] = (),
) -> httpcore.Request:
    """The request for ``destination``, as httpcore sends it, for a transport that has pinned its host's
    checked addresses: the request line asks for the address as the URL Standard serialises it (what a
    browser sends), without the fragment.

    ``timeout`` is httpcore's (``connect``, ``read``, ``write``, ``pool``); ``compressed`` asks for gzip
    or deflate (which :class:`linkgate.http.policy.Body` undoes within its limit) rather than the body
    as it is; ``extra`` are a caller's headers, checked by :func:`caller_headers`. (Built for httpcore
    directly: an ``httpx.Request`` parsed and quoted its URL again, a quarter of the audit's time per
    request.)"""
    extensions: dict[str, object] = {"timeout": timeout}
    if destination.scheme == "https":
        # httpcore uses this name for SNI and for checking the certificate (ssl check_hostname).
        extensions["sni_hostname"] = destination.host.rstrip(".")
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    headers = [
        ("Host", host if destination.port is None else f"{host}:{destination.port}"),
        ("User-Agent", user_agent),
        ("Accept", accept),
        ("Accept-Encoding", "gzip, deflate" if compressed else "identity"),
    ]
    if extra:
        headers.extend(extra)
    return httpcore.Request(
        method,
        httpcore.URL(
            scheme=destination.scheme,
            host=destination.host,
            port=effective_port(destination),
            target=request_target(destination),
        ),
        headers=headers,
        extensions=extensions,
    )


def pinned_host(url: httpcore.URL) -> str:
    """The name a transport pins addresses for: as sent (IDNA, ASCII), as TLS checks it."""
    return url.host.decode("ascii")


class Pins:
    """The addresses a transport may connect to, by host: those the client checked for the host
    (:func:`linkgate.http.policy.resolve_checked`) and pinned before sending it a request. A host with
    none is refused, so a transport can reach no address that was not checked for the host asked for."""

    __slots__ = ("_addresses",)

    def __init__(self) -> None:
        self._addresses: dict[str, tuple[IPAddress, ...]] = {}

    def pin(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """The checked addresses of ``host``: the only ones its connections may go to."""
        self._addresses[host] = tuple(addresses)

    def addresses(self, host: str) -> tuple[IPAddress, ...]:
        """The addresses pinned for ``host``; raises :class:`FetchRefused` (``ssrf_refused``) if none."""
        addresses = self._addresses.get(host)
        if not addresses:
            raise FetchRefused(
                f"linkgate will not connect to {host}: its address was not checked.",
                reason="ssrf_refused",
                url=host,
            )
        return addresses


class Redirects:
    """One chain of redirects, followed by hand: each Location is parsed by the browser's rules against
    the address that sent it, and refused when it leads outside ``within``, back to an address already
    visited, or past ``limit`` redirects. The caller checks each new address as it checked the first.

    ``hops`` are the redirects so far; ``current`` is the address to ask next, or where the chain stopped.
    """

    def __init__(
        self,
        first: Destination,
        limit: int,
        *,
        drop_fragment: bool = False,
        within: Callable[[str], bool] | None = None,
    ) -> None:
        self.first = first.href
        self.current = first
        self.hops: list[Hop] = []
        self._limit = limit
        self._drop_fragment = drop_fragment
        self._within = within
        self._seen = {first.href}

    def follow(self, status: int, location: str) -> Destination:
        """Where the redirect (``status``, ``location``) from :attr:`current` leads; raises
        :class:`FetchError` when it may not be followed."""
        here = self.current.href
        self.hops.append(Hop(here, status))
        target = parse_target(location, here, drop_fragment=self._drop_fragment)
        self.current = target
        if self._within is not None and not self._within(target.href):
            raise FetchFailed(
                f"{self.first} redirects to {target.href}, outside what the audit may read.",
                reason="out_of_scope",
                url=target.href,
            )
        if target.href in self._seen:
            raise FetchFailed(
                f"{self.first} redirects in a loop (back to {target.href}).",
                reason="redirect_loop",
                url=target.href,
            )
        if len(self.hops) > self._limit:
            raise FetchFailed(
                f"{self.first} redirected more than {self._limit} times; linkgate stopped at {here}.",
                reason="too_many_redirects",
                url=here,
            )
        self._seen.add(target.href)
        return target


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, ssl.SSLError):
            return error
    return None


def describe_failure(
    exc: BaseException, destination: Destination, ip: IPAddress | None, timed_out: str
) -> FetchError:
    """The webmaster's account of a request that failed with ``exc`` (``timed_out`` when it ran out of
    time); ``ip`` is the address it failed on, when known."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, httpcore.TimeoutException | TimeoutError):
        return FetchFailed(timed_out, reason="timeout", url=destination.href)
    where = destination.host if ip is None or destination.is_ip else f"{destination.host} ({ip})"
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
        # The server closed the connection without answering, or did not answer with valid HTTP.
        return FetchFailed(
            f"{where} did not answer with valid HTTP ({exc or 'it closed the connection'}).",
            reason="protocol",
            url=destination.href,
        )
    return FetchFailed(
        f"The connection to {where} broke off ({exc}).", reason="connect", url=destination.href
    )


FAILURES = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, OSError, TimeoutError)
"""What a transport raises when a request fails on the network (:func:`describe_failure` tells which)."""


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
    """The certificate store and TLS settings of every request, made once and shared by every client
    and thread (loading the CA bundle takes tens of milliseconds): what ``httpx.create_ssl_context``
    makes (certifi's CA bundle, certificates and host names checked), without reading the environment."""
    import certifi

    context = _SharedContext(ssl.PROTOCOL_TLS_CLIENT)  # certificate and host name checked
    context.load_verify_locations(cafile=certifi.where())
    ssl.SSLContext.set_alpn_protocols(context, ["http/1.1"])
    return context
