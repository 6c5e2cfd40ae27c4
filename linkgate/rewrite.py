"""Rewriting the off-site links of a County page into signed gate links, changing nothing else.

:func:`rewrite_html` takes the bytes of a page and gives back the same bytes with the values of the
``href`` attributes of off-site ``<a>`` and ``<area>`` elements (and of ``<a>`` in inline SVG) replaced by
signed gate links. It reads the page the way a browser does, enough to agree with one on which tags are
links: the HTML tokenizer's states for tags, attributes, comments, doctypes, CDATA, ``<script>`` (with its
escapes), the raw-text elements (``<style>``, ``<textarea>``, ``<title>``, ...) and foreign content; the
encoding from the byte-order mark, ``<meta charset>`` or ``http-equiv``, as the HTML standard's prescan
finds it; character references in attribute values with their historical rule (``&copy=1`` stays as it
is); ``<base href>``; and the URL Standard (``ada-url``) for resolving and serialising, with the query
percent-encoded in the page's own encoding.

Pure: bytes in, bytes and records out; no files, no Click, no network. It must never change a byte outside
the attribute values it rewrites (and the Robust Links attributes it is given to add after them), never
re-serialise the document, and never rewrite a link it cannot read with certainty: a destination the gate
would refuse is left alone and reported, never dropped silently.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from html.entities import html5 as _NAMED_REFERENCES

import ada_url

from linkgate.classify import is_under
from linkgate.config import Settings
from linkgate.encoding import (
    Encoding,
    byte_order_mark,
    declared_encoding,
    encoding_for_label,
    fallback_encoding,
    meta_encoding,
)
from linkgate.errors import InvalidDestination, LinkgateError
from linkgate.gateaddress import gate_address, gate_link, read_gate_link
from linkgate.signing import Signer
from linkgate.urls import DEFAULT_MAX_LENGTH, WEB_SCHEMES, Destination, host_of, parse_destination


class UnsupportedDocument(LinkgateError, ValueError):
    """A file that cannot be rewritten safely: not HTML text, or in an encoding that is not ASCII-based."""


class Outcome(StrEnum):
    """What happened to one link; the values are the words of the summary."""

    REWRITTEN = "rewritten"
    COUNTY = "county"
    RELATIVE = "relative"
    FRAGMENT = "fragment"
    MAILTO = "mailto"
    TEL = "tel"
    GATED = "already gated"
    NOT_WEB = "not a web link"
    REFUSED = "refused"


SKIP_REASONS = tuple(outcome for outcome in Outcome if outcome is not Outcome.REWRITTEN)


# ---- encodings -----------------------------------------------------------------------------------
# Found by linkgate.encoding, as every reader of pages finds them. Rewriting byte for byte adds two
# things: only ASCII-based encodings can be rewritten, and a <meta> past the prescan's 1,024 bytes is
# taken from the tokenizer's tags, as the tree builder meets it.


def _declared_encoding(data: bytes, declared: str | None) -> Encoding | None:
    """The byte-order mark, the server's encoding (``declared``) or the prescan's ``<meta>``; None when
    the page declares none there. Raises :class:`UnsupportedDocument` for a page that is not HTML text
    or not in an ASCII-based encoding, and for a ``declared`` label no browser knows."""
    if data.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise UnsupportedDocument("the file is UTF-32 (byte-order mark), which linkgate cannot rewrite.")
    found = byte_order_mark(data)
    if found is not None and not found.ascii_based:
        raise UnsupportedDocument(
            "the file is UTF-16 (byte-order mark), which linkgate cannot rewrite: save it as UTF-8."
        )
    if found is None:
        if b"\x00" in data:
            raise UnsupportedDocument(
                "the file contains NUL bytes, so it is not HTML text (or it is UTF-16 or UTF-32 without a "
                "byte-order mark)."
            )
        if declared is not None and encoding_for_label(declared) is None:
            raise UnsupportedDocument(f'"{declared}" is not the name of an encoding a browser knows.')
        found = declared_encoding(data, declared, source="--encoding")
    return _ascii_based(found)


def _ascii_based(found: Encoding | None) -> Encoding | None:
    if found is not None and not found.ascii_based:
        raise UnsupportedDocument(
            f"the page is in {found.name} ({found.source}), which linkgate cannot rewrite: only encodings "
            f"that keep ASCII's bytes (UTF-8, windows-1252, Shift_JIS...) can be rewritten byte for byte."
        )
    return found


def _late_meta_encoding(tags: Iterable[_Tag]) -> Encoding | None:
    """The first ``<meta>`` past the prescan's 1024 bytes: browsers then reload the page in its encoding."""
    for tag in tags:
        if tag.name == "meta" and not tag.in_template and not tag.namespace:
            values = {
                name: unescape_attribute(tag.text[start:end]) for name, start, end, _ in reversed(tag.attrs)
            }
            found = meta_encoding(values)
            if found is not None:
                return _ascii_based(found)
    return None


