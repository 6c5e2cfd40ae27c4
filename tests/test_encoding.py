"""A page's encoding, found as a browser finds it: the one sniffer of the rewriter, the privacy finder and
the audit (each of their test modules checks that it reads pages with it)."""

from __future__ import annotations

import time

import pytest
import webencodings
from hypothesis import given
from hypothesis import strategies as st

from linkgate.encoding import Encoding, encoding_for_label, fallback_encoding, prescan, sniff

# (bytes, the Content-Type charset, the encoding a browser reads them in, how it is found)
CASES = [
    # 1. A byte-order mark wins over everything.
    (b"\xef\xbb\xbf<meta charset=windows-1252>", "koi8-r", "UTF-8", "byte-order mark"),
    (b"\xff\xfe<\x00p\x00", None, "UTF-16LE", "byte-order mark"),
    (b"\xfe\xff\x00<\x00p", "utf-8", "UTF-16BE", "byte-order mark"),
    # 2. The server's charset wins over <meta>; one browsers do not know is passed over.
    (b"<meta charset=utf-8><p>caf\xe9", "latin1", "windows-1252", "Content-Type"),
    (b"<meta charset=koi8-r>", "no-such-charset", "KOI8-R", "<meta>"),
    (b"<p>", " Shift_JIS ", "Shift_JIS", "Content-Type"),
    # 3. The prescan: <meta charset>, then http-equiv with content, as the tokenizer reads them.
    (b'<meta charset="Shift_JIS">', None, "Shift_JIS", "<meta>"),
    (b"<META CHARSET=ISO-8859-1>", None, "windows-1252", "<meta>"),
    (b"<meta charset=' latin1 '>", None, "windows-1252", "<meta>"),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">', None, "EUC-KR", "<meta>"),
    (b"<meta content='text/html;charset=\"koi8-r\"' http-equiv=content-type>", None, "KOI8-R", "<meta>"),
    (b'<meta content="text/html; charset=koi8-r">', None, "UTF-8", "valid UTF-8"),  # no http-equiv
    (b'<meta name="description" content="charset=koi8-r">', None, "UTF-8", "valid UTF-8"),
    (b"<!-- <meta charset=koi8-r> --><meta charset=iso-8859-2>", None, "ISO-8859-2", "<meta>"),
    (b"<p title='<meta charset=koi8-r>'><meta charset=iso-8859-5>", None, "ISO-8859-5", "<meta>"),
    (b"<meta charset=koi8-r charset=iso-8859-5>", None, "KOI8-R", "<meta>"),  # the first of a name counts
    (b'<?xml version="1.0" encoding="windows-1251"?><p>', None, "windows-1251", "<meta>"),
    (b'<?xml version="1.0" encoding="koi8-r"?><meta charset=gbk>', None, "GBK", "<meta>"),
    # A <meta> naming UTF-16 means UTF-8; x-user-defined is read as windows-1252.
    (b'<meta charset="utf-16">', None, "UTF-8", "<meta>"),
    (b'<meta charset="UTF-16LE">\xe9', None, "UTF-8", "<meta>"),
    (b"<meta charset=x-user-defined>", None, "windows-1252", "<meta>"),
    (b"<p>", "x-user-defined", "windows-1252", "Content-Type"),
    # Labels of the replacement encoding (a browser shows one U+FFFD) and unknown labels.
    (b"<meta charset=hz-gb-2312>", None, "replacement", "<meta>"),
    (b"<meta charset=iso-2022-kr>", None, "replacement", "<meta>"),
    (b"<meta charset=iso-2022-jp>", None, "ISO-2022-JP", "<meta>"),
    (b'<meta charset="nonsense"><meta charset="gbk">', None, "GBK", "<meta>"),
    (b"<meta charset=base64><p>caf\xe9", None, "windows-1252", "default"),
    # 4. A <meta> past the first 1,024 bytes.
    (b"<p>" + b"x" * 2000 + b"</p><meta charset=koi8-r>", None, "KOI8-R", "<meta>"),
    # 5. Nothing declared: UTF-8 when the bytes are valid UTF-8, else windows-1252.
    (b"<p>caf\xc3\xa9</p>", None, "UTF-8", "valid UTF-8"),
    (b"<p>caf\xe9</p>", None, "windows-1252", "default"),
    (b"<p>plain</p>", None, "UTF-8", "valid UTF-8"),
    (b"", None, "UTF-8", "valid UTF-8"),
]


