"""Reading a fetched HTML page with libxml2's parser (lxml): how the privacy finder and the audit read pages.

The page is decoded as a browser decodes it (:func:`linkgate.encoding.decode`: byte-order mark, the
server's charset, ``<meta>``, else UTF-8 or windows-1252) and handed to libxml2 as UTF-8, so the parser
never guesses an encoding with labels of its own. libxml2 recovers from broken markup as browsers broadly
do and, here, reads nothing from the network and leaves out comments and processing instructions. What
it parses goes to a parser target, element by element (:func:`feed`: the privacy finder builds no tree),
or into an ``lxml.html`` tree with each element's line (:func:`document`: the audit).

Both are linear in the page, whatever its shape: libxml2's parser is, and a target may stop it by raising
:class:`StopReading` (the privacy finder stops 256 elements deep). A tree is the one exception libxml2
has: it adds an element's attributes one by one at the end of a list, so :func:`document` keeps to each
element's first ``MAX_ATTRIBUTES``.
"""

from __future__ import annotations

import contextlib
import itertools
import threading

import lxml.etree
import lxml.html

from linkgate.encoding import decode

__all__ = ["MAX_ATTRIBUTES", "StopReading", "document", "feed", "utf8"]

# The parser's settings, for a target and for a tree alike (the page is UTF-8 by then).
_SETTINGS = {
    "encoding": "utf-8",
    "recover": True,
    "no_network": True,
    "remove_comments": True,
    "remove_pis": True,
}


class StopReading(Exception):
    """Raised by a parser target to stop the parser where it is; what the target read so far stays."""


def utf8(page: bytes | str, charset: str | None = None) -> bytes | None:
    """The page as UTF-8 for the parser, decoded as a browser does (``charset``: the server's
    Content-Type charset, if any); None for a page of nothing but white space."""
    text = decode(page, charset) if isinstance(page, bytes) else page.removeprefix("\ufeff")
    if not text.strip():
        return None
    return text.encode("utf-8", errors="replace")


def feed(page: bytes, target: object) -> object:
    """Parse ``page`` (UTF-8, from :func:`utf8`) into the parser target ``target``: what its ``close``
    returns, or None when the target or the parser stopped before the end (the target then keeps what
    it was told so far, and has not been closed). lxml's parsers must not be shared between threads;
    making one takes microseconds."""
    parser = lxml.etree.HTMLParser(target=target, **_SETTINGS)
    with contextlib.suppress(StopReading, lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return lxml.etree.fromstring(page, parser)
    return None


# libxml2 adds each attribute to its element's tree node by walking the node's attributes to the end, so
# one element with n attributes costs time in n squared: 2 MB of '<a d0 d1 d2 ...' took 323 s to build.
# Its parser alone is linear, so a page long enough for that to matter is first read without a tree,
# counting each element's attributes; a page with an element past MAX_ATTRIBUTES is built from the
# parser's events, each element keeping its first MAX_ATTRIBUTES (a real element has a few dozen).
MAX_ATTRIBUTES = 256
FLOOD_CHECK_BYTES = 65_536  # below it, even one element of nothing but attributes builds in 0.1 s


def document(page: bytes) -> lxml.html.HtmlElement | None:
    """The ``lxml.html`` tree of ``page`` (UTF-8, from :func:`utf8`), each element with its first
    ``MAX_ATTRIBUTES`` attributes; None when libxml2 cannot read it."""
    parser = _tree_parser()
    try:
        most = feed(page, _MostAttributes()) if len(page) > FLOOD_CHECK_BYTES else 0
        # A page the counting pass could not read is not known to be safe: the tree is built without
        # the attributes past MAX_ATTRIBUTES too.
        if not isinstance(most, int) or most > MAX_ATTRIBUTES:
            root = feed(page, _FewAttributes(parser=parser))
            return root if isinstance(root, lxml.html.HtmlElement) else None
        return lxml.html.document_fromstring(page, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None


_LOCAL = threading.local()


def _tree_parser() -> lxml.html.HTMLParser:
    """This thread's tree parser, reused page after page (lxml parsers keep no document between uses)."""
    parser: lxml.html.HTMLParser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = lxml.html.HTMLParser(**_SETTINGS)
    return parser


class _MostAttributes:
    """Parser target: the most attributes any one element of the page has."""

    def __init__(self) -> None:
        self.most = 0

    def start(self, _tag: str, attrib: dict[str, str]) -> None:
        self.most = max(self.most, len(attrib))

    def close(self) -> int:
        return self.most


class _FewAttributes(lxml.etree.TreeBuilder):
    """Builds the page's tree from the parser's events, each element with its first MAX_ATTRIBUTES
    attributes (lines are kept); comments and processing instructions are left out, as in a tree."""

    def start(self, tag: str, attrib: dict[str, str], nsmap: object = None) -> lxml.etree._Element:
        if len(attrib) > MAX_ATTRIBUTES:
            attrib = dict(itertools.islice(attrib.items(), MAX_ATTRIBUTES))
        return super().start(tag, attrib)

    def comment(self, _text: str) -> None:
        return None

    def pi(self, _target: str, _data: str | None = None) -> None:
        return None