# ---- character references ------------------------------------------------------------------------

_REFERENCE = re.compile(r"&(?:#[xX]([0-9A-Fa-f]+);?|#([0-9]+);?|([A-Za-z][A-Za-z0-9]*;?))")
_LONGEST_NAME = max(len(name) for name in _NAMED_REFERENCES)


def unescape_attribute(value: str) -> str:
    """Decode the character references of an attribute value exactly as the HTML tokenizer does.

    Unlike :func:`html.unescape`, a named reference without ``;`` followed by ``=`` or a letter or digit
    stays as it is (``?a=1&copy=2``, ``&region=us``): browsers keep it for historical reasons, and URLs rely
    on it.
    """
    if "&" not in value:
        return value
    return _REFERENCE.sub(_replace_reference, value)


def _replace_reference(match: re.Match[str]) -> str:
    hexadecimal, decimal, name = match.groups()
    if name is None:
        digits = hexadecimal if hexadecimal is not None else decimal
        number = int(digits, 16 if hexadecimal is not None else 10) if len(digits) <= 8 else 0x110000
        return _code_point(number)
    for length in range(min(len(name), _LONGEST_NAME), 0, -1):
        candidate = name[:length]
        if candidate in _NAMED_REFERENCES:
            rest = name[length:]
            after = rest[:1] or match.string[match.end() : match.end() + 1]
            if not candidate.endswith(";") and (after == "=" or (after.isascii() and after.isalnum())):
                return match.group()
            return _NAMED_REFERENCES[candidate] + rest
    return match.group()


def _code_point(number: int) -> str:
    if number == 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
        return "\ufffd"
    if 0x80 <= number <= 0x9F:
        try:
            return bytes([number]).decode("cp1252")
        except UnicodeDecodeError:
            return chr(number)
    return chr(number)


def escape_attribute(value: str, quote: str = '"') -> str:
    """``value`` written for an attribute quoted with ``quote``: reads back as ``value`` in any browser."""
    value = value.replace("&", "&amp;")
    return value.replace('"', "&quot;") if quote == '"' else value.replace("'", "&#39;")


# ---- the tokenizer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tag:
    """A start tag of interest: its name and attributes as (name, value start, value end, quote).

    Offsets index ``text`` (the page read as latin-1, so they are byte offsets too). ``quote`` is ``"``,
    ``'``, ``""`` for an unquoted value, or None for an attribute without a value.
    """

    text: str
    name: str
    attrs: tuple[tuple[str, int, int, str | None], ...]
    in_template: bool
    namespace: str  # "" for HTML, else "svg" or "math"

    def attribute(self, *names: str) -> tuple[str, int, int, str | None] | None:
        """The first attribute with one of ``names`` (a browser drops later duplicates)."""
        for attribute in self.attrs:
            if attribute[0] in names:
                return attribute
        return None


_TAG_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
_BEFORE_ATTRIBUTE = re.compile(r"[\t\n\f\r /]*")
_ATTRIBUTE_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")


def _skip(pattern: re.Pattern[str], text: str, i: int) -> int:
    """Where a run of ``pattern`` (which matches the empty string) starting at ``i`` ends."""
    match = pattern.match(text, i)
    return i if match is None else match.end()


_SCRIPT_DATA = re.compile(r"<!--|</script[\t\n\f\r />]", re.IGNORECASE | re.ASCII)
_SCRIPT_ESCAPED = re.compile(r"-->|<(/?)script[\t\n\f\r />]", re.IGNORECASE | re.ASCII)
_SCRIPT_DOUBLE_ESCAPED = re.compile(r"-->|</script[\t\n\f\r />]", re.IGNORECASE | re.ASCII)