@pytest.mark.parametrize(("data", "transport", "name", "source"), CASES)
def test_the_encoding_is_found_as_a_browser_finds_it(
    data: bytes, transport: str | None, name: str, source: str
) -> None:
    found = sniff(data, transport)
    assert (found.name, found.source) == (name, source)


def test_the_prescan_reads_1024_bytes_and_the_late_meta_64_kb() -> None:
    late = b"<p>" + b"x" * 2000 + b"</p><meta charset=koi8-r>"
    assert prescan(late[:1024]) is None
    too_late = b"<p>" + b"x" * 70_000 + b"</p><meta charset=koi8-r>caf\xe9"
    assert (sniff(too_late).name, sniff(too_late).source) == ("windows-1252", "default")


def test_every_whatwg_label_is_known_by_its_name() -> None:
    for label, name in webencodings.LABELS.items():
        found = encoding_for_label(label.upper())
        assert found is not None, label
        expected = "windows-1252" if name == "x-user-defined" else name
        assert found.name.lower() == expected
    assert encoding_for_label("utf-7") is None
    assert encoding_for_label("base64") is None


@pytest.mark.parametrize(
    ("label", "data", "text"),
    [
        ("windows-1252", b"\x93q\x94 \x81", "\u201cq\u201d \x81"),  # unassigned bytes are C1 controls
        ("latin1", b"caf\xe9", "café"),
        ("utf-8", b"caf\xc3\xa9 \xff", "café \ufffd"),
        ("gbk", "中".encode("gb18030") + "𠀀".encode("gb18030"), "中𠀀"),  # GBK decodes as gb18030
        ("shift_jis", "表".encode("cp932"), "表"),
        ("utf-16le", "<p>é".encode("utf-16-le"), "<p>é"),
        ("hz-gb-2312", b"<p>anything", "\ufffd"),
        ("hz-gb-2312", b"", ""),
    ],
)
def test_pages_are_decoded_as_browsers_decode_them(label: str, data: bytes, text: str) -> None:
    encoding = encoding_for_label(label)
    assert encoding is not None
    assert encoding.decode(data) == text


def test_the_query_of_a_page_is_encoded_in_its_encoding_or_utf8() -> None:
    names = {label: encoding_for_label(label) for label in ("gbk", "shift_jis", "utf-16", "iso-2022-kr")}
    assert {label: found.query_codec for label, found in names.items() if found is not None} == {
        "gbk": "gbk",
        "shift_jis": "cp932",
        "utf-16": "utf-8",
        "iso-2022-kr": "utf-8",
    }


def test_undeclared_bytes_are_utf8_only_when_valid() -> None:
    assert fallback_encoding("é".encode()) == Encoding("UTF-8", "valid UTF-8", "utf-8", "utf-8")
    assert fallback_encoding(b"\xe9").name == "windows-1252"


@given(st.binary(max_size=300), st.sampled_from([None, "utf-8", "latin1", "nonsense"]))
def test_any_bytes_get_an_encoding_and_decode(data: bytes, transport: str | None) -> None:
    found = sniff(data, transport)
    assert isinstance(found.decode(data), str)


@pytest.mark.parametrize(
    "head",
    [
        b"<meta " + b"a " * 40_000,  # a <meta> never closed
        b"<a " + b"b='' " * 20_000,
        b"<" * 70_000,
        b"<!--" + b"-" * 70_000,
        b"<meta charset='" + b"x" * 70_000,
        b"<meta content='charset=" + b"charset=" * 8_000 + b"'",
    ],
)
def test_the_prescan_is_linear_and_capped(head: bytes) -> None:
    page = head * (2_000_000 // len(head))
    started = time.process_time()
    sniff(page)
    assert time.process_time() - started < 0.5
