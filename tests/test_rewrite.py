"""linkgate rewrite: off-site links become signed gate links, and not one other byte of the page changes.

Golden files in tests/data/rewrite: each page ``NAME.html`` has ``NAME.expected.html`` (the rewritten page)
and ``NAME.links.txt`` (every link the rewriter found, and what it did with it), made with a fixed key.
After a deliberate change, ``python -m tests.test_rewrite`` writes them again: read the diff before
committing it.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from linkgate.cli import main
from linkgate.encoding import prescan, sniff
from linkgate.gateaddress import gate_address, gate_link
from linkgate.rewrite import (
    GateLinks,
    Outcome,
    RewriteResult,
    UnsupportedDocument,
    escape_attribute,
    rewrite_html,
    unescape_attribute,
)
from linkgate.signing import Signer
from linkgate.urls import parse_destination

GOLDEN = Path(__file__).parent / "data" / "rewrite"
SECRET = "linkgate rewrite golden files"
OLD_SECRET = "an old key, no longer listed"
PUBLIC_URL = "https://links.missoulacounty.us"
COUNTY = ("missoulacounty.us", "co.missoula.mt.us")
GOLDEN_BASES = {"county_page.html": "https://www.missoulacounty.us/departments/parks/index.html"}
PAGES = sorted(path for path in GOLDEN.glob("*.html") if not path.name.endswith(".expected.html"))
GATE_PREFIX = PUBLIC_URL + "/go?url="


def golden_gate(**kwargs: Any) -> GateLinks:
    return GateLinks(PUBLIC_URL, Signer(SECRET, kwargs.pop("previous", ())), COUNTY, **kwargs)


def describe(result: RewriteResult) -> str:
    """The golden listing of a page's links: one line per link, in the order of the page."""
    lines = [f"encoding: {result.encoding.name} ({result.encoding.source})"]
    for link in result.links:
        line = f"{link.line}: <{link.tag}> {link.outcome.value}: {link.value!r}"
        if link.destination is not None and link.destination != link.value:
            line += f" -> {link.destination}"
        if link.note:
            line += f" ({link.note})"
        lines.append(line)
    return "\n".join(lines) + "\n"


def rewrite(html: str | bytes, **kwargs: Any) -> RewriteResult:
    gate = kwargs.pop("gate", None) or golden_gate()
    data = html.encode("utf-8") if isinstance(html, str) else html
    return rewrite_html(data, gate, **kwargs)


def only_link(html: str, **kwargs: Any):
    result = rewrite(html, **kwargs)
    assert len(result.links) == 1, result.links
    return result.links[0]


def destination_of(gate_href: str) -> str:
    """The destination named by a gate link, as the gate's query parser reads it."""
    assert gate_href.startswith(GATE_PREFIX), gate_href
    (url,) = parse_qs(urlsplit(gate_href).query)["url"]
    return url


def spliced(original: bytes, result: RewriteResult) -> bytes:
    """The original bytes with each rewritten attribute value's span replaced, and nothing else."""
    out, done = [], 0
    for link in result.links:
        if link.outcome is Outcome.REWRITTEN:
            out += [original[done : link.start], link.replacement]
            done = link.end
    return b"".join([*out, original[done:]])


def assert_only_links_changed(original: bytes, result: RewriteResult) -> None:
    assert spliced(original, result) == result.data
    for link in result.links:
        if link.outcome is Outcome.REWRITTEN:
            quote_mark = original[link.start : link.start + 1]
            written = link.replacement.decode("ascii")
            assert written[0] == written[-1] == (quote_mark.decode() if quote_mark in (b'"', b"'") else '"')
            href = unescape_attribute(written[1:-1])
            assert destination_of(href) == link.destination
            assert golden_gate().signer.verify(link.destination, parse_qs(urlsplit(href).query)["sig"][0])
        else:
            assert link.replacement == b""


# ---- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_golden_page_is_rewritten_as_expected(page: Path) -> None:
    result = rewrite(page.read_bytes(), base_url=GOLDEN_BASES.get(page.name))
    assert describe(result) == page.with_suffix(".links.txt").read_text(encoding="utf-8")
    assert result.data == page.with_suffix(".expected.html").read_bytes()


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_golden_page_changes_only_the_rewritten_values(page: Path) -> None:
    original = page.read_bytes()
    result = rewrite(original, base_url=GOLDEN_BASES.get(page.name))
    assert_only_links_changed(original, result)
    # The same check without trusting the records: what lies between the gate links is the original.
    pieces = re.split(
        rb"(?:\"|')https://links\.missoulacounty\.us/go\?url=[^\"']*&amp;sig=[^\"']*(?:\"|')", result.data
    )
    position = 0
    for piece in pieces:
        found = original.find(piece, position)
        assert found >= position, piece[:80]
        position = found + len(piece)


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_rewriting_a_rewritten_page_changes_nothing(page: Path) -> None:
    once = rewrite(page.read_bytes(), base_url=GOLDEN_BASES.get(page.name))
    twice = rewrite(once.data, base_url=GOLDEN_BASES.get(page.name))
    assert twice.data == once.data
    assert not twice.changed
    assert twice.counts[Outcome.GATED] == once.counts[Outcome.GATED] + once.counts[Outcome.REWRITTEN]


