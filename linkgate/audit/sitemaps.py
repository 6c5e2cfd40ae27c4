"""Reading sitemaps (``<urlset>`` and ``<sitemapindex>``, plain or gzip) without trusting them.

Pure: bytes in, addresses out. The XML parser resolves no entities, loads no DTD and touches no network,
and a gzip file is unpacked to at most ``max_bytes``, so a hostile sitemap costs no more than its cap.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import lxml.etree

from linkgate.urls import resolve_web_link

__all__ = ["Sitemap", "read_sitemap"]

_PARSER = lxml.etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True
)


@dataclass(frozen=True, slots=True)
class Sitemap:
    pages: tuple[str, ...]
    sitemaps: tuple[str, ...]
    """Further sitemaps named by a sitemap index."""


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        return unpacker.decompress(data, max_bytes)
    except zlib.error:
        return b""


def read_sitemap(data: bytes, url: str, *, max_bytes: int = 10_000_000) -> Sitemap:
    """The page and sitemap addresses in a sitemap (gzip or not); empty when it is not one."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, max_bytes)
    if not data.strip():
        return Sitemap((), ())
    try:
        root = lxml.etree.fromstring(data, parser=_PARSER)
    except (lxml.etree.XMLSyntaxError, ValueError):
        return Sitemap((), ())
    if root is None:
        return Sitemap((), ())
    kind = lxml.etree.QName(root).localname
    locations: list[str] = []
    for element in root.iter():
        if isinstance(element.tag, str) and lxml.etree.QName(element).localname == "loc" and element.text:
            resolved = resolve_web_link(element.text.strip(), url)
            if resolved is not None:
                locations.append(resolved)
    if kind == "sitemapindex":
        return Sitemap((), tuple(locations))
    if kind == "urlset":
        return Sitemap(tuple(locations), ())
    return Sitemap((), ())
