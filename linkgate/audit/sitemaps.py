"""Reading sitemaps (``<urlset>`` and ``<sitemapindex>``, plain or gzip) without trusting them.

Pure: bytes in, addresses out. The XML parser resolves no entities, loads no DTD and touches no network;
a gzip file is unpacked to at most ``max_bytes``, and the document is read as a stream, each entry
forgotten once read and at most ``max_entries`` addresses kept (those beyond are counted), so a hostile
sitemap costs time in proportion to its capped size and memory in proportion to the entries kept.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import lxml.etree

from linkgate.urls import resolve_web_link

__all__ = ["Sitemap", "read_sitemap"]

MAX_ENTRIES = 50_000  # what the sitemap protocol allows in one file


@dataclass(frozen=True, slots=True)
class Sitemap:
    pages: tuple[str, ...]
    sitemaps: tuple[str, ...]
    """Further sitemaps named by a sitemap index."""
    left_out: int = 0
    """Entries beyond ``max_entries``: counted, not kept."""


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        return unpacker.decompress(data, max_bytes)
    except zlib.error:
        return b""


def _localname(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def read_sitemap(
    data: bytes, url: str, *, max_bytes: int = 10_000_000, max_entries: int = MAX_ENTRIES
) -> Sitemap:
    """The page and sitemap addresses in a sitemap (gzip or not), the first ``max_entries`` of them;
    empty when it is not one. What can be read of a broken document is kept."""
    data = _gunzip(data, max_bytes) if data[:2] == b"\x1f\x8b" else data[:max_bytes]
    if not data.strip():
        return Sitemap((), ())
    events = lxml.etree.iterparse(
        io.BytesIO(data),
        events=("end",),
        tag=("{*}loc", "{*}url", "{*}sitemap"),  # any namespace, or none
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
    )
    kind = ""
    locations: list[str] = []
    left_out = 0
    try:
        for _, element in events:
            if not kind:
                kind = _localname(element.getroottree().getroot().tag)
                if kind not in ("urlset", "sitemapindex"):
                    return Sitemap((), ())
            if _localname(element.tag) == "loc":
                if not element.text:
                    continue
                if len(locations) < max_entries:
                    resolved = resolve_web_link(element.text.strip(), url)
                    if resolved is not None:
                        locations.append(resolved)
                else:
                    left_out += 1
                continue
            # An entry read: forget it and those before it, so that a long sitemap keeps no tree.
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except lxml.etree.XMLSyntaxError:
        pass  # not XML, or broken past what recovery mends: what was read before it stands
    if kind == "sitemapindex":
        return Sitemap((), tuple(locations), left_out)
    return Sitemap(tuple(locations), (), left_out)