def test_golden_pages_cover_every_outcome() -> None:
    seen: set[Outcome] = set()
    for page in PAGES:
        seen.update(rewrite(page.read_bytes(), base_url=GOLDEN_BASES.get(page.name)).counts)
    assert seen == set(Outcome)


def test_golden_pages_keep_their_encodings_and_line_endings() -> None:
    for page in PAGES:
        original = page.read_bytes()
        expected = page.with_suffix(".expected.html").read_bytes()
        assert original.count(b"\r\n") == expected.count(b"\r\n")
        assert expected.startswith(b"\xef\xbb\xbf") == original.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (GOLDEN / "windows1252_crlf.html").read_bytes()


# ---- which links are off-site ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "outcome"),
    [
        ("https://partner.example/", Outcome.REWRITTEN),
        ("http://partner.example/", Outcome.REWRITTEN),
        ("//partner.example/x", Outcome.REWRITTEN),
        ("\\\\partner.example\\x", Outcome.REWRITTEN),
        ("https://www.missoulacounty.us.evil.example/", Outcome.REWRITTEN),
        ("https://missoulacounty.us@evil.example/", Outcome.REWRITTEN),
        ("https://10.0.0.5/", Outcome.REWRITTEN),
        ("https://www.missoulacounty.us/parks", Outcome.COUNTY),
        ("https://MissoulaCounty.US./", Outcome.COUNTY),
        ("https://gis.co.missoula.mt.us/", Outcome.COUNTY),
        ("//www.missoulacounty.us/x", Outcome.COUNTY),
        ("/parks", Outcome.RELATIVE),
        ("parks/index.html", Outcome.RELATIVE),
        ("?page=2", Outcome.RELATIVE),
        ("", Outcome.RELATIVE),
        ("#top", Outcome.FRAGMENT),
        ("  #top", Outcome.FRAGMENT),
        ("mailto:parks@missoulacounty.us", Outcome.MAILTO),
        ("MAILTO:parks@missoulacounty.us", Outcome.MAILTO),
        ("tel:+14062584700", Outcome.TEL),
        ("javascript:void(0)", Outcome.NOT_WEB),
        ("java\tscript:alert(1)", Outcome.NOT_WEB),
        ("data:text/html,hi", Outcome.NOT_WEB),
        ("ftp://files.example/", Outcome.NOT_WEB),
        ("https://links.missoulacounty.us/go?url=https%3A%2F%2Fa.example%2F", Outcome.GATED),
        ("https://exa mple.org/", Outcome.REFUSED),
        ("http://[::1/", Outcome.REFUSED),
        ("https://" + "a" * 5000 + ".example/", Outcome.REFUSED),
    ],
)
def test_each_kind_of_link_gets_its_outcome(href: str, outcome: Outcome) -> None:
    link = only_link(f'<a href="{escape_attribute(href)}">x</a>')
    assert link.outcome is outcome
    assert link.value == href


def test_a_link_too_long_for_the_gate_is_refused_and_reported() -> None:
    href = "https://partner.example/?q=" + "x" * 5000
    result = rewrite(f'<p><a href="{href}">long</a>')
    (link,) = result.links
    assert link.outcome is Outcome.REFUSED and link.needs_gate
    assert "too long" in link.note
    assert result.data == f'<p><a href="{href}">long</a>'.encode()


def test_an_unparseable_link_is_refused_but_is_no_live_link_to_report() -> None:
    link = only_link('<a href="https://exa mple.org/">x</a>')
    assert link.outcome is Outcome.REFUSED and not link.needs_gate
    assert link.note == "not a valid web address"


def test_the_destination_is_the_parsers_serialisation() -> None:
    link = only_link('<a href=" HTTPS://Partner.EXAMPLE:443/a b/../c?q=a b#Frag ">x</a>')
    assert link.destination == parse_destination("https://partner.example/c?q=a%20b#Frag").href
    assert link.destination == "https://partner.example/c?q=a%20b#Frag"


def test_relative_links_resolve_against_the_page_address() -> None:
    page = "https://www.missoulacounty.us/departments/parks/index.html"
    (relative, protocol_relative) = rewrite(
        '<a href="../roads/">r</a><a href="//partner.example/x">p</a>', base_url=page
    ).links
    assert relative.outcome is Outcome.RELATIVE
    assert relative.destination == "https://www.missoulacounty.us/departments/roads/"
    assert protocol_relative.destination == "https://partner.example/x"
    http_page = rewrite('<a href="//partner.example/x">p</a>', base_url="http://www.missoulacounty.us/")
    assert http_page.links[0].destination == "http://partner.example/x"


def test_protocol_relative_links_are_taken_as_https_without_a_page_address() -> None:
    assert only_link('<a href="//partner.example/x">p</a>').destination == "https://partner.example/x"


def test_base_href_sends_relative_links_off_site() -> None:
    result = rewrite(
        '<template><base href="https://ignored.example/"></template>'
        '<base href="https://www.visitmontana.example/trips/"><base href="https://second.example/">'
        '<a href="glacier.html">g</a><a href="#x">f</a><a href="https://www.missoulacounty.us/">c</a>'
    )
    relative, fragment, county = result.links
    assert relative.outcome is Outcome.REWRITTEN
    assert relative.destination == "https://www.visitmontana.example/trips/glacier.html"
    # A browser goes to the base's page even for "#x": a same-page link only when the base is the page.
    assert fragment.outcome is Outcome.REWRITTEN
    assert fragment.destination == "https://www.visitmontana.example/trips/#x"
    assert county.outcome is Outcome.COUNTY


