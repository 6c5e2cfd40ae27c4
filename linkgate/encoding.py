"""A page's character encoding, found as a browser finds it (the HTML Standard's encoding sniffing).

One set of steps for every reader of HTML in linkgate: the rewriter, the privacy finder and the audit.

1. A byte-order mark (UTF-8, UTF-16LE, UTF-16BE).
2. The charset the web server declares (its Content-Type), when it is a label browsers know.
3. The standard's prescan: the first ``<meta charset>`` or ``<meta http-equiv=content-type>`` of the first
   1,024 bytes, read as its tokenizer reads them, or else an XML declaration at the start.
4. A ``<meta>`` further down: a browser that meets one while parsing reloads the page in its encoding.
   The rewriter takes it from its own tokens (:func:`meta_encoding`); the lxml readers carry the same
   prescan on to the first 64 KB (:func:`sniff`).
5. UTF-8 when the bytes are valid UTF-8, else windows-1252 (what browsers in an English locale guess).

Labels are looked up in the WHATWG Encoding Standard's table, kept by ``webencodings`` (its ``lookup``);
this module adds what the HTML Standard says on top (a ``<meta>`` naming UTF-16 means UTF-8,
``x-user-defined`` is read as windows-1252) and the Python codecs that decode as browsers do.

Pure: bytes in, values out. Every step is linear in the bytes it reads and reads at most 64 KB.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import webencodings

__all__ = [
    "Encoding",
    "byte_order_mark",
    "declared_encoding",
    "decode",
    "encoding_for_label",
    "fallback_encoding",
    "meta_encoding",
    "prescan",
    "sniff",
]

#: The standard advises prescanning this many bytes.
PRESCAN_BYTES = 1024
#: How far the lxml readers look for a ``<meta>`` past them (a long head of scripts and styles).
LATE_META_BYTES = 65_536

# The WHATWG names, as the standard writes them (webencodings gives them in lower case).
_WHATWG_NAMES = (
    "UTF-8 IBM866 ISO-8859-2 ISO-8859-3 ISO-8859-4 ISO-8859-5 ISO-8859-6 ISO-8859-7 ISO-8859-8 ISO-8859-8-I "
    "ISO-8859-10 ISO-8859-13 ISO-8859-14 ISO-8859-15 ISO-8859-16 KOI8-R KOI8-U macintosh windows-874 "
    "windows-1250 windows-1251 windows-1252 windows-1253 windows-1254 windows-1255 windows-1256 windows-1257 "
    "windows-1258 x-mac-cyrillic GBK gb18030 Big5 EUC-JP ISO-2022-JP Shift_JIS EUC-KR replacement UTF-16BE "
    "UTF-16LE x-user-defined"
)
_NAMES = {name.lower(): name for name in _WHATWG_NAMES.split()}
# Encodings that reuse ASCII's bytes for other characters (or, for "replacement", decode nothing): the
# rewriter cannot find tags in them byte by byte, and the URL Standard encodes a query in UTF-8 for them.
_NOT_ASCII_BASED = frozenset({"UTF-16BE", "UTF-16LE", "ISO-2022-JP", "replacement"})
# Where Python's codec for a name is not what a browser decodes with: the GBK decoder is gb18030's.
_DECODERS = {"GBK": "gb18030"}


@dataclass(frozen=True, slots=True)
class Encoding:
    """An encoding a browser knows: its WHATWG name, how it was found, and the Python codecs for it."""

    name: str
    source: str  # "byte-order mark", "Content-Type" (or "--encoding"), "<meta>", "valid UTF-8", "default"
    codec: str
    query_codec: str  # what a URL's query on the page is percent-encoded in

    @property
    def is_utf8(self) -> bool:
        return self.name == "UTF-8"

    @property
    def ascii_based(self) -> bool:
        """True when ASCII's bytes mean ASCII's characters, so tags can be found byte by byte."""
        return self.name not in _NOT_ASCII_BASED

    def decode(self, data: bytes) -> str:
        """``data`` as a browser reads it in this encoding: each byte it cannot decode is U+FFFD, but
        windows-1252's five unassigned bytes are the C1 controls of the same number, as in browsers."""
        if self.name == "replacement":
            return "\ufffd" if data else ""
        if data.isascii() and self.ascii_based:
            return data.decode("ascii")
        return data.decode(self.codec, errors=_C1 if self.name == "windows-1252" else _FFFD)


