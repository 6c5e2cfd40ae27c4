"""Destination URLs, parsed exactly as a browser parses them.

Pure functions, no Flask, no database, no network. Parsing follows the WHATWG URL Standard through
``ada-url``; registrable domains come from ``tldextract`` with its bundled public suffix list (private
domains included) and never touch the network.

This module must never hand back a URL that is not the parser's own serialisation: whatever a caller
sends a visitor to is ``Destination.href``; nor a host name that DNS cannot hold (the URL Standard allows
names of any length, DNS and linkgate's tables do not).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

import ada_url
import tldextract

from linkgate.errors import InvalidDestination

DEFAULT_MAX_LENGTH = 4096
WEB_SCHEMES = frozenset({"http:", "https:"})
# DNS's limits (RFC 1035), in the ASCII (punycode) form: a name's octets without its final dot, one label's.
MAX_NAME_OCTETS = 253
MAX_LABEL_OCTETS = 63

# What parse_destination says of a host name DNS cannot hold (InvalidDestination.reason -> message).
_NAME_PROBLEMS = {
    "host_too_long": "The website's name in this address is too long to be a real website ({length:,} "
    "characters; a name can have at most {limit:,}).",
    "label_too_long": "Part of the website's name in this address is too long to be a real website "
    "({length:,} characters between two dots; the most is {limit:,}).",
    "empty_label": "The website's name in this address has an empty part (two dots together, or a dot at "
    "the start), so it cannot be a real website.",
}

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


@dataclass(frozen=True, slots=True)
class Destination:
    """A parsed, absolute http(s) destination."""

    href: str
    scheme: str
    host: str
    port: int | None
    username: str
    password: str
    is_ip: bool

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    @property
    def is_https(self) -> bool:
        return self.scheme == "https"

    @property
    def registrable_domain(self) -> str:
        return registrable_domain(self.host)


_PARTS = ("href", "protocol", "hostname", "port", "username", "password", "host_type")


def parse_destination(raw: str | None, max_length: int = DEFAULT_MAX_LENGTH) -> Destination:
    """Parse ``raw`` as an absolute http(s) URL, the way a browser's address bar would.

    Raises :class:`InvalidDestination` with a message a visitor can understand.
    """
    if raw is None or raw.strip() == "":
        raise InvalidDestination(
            "The link does not say where it goes: the url parameter is missing or empty.", "missing"
        )
    if len(raw) > max_length:
        raise InvalidDestination(
            f"The web address is too long ({len(raw):,} characters; the limit is {max_length:,}).",
            "too_long",
            length=len(raw),
            limit=max_length,
        )
    try:
        # One call that returns just the parts needed (cheaper than an ada_url.URL and its properties).
        url = ada_url.parse_url(raw, attributes=_PARTS)
    except ValueError:
        if _is_relative(raw):
            raise InvalidDestination(
                "The web address is not complete: it must start with http:// or https://.", "relative"
            ) from None
        raise InvalidDestination(
            "The web address is not valid, so there is nowhere safe to send you."
        ) from None
    protocol = url["protocol"]
    if protocol not in WEB_SCHEMES:
        scheme = protocol.rstrip(":")
        raise InvalidDestination(
            f"Only web addresses starting with http:// or https:// can be followed; this one is a "
            f'"{scheme}:" address.',
            "scheme",
            scheme=scheme,
        )
    host = url["hostname"]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    is_ip = url["host_type"] != ada_url.HostType.DEFAULT
    problem = None if is_ip else _name_problem(host)
    if problem is not None:
        reason, params = problem
        raise InvalidDestination(_NAME_PROBLEMS[reason].format(**params), reason, **params)
    port = url["port"]
    return Destination(
        href=url["href"],
        scheme=protocol[:-1],
        host=host,
        port=int(port) if port else None,
        username=url["username"],
        password=url["password"],
        is_ip=is_ip,
    )


def _name_problem(host: str) -> tuple[str, dict[str, int]] | None:
    """Why DNS cannot hold the name ``host`` (ASCII, as the parser writes it), with the figures to say
    so; None when it can. A browser cannot reach such a name, and no column made for host names holds it."""
    name = host[:-1] if host.endswith(".") else host
    if len(name) > MAX_NAME_OCTETS:
        return "host_too_long", {"length": len(name), "limit": MAX_NAME_OCTETS}
    if not name or name.startswith(".") or name.endswith(".") or ".." in name:
        return "empty_label", {}
    if len(name) > MAX_LABEL_OCTETS:
        longest = max(len(label) for label in name.split("."))
        if longest > MAX_LABEL_OCTETS:
            return "label_too_long", {"length": longest, "limit": MAX_LABEL_OCTETS}
    return None


def _is_relative(raw: str) -> bool:
    try:
        ada_url.URL(raw, base="https://relative.invalid/")
    except ValueError:
        return False
    return True


def resolve_web_link(href: str, base_url: str) -> str | None:
    """Resolve ``href`` against ``base_url``; the absolute http(s) result, or None for anything else.

    For links found in pages linkgate does not control: ``javascript:``, ``mailto:``, ``data:`` and
    unparseable values all give None.
    """
    try:
        url = ada_url.URL(href.strip(), base=base_url)
    except ValueError:
        return None
    if url.protocol not in WEB_SCHEMES or not url.hostname:
        return None
    return url.href


def host_of(href: str) -> str:
    """The host of an absolute http(s) URL *as the URL parser writes it* (:func:`resolve_web_link`,
    ``Destination.href``), without parsing it again: the authority ends at the first "/", an "@" there
    can only end the credentials, and a ":" outside brackets starts the port. An IPv6 host keeps its
    brackets."""
    authority = href[href.index("//") + 2 :].split("/", 1)[0]
    host = authority.rpartition("@")[2]
    return host[: host.index("]") + 1] if host.startswith("[") else host.partition(":")[0]


def path_and_query(href: str) -> tuple[str, str]:
    """The path (never empty: at least "/") and the query (without its "?") of an absolute http(s) URL
    as the URL parser writes it; the fragment is left out."""
    rest = href[href.index("//") + 2 :].partition("#")[0]
    start = rest.find("/")
    path, _, query = (rest[start:] if start >= 0 else "/").partition("?")
    if start < 0 and "?" in rest:
        query = rest.partition("?")[2]
    return path, query


@lru_cache(maxsize=8192)
def registrable_domain(host: str) -> str:
    """The registrable domain ("eTLD+1") of ``host``, or the host itself for IPs and bare suffixes.

    A name under a suffix the Public Suffix List does not know (``.test``, ``.example``, ``.internal``)
    is read as the list's own algorithm reads it (its implicit ``*`` rule: the last label is the
    suffix), so ``www.partner.test`` and ``partner.test`` are one site, as they would be under ``.org``."""
    host = host.rstrip(".").lower()
    if is_ip_address(host):
        return host
    parts = _EXTRACT(host)
    if parts.top_domain_under_public_suffix:
        return parts.top_domain_under_public_suffix
    if parts.suffix:
        return host  # a public suffix itself
    return ".".join(host.split(".")[-2:])


@lru_cache(maxsize=8192)
def is_public_suffix(name: str) -> bool:
    """True when ``name`` is itself a public suffix (``com``, ``mt.us``, ``github.io``...)."""
    name = name.rstrip(".").lower()
    parts = _EXTRACT(name)
    return parts.domain == "" and parts.suffix == name


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


# --- Public hosts: the one judgement of what is on the public internet, for the fetcher (each address a
# name resolves to) and for links shown to visitors (which are not looked up).
#
# The IANA special-purpose address registries, written out so that the rule does not depend on what a
# given Python version's ``ipaddress`` calls global; ``is_global`` is consulted as well, and the stricter
# answer wins.
_SPECIAL_V4 = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, with the cloud metadata service at 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, with the broadcast address 255.255.255.255
    )
)
_SPECIAL_V6 = tuple(
    ipaddress.IPv6Network(cidr)
    for cidr in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible form ::a.b.c.d
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # local-use NAT64: its IPv4 half is a private network by definition
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, with Teredo (2001::/32)
        "2001:db8::/32",
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a public (global unicast) address; False for loopback, private, link-local (with the
    cloud metadata service), shared, "this network", multicast, reserved and documentation ranges.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``)
    are judged by the IPv4 address they carry.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and not any(ip in network for network in _SPECIAL_V4)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public_address(embedded)
    return ip.is_global and not any(ip in network for network in _SPECIAL_V6)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_local_name(host: str) -> bool:
    """True for ``localhost`` and its subdomains, which always mean this computer (RFC 6761), whatever a
    resolver says: some resolve ``localhost.`` and ``x.localhost`` to loopback, some do not."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def is_public_host(host: str) -> bool:
    """True when ``host`` (a parsed URL's host name) is on the public internet, as far as can be told
    without looking it up: an address must be public (:func:`is_public_address`); a name must not be
    ``localhost`` and must end in a public suffix with a name of its own before it (``example.org``, not
    ``intranet``, ``printer.internal``, ``router.lan`` or ``com``).

    For links shown to visitors, which linkgate does not look up; the fetcher judges the addresses a name
    resolves to by :func:`is_public_address` as well.
    """
    name = host.strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return is_public_address(ip)
    if not name or is_local_name(name):
        return False
    parts = _EXTRACT(name)
    return bool(parts.suffix and parts.domain)


