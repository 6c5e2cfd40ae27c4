"""Reading a crawled page: its links (with their text and line numbers), and what the page says of itself.

Pure: bytes in, values out; no network, no database. Pages are read as the privacy finder reads them
(:mod:`linkgate.markup`: decoded as a browser decodes them, then lxml's HTML parser, which recovers from
broken markup the way browsers broadly do and records each element's line in the source).
Link addresses are resolved against the page (and its ``<base href>``) by the WHATWG rules, through
:func:`linkgate.urls.resolve_web_link`; anything that is not http(s) (``mailto:``, ``javascript:``...)
is not a link the audit checks.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

import ada_url
import lxml.html

from linkgate import markup
from linkgate.errors import InvalidDestination
from linkgate.gateaddress import GateAddress, read_gate_link
from linkgate.urls import parse_destination, resolve_web_link

__all__ = [
    "PageLink",
    "PageReading",
    "gate_destination",
    "is_soft_404",
    "link_text_problem",
    "normalise",
    "read_page",
]

# Link text that says nothing about where a link goes (WCAG 2.4.4), in English and Spanish, folded.
VAGUE_TEXT = frozenset(
    {
        "click",
        "click here",
        "here",
        "more",
        "more info",
        "more information",
        "read more",
        "learn more",
        "link",
        "this link",
        "this",
        "this page",
        "go",
        "details",
        "continue",
        "website",
        "page",
        "info",
        "aqui",
        "haga clic aqui",
        "haz clic aqui",
        "clic aqui",
        "mas",
        "mas informacion",
        "leer mas",
    }
)
# "404" alone is not enough ("Form 404", "County page 404"): it must stand alone or come with "error",
# "not found" or a separator, as error pages write it.
SOFT_404 = re.compile(
    r"^\s*404\s*$|\berror\s*404\b|\b404\s*(?:[-–:|]|error\b|not found\b|page not found\b)|"
    r"\bpage not found\b|^\s*not found\b|"
    r"\bpage (?:does not|doesn't|cannot be|could not be) (?:exist|found)\b|"
    r"\bno longer (?:exists|available)\b|\bp[aá]gina no encontrada\b",
    re.IGNORECASE,
)
TEXT_LIMIT = 200
MAX_LINKS = 10_000  # read from one page: a long A-Z index has a few thousand; more is a link farm


@dataclass(frozen=True, slots=True)
class PageLink:
    """A link as written on a page: its absolute address (fragment dropped), line, text and attributes."""

    url: str
    line: int
    text: str
    target_blank_unsafe: bool
    skipped_by_dropin: bool


@dataclass(frozen=True, slots=True)
class PageReading:
    links: tuple[PageLink, ...]
    has_dropin: bool
    title: str
    heading: str
    nofollow: bool
    more_links: int = 0
    """Link elements past ``max_links``: counted, not read."""


@lru_cache(maxsize=1024)  # gate links' destinations, sitemaps' pages: the same addresses again and again
def normalise(url: str, *, sort_query: bool = False) -> str:
    """``url`` as the browser's parser writes it, without its fragment (and with its query sorted)."""
    parsed = ada_url.URL(url)
    parsed.hash = ""
    if sort_query and parsed.search:
        pairs = parse_qsl(parsed.search[1:], keep_blank_values=True)
        parsed.search = "?" + urlencode(sorted(pairs))
    return str(parsed.href)


def gate_destination(url: str, gate: GateAddress | None) -> str | None:
    """The destination of a link to the gate (``…/go?url=…``) as the gate reads it, or None when ``url``
    is not one or names no destination the gate would follow (none, several, or one the gate refuses:
    a relative address is an error page there, so the audit checks the gate link itself)."""
    found = read_gate_link(url, gate) if gate is not None else None
    if found is None or found.destination is None:
        return None
    return _followed(found.destination)


@lru_cache(maxsize=4096)  # the same gate links recur on many pages (parsing one costs microseconds)
def _followed(value: str) -> str | None:
    try:
        return parse_destination(value).href
    except InvalidDestination:
        return None


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