def _undecodable(error: UnicodeError, each: Callable[[int], str]) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(map(each, error.object[error.start : error.end])), error.end


_FFFD, _C1 = "linkgate-fffd", "linkgate-c1"
codecs.register_error(_FFFD, lambda error: _undecodable(error, lambda _: "\ufffd"))
codecs.register_error(_C1, lambda error: _undecodable(error, chr))


def encoding_for_label(label: str, source: str = "Content-Type") -> Encoding | None:
    """The encoding a browser reads an HTML page in for ``label`` (``"latin1"``, ``"Shift_JIS"``...), or
    None for a label it does not know. ``x-user-defined`` is read as windows-1252, as HTML says."""
    found = webencodings.lookup(label)
    if found is None:
        return None
    name = _NAMES[found.name]
    if name == "x-user-defined":
        found, name = webencodings.lookup("windows-1252"), "windows-1252"
    codec = _DECODERS.get(name, found.codec_info.name)
    return Encoding(name, source, codec, "utf-8" if name in _NOT_ASCII_BASED else found.codec_info.name)


def _named(label: str, source: str) -> Encoding:
    found = encoding_for_label(label, source)
    if found is None:  # only called with labels of the table
        raise AssertionError(label)
    return found


def decode(data: bytes, transport: str | None = None) -> str:
    """``data`` as text, as a browser reads it (in the encoding :func:`sniff` finds, without its
    byte-order mark)."""
    found = sniff(data, transport)
    text = found.decode(data)
    return text[1:] if found.source == "byte-order mark" else text


def sniff(data: bytes, transport: str | None = None) -> Encoding:
    """The encoding a browser would read ``data`` in (steps 1 to 5 above): for readers without a
    tokenizer of their own, a ``<meta>`` in the first 64 KB counts."""
    return declared_encoding(data, transport) or prescan(data[:LATE_META_BYTES]) or fallback_encoding(data)


def declared_encoding(data: bytes, transport: str | None, *, source: str = "Content-Type") -> Encoding | None:
    """Steps 1 to 3: the byte-order mark, the server's charset (``transport``; a label browsers do not
    know is passed over, as they do), the prescan of the first 1,024 bytes; None when the page declares
    nothing there."""
    found = byte_order_mark(data)
    if found is None and transport is not None:
        found = encoding_for_label(transport, source)
    return found or prescan(data[:PRESCAN_BYTES])


def byte_order_mark(data: bytes) -> Encoding | None:
    """Step 1: the encoding ``data``'s byte-order mark names (UTF-8, UTF-16LE or UTF-16BE), if any."""
    for mark, label in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return _named(label, "byte-order mark")
    return None


_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
)