def test_fragment_and_empty_links_follow_a_base_on_a_county_site_as_same_site_links() -> None:
    result = rewrite('<base href="https://www.missoulacounty.us/parks/"><a href="#x">f</a><a href="">e</a>')
    assert [(link.outcome, link.destination) for link in result.links] == [
        (Outcome.FRAGMENT, "https://www.missoulacounty.us/parks/#x"),
        (Outcome.RELATIVE, "https://www.missoulacounty.us/parks/"),
    ]


def test_a_relative_base_keeps_relative_links_on_the_page() -> None:
    link = only_link('<base href="/sub/"><a href="page.html">x</a>')
    assert link.outcome is Outcome.RELATIVE
    page = rewrite(
        '<base href="/sub/"><a href="page.html">x</a>', base_url="https://www.missoulacounty.us/a/b.html"
    )
    assert page.links[0].destination == "https://www.missoulacounty.us/sub/page.html"


def test_a_javascript_base_is_ignored_as_in_a_browser() -> None:
    assert only_link('<base href="javascript:x"><a href="page.html">x</a>').outcome is Outcome.RELATIVE


# ---- gate links --------------------------------------------------------------------------------


def gate_href(destination: str, signer: Signer | None = None) -> str:
    return gate_link(gate_address(PUBLIC_URL), destination, signer or Signer(SECRET))


def test_a_signed_gate_link_is_left_alone_and_needs_nothing() -> None:
    link = only_link(f'<a href="{escape_attribute(gate_href("https://a.example/"))}">x</a>')
    assert link.outcome is Outcome.GATED and not link.needs_gate and link.note == ""


def test_a_link_signed_with_a_previous_key_still_verifies() -> None:
    href = escape_attribute(gate_href("https://a.example/", Signer(OLD_SECRET)))
    assert not only_link(f'<a href="{href}">x</a>', gate=golden_gate(previous=(OLD_SECRET,))).needs_gate


@pytest.mark.parametrize(
    ("href", "note"),
    [
        (gate_href("https://a.example/", Signer(OLD_SECRET)), "does not verify"),
        (gate_href("https://a.example/").replace("a.example", "b.example"), "does not verify"),
        (GATE_PREFIX + quote("https://a.example/", safe=""), "without a signature"),
        (PUBLIC_URL + "/go?url=javascript%3Aalert(1)&sig=x", "the gate refuses"),
        (PUBLIC_URL + "/go?url=https%3A%2F%2Fa.example%2F&url=https%3A%2F%2Fb.example%2F", "more than one"),
        (PUBLIC_URL + "/go", "no destination"),
        ("http://links.missoulacounty.us/go?url=https%3A%2F%2Fa.example%2F", "without a signature"),
    ],
)
def test_a_gate_link_the_gate_will_not_trust_is_reported(href: str, note: str) -> None:
    link = only_link(f'<a href="{escape_attribute(href)}">x</a>')
    assert link.outcome is Outcome.GATED and link.needs_gate
    assert note in link.note


def test_other_pages_of_the_gate_host_are_county_links() -> None:
    assert only_link(f'<a href="{PUBLIC_URL}/go/extra?url=x">x</a>').outcome is Outcome.COUNTY
    assert only_link(f'<a href="{PUBLIC_URL}/admin/">x</a>').outcome is Outcome.COUNTY


def test_a_gate_under_a_path_makes_and_recognises_links_under_it() -> None:
    gate = GateLinks("https://www.missoulacounty.us/exit/", Signer(SECRET), COUNTY)
    once = rewrite('<a href="https://partner.example/">p</a>', gate=gate)
    assert (
        b'"https://www.missoulacounty.us/exit/go?url=https%3A%2F%2Fpartner.example%2F&amp;sig=' in once.data
    )
    twice = rewrite(once.data, gate=gate)
    assert twice.links[0].outcome is Outcome.GATED and not twice.links[0].needs_gate


def test_a_gate_on_another_host_is_off_site_but_its_links_are_gated() -> None:
    gate = GateLinks("http://127.0.0.1:8123", Signer(SECRET), COUNTY)
    once = rewrite(
        '<a href="https://partner.example/">p</a><a href="http://127.0.0.1:8123/healthz">h</a>', gate=gate
    )
    assert [link.outcome for link in once.links] == [Outcome.REWRITTEN, Outcome.REWRITTEN]
    assert [link.outcome for link in rewrite(once.data, gate=gate).links] == [Outcome.GATED, Outcome.GATED]


# ---- the tokenizer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<script>var s = '<a href=\"https://x.example/\">';</script>",
        "<script type=module>if (a<b) { x = '</scripty><a href=\"https://x.example/\">'; }</script>",
        "<script><!--<script>'</script><a href=\"https://x.example/\">'</script>--></script>",
        "<style>/* <a href='https://x.example/'> */</style>",
        "<title><a href='https://x.example/'></title>",
        "<textarea><a href='https://x.example/'></textarea>",
        "<xmp><a href='https://x.example/'></xmp>",
        "<iframe><a href='https://x.example/'></iframe>",
        "<noembed><a href='https://x.example/'></noembed>",
        "<noframes><a href='https://x.example/'></noframes>",
        "<!-- <a href='https://x.example/'> -->",
        "<!-- -- > <a href='https://x.example/'> -->",
        "<!DOCTYPE html><? <a href='https://x.example/' ?>",
        "<div title=\"<a href='https://x.example/'>\"></div>",
        "<svg><![CDATA[<a href='https://x.example/'>]]></svg>",
        "<plaintext><a href='https://x.example/'>",
        "<p><a href='https://x.example/' title='never closed",
        "<p><a href='https://x.example/'",
        "<a href='https://x.example/",
        "</p foo='<a href=\"https://x.example/\">'>",
    ],
)
def test_no_link_is_found_where_a_browser_sees_text(html: str) -> None:
    result = rewrite(html)
    assert result.links == ()
    assert result.data == html.encode()