@lru_cache(maxsize=2048)  # a site repeats the same few texts (navigation, footers) on every page
def link_text_problem(text: str) -> str | None:
    """Why ``text`` does not describe its link (WCAG 2.4.4): ``empty``, ``vague`` or ``url``; else None."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if _fold(stripped) in VAGUE_TEXT:
        return "vague"
    lowered = stripped.lower()
    if lowered.startswith(("http://", "https://", "www.")) and " " not in stripped:
        return "url"
    return None


def is_soft_404(title: str, heading: str) -> bool:
    """True when a page that answered 200 says, in its title or main heading, that it is not there."""
    return any(SOFT_404.search(text) for text in (title, heading) if text)


def _text_of(element: lxml.html.HtmlElement) -> str:
    label = element.get("aria-label")
    if label and not label.isspace():
        return " ".join(label.split())[:TEXT_LIMIT]  # what assistive technology reads out
    # Most links hold text alone: their text then, without XPath's string() over the subtree.
    content = element.text_content() if len(element) else element.text or ""
    text = " ".join(content.split())
    if not text:
        images = [img.get("alt", "") for img in element.iter("img")]
        text = " ".join(" ".join(images).split())
    return text[:TEXT_LIMIT]


def _skipped(element: lxml.html.HtmlElement) -> bool:
    node: lxml.html.HtmlElement | None = element
    while node is not None:
        if node.get("data-linkgate") == "skip":
            return True
        node = node.getparent()
    return False


# A link whose address does not depend on the page's path: an absolute http(s) one, or a path-absolute
# one ("/p/1"), which takes only the scheme, credentials, host and port of the page. Those are resolved
# once per site rather than once per page (a site repeats its navigation on every page). Tabs and
# newlines disqualify: the URL parser removes them anywhere ("/\n/host" is "//host").
_SITE_WIDE = re.compile(r"(?i:https?://)|/(?![/\\])")
_REMOVED_BY_PARSER = re.compile(r"[\t\n\r]")


@lru_cache(maxsize=8192)  # room for a large site's navigation; a cache too small to hold it kept nothing
def _site_wide_link(href: str, site: str, sort_query: bool) -> str | None:
    url = resolve_web_link(href, site)
    return normalise(url, sort_query=sort_query) if url is not None else None


def _link_url(href: str, base: str, site: str, sort_query: bool) -> str | None:
    """``href`` on a page whose base is ``base`` (``site``: the base with only its path, "/"), normalised."""
    href = href.strip()
    if _SITE_WIDE.match(href) and not _REMOVED_BY_PARSER.search(href):
        return _site_wide_link(href, site, sort_query)
    url = resolve_web_link(href, base)
    return normalise(url, sort_query=sort_query) if url is not None else None


def _site_of(base: str) -> str:
    parsed = ada_url.URL(base)
    parsed.pathname = "/"
    parsed.search = ""
    parsed.hash = ""
    return str(parsed.href)


def read_page(
    content: bytes,
    page_url: str,
    *,
    charset: str | None = None,
    sort_query: bool = False,
    max_links: int = MAX_LINKS,
) -> PageReading:
    """The links of a page (``a`` and ``area`` with an http(s) ``href``), in document order: the first
    ``max_links`` of them (each costs a URL parse, and the crawl a record and a check), the rest counted.

    ``charset`` is the one the page's Content-Type named, if any; the page is read as a browser reads it
    (:mod:`linkgate.markup`)."""
    page = markup.utf8(content, charset)
    root = markup.document(page) if page is not None else None
    if root is None:
        return PageReading((), False, "", "", False)
    base = page_url
    for element in root.iter("base"):
        href = element.get("href")
        if href:
            base = resolve_web_link(href, page_url) or page_url
            break
    has_dropin = any(
        ada_url.URL(src, page_url).pathname.endswith("/linkgate.js")
        for src in (script.get("src", "") for script in root.iter("script"))
        if src and ada_url.URL.can_parse(src, page_url)
    )
    nofollow = any(
        "nofollow" in (meta.get("content", "").lower())
        for meta in root.iter("meta")
        if meta.get("name", "").lower() == "robots"
    )
    site = _site_of(base)
    may_skip = bool(root.xpath("boolean(//*[@data-linkgate='skip'])"))  # else no ancestor to look for
    links: list[PageLink] = []
    more_links = 0
    for element in root.iter("a", "area"):
        get = element.get
        href = get("href")
        if href is None:
            continue
        if len(links) >= max_links:
            more_links += 1
            continue
        url = _link_url(href, base, site, sort_query)
        if url is None:
            continue
        target = get("target")
        unsafe = False
        if target is not None and target.strip().lower() == "_blank":
            rel = get("rel", "").lower().split()
            unsafe = "noopener" not in rel and "noreferrer" not in rel
        links.append(
            PageLink(
                url,
                element.sourceline or 0,
                _text_of(element),
                unsafe,
                may_skip and _skipped(element),
            )
        )
    title = next((" ".join(t.text_content().split()) for t in root.iter("title")), "")
    heading = next((" ".join(h.text_content().split()) for h in root.iter("h1")), "")
    return PageReading(
        tuple(links), has_dropin, title[:TEXT_LIMIT], heading[:TEXT_LIMIT], nofollow, more_links
    )
