"""What linkgate may fetch: the limits of a fetch (with :class:`Body`, which keeps a body within them), the
addresses it may reach, and the errors it raises.

Every request, sync or async, first and on every redirect hop, passes the same guards:

* the address is parsed exactly as a browser parses it (:func:`linkgate.urls.parse_destination`): only
  ``http`` and ``https``, no user name or password, ports 80 and 443 unless the policy says otherwise;
* the host name is resolved by linkgate, and every address it resolves to must be a public (global
  unicast) address: loopback, private, link-local (with 169.254.169.254, the cloud metadata service),
  shared (100.64.0.0/10), "this network" (0.0.0.0/8), multicast, reserved and documentation ranges, and
  the IPv6 forms that embed an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) are refused.

:func:`resolve_checked` gives the only addresses a transport may connect to for a destination.
``FetchPolicy.allow_networks`` exists for tests, which run their servers on 127.0.0.0/8; in production it
stays empty.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import ada_url
import httpx

from linkgate.errors import InvalidDestination, LinkgateError
from linkgate.urls import DEFAULT_MAX_LENGTH, Destination, is_local_name, is_public_address, parse_destination

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_USER_AGENT",
    "Body",
    "FetchError",
    "FetchFailed",
    "FetchPolicy",
    "FetchRefused",
    "IPAddress",
    "Resolver",
    "check_addresses",
    "check_destination",
    "effective_port",
    "is_forbidden_address",
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
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_forbidden_address(address: IPAddress | str, allow_networks: Iterable[IPNetwork] = ()) -> bool:
    """True when linkgate must not connect to ``address``: anything but a public unicast address
    (:func:`linkgate.urls.is_public_address`). ``allow_networks`` lifts the ban for the networks named
    (tests only)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if _in_networks(ip, allow_networks):
        return False
    return not is_public_address(ip)


def _in_networks(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


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
    """Redirects followed from one address, by either client (the audit's policy allows 10)."""
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
    ``tls``, ``timeout``, ``protocol``, ``encoding``, ``too_many_redirects``, ``redirect_loop`` or
    ``out_of_scope`` (a redirect the caller does not follow)."""


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
    if port not in policy.allowed_ports and not all(
        _in_networks(ip, policy.allow_networks) for ip in checked
    ):
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


class _Decoder:
    """Undoes gzip or deflate content coding without ever producing more bytes than asked for, so a
    compressed bomb costs no more memory than the body's limit."""

    __slots__ = ("_coding", "_started", "_url", "_zlib")

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
        first, self._started = not self._started, True
        try:
            try:
                return self._zlib.decompress(data, max_length)
            except zlib.error:
                if not (first and self._coding == "deflate"):
                    raise
                # Some servers send "deflate" without its zlib wrapper; browsers accept both.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._zlib.decompress(data, max_length)
        except zlib.error as exc:
            raise FetchFailed(
                f"{self._url} was sent with damaged {self._coding} compression ({exc}).",
                reason="encoding",
                url=self._url,
            ) from exc


class Body:
    """A body read chunk by chunk under a limit: at most ``limit`` bytes are kept, counted after
    decompression, and no more than the limit's worth is received; more is ``truncated``.

    With a limit of 0 nothing is kept, and up to ``drain`` bytes are read anyway (so that a kept-alive
    connection can carry the next request)."""

    __slots__ = ("_decoder", "_drain", "_kept", "_received", "limit", "truncated")

    def __init__(self, limit: int, headers: httpx.Headers, url: str, *, drain: int = 0) -> None:
        self.limit = limit
        self.truncated = False
        self._drain = drain
        # The Content-Encoding is read only when something is kept (reading a header costs more than a call).
        self._decoder = _Decoder(headers.get("content-encoding", ""), url) if limit > 0 else None
        self._kept = bytearray()
        self._received = 0

    def take(self, chunk: bytes) -> bool:
        """Add ``chunk``; True when nothing more is to be read."""
        self._received += len(chunk)
        if self._decoder is None:
            return self._received > self._drain
        # Ask for one byte more than the limit: getting it is how we know there was more.
        self._kept += self._decoder.decode(chunk, self.limit + 1 - len(self._kept))
        if len(self._kept) > self.limit or self._received > self.limit:
            self.truncated = True
            del self._kept[self.limit :]
            return True
        return False

    @property
    def content(self) -> bytes:
        return bytes(self._kept)