@pytest.mark.parametrize(
    "html",
    [
        "<!--><a href='https://x.example/'>",
        "<!---><a href='https://x.example/'>",
        "<!-- x --!><a href='https://x.example/'>",
        "<![CDATA[ bogus comment ends here> <a href='https://x.example/'>",
        "<script><!--</script><a href='https://x.example/'>",
        "<script><!--<script>--></script><a href='https://x.example/'>",
        "<svg><p><a href='https://x.example/'>",
        "<svg><foreignObject><a href='https://x.example/'></foreignObject></svg>",
        "<svg><style><a href='https://x.example/'></style></svg>",
        "<noscript><a href='https://x.example/'></noscript>",
        "<template><a href='https://x.example/'></template>",
        "<a title='>' href='https://x.example/'>",
        "<a/href='https://x.example/'>",
        "<a\r\nhref\r\n=\r\n'https://x.example/'>",
        "<A HREF='https://x.example/'>",
        "<area href=https://x.example/>",
        '<a href="https://x.example/"title=x>',
    ],
)
def test_a_link_is_found_wherever_a_browser_has_one(html: str) -> None:
    result = rewrite(html)
    assert [(link.outcome, link.destination) for link in result.links] == [
        (Outcome.REWRITTEN, "https://x.example/")
    ]


def test_the_first_of_duplicate_hrefs_counts() -> None:
    result = rewrite("<a href='https://first.example/' HREF='https://second.example/'>x</a>")
    assert result.links[0].destination == "https://first.example/"
    assert b"HREF='https://second.example/'" in result.data
    # Even when it is empty: a link to the page itself, which stays as it is.
    empty_first = rewrite("<a href=''href='https://y.example/' x='https://x.example/'>")
    assert [(link.outcome, link.value) for link in empty_first.links] == [(Outcome.RELATIVE, "")]


def test_svg_links_use_href_before_xlink_href() -> None:
    result = rewrite(
        '<svg><a xlink:href="https://old.example/"/><a xlink:href="https://x.example/" href="https://new.example/"/></svg>'
    )
    assert [(link.tag, link.destination) for link in result.links] == [
        ("svg:a", "https://old.example/"),
        ("svg:a", "https://new.example/"),
    ]
    assert b'xlink:href="https://x.example/"' in result.data


def test_xlink_href_on_an_html_link_is_no_link() -> None:
    assert rewrite('<a xlink:href="https://x.example/">x</a>').links == ()


def test_line_numbers_count_lf_crlf_and_cr() -> None:
    result = rewrite(
        "<p>\n<a href='https://a.example/'>\r\n\r\n<a href='https://b.example/'>\r<a\nhref='https://c.example/'>"
    )
    assert [link.line for link in result.links] == [2, 4, 6]


# ---- attribute values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a=1&amp;b=2", "a=1&b=2"),
        ("a=1&copy=2", "a=1&copy=2"),
        ("a=1&region=us", "a=1&region=us"),
        ("a=1&notit", "a=1&notit"),
        ("a=1&not;it", "a=1¬it"),
        ("a=1&copy;2", "a=1©2"),
        ("&copy 2", "© 2"),
        ("&amp", "&"),
        ("&ampx", "&ampx"),
        ("&#104;ttps", "https"),
        ("&#x68;&#X74;tps", "https"),
        ("&#0;", "\ufffd"),
        ("&#x110000;", "\ufffd"),
        ("&#xD800;", "\ufffd"),
        ("&#128;", "€"),
        ("&#x81;", "\x81"),
        ("&#;&#x;&;&unknown;", "&#;&#x;&;&unknown;"),
        ("&#99999999999999999999;", "\ufffd"),
        ("&NotNestedGreaterGreater;", "\u2aa2\u0338"),
    ],
)
def test_character_references_decode_as_in_an_attribute(raw: str, value: str) -> None:
    assert unescape_attribute(raw) == value


def test_an_unquoted_value_is_quoted_when_rewritten() -> None:
    result = rewrite("<a href=https://x.example/?a=1&amp;b=2 class=ext>x</a>")
    assert result.data.startswith(
        b'<a href="https://links.missoulacounty.us/go?url=https%3A%2F%2Fx.example%2F%3Fa%3D1%26b%3D2&amp;sig='
    )
    assert result.data.endswith(b'" class=ext>x</a>')


def test_a_single_quoted_value_stays_single_quoted() -> None:
    result = rewrite("<a href='https://x.example/'>x</a>")
    assert result.data.startswith(b"<a href='https://links.missoulacounty.us/go?url=")
    assert result.data.endswith(b"'>x</a>")