# Elements whose content the tokenizer reads as text up to their end tag (in HTML content). <noscript> is
# not among them: without JavaScript its content is markup, and its links are live.
_RAW_TEXT = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE | re.ASCII)
    for name in ("title", "textarea", "style", "xmp", "iframe", "noembed", "noframes")
}
_COLLECTED = frozenset({"a", "area", "base", "meta"})
_VOID = frozenset(
    ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")
)
# HTML start tags that end foreign content (the "breakout" list of the tree construction rules).
_BREAKOUT = frozenset(
    (
        *("b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta"),
        *("nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table"),
        *("tt", "u", "ul", "var"),
    )
)
_INTEGRATION_POINTS = frozenset(
    {"svg foreignobject", "svg desc", "svg title", "math mi", "math mo", "math mn", "math ms", "math mtext"}
)


# The common, well-formed tag, read in one step. It matches only tags that the tokenizer reads the same
# way (plain names, quoted values, unquoted values free of quotes, "=", "<", "`" and "/"); anything else,
# and every tag whose attributes are needed, goes through _scan_tag, which follows the tokenizer's states.
_FAST_START_TAG = re.compile(
    r"<([A-Za-z][A-Za-z0-9-]*+)"
    r"(?>[\t\n\f\r ]++[A-Za-z_:@][A-Za-z0-9_:.@-]*+"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?>\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >\"'=<`/]++(?=[\t\n\f\r >])))?+)*+"
    r"[\t\n\f\r ]*+(/?)>"
)
_FAST_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9-]*+)[\t\n\f\r ]*+>")


def _attributes(text: str, i: int) -> tuple[tuple[str, int, int, str | None], ...]:
    """The attributes of a tag already known to be complete, its name starting at ``i``."""
    tag = _scan_tag(text, i)
    return tag[1] if tag is not None else ()


def _scan_tag(
    text: str, i: int
) -> tuple[str, tuple[tuple[str, int, int, str | None], ...], int, bool] | None:
    """Read a tag from its name at ``i``: (name, attributes, end, self-closing); None at end of file."""
    n = len(text)
    match = _TAG_NAME.match(text, i)
    if match is None:  # the callers check for a letter first
        return None
    name = match.group().lower()
    i = match.end()
    attrs: list[tuple[str, int, int, str | None]] = []
    while True:
        j = _skip(_BEFORE_ATTRIBUTE, text, i)
        if j >= n:
            return None
        if text[j] == ">":
            return name, tuple(attrs), j + 1, j > i and text[j - 1] == "/"
        found = _ATTRIBUTE_NAME.match(text, j)
        if found is None:  # cannot happen: text[j] is none of the characters that stop a name
            return None
        attribute = found.group().lower()
        k = _skip(_SPACES, text, found.end())
        if k < n and text[k] == "=":
            v = _skip(_SPACES, text, k + 1)
            if v >= n:
                return None
            quote = text[v]
            if quote in "\"'":
                close = text.find(quote, v + 1)
                if close < 0:
                    return None
                attrs.append((attribute, v + 1, close, quote))
                i = close + 1
            elif quote == ">":
                attrs.append((attribute, v, v, ""))
                return name, tuple(attrs), v + 1, False
            else:
                end = _skip(_UNQUOTED, text, v)
                attrs.append((attribute, v, end, ""))
                i = end
        else:
            attrs.append((attribute, k, k, None))
            i = k


def _is_html_font(text: str, lt: int, attrs: tuple[tuple[str, int, int, str | None], ...] | None) -> bool:
    """A <font> with color, face or size ends foreign content; a plain one is an SVG element."""
    found = attrs if attrs is not None else _attributes(text, lt + 1)
    return any(attribute[0] in ("color", "face", "size") for attribute in found)


def _script_end(text: str, i: int) -> int | None:
    """Where the ``</script`` that ends a script starting at ``i`` begins, minding ``<!--`` escapes."""
    state = "data"
    while True:
        if state == "data":
            match = _SCRIPT_DATA.search(text, i)
            if match is None:
                return None
            if match.group()[1] == "/":
                return match.start()
            state, i = "escaped", match.start() + 2  # the dashes of "<!--" may also close it: "<!-->"
        elif state == "escaped":
            match = _SCRIPT_ESCAPED.search(text, i)
            if match is None:
                return None
            if match.group() == "-->":
                state = "data"
            elif match.group(1):
                return match.start()
            else:
                state = "double"
            i = match.end()
        else:
            match = _SCRIPT_DOUBLE_ESCAPED.search(text, i)
            if match is None:
                return None
            state = "data" if match.group() == "-->" else "escaped"
            i = match.end()


