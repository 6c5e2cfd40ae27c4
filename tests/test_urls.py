"""Destination parsing: WPT conformance, hostile URLs, registrable domains and rule names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ada_url
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from linkgate.errors import InvalidDestination
from linkgate.urls import (
    DEFAULT_MAX_LENGTH,
    Destination,
    host_of,
    is_public_suffix,
    normalise_rule_name,
    parse_destination,
    path_and_query,
    registrable_domain,
    resolve_web_link,
    unicode_host,
)

pytestmark = pytest.mark.database_free

WPT_DATA = Path(__file__).resolve().parent / "data" / "url" / "urltestdata.json"  # see data/url/SOURCES.txt
WEB_PROTOCOLS = ("http:", "https:")
C0_CONTROL_OR_SPACE = "".join(chr(code) for code in range(0x21))


def _is_web(text: str | None) -> bool:
    return text is not None and text.lstrip(C0_CONTROL_OR_SPACE).lower().startswith(WEB_PROTOCOLS)


def _case_id(index: int, case: dict[str, Any]) -> str:
    base = f" @ {case['base']}" if case["base"] else ""
    return f"{index}:{case['input']!r}{base}"[:90]


def _wpt_cases() -> list[dict[str, Any]]:
    entries = json.loads(WPT_DATA.read_text(encoding="utf-8"))
    # Strings in the file are comments between groups of cases.
    return [entry for entry in entries if isinstance(entry, dict)]


ALL_WPT_CASES = list(enumerate(_wpt_cases()))
WEB_CASES = [
    pytest.param(case, id=_case_id(index, case))
    for index, case in ALL_WPT_CASES
    if _is_web(case["input"]) or _is_web(case["base"])
]
# The cases with a base, whose input a gate link could also carry on its own.
BASED_CASES = [param for param in WEB_CASES if param.values[0]["base"] is not None]
# Absolute parses (no base) that the standard says are not http(s) URLs.
NON_WEB_CASES = [
    pytest.param(case, id=_case_id(index, case))
    for index, case in ALL_WPT_CASES
    if case["base"] is None and not case.get("failure") and case["protocol"] not in WEB_PROTOCOLS
]

# Where linkgate answers otherwise than the standard on purpose, and the reason it gives
# (InvalidDestination.reason): these parse, but their host names have empty labels, which no DNS lookup
# can reach (see test_a_host_name_dns_cannot_hold_is_refused_saying_why).
WPT_NAMES_DNS_CANNOT_HOLD = {
    "http://./": "empty_label",
    "http://../": "empty_label",
    "http://foo.09..": "empty_label",
}


def _browser_parse(text: str) -> ada_url.URL | None:
    try:
        return ada_url.URL(text)
    except ValueError:
        return None


def test_wpt_selection_is_substantial() -> None:
    # Guards against a moved data file or a broken filter silently shrinking the conformance run.
    assert len(WEB_CASES) >= 450
    assert len(BASED_CASES) >= 150
    assert len(NON_WEB_CASES) >= 50
    # A stale exception would excuse nothing: each one is a case of the file.
    assert set(WPT_NAMES_DNS_CANNOT_HOLD) <= {case["input"] for _, case in ALL_WPT_CASES if not case["base"]}


@pytest.mark.parametrize("case", WEB_CASES)
def test_linkgate_reads_each_wpt_case_as_the_standard_does(case: dict[str, Any]) -> None:
    """linkgate's own parse against the result the WPT file expects: with no base, parse_destination (a
    gate link is absolute); with one, resolve_web_link (a link on a page linkgate reads)."""
    failure = bool(case.get("failure"))
    if case["base"] is not None:
        # By design resolve_web_link answers None for an address that is not http(s) (mailto:, file:...):
        # there is nothing there to check or to send anyone to.
        web = not failure and case["protocol"] in WEB_PROTOCOLS
        assert resolve_web_link(case["input"], case["base"]) == (case["href"] if web else None)
    elif failure:
        with pytest.raises(InvalidDestination) as refused:
            parse_destination(case["input"])
        assert refused.value.reason in {"invalid", "relative"}
    elif case["input"] in WPT_NAMES_DNS_CANNOT_HOLD:
        with pytest.raises(InvalidDestination) as refused:
            parse_destination(case["input"])
        assert refused.value.reason == WPT_NAMES_DNS_CANNOT_HOLD[case["input"]]
    else:
        destination = parse_destination(case["input"])
        expected = (case["href"], case["protocol"], case["hostname"].removeprefix("[").removesuffix("]"))
        assert (destination.href, destination.scheme + ":", destination.host) == expected


@pytest.mark.parametrize("case", BASED_CASES)
def test_a_wpt_input_on_its_own_is_read_as_a_browser_reads_it(case: dict[str, Any]) -> None:
    """A gate link carries no base: the input of a case with one, given alone to parse_destination, is
    the browser's parse of it alone (the file has no expected result for that), or refused saying why."""
    url = _browser_parse(case["input"])
    if url is None:
        with pytest.raises(InvalidDestination) as refused:
            parse_destination(case["input"])
        assert refused.value.reason in {"invalid", "relative", "missing"}
    elif url.protocol not in WEB_PROTOCOLS:
        with pytest.raises(InvalidDestination) as refused:
            parse_destination(case["input"])
        assert refused.value.reason == "scheme"
    else:
        destination = parse_destination(case["input"])
        assert (destination.href, destination.host) == (url.href, url.hostname.strip("[]"))