@given(st.text(), st.sampled_from(['"', "'"]))
def test_escaped_values_read_back_unchanged(value: str, quote_mark: str) -> None:
    escaped = escape_attribute(value, quote_mark)
    assert quote_mark not in escaped
    assert unescape_attribute(escaped) == value


# ---- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "source"),
    [
        (b"\xef\xbb\xbf<meta charset=windows-1252>", "UTF-8", "byte-order mark"),
        (b'<meta charset="Shift_JIS">', "Shift_JIS", "<meta>"),
        (b"<META CHARSET=ISO-8859-1>", "windows-1252", "<meta>"),
        (b"<meta charset=' latin1 '>", "windows-1252", "<meta>"),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">', "EUC-KR", "<meta>"),
        (b"<meta content='text/html;charset=\"koi8-r\"' http-equiv=content-type>", "KOI8-R", "<meta>"),
        (b'<meta content="text/html; charset=koi8-r">', "UTF-8", "valid UTF-8"),
        (b'<meta charset="utf-16">', "UTF-8", "<meta>"),
        (b'<meta charset="nonsense"><meta charset="gbk">', "GBK", "<meta>"),
        (b"<!-- <meta charset=koi8-r> --><meta charset=iso-8859-2>", "ISO-8859-2", "<meta>"),
        (b"<p title='<meta charset=koi8-r>'><meta charset=iso-8859-5>", "ISO-8859-5", "<meta>"),
        (b"<p>caf\xc3\xa9</p>", "UTF-8", "valid UTF-8"),
        (b"<p>caf\xe9</p>", "windows-1252", "default"),
        (b"<p>plain</p>", "UTF-8", "valid UTF-8"),
    ],
)
def test_the_rewriter_reads_the_encoding_the_sniffer_finds(data: bytes, name: str, source: str) -> None:
    # The cases of tests/test_encoding.py's table (linkgate.encoding) for a page read without a server.
    assert (rewrite(data).encoding.name, rewrite(data).encoding.source) == (name, source)
    assert rewrite(data).encoding == sniff(data)


def test_an_xml_declaration_names_the_encoding_when_no_meta_does() -> None:
    # The HTML standard's prescan ends with the XML declaration (the rewriter's own prescan left it out).
    data = b'<?xml version="1.0" encoding="windows-1251"?><a href="https://x.example/\xe4">'
    assert rewrite(data).encoding.name == "windows-1251"
    assert rewrite(data).links[0].destination == "https://x.example/%D0%B4"  # not windows-1252's "ä"


def test_a_meta_after_the_first_1024_bytes_still_counts() -> None:
    data = b"<p>" + b"x" * 2000 + b"</p><meta charset=koi8-r><a href='https://x.example/\xc4'>"
    assert prescan(data[:1024]) is None
    result = rewrite(data)
    assert (result.encoding.name, result.encoding.source) == ("KOI8-R", "<meta>")
    assert result.links[0].destination == "https://x.example/%D0%B4"


def test_the_servers_encoding_wins_over_meta_but_not_over_a_bom() -> None:
    data = b"<meta charset=utf-8><a href='https://x.example/?q=\xe9'>"
    assert rewrite(data, encoding="latin1").links[0].destination == "https://x.example/?q=%E9"
    assert rewrite(b"\xef\xbb\xbf" + data, encoding="latin1").encoding.name == "UTF-8"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe<\x00a\x00", "UTF-16"),
        (b"\xfe\xff\x00<\x00a", "UTF-16"),
        (b"\xff\xfe\x00\x00<\x00\x00\x00", "UTF-32"),
        (b"<\x00a\x00 \x00h\x00", "NUL"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
        (b"<meta charset=iso-2022-jp><p>\x1b$B", "ISO-2022-JP"),
        (b"<meta charset=hz-gb-2312>", "replacement"),
    ],
)
def test_files_that_cannot_be_rewritten_byte_for_byte_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedDocument, match=message):
        rewrite(data)


def test_an_unknown_server_encoding_is_refused() -> None:
    with pytest.raises(UnsupportedDocument, match="not the name of an encoding"):
        rewrite(b"<p>", encoding="klingon")


@pytest.mark.parametrize(
    ("encoding", "href", "destination"),
    [
        # A browser writes the path in UTF-8 and the query in the page's encoding.
        ("windows-1252", "/caf\xe9/men\xfa?q=cr\xeape", "/caf%C3%A9/men%C3%BA?q=cr%EApe"),
        ("windows-1252", "/?q=&#x4E2D;", "/?q=%26%2320013%3B"),
        ("windows-1252", "/?q=\u20ac#caf\xe9", "/?q=%80#caf%C3%A9"),
        ("utf-8", "/?q=\xe9", "/?q=%C3%A9"),
        ("shift_jis", "/\u8868?q=\u8868", "/%E8%A1%A8?q=%95\\"),
        ("euc-jp", "/?q=\u8868", "/?q=%C9%BD"),
        ("gbk", "/?q=\u4e2d", "/?q=%D6%D0"),
        ("koi8-r", "/?q=\u0434", "/?q=%C4"),
    ],
)
def test_the_query_is_encoded_in_the_pages_encoding(encoding: str, href: str, destination: str) -> None:
    codec = {"windows-1252": "cp1252", "shift_jis": "cp932", "gbk": "gbk"}.get(encoding, encoding)
    data = f'<meta charset="{encoding}"><a href="https://x.example{href}">x</a>'.encode(codec)
    assert rewrite(data).links[0].destination == "https://x.example" + destination