def unicode_host(host: str) -> str:
    """The internationalised (Unicode) form of an ASCII/punycode host; the host itself if none."""
    if "xn--" not in host:
        return host
    try:
        return str(ada_url.idna_to_unicode(host))
    except (ValueError, UnicodeError):
        return host


def normalise_rule_name(name: str) -> str:
    """A rule's host or domain as the parser would write it (lower case, punycode, no trailing dot).

    Raises :class:`InvalidDestination` when the name is not a valid host name.
    """
    raw = name.strip()
    if raw.startswith("*."):
        raw = raw[2:]
    # A wildcard is only the leading "*."; anywhere else it, like whitespace, makes a rule that never matches.
    if not raw or any(ch in raw for ch in "/:@?#\\*") or any(ch.isspace() for ch in raw):
        raise InvalidDestination(f'"{name}" is not a host name (write it like example.org).')
    try:
        url = ada_url.URL(f"http://{raw}/")
    except ValueError:
        raise InvalidDestination(f'"{name}" is not a valid host name.') from None
    host = url.hostname.rstrip(".")
    if not host or "" in host.split("."):
        raise InvalidDestination(f'"{name}" is not a valid host name.')
    problem = None if url.host_type != ada_url.HostType.DEFAULT else _name_problem(host)
    if problem is not None:
        reason, params = problem
        what = "name" if reason == "host_too_long" else "part between two dots"
        raise InvalidDestination(
            f'"{name}" is not a valid host name: its {what} is {params["length"]:,} characters long, and '
            f"DNS allows at most {params['limit']:,}."
        )
    return host