@pytest.mark.parametrize("case", NON_WEB_CASES)
def test_parse_destination_refuses_every_non_web_url_of_wpt(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidDestination):
        parse_destination(case["input"])


# ---- hostile destinations ------------------------------------------------------------------------

HOSTILE = [
    # (raw, href, host, is_ip, has_credentials)
    # Backslashes are slashes in special URLs: the browser goes to evil.com, not to the County.
    (
        "https:\\\\evil.com\\@missoulacounty.us",
        "https://evil.com/@missoulacounty.us",
        "evil.com",
        False,
        False,
    ),
    (
        "https:\\\\evil.com\\@missoulacounty.us/x",
        "https://evil.com/@missoulacounty.us/x",
        "evil.com",
        False,
        False,
    ),
    (
        "https://missoulacounty.us\\@evil.com/",
        "https://missoulacounty.us/@evil.com/",
        "missoulacounty.us",
        False,
        False,
    ),
    ("https:/\\evil.com/", "https://evil.com/", "evil.com", False, False),
    # Userinfo: everything before the last @ is credentials, the host comes after it.
    ("https://missoulacounty.us@evil.com/", "https://missoulacounty.us@evil.com/", "evil.com", False, True),
    ("https://user:pw@evil.com/", "https://user:pw@evil.com/", "evil.com", False, True),
    ("https://:pw@evil.com/", "https://:pw@evil.com/", "evil.com", False, True),
    (
        "https://a@missoulacounty.us@evil.com/",
        "https://a%40missoulacounty.us@evil.com/",
        "evil.com",
        False,
        True,
    ),
    # Unicode full stops and fullwidth forms fold to ASCII.
    ("https://evil。com", "https://evil.com/", "evil.com", False, False),
    ("https://evil．com/", "https://evil.com/", "evil.com", False, False),
    ("https://evil｡com/", "https://evil.com/", "evil.com", False, False),
    ("https://ｅｖｉｌ．ｃｏｍ/", "https://evil.com/", "evil.com", False, False),
    # Tabs and newlines anywhere are removed; leading and trailing controls and spaces are stripped.
    ("https://ev\til.com", "https://evil.com/", "evil.com", False, False),
    ("https://ev\nil.com/", "https://evil.com/", "evil.com", False, False),
    ("h\ttt\rps://evil.com\r\n/", "https://evil.com/", "evil.com", False, False),
    ("\x00 https://evil.com/ \x1f", "https://evil.com/", "evil.com", False, False),
    # Case, missing slashes and percent-encoded hosts.
    ("HTTPS://Evil.COM", "https://evil.com/", "evil.com", False, False),
    ("https:evil.com", "https://evil.com/", "evil.com", False, False),
    ("https:///evil.com", "https://evil.com/", "evil.com", False, False),
    ("https://ev%69l.com/", "https://evil.com/", "evil.com", False, False),
    # IP addresses in all their spellings are normalised to the address a browser connects to.
    ("http://0x7f.1/", "http://127.0.0.1/", "127.0.0.1", True, False),
    ("http://2130706433/", "http://127.0.0.1/", "127.0.0.1", True, False),
    ("http://0177.0.0.1/", "http://127.0.0.1/", "127.0.0.1", True, False),
    ("http://127.1", "http://127.0.0.1/", "127.0.0.1", True, False),
    ("http://0/", "http://0.0.0.0/", "0.0.0.0", True, False),
    ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "::ffff:7f00:1", True, False),
    ("http://[0:0::1]:8080/", "http://[::1]:8080/", "::1", True, False),
    ("https://user@169.254.169.254/", "https://user@169.254.169.254/", "169.254.169.254", True, True),
    # Numbers that are not IPv4 make the whole URL fail, as in a browser.
    ("http://1.2.3.4.5/", None, None, None, None),
    ("http://0x100000000/", None, None, None, None),
]


