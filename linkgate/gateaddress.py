"""The gate's address, and links to it: made in one place, recognised in one place.

``server.public_url`` is where visitors reach the gate, its path included: with
``https://example.org/links`` the gate answers at ``https://example.org/links/go``. :func:`gate_address`
reads that setting for links and for the mount point (``web.security.mount_point``); :func:`gate_link`
makes every signed gate link (``linkgate sign``, ``linkgate rewrite``, the console's link builder, the
demo page, which alone takes the address it was reached at: it runs wherever it is started) and
:func:`read_gate_link` is the only judgement of whether an address is one (``linkgate rewrite --check``,
the audit). So a link one part makes, every other part recognises.

Pure: no Flask, no database, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote

import ada_url

from linkgate.signing import Signer
from linkgate.urls import WEB_SCHEMES


@dataclass(frozen=True, slots=True)
class GateAddress:
    """Where the gate answers. ``root`` is ``server.public_url`` without its final slash (what the drop-in
    script's ``data-gate`` takes; the setting may not carry a query, fragment or user name, and any an
    address given here carries is left out); ``go`` is the gate itself."""

    root: str  # "https://example.org/links"
    go: str  # "https://example.org/links/go"
    path: str  # "/links", as the URL parser writes it ("" at the root of the host)
    # What a link to the gate starts with, with either scheme (the gate answers both: a County page on
    # http may link to it so), and its host, port and path as the URL parser writes them.
    starts: tuple[str, str]
    where: str  # "example.org/links/go"


def gate_address(public_url: str) -> GateAddress:
    """The gate's address on ``public_url`` (``server.public_url``, an absolute http(s) URL; a path is where
    linkgate is mounted, with or without a final slash). Raises ValueError for anything else."""
    address = ada_url.URL(public_url)
    if address.protocol not in WEB_SCHEMES:
        raise ValueError(f"the gate's address must be an http:// or https:// URL, not {public_url!r}")
    path = address.pathname.rstrip("/")
    mounted = f"{address.host}{path}"
    root = f"{address.protocol}//{mounted}"
    where = f"{mounted}/go"
    return GateAddress(root, f"{root}/go", path, (f"https://{where}", f"http://{where}"), where)


def gate_link(gate: GateAddress, href: str, signer: Signer) -> str:
    """The absolute, signed gate link for the parsed destination ``href``."""
    return f"{gate.go}?url={quote(href, safe='')}&sig={signer.sign(href)}"


@dataclass(frozen=True, slots=True)
class GateLink:
    """What a link to the gate carries: its ``url`` and ``sig`` parameters' values, in order."""

    destinations: tuple[str, ...]
    signatures: tuple[str, ...]

    @property
    def destination(self) -> str | None:
        """The destination the gate follows: the one ``url`` parameter; None without one, or with several
        (the gate refuses both)."""
        return self.destinations[0] if len(self.destinations) == 1 else None


def read_gate_link(url: str, gate: GateAddress) -> GateLink | None:
    """``url``'s parameters when it is a link to ``gate``, else None.

    ``url`` is absolute, as the URL parser writes it (lower-case scheme and host). A link to the gate has
    the gate's host, port and path exactly, with http or https, and any user name (the browser still goes
    to the gate); ``/go/more`` or another host is not one.
    """
    # Most links of a page are not gate links: passed over without parsing. One with credentials
    # ("https://user@host/go") does not start like the gate and is parsed.
    if not url.startswith(gate.starts) and "@" not in url:
        return None
    return _read(url, gate)


@lru_cache(maxsize=4096)  # the same gate links recur on many pages
def _read(url: str, gate: GateAddress) -> GateLink | None:
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return None
    if parsed.protocol not in WEB_SCHEMES or f"{parsed.host}{parsed.pathname}" != gate.where:
        return None
    params = parse_qsl(parsed.search[1:], keep_blank_values=True)
    return GateLink(
        destinations=tuple(value for name, value in params if name == "url"),
        signatures=tuple(value for name, value in params if name == "sig"),
    )