def fallback_encoding(data: bytes) -> Encoding:
    """Step 5: UTF-8 when ``data`` is valid UTF-8, else windows-1252."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return _named("windows-1252", "default")
    return _named("utf-8", "valid UTF-8")


# ---- the prescan ---------------------------------------------------------------------------------

_SPACE = "\t\n\f\r "
_TAG_NAME_END = re.compile(r"[\t\n\f\r >]")
_ATTRIBUTE_NAME = re.compile(r"=?[^\t\n\f\r /=>]*")
_UNQUOTED_VALUE = re.compile(r"[^\t\n\f\r >]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_SPACES_AND_SLASHES = re.compile(r"[\t\n\f\r /]*")
_CHARSET_IN_CONTENT = re.compile(r"charset", re.IGNORECASE | re.ASCII)
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def prescan(data: bytes) -> Encoding | None:
    """The HTML standard's "prescan a byte stream to determine its encoding" over all of ``data`` (give
    it the bytes to scan), then its "get an XML encoding"; None when neither finds one."""
    if data.startswith(b"<\x00?\x00x\x00"):
        return _named("utf-16le", "<meta>")
    if data.startswith(b"\x00<\x00?\x00x"):
        return _named("utf-16be", "<meta>")
    return _scan(data.decode("latin-1")) or _xml_encoding(data)


def _scan(head: str) -> Encoding | None:
    """The prescan's loop, on latin-1 text (one character per byte); None when it runs out of bytes."""
    if _CHARSET_IN_CONTENT.search(head) is None:
        return None  # no <meta> in it can declare an encoding
    n = len(head)
    i = head.find("<")
    while 0 <= i < n:
        if _META_START.match(head, i):
            found, i = _meta(head, i + 5)
            if i < 0:
                return None
            if found is not None:
                return found
        elif (tag := _TAG.match(head, i)) is not None:  # the usual tag, in one step
            i = tag.end()
        elif head.startswith("<!--", i):
            end = head.find("-->", i + 2)
            if end < 0:
                return None
            i = end + 3
        elif _is_tag_start(head, i + 2 if head.startswith("/", i + 1) else i + 1):
            name_end = _TAG_NAME_END.search(head, i + 2)
            i = n if name_end is None else name_end.start()
            while True:
                attribute = _attribute(head, i)
                if attribute is None:
                    return None
                name, _, i = attribute
                if name is None:
                    break
        elif head.startswith(("<!", "</", "<?"), i):
            end = head.find(">", i)
            if end < 0:
                return None
            i = end + 1
        else:
            i += 1
        i = head.find("<", i)
    return None


_META_START = re.compile(r"<meta[\t\n\f\r /]", re.IGNORECASE | re.ASCII)
# A whole tag read as the loop reads it (the prescan's "get an attribute" until ">"), in one match. Every
# part is possessive, so the match makes the loop's own choices and no other; a tag it does not match (a
# quote never closed, the end of the bytes) is left to the loop.
_TAG = re.compile(
    r"""</?[A-Za-z][^\t\n\f\r >]*+"""
    r"""(?:[\t\n\f\r /]*+(?!>)=?+[^\t\n\f\r /=>]*+"""  # an attribute's name
    r"""(?:(?=[\t\n\f\r ]*+=)[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|(?!["'])[^\t\n\f\r >]*+)"""
    r"""|(?![\t\n\f\r ]*+=)))*+"""  # its value, when "=" follows
    r"""[\t\n\f\r /]*+>"""
)


def _meta(head: str, i: int) -> tuple[Encoding | None, int]:
    """The attributes of a ``<meta>`` from ``i``: what it declares, and where the prescan goes on (-1 when
    the bytes ran out)."""
    names: set[str] = set()
    charset: Encoding | None = None
    need_pragma: bool | None = None
    got_pragma = False
    while True:
        attribute = _attribute(head, i)
        if attribute is None:
            return None, -1
        name, value, i = attribute
        if name is None:
            break
        if name in names:
            continue
        names.add(name)
        if name == "http-equiv" and value == "content-type":
            got_pragma = True
        elif name == "content" and charset is None:
            label = _charset_from_content(value)
            found = _meta_label(label) if label is not None else None
            if found is not None:
                charset, need_pragma = found, True
        elif name == "charset":
            charset = _meta_label(value)
            need_pragma = False
    if need_pragma is None or (need_pragma and not got_pragma):
        return None, i
    return charset, i


def _is_tag_start(text: str, i: int) -> bool:
    return i < len(text) and text[i].isascii() and text[i].isalpha()