@pytest.mark.parametrize(("raw", "href", "host", "is_ip", "has_credentials"), HOSTILE)
def test_hostile_destination_is_read_as_a_browser_reads_it(
    raw: str, href: str | None, host: str | None, is_ip: bool | None, has_credentials: bool | None
) -> None:
    if href is None:
        with pytest.raises(InvalidDestination, match="not valid"):
            parse_destination(raw)
        return
    destination = parse_destination(raw)
    assert (destination.href, destination.host, destination.is_ip, destination.has_credentials) == (
        href,
        host,
        is_ip,
        has_credentials,
    )
    # The browser parse of the same text lands on the same host.
    assert ada_url.URL(raw).hostname.strip("[]") == destination.host


@pytest.mark.parametrize(
    ("raw", "scheme", "port", "is_https"),
    [
        ("https://example.com/", "https", None, True),
        ("http://example.com/", "http", None, False),
        ("http://example.com:80/", "http", None, False),
        ("https://example.com:443/", "https", None, True),
        ("http://example.com:443/", "http", 443, False),
        ("https://example.com:8443/x", "https", 8443, True),
    ],
)
def test_scheme_and_port_are_the_parsers(raw: str, scheme: str, port: int | None, is_https: bool) -> None:
    destination = parse_destination(raw)
    assert (destination.scheme, destination.port, destination.is_https) == (scheme, port, is_https)