def _pop_to_integration_point(foreign: list[str], foreign_names: dict[str, int]) -> None:
    """Close the open foreign elements down to the nearest HTML integration point (or all of them)."""
    while foreign and foreign[-1] not in _INTEGRATION_POINTS:
        foreign_names[foreign.pop().split(" ", 1)[1]] -= 1


def _tokenize(text: str, start: int) -> list[_Tag]:
    """The start tags of ``a``, ``area``, ``base`` and ``meta`` that a browser would see, in order.

    A tag cut off by the end of the file is no tag (browsers drop it), so it is not returned.
    """
    found: list[_Tag] = []
    foreign: list[str] = []  # open SVG and MathML elements, as "svg name" / "math name"
    # How many of the open foreign elements have each name, so that an end tag naming none of them is
    # passed over without reading the whole stack (deep SVG with stray end tags was quadratic).
    foreign_names: dict[str, int] = {}
    # How many HTML elements of each name were opened and not closed, roughly (without the parser's
    # implied end tags): an end tag for one of them ends the foreign content inside it, as in a browser.
    open_html: dict[str, int] = {}
    templates = 0
    n = len(text)
    i = start
    while True:
        lt = text.find("<", i)
        if lt < 0 or lt + 1 >= n:
            return found
        char = text[lt + 1]
        in_html = not foreign or foreign[-1] in _INTEGRATION_POINTS
        if char.isascii() and char.isalpha():
            fast = _FAST_START_TAG.match(text, lt)
            if fast is not None:
                name, end, self_closing = fast.group(1).lower(), fast.end(), bool(fast.group(2))
                attrs: tuple[tuple[str, int, int, str | None], ...] | None = None
            else:
                tag = _scan_tag(text, lt + 1)
                if tag is None:
                    return found
                name, attrs, end, self_closing = tag
            if not in_html and (name in _BREAKOUT or (name == "font" and _is_html_font(text, lt, attrs))):
                _pop_to_integration_point(foreign, foreign_names)
                i = lt  # read the tag again, now as HTML
                continue
            i = end
            if in_html:
                if name not in _VOID:
                    open_html[name] = open_html.get(name, 0) + 1
                if name in _COLLECTED:
                    attrs = attrs if attrs is not None else _attributes(text, lt + 1)
                    found.append(_Tag(text, name, attrs, templates > 0, ""))
                elif name in ("svg", "math"):
                    if not self_closing:
                        foreign.append(f"{name} {name}")
                        foreign_names[name] = foreign_names.get(name, 0) + 1
                elif name == "template":
                    templates += 1
                elif name in _RAW_TEXT:
                    match = _RAW_TEXT[name].search(text, end)
                    if match is None:
                        return found
                    i = match.start()
                elif name == "script":
                    script_end = _script_end(text, end)
                    if script_end is None:
                        return found
                    i = script_end
                elif name == "plaintext":
                    return found
            else:
                # In foreign content every element takes its parent's namespace (<svg><math> is SVG's).
                namespace = (
                    "svg"
                    if foreign[-1] == "math annotation-xml" and name == "svg"
                    else foreign[-1][:4].strip()
                )
                if name == "a":
                    attrs = attrs if attrs is not None else _attributes(text, lt + 1)
                    found.append(_Tag(text, name, attrs, templates > 0, namespace))
                if not self_closing:
                    foreign.append(f"{namespace} {name}")
                    foreign_names[name] = foreign_names.get(name, 0) + 1
        elif char == "/":
            if lt + 2 < n and text[lt + 2].isascii() and text[lt + 2].isalpha():
                fast = _FAST_END_TAG.match(text, lt)
                if fast is not None:
                    name, i = fast.group(1).lower(), fast.end()
                else:
                    tag = _scan_tag(text, lt + 2)
                    if tag is None:
                        return found
                    name, _, i, _ = tag
                if foreign_names.get(name):
                    depth = len(foreign) - 1
                    while foreign[depth].split(" ", 1)[1] != name:
                        depth -= 1
                    for closed in foreign[depth:]:
                        foreign_names[closed.split(" ", 1)[1]] -= 1
                    del foreign[depth:]
                elif not in_html and (name in ("p", "br") or open_html.get(name)):
                    _pop_to_integration_point(foreign, foreign_names)
                if in_html and open_html.get(name):
                    open_html[name] -= 1
                if in_html and name == "template" and templates:
                    templates -= 1
            elif text.startswith(">", lt + 2):
                i = lt + 3
            else:
                end = text.find(">", lt + 2)
                if end < 0:
                    return found
                i = end + 1
        elif char == "!":
            if text.startswith("--", lt + 2):
                body = lt + 4
                if text.startswith(">", body):
                    i = body + 1
                elif text.startswith("->", body):
                    i = body + 2
                else:
                    match = _COMMENT_END.search(text, body)
                    if match is None:
                        return found
                    i = match.end()
            elif not in_html and text.startswith("[CDATA[", lt + 2):
                end = text.find("]]>", lt + 9)
                if end < 0:
                    return found
                i = end + 3
            else:  # a doctype, or a bogus comment (CDATA in HTML content is one)
                end = text.find(">", lt + 2)
                if end < 0:
                    return found
                i = end + 1
        elif char == "?":
            end = text.find(">", lt + 2)
            if end < 0:
                return found
            i = end + 1
        else:
            i = lt + 1