def test_windows_1252_reads_its_unassigned_bytes_as_c1_controls() -> None:
    link = rewrite(b"<meta charset=windows-1252><a href='https://x.example/\x81'>").links[0]
    assert link.value == "https://x.example/\x81"
    assert link.destination == "https://x.example/%C2%81"


# ---- properties --------------------------------------------------------------------------------

HREFS = st.one_of(
    st.sampled_from(
        [
            "https://partner.example/",
            "https://www.missoulacounty.us/x",
            "/relative",
            "#frag",
            "mailto:a@b.example",
            "javascript:x()",
            "//proto.example/p?q=1&r=2",
            "https://exa mple.example/",
            "https://q.example/?a=1&amp;b=2&copy=3",
            gate_href("https://signed.example/"),
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30),
)
NOISE = st.lists(
    st.sampled_from([*"<>/=\"'!-?[]& \t\n\raAhHrRefsé", "script", "<!--", "-->", "</", "<a "]), max_size=12
).map("".join)


@st.composite
def documents(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["link", "noise", "text", "raw", "comment", "attrs"]))
        href = draw(HREFS)
        quote_mark = draw(st.sampled_from(['"', "'", ""]))
        if quote_mark == "" and (not href or any(char in href for char in " \t\n\r\f>\"'`=<")):
            quote_mark = '"'
        value = escape_attribute(href, quote_mark or '"') if quote_mark else href
        tag = draw(st.sampled_from(["a", "A", "area", "link", "div"]))
        if kind == "link":
            before = draw(
                st.sampled_from(["", " class=x", ' title="a > b"', " data-href='https://y.example/'"])
            )
            after = draw(st.sampled_from(["", "/", " x"]))
            parts.append(f"<{tag}{before} href={quote_mark}{value}{quote_mark}{after}>")
        elif kind == "raw":
            element = draw(st.sampled_from(["script", "style", "textarea", "title"]))
            parts.append(f"<{element}><a href='{value}'></{element}>")
        elif kind == "comment":
            parts.append(f"<!-- <a href='{value}'> -->")
        elif kind == "attrs":
            parts.append(f"<p {draw(NOISE)}>")
        elif kind == "noise":
            parts.append(draw(NOISE))
        else:
            parts.append(draw(st.text(st.characters(exclude_characters="\x00"), max_size=20)))
    return "".join(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from(["utf-8", "cp1252"]))
def test_only_href_values_change_and_a_second_run_changes_nothing(document: str, codec: str) -> None:
    data = document.encode(codec, errors="xmlcharrefreplace")
    if codec == "cp1252":
        data = b"<meta charset=windows-1252>" + data
    once = rewrite(data)
    assert_only_links_changed(data, once)
    twice = rewrite(once.data)
    assert twice.data == once.data
    assert [link.outcome for link in twice.links if link.outcome is Outcome.REWRITTEN] == []
    assert len(twice.links) == len(once.links)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_either_refused_or_rewritten_in_place(data: bytes) -> None:
    try:
        result = rewrite(data)
    except UnsupportedDocument:
        reject()  # refused; Hypothesis fails the test if most documents were
    assert_only_links_changed(data, result)


def test_a_large_page_has_every_link_rewritten_and_nothing_else_changed() -> None:
    """A directory page of 6,000 rows, each with a link of the site and one off-site. How fast such a page
    is rewritten is measured by benchmarks/rewrite.py, not asserted here."""
    row = (
        '<tr><td><a href="/dept/{0}">Dept</a>'
        '<td><a href="https://p{1}.example/x?id={0}&amp;y=1" target=_blank>P</a>\n'
    )
    data = ("<table>" + "".join(row.format(i, i % 300) for i in range(6000))).encode()
    result = rewrite(data)
    assert result.counts == {Outcome.REWRITTEN: 6000, Outcome.RELATIVE: 6000}
    assert [link.destination for link in result.links if link.outcome is Outcome.REWRITTEN] == [
        f"https://p{i % 300}.example/x?id={i}&y=1" for i in range(6000)
    ]
    assert [link.line for link in result.links] == [line for line in range(1, 6001) for _ in "ab"]
    assert_only_links_changed(data, result)


# ---- the command -------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "linkgate.toml"
    config.write_text(f'secret_key = "{SECRET}"\n[server]\npublic_url = "{PUBLIC_URL}"\n', encoding="utf-8")
    return {"LINKGATE_CONFIG": str(config), "LINKGATE_INSTANCE": str(tmp_path / "instance")}