@pytest.mark.parametrize(
    ("raw", "scheme"),
    [
        ("javascript:alert(1)", "javascript"),
        ("JaVaScRiPt:alert(document.cookie)", "javascript"),
        (" \tjavascript:alert(1)", "javascript"),
        ("java\nscript:alert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("file:///etc/passwd", "file"),
        ("ftp://ftp.example.com/file", "ftp"),
        ("blob:https://missoulacounty.us/0b6c", "blob"),
        ("mailto:helpdesk@co.missoula.mt.us", "mailto"),
        ("ws://example.com/", "ws"),
        ("vbscript:msgbox", "vbscript"),
    ],
)
def test_non_web_scheme_is_refused_by_name(raw: str, scheme: str) -> None:
    with pytest.raises(InvalidDestination, match=f'"{scheme}:" address'):
        parse_destination(raw)


@pytest.mark.parametrize(
    "raw", ["/x", "//evil.com", "//evil.com/path", "evil.com", "www.evil.com/x", "?q=1", "#top"]
)
def test_relative_destination_is_refused_as_not_complete(raw: str) -> None:
    with pytest.raises(InvalidDestination, match="not complete"):
        parse_destination(raw)


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_missing_destination_is_refused_as_missing(raw: str | None) -> None:
    with pytest.raises(InvalidDestination, match="missing or empty"):
        parse_destination(raw)


@pytest.mark.parametrize(
    "raw", ["https://", "http://[", "https://exa mple.com/", "http://%zz/", "https://a<b.com/"]
)
def test_unparseable_destination_is_refused_as_not_valid(raw: str) -> None:
    with pytest.raises(InvalidDestination, match="not valid"):
        parse_destination(raw)


def _url_of_length(length: int) -> str:
    prefix = "https://example.com/"
    return prefix + "a" * (length - len(prefix))


@pytest.mark.parametrize(
    ("length", "max_length", "accepted"),
    [
        (DEFAULT_MAX_LENGTH, DEFAULT_MAX_LENGTH, True),
        (DEFAULT_MAX_LENGTH + 1, DEFAULT_MAX_LENGTH, False),
        (100, 100, True),
        (101, 100, False),
    ],
)
def test_destination_longer_than_the_maximum_is_refused(length: int, max_length: int, accepted: bool) -> None:
    raw = _url_of_length(length)
    if accepted:
        assert parse_destination(raw, max_length=max_length).href == raw
    else:
        with pytest.raises(InvalidDestination, match="too long"):
            parse_destination(raw, max_length=max_length)


def test_default_maximum_length_is_4096() -> None:
    assert DEFAULT_MAX_LENGTH == 4096
    with pytest.raises(InvalidDestination, match="too long"):
        parse_destination(_url_of_length(4097))


LABEL_63 = "a" * 63


@pytest.mark.parametrize(
    ("raw", "reason", "params"),
    [
        # The case: the standard accepts a host of any length.
        ("https://" + "a" * 300 + ".com/", "host_too_long", {"length": 304, "limit": 253}),
        ("https://" + ".".join([LABEL_63] * 4) + "/", "host_too_long", {"length": 255, "limit": 253}),
        ("https://" + "a" * 64 + ".example/", "label_too_long", {"length": 64, "limit": 63}),
        ("https://www." + "b" * 70 + ".example.org/", "label_too_long", {"length": 70, "limit": 63}),
        # Lengths are the name's ASCII (punycode) form, as DNS carries it: 58 letters become 64.
        ("https://" + "ü" * 58 + ".de/", "label_too_long", {"length": 64, "limit": 63}),
        ("http://a..example.com/", "empty_label", {}),
        ("http://.example.com/", "empty_label", {}),
        ("http://example.com../", "empty_label", {}),
        ("http://%2Eexample.com/", "empty_label", {}),
        ("http://example\u3002\u3002com/", "empty_label", {}),
    ],
)
def test_a_host_name_dns_cannot_hold_is_refused_saying_why(
    raw: str, reason: str, params: dict[str, int]
) -> None:
    assert ada_url.URL(raw).hostname  # the URL Standard accepts it
    with pytest.raises(InvalidDestination) as refused:
        parse_destination(raw)
    assert (refused.value.reason, refused.value.params) == (reason, params)
    message = str(refused.value)
    assert "website's name" in message and "real website" in message
    if params:
        assert f"{params['length']} characters" in message


@pytest.mark.parametrize(
    "raw",
    [
        "https://" + ".".join([LABEL_63] * 3 + ["a" * 61]) + "/",  # 253 octets
        "https://" + ".".join([LABEL_63] * 3 + ["a" * 61]) + "./",  # and the final dot, which is not counted
        "https://" + LABEL_63 + ".example/",
        "https://" + "ü" * 57 + ".de/",  # 57 letters are 63 octets in punycode
        "https://example.com./",
        "http://localhost/",
        "http://[::1]/",
        "http://1.2.3.4./",
    ],
)
def test_the_longest_host_names_dns_allows_are_accepted(raw: str) -> None:
    assert parse_destination(raw).href == ada_url.URL(raw).href


def test_refusal_messages_are_plain_sentences() -> None:
    for raw in (None, "javascript:alert(1)", "/x", "https://", _url_of_length(5000), "https://a..b/"):
        with pytest.raises(InvalidDestination) as caught:
            parse_destination(raw)
        message = str(caught.value)
        assert message[0].isupper() and message.endswith(".")
        assert "Traceback" not in message and "ValueError" not in message


# ---- names: display, registrable domain, public suffixes, rules ---------------------------------


@pytest.mark.parametrize(
    ("host", "display"),
    [
        ("xn--mnchen-3ya.de", "münchen.de"),
        ("xn--mssoulacounty-3hl.us", "mіssoulacounty.us"),
        ("a.xn--q9jyb4c", "a.みんな"),
        ("example.com", "example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("xn--a.com", "xn--a.com"),
    ],
)
def test_unicode_host_shows_the_internationalised_form(host: str, display: str) -> None:
    assert unicode_host(host) == display


def test_internationalised_destination_is_punycode_with_a_unicode_display() -> None:
    destination = parse_destination("https://münchen.de/straße")
    assert destination.host == "xn--mnchen-3ya.de"
    assert destination.href == "https://xn--mnchen-3ya.de/stra%C3%9Fe"
    assert unicode_host(destination.host) == "münchen.de"


@pytest.mark.parametrize(
    ("host", "registrable"),
    [
        ("www.missoulacounty.us", "missoulacounty.us"),
        ("missoulacounty.us", "missoulacounty.us"),
        ("gis.co.missoula.mt.us", "missoula.mt.us"),
        ("foo.github.io", "foo.github.io"),
        ("a.b.foo.github.io", "foo.github.io"),
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("WWW.Example.COM.", "example.com"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("github.io", "github.io"),
        ("com", "com"),
        # A suffix the list does not know: its implicit "*" rule makes the last label the suffix (as
        # linkgate.health needs, so that a www hop within partner.test is no move).
        ("www.partner.test", "partner.test"),
        ("partner.test", "partner.test"),
        ("gis.intranet.internal", "intranet.internal"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain_uses_the_public_suffix_list(host: str, registrable: str) -> None:
    assert registrable_domain(host) == registrable


def test_destination_exposes_its_registrable_domain() -> None:
    assert parse_destination("https://a.b.foo.github.io/").registrable_domain == "foo.github.io"


@pytest.mark.parametrize(
    ("name", "is_suffix"),
    [
        ("com", True),
        ("us", True),
        ("mt.us", True),
        ("k12.mt.us", True),
        ("co.uk", True),
        ("gov.uk", True),
        ("github.io", True),
        ("blogspot.com", True),
        ("CO.UK.", True),
        ("foo.github.io", False),
        ("example.com", False),
        ("missoulacounty.us", False),
        ("missoula.mt.us", False),
        ("bbc.co.uk", False),
    ],
)
def test_is_public_suffix_knows_public_and_private_suffixes(name: str, is_suffix: bool) -> None:
    assert is_public_suffix(name) is is_suffix


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("example.com", "example.com"),
        ("*.example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("  example.org ", "example.org"),
        ("*.WWW.Example.com.", "www.example.com"),
        ("MÜNCHEN.de", "xn--mnchen-3ya.de"),
        ("evil。com", "evil.com"),
    ],
)
def test_rule_name_is_written_as_the_parser_writes_hosts(name: str, normalised: str) -> None:
    assert normalise_rule_name(name) == normalised


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "*.",
        ".",
        "..",
        "http://example.com",
        "example.com/path",
        "user@example.com",
        "example.com:8080",
        "exa mple.com",
        "a\\b.com",
        "[::1]",
        "exa%20mple.com",
        "a<b.com",
        # A wildcard is only the leading "*."; elsewhere it would make a rule that never matches.
        "*.*.example.com",
        "www.*.example.com",
        "*example.com",
        # Empty labels name no host that a DNS lookup can reach.
        ".example.com",
        "example..com",
        "a\tb.com",
    ],
)
def test_invalid_rule_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidDestination):
        normalise_rule_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (".".join([LABEL_63] * 4), "its name is 255 characters long, and DNS allows at most 253"),
        ("*." + "a" * 64 + ".example.org", "its part between two dots is 64 characters long"),
    ],
)
def test_rule_name_longer_than_dns_allows_is_refused(name: str, message: str) -> None:
    with pytest.raises(InvalidDestination, match=message):
        normalise_rule_name(name)