# ---- the gate and the County ---------------------------------------------------------------------


class GateStatus(StrEnum):
    SIGNED = "signed"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad signature"
    INVALID = "invalid"


_GATE_NOTES = {
    GateStatus.UNSIGNED: "gate link without a signature",
    GateStatus.BAD_SIGNATURE: "gate link whose signature does not verify (made with another secret key?)",
}


class GateLinks:
    """The rewriter's gate links: it makes them (signed, on the gate's address) and judges the ones a page
    has, and it knows which hosts are the County's. ``web/gate.py`` answers them."""

    def __init__(
        self,
        public_url: str,
        signer: Signer,
        county_domains: Iterable[str],
        max_url_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.address = gate_address(public_url)
        self.signer = signer
        self.county_domains = tuple(county_domains)
        self.max_url_length = max_url_length

    @classmethod
    def from_settings(cls, settings: Settings) -> GateLinks:
        return cls(
            settings.public_url,
            Signer(settings.secret_key, settings.previous_secret_keys),
            settings.county_domains,
            settings.max_url_length,
        )

    def is_county(self, destination: Destination) -> bool:
        return not destination.is_ip and self.is_county_host(destination.host)

    def is_county_host(self, host: str) -> bool:
        """``host`` as the URL parser writes it (an IP address is never under a County domain name)."""
        return is_under(host.rstrip("."), self.county_domains)

    def link(self, destination: Destination) -> str:
        return gate_link(self.address, destination.href, self.signer)

    def status(self, href: str) -> tuple[GateStatus, str] | None:
        """None when ``href`` (as the URL parser writes it) is not a gate link; else whether the gate will
        trust it, and why not."""
        found = read_gate_link(href, self.address)
        if found is None:
            return None
        if found.destination is None:
            return GateStatus.INVALID, "gate link that names no destination, or more than one"
        try:
            destination = parse_destination(found.destination, self.max_url_length)
        except InvalidDestination as error:
            return GateStatus.INVALID, f"gate link the gate refuses: {error}"
        if not found.signatures:
            return GateStatus.UNSIGNED, _GATE_NOTES[GateStatus.UNSIGNED]
        if self.signer.verify(destination.href, found.signatures[0]):
            return GateStatus.SIGNED, ""
        return GateStatus.BAD_SIGNATURE, _GATE_NOTES[GateStatus.BAD_SIGNATURE]


# ---- rewriting -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """One link of a page and what became of it."""

    line: int
    tag: str  # "a", "area", "svg:a" or "math:a"
    value: str  # the href as a browser reads it (character references decoded)
    outcome: Outcome
    destination: str | None = None  # the absolute destination, as the URL parser writes it
    note: str = ""  # why it was refused, or what is wrong with a gate link
    needs_gate: bool = False  # an off-site link that does not (properly) go through the gate
    start: int = 0  # the attribute value's bytes in the input, quotes included
    end: int = 0
    replacement: bytes = b""  # what those bytes became (rewritten links only)
    robust: bool = False  # Robust Links attributes (data-versionurl, data-versiondate) were added after it


@dataclass(frozen=True)
class RewriteResult:
    data: bytes
    encoding: Encoding
    links: tuple[Link, ...] = ()
    counts: Counter[Outcome] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return self.counts[Outcome.REWRITTEN] > 0

    @property
    def needing_gate(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.needs_gate)


_SENTINEL_HOST = "page.linkgate.invalid"
_SENTINEL = f"https://{_SENTINEL_HOST}/"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_C0_OR_SPACE = "".join(chr(code) for code in range(0x21))
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_QUERY_SAFE = frozenset(range(0x21, 0x7F)) - {ord(char) for char in "\"#<>'"}
_SKIPPED_SCHEMES = {"mailto:": Outcome.MAILTO, "tel:": Outcome.TEL}


def _encode_query(value: str, encoding: Encoding) -> str:
    """Percent-encode the non-ASCII characters of the query in the page's encoding, as a browser does.

    The URL parser encodes a query in UTF-8; a browser encodes it in the document's encoding, writing
    ``%26%23NNN%3B`` for a character that encoding cannot represent.
    """
    if encoding.is_utf8 or value.isascii():
        return value
    hash_at = value.find("#")
    query_at = value.find("?", 0, hash_at if hash_at >= 0 else len(value))
    if query_at < 0:
        return value
    query_end = hash_at if hash_at >= 0 else len(value)
    query = value[query_at + 1 : query_end]
    if query.isascii():
        return value
    out = []
    for char in query:
        if char.isascii():
            out.append(char)
            continue
        try:
            encoded = char.encode(encoding.query_codec)
        except UnicodeEncodeError:
            out.append(f"%26%23{ord(char)}%3B")
            continue
        out.extend(chr(byte) if byte in _QUERY_SAFE else f"%{byte:02X}" for byte in encoded)
    return value[: query_at + 1] + "".join(out) + value[query_end:]


class _Resolver:
    """Classifies the href values of one page (its encoding and base address fixed), with a cache."""

    def __init__(self, gate: GateLinks, encoding: Encoding, base: str, page: str) -> None:
        self.gate = gate
        self.encoding = encoding
        self.base = base
        self.base_is_county = self._is_county_address(base)
        # With a <base href> elsewhere, even "#top" and "" lead to another page: the base's.
        self.base_moved = base.partition("#")[0] != page.partition("#")[0]
        self.cache: dict[str, tuple[Outcome, str | None, str, bool, str]] = {}

    def _is_county_address(self, address: str) -> bool:
        if address.startswith(_SENTINEL):
            return True  # the page's own address: a County page, as far as anyone can tell
        try:
            return self.gate.is_county(parse_destination(address, max_length=len(address)))
        except InvalidDestination:
            return False

    def classify(self, value: str) -> tuple[Outcome, str | None, str, bool, str]:
        """(outcome, destination, note, needs the gate, new href) for an href value."""
        cached = self.cache.get(value)
        if cached is None:
            cached = self.cache[value] = self._classify(value)
        return cached

    def _classify(self, value: str) -> tuple[Outcome, str | None, str, bool, str]:
        stripped = _TAB_OR_NEWLINE.sub("", value.strip(_C0_OR_SPACE))
        local = Outcome.FRAGMENT if stripped.startswith("#") else Outcome.RELATIVE
        if (not stripped or local is Outcome.FRAGMENT) and not self.base_moved:
            return local, None, "", False, ""
        scheme = _SCHEME.match(stripped)
        if scheme is not None:
            name = scheme.group().lower()
            if name in _SKIPPED_SCHEMES:
                return _SKIPPED_SCHEMES[name], None, "", False, ""
            if name not in WEB_SCHEMES:
                return Outcome.NOT_WEB, None, "", False, ""
        try:
            href = ada_url.join_url(self.base, _encode_query(value, self.encoding))
        except ValueError:
            return Outcome.REFUSED, None, "not a valid web address", False, ""
        if not href.startswith(("https:", "http:")):
            return Outcome.NOT_WEB, None, "", False, ""
        if href.startswith(_SENTINEL):
            return local, None, "", False, ""
        gate = self.gate.status(href)
        if gate is not None:
            status, note = gate
            return Outcome.GATED, href, note, status is not GateStatus.SIGNED, ""
        names_host = scheme is not None or stripped[:2] in ("//", "\\\\", "/\\", "\\/")
        if self.gate.is_county_host(host_of(href)):
            return (Outcome.COUNTY if names_host else local), href, "", False, ""
        if not names_host and self.base_is_county:
            return local, href, "", False, ""
        try:
            destination = parse_destination(href, self.gate.max_url_length)
        except InvalidDestination as error:
            return Outcome.REFUSED, href, str(error), True, ""
        return Outcome.REWRITTEN, destination.href, "", True, self.gate.link(destination)


def rewrite_html(
    data: bytes,
    gate: GateLinks,
    *,
    base_url: str | None = None,
    encoding: str | None = None,
    versions: Mapping[str, tuple[str, str]] | None = None,
) -> RewriteResult:
    """Rewrite the off-site links of the page ``data`` into signed gate links on ``gate``.

    ``base_url`` is the page's own address (relative links resolve against it, and against
    ``<base href>``); without it, links that name no host stay relative and protocol-relative links are
    taken as https. ``encoding`` is what the web server declares for the page (its Content-Type charset),
    which wins over ``<meta>``, as in a browser. ``versions`` maps a destination (as the URL parser writes
    it) to an archived version of it, (address, ``YYYY-MM-DD``): each rewritten link to it gains the Robust
    Links attributes ``data-versionurl`` and ``data-versiondate`` after its href, unless it has either
    already.

    Raises :class:`UnsupportedDocument` for a file that is not HTML text or not in an ASCII-based encoding,
    and :class:`InvalidDestination` for a ``base_url`` that is not an http(s) address.
    """
    declared = _declared_encoding(data, encoding)
    text = data.decode("latin-1")
    tags = _tokenize(text, 3 if declared is not None and declared.source == "byte-order mark" else 0)
    page_encoding = declared or _late_meta_encoding(tags) or fallback_encoding(data)

    page = parse_destination(base_url, len(base_url)).href if base_url else _SENTINEL
    base = page
    for tag in tags:
        if tag.name == "base" and not tag.in_template and (found := tag.attribute("href")) is not None:
            _, value_start, value_end, _ = found
            href = unescape_attribute(page_encoding.decode(data[value_start:value_end]))
            try:
                resolved = ada_url.URL(_encode_query(href, page_encoding), base=page)
            except ValueError:
                break
            if resolved.protocol not in ("data:", "javascript:"):
                base = resolved.href
            break
    resolver = _Resolver(gate, page_encoding, base, page)

    lines = _LineIndex(text)
    links: list[Link] = []
    counts: Counter[Outcome] = Counter()
    pieces: list[bytes] = []
    done = 0
    for tag in tags:
        if tag.name not in ("a", "area"):
            continue
        # In SVG, href wins over the older xlink:href.
        found = tag.attribute("href") or (tag.attribute("xlink:href") if tag.namespace else None)
        if found is None:
            continue
        _, value_start, value_end, quote = found
        value = unescape_attribute(page_encoding.decode(data[value_start:value_end]))
        outcome, destination, note, needs_gate, new_href = resolver.classify(value)
        counts[outcome] += 1
        span_start = value_start - 1 if quote in ('"', "'") else value_start
        span_end = value_end + 1 if quote in ('"', "'") else value_end
        replacement = b""
        robust = False
        if outcome is Outcome.REWRITTEN:
            mark = quote or '"'
            written = f"{mark}{escape_attribute(new_href, mark)}{mark}"
            version = versions.get(destination) if versions and destination else None
            if version is not None and tag.attribute("data-versionurl", "data-versiondate") is None:
                address, day = version
                written += (
                    f' data-versionurl="{escape_attribute(address)}"'
                    f' data-versiondate="{escape_attribute(day)}"'
                )
                robust = True
            replacement = written.encode("ascii")
            pieces.append(data[done:span_start])
            pieces.append(replacement)
            done = span_end
        links.append(
            Link(
                line=lines.line(value_start),
                tag=f"{tag.namespace}:{tag.name}" if tag.namespace else tag.name,
                value=value,
                outcome=outcome,
                destination=destination,
                note=note,
                needs_gate=needs_gate,
                start=span_start,
                end=span_end,
                replacement=replacement,
                robust=robust,
            )
        )
    if not pieces:
        return RewriteResult(data, page_encoding, tuple(links), counts)
    pieces.append(data[done:])
    return RewriteResult(b"".join(pieces), page_encoding, tuple(links), counts)


class _LineIndex:
    """Line numbers of offsets; CRLF, CR and LF each end a line."""

    _BREAK = re.compile(r"\r\n?|\n")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ends: list[int] | None = None

    def line(self, offset: int) -> int:
        if self.ends is None:
            self.ends = [match.end() for match in self._BREAK.finditer(self.text)]
        return bisect.bisect_right(self.ends, offset) + 1