def _attribute(head: str, i: int) -> tuple[str | None, str, int] | None:
    """The prescan's "get an attribute": (name, value, position), name None at ``>``; None at the end."""
    n = len(head)
    i = _SPACES_AND_SLASHES.match(head, i).end()  # type: ignore[union-attr]  # matches the empty string
    if i >= n:
        return None
    if head[i] == ">":
        return None, "", i + 1
    end = _ATTRIBUTE_NAME.match(head, i).end()  # type: ignore[union-attr]
    if end >= n:
        return None
    name, i = _ascii_lower(head[i:end]), end
    if head[i] in _SPACE:
        i = _SPACES.match(head, i).end()  # type: ignore[union-attr]
        if i >= n:
            return None
        if head[i] != "=":
            return name, "", i
    if head[i] in "/>":
        return name, "", i
    i = _SPACES.match(head, i + 1).end()  # type: ignore[union-attr]  # past "="
    if i >= n:
        return None
    quote = head[i]
    if quote in "\"'":
        end = head.find(quote, i + 1)
        if end < 0:
            return None
        return name, _ascii_lower(head[i + 1 : end]), end + 1
    if quote == ">":
        return name, "", i
    end = _UNQUOTED_VALUE.match(head, i).end()  # type: ignore[union-attr]
    if end >= n:
        return None
    return name, _ascii_lower(head[i:end]), end


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _meta_label(label: str) -> Encoding | None:
    """A ``<meta>``'s label: naming UTF-16 it means UTF-8 (the page could not say so otherwise)."""
    found = encoding_for_label(label, "<meta>")
    if found is not None and found.name in ("UTF-16BE", "UTF-16LE"):
        return _named("utf-8", "<meta>")
    return found


def _charset_from_content(content: str) -> str | None:
    """The HTML standard's "extracting a character encoding from a meta element"."""
    position = 0
    while True:
        found = _CHARSET_IN_CONTENT.search(content, position)
        if found is None:
            return None
        i = found.end()
        while i < len(content) and content[i] in _SPACE:
            i += 1
        if i >= len(content) or content[i] != "=":
            position = i
            continue
        i += 1
        while i < len(content) and content[i] in _SPACE:
            i += 1
        if i >= len(content):
            return None
        if content[i] in "\"'":
            end = content.find(content[i], i + 1)
            return None if end < 0 else content[i + 1 : end]
        end = i
        while end < len(content) and content[end] not in _SPACE + ";":
            end += 1
        return content[i:end]


_XML_ENCODING = re.compile(rb"encoding", re.IGNORECASE)


def _xml_encoding(data: bytes) -> Encoding | None:
    """The HTML standard's "get an XML encoding": ``<?xml ... encoding="..."`` at the very start."""
    if not data.startswith(b"<?xml"):
        return None
    end = data.find(b">")
    found = _XML_ENCODING.search(data, 5, end) if end > 0 else None
    if found is None:
        return None
    i = found.end()
    while i < end and data[i] <= 0x20:
        i += 1
    if i >= end or data[i] != ord("="):
        return None
    i += 1
    while i < end and data[i] <= 0x20:
        i += 1
    if i >= end or data[i] not in b"\"'":
        return None
    close = data.find(data[i : i + 1], i + 1, end)
    label = data[i + 1 : close] if close > 0 else b""
    if close < 0 or any(byte <= 0x20 for byte in label):
        return None
    return _meta_label(label.decode("latin-1"))


# ---- a <meta> met while parsing ------------------------------------------------------------------


def meta_encoding(attributes: Mapping[str, str]) -> Encoding | None:
    """The encoding a ``<meta>`` element declares, as the tree builder reads it (``attributes`` by name,
    lower case, values with character references decoded; the first of a repeated name counts)."""
    if "charset" in attributes:
        return _meta_label(attributes["charset"])
    if attributes.get("http-equiv", "").strip(_SPACE).lower() == "content-type" and "content" in attributes:
        label = _charset_from_content(attributes["content"])
        return _meta_label(label) if label is not None else None
    return None
