"""Destination URLs, parsed exactly as a browser parses them.

Pure functions, no Flask, no database, no network. Parsing follows the WHATWG URL Standard through
``ada-url``; registrable domains come from ``tldextract`` with its bundled public suffix list (private
domains included) and never touch the network.

This module must never hand back a URL that is not the parser's own serialisation: whatever a caller
sends a visitor to is ``Destination.href``.
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
    port = url["port"]
    return Destination(
        href=url["href"],
        scheme=protocol[:-1],
        host=host,
        port=int(port) if port else None,
        username=url["username"],
        password=url["password"],
        is_ip=url["host_type"] != ada_url.HostType.DEFAULT,
    )


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


@lru_cache(maxsize=8192)
def registrable_domain(host: str) -> str:
    """The registrable domain ("eTLD+1") of ``host``, or the host itself for IPs and bare suffixes."""
    host = host.rstrip(".").lower()
    if is_ip_address(host):
        return host
    parts = _EXTRACT(host)
    return parts.top_domain_under_public_suffix or host


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
    return host