def run(env: dict[str, str], *args: str | Path) -> Any:
    clean = {key: None for key in os.environ if key.startswith("LINKGATE_")}
    return CliRunner().invoke(
        main, ["rewrite", *map(str, args)], env={**clean, **env}, catch_exceptions=False
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "parks").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "index.html").write_text(
        '<a href="https://partner.example/">p</a>\n<a href="/parks/">r</a>\n'
        '<a href="mailto:x@y.example">m</a>\n',
        encoding="utf-8",
    )
    (root / "parks" / "trails.HTM").write_bytes(
        b"<A HREF=https://trails.example/>t</A>\r\n<a href='#top'>f</a>\r\n"
    )
    (root / "parks" / "plain.html").write_text(
        '<a href="https://www.missoulacounty.us/">c</a>\n', encoding="utf-8"
    )
    (root / "parks" / "notes.txt").write_text('<a href="https://not-a-page.example/">', encoding="utf-8")
    (root / ".git" / "hidden.html").write_text('<a href="https://hidden.example/">', encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def test_check_lists_off_site_links_and_exits_1(cli_env: dict[str, str], site: Path) -> None:
    before = snapshot(site)
    result = run(cli_env, site, "--check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{site / 'index.html'}:1: https://partner.example/",
        f"{site / 'parks' / 'trails.HTM'}:1: https://trails.example/",
    ]
    assert "2 off-site links not through the gate, in 2 of 3 files" in result.stderr
    assert snapshot(site) == before


def test_check_exits_0_when_every_link_goes_through_the_gate(cli_env: dict[str, str], site: Path) -> None:
    assert run(cli_env, site).exit_code == 0
    result = run(cli_env, site, "--check")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "every off-site link in 3 files goes through the gate" in result.stderr


def test_check_reports_gate_links_the_gate_will_not_trust(cli_env: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    stale = escape_attribute(gate_href("https://a.example/", Signer(OLD_SECRET)))
    page.write_text(
        f'<p>\n<a href="{stale}">old</a>\n<a href="{GATE_PREFIX}https%3A%2F%2Fb.example%2F">bare</a>',
        encoding="utf-8",
    )
    result = run(cli_env, page, "--check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{page}:2: {PUBLIC_URL}/go?url=https%3A%2F%2Fa.example%2F&sig=")
    assert lines[0].endswith("(gate link whose signature does not verify (made with another secret key?))")
    assert lines[1] == f"{page}:3: {GATE_PREFIX}https%3A%2F%2Fb.example%2F (gate link without a signature)"


def test_rewriting_a_folder_in_place_prints_the_summary(cli_env: dict[str, str], site: Path) -> None:
    result = run(cli_env, site)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "files read              3",
        "files changed           2",
        "links rewritten         2",
        "links skipped           4",
        "  county                1",
        "  relative              1",
        "  fragment              1",
        "  mailto                1",
        "  tel                   0",
        "  already gated         0",
        "  not a web link        0",
        "  refused               0",
    ]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.startswith(f'<a href="{GATE_PREFIX}https%3A%2F%2Fpartner.example%2F&amp;sig=')
    assert index.endswith('">p</a>\n<a href="/parks/">r</a>\n<a href="mailto:x@y.example">m</a>\n')
    assert (site / ".git" / "hidden.html").read_text(encoding="utf-8") == '<a href="https://hidden.example/">'
    assert (site / "parks" / "notes.txt").read_text(
        encoding="utf-8"
    ) == '<a href="https://not-a-page.example/">'


def test_rewriting_in_place_is_atomic_keeps_the_mode_and_leaves_unchanged_files_alone(
    cli_env: dict[str, str], site: Path
) -> None:
    index, plain = site / "index.html", site / "parks" / "plain.html"
    index.chmod(0o640)
    plain_before = plain.stat()
    index_inode = index.stat().st_ino
    assert run(cli_env, site).exit_code == 0
    assert stat.S_IMODE(index.stat().st_mode) == 0o640
    assert index.stat().st_ino != index_inode  # replaced by a rename, never written over
    assert plain.stat().st_ino == plain_before.st_ino and plain.stat().st_mtime_ns == plain_before.st_mtime_ns
    assert not [path for path in site.rglob("*.tmp")]
    after_first = snapshot(site)
    result = run(cli_env, site)
    assert "files changed           0" in result.stdout
    assert snapshot(site) == after_first


def test_rewriting_to_another_folder_mirrors_the_tree_and_leaves_the_source(
    cli_env: dict[str, str], site: Path, tmp_path: Path
) -> None:
    before = snapshot(site)
    out = tmp_path / "published"
    result = run(cli_env, site, "--out", out)
    assert result.exit_code == 0, result.output
    assert snapshot(site) == before
    assert sorted(snapshot(out)) == ["index.html", "parks/plain.html", "parks/trails.HTM"]
    assert (out / "parks" / "plain.html").read_bytes() == (site / "parks" / "plain.html").read_bytes()
    trails = (out / "parks" / "trails.HTM").read_bytes()
    assert trails.startswith(b'<A HREF="' + GATE_PREFIX.encode()) and trails.endswith(
        b">t</A>\r\n<a href='#top'>f</a>\r\n"
    )


def test_an_out_folder_inside_the_site_is_not_read_again(cli_env: dict[str, str], site: Path) -> None:
    assert run(cli_env, site, "--out", site / "build").exit_code == 0
    result = run(cli_env, site, "--out", site / "build")
    assert "files read              3" in result.stdout


def test_a_single_page_can_go_to_standard_output(cli_env: dict[str, str], site: Path) -> None:
    result = run(cli_env, site / "index.html", "--out", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith(f'<a href="{GATE_PREFIX}')
    assert "links rewritten         1" in result.stderr
    assert (site / "index.html").read_text(encoding="utf-8").startswith('<a href="https://partner.example/">')


def test_symbolic_links_are_not_followed(cli_env: dict[str, str], site: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.html"
    outside.write_text('<a href="https://outside.example/">', encoding="utf-8")
    (site / "linked.html").symlink_to(outside)
    (site / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    result = run(cli_env, site)
    assert "symbolic links not followed: 2" in result.stdout
    assert outside.read_text(encoding="utf-8") == '<a href="https://outside.example/">'


def test_the_summary_lists_every_refused_link(cli_env: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('<p>\n<a href="https://exa mple.example/">x</a>', encoding="utf-8")
    result = run(cli_env, page)
    assert "  refused               1" in result.stdout
    assert f"  {page}:2: https://exa mple.example/ (not a valid web address)" in result.stdout


def test_base_gives_each_page_of_a_folder_its_own_address(cli_env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "page one.html").write_text(
        '<base href="../../partners/"><a href="visit.html">v</a><a href="//www.missoulacounty.us/">c</a>',
        encoding="utf-8",
    )
    (root / "partners").mkdir()
    result = run(cli_env, root, "--base", "http://www.partner.example/mirror", "--check")
    assert result.exit_code == 1
    assert result.stdout == f"{root / 'a' / 'b' / 'page one.html'}:1: visit.html\n"
    run(cli_env, root, "--base", "http://www.partner.example/mirror")
    rewritten = rewrite((root / "a" / "b" / "page one.html").read_bytes())
    assert destination_of(rewritten.links[0].value) == "http://www.partner.example/mirror/partners/visit.html"
    assert rewritten.links[1].outcome is Outcome.COUNTY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.html",), "missing.html: no such file or folder"),
        (("page.html", "--base", "ftp://x.example/"), "--base ftp://x.example/:"),
        (("page.html", "--base", "not a url"), "--base not a url:"),
        (("page.html", "--encoding", "klingon"), '--encoding: "klingon" is not the name'),
        (("page.html", "--check", "--out", "x"), "--check changes nothing"),
        (("utf16.html",), "utf16.html: the file is UTF-16"),
        (("binary.html",), "binary.html: the file contains NUL bytes"),
        ((".", "--out", "-"), "--out - writes a single page"),
        (("page.html", "--out", "page.html"), "--out page.html: "),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "page.html").write_text('<a href="https://x.example/">x</a>', encoding="utf-8")
    (tmp_path / "utf16.html").write_bytes("\ufeff<a href='https://x.example/'>".encode("utf-16-le"))
    (tmp_path / "binary.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = run(cli_env, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"linkgate: error: {message}")
    assert result.stderr.count("\n") == 1


def test_an_unwritable_out_folder_is_bad_input(cli_env: dict[str, str], site: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/linkgate-cannot-write-here")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "out"
    result = run(cli_env, site, "--out", target)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"linkgate: error: --out {target}: ")


def test_a_bad_file_in_a_folder_stops_the_run_before_anything_is_written(
    cli_env: dict[str, str], site: Path
) -> None:
    (site / "parks" / "zz-broken.html").write_bytes(b"\xff\xfe<\x00")
    before = snapshot(site)
    result = run(cli_env, site)
    assert result.exit_code == 2
    assert "zz-broken.html: the file is UTF-16" in result.stderr
    assert snapshot(site) == before


def test_the_command_warns_when_the_gates_address_is_not_set(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('<a href="https://x.example/">x</a>', encoding="utf-8")
    result = run({"LINKGATE_INSTANCE": str(tmp_path / "instance")}, page)
    assert result.exit_code == 0
    assert "warning: server.public_url is not set" in result.stderr


# ---- against the gate ----------------------------------------------------------------------------


def test_every_rewritten_link_is_trusted_by_a_running_gate(make_app: Any, tmp_path: Path) -> None:
    server = make_app({"": {"secret_key": SECRET}, "county": {"domains": list(COUNTY)}}, start=False)
    server.cli("allow", "partner.example")
    server.start()
    site = tmp_path / "site"
    site.mkdir()
    destinations = {
        "https://www.partner.example/events?month=june&amp;day=1": "https://www.partner.example/events?month=june&day=1",
        "https://partner.example/caf\u00e9?q=\u00e9": "https://partner.example/caf%C3%A9?q=%C3%A9",
        "//forms.partner.example/a b": "https://forms.partner.example/a%20b",
        "https://news.example/story": "https://news.example/story",
    }
    (site / "page.html").write_text(
        "".join(f'<p><a href="{href}">link</a></p>\n' for href in destinations), encoding="utf-8"
    )
    server.cli("rewrite", str(site))
    assert server.cli("rewrite", str(site), "--check").returncode == 0
    result = rewrite_html((site / "page.html").read_bytes(), GateLinks(server.url, Signer(SECRET), COUNTY))
    hrefs = [link.value for link in result.links]
    assert [link.outcome for link in result.links] == [Outcome.GATED] * 4
    for href, destination in zip(hrefs, destinations.values(), strict=True):
        assert href.startswith(server.url + "/go?url=")
        response = server.get(href)
        if "partner.example" in destination:
            assert response.status_code == 302, href
            assert response.headers["Location"] == destination
        else:
            assert response.status_code == 200
            assert "data-untrusted" not in response.text  # the notice of a signed link
            assert 'id="continue"' in response.text


if __name__ == "__main__":  # regenerate the golden files after a deliberate change; review the diff
    for source in PAGES:
        result = rewrite(source.read_bytes(), base_url=GOLDEN_BASES.get(source.name))
        source.with_suffix(".expected.html").write_bytes(result.data)
        source.with_suffix(".links.txt").write_text(describe(result), encoding="utf-8")
    sys.exit(0)