# ---- properties ---------------------------------------------------------------------------------

URLISH = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(
            ["http://", "https://", "HTTP:", "https:\\\\", " http://", "https://user:pw@", "http://[", "//"]
        ),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    ),
    st.builds(
        lambda host, path: f"https://{host}/{path}",
        st.from_regex(r"[a-z0-9\-.\u0400-\u04ff\u3002\uff0e%@:]{1,30}", fullmatch=True),
        st.text(max_size=20),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(URLISH)
def test_parse_destination_is_idempotent_and_only_web(raw: str) -> None:
    try:
        destination = parse_destination(raw)
    except InvalidDestination:
        reject()  # refused; Hypothesis fails the test if most of its URLs were
    assert isinstance(destination, Destination)
    assert destination.scheme in ("http", "https")
    assert destination.href.startswith(destination.scheme + "://")
    # Percent-encoding can lengthen the href: re-parse it without the length limit getting in the way.
    again = parse_destination(destination.href, max_length=len(destination.href))
    assert again == destination


@pytest.mark.parametrize(
    "raw",
    [
        "https://a.example/",
        "https://A.Example:8443/p/q?x=1#f",
        "https://u:p@[::1]:8443/x?y#z",
        "http://[2001:db8::1]/",
        "https://user@a.example/?q",
        "https://a.example/#f?x",
        "http://a.example:81/a b/?",
        "https://a.example?q=/x",
        "https://xn--bcher-kva.example/\u00e4?\u00e4",
    ],
)
def test_host_path_and_query_of_a_serialised_url_agree_with_the_parser(raw: str) -> None:
    href = parse_destination(raw).href
    url = ada_url.URL(href)
    assert host_of(href) == url.hostname  # brackets kept for IPv6, as the parser's hostname has them
    assert path_and_query(href) == (url.pathname, url.search.removeprefix("?"))
