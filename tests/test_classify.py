"""Classifying destinations: categories, rules, actions, trust and risk flags."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from linkgate.classify import (
    ACTIONS,
    FLAGS,
    Classification,
    Classifier,
    Rule,
    RuleSet,
    county_rules,
    make_rule,
    rule_name_of,
)
from linkgate.config import CATEGORIES, DEFAULT_ACTIONS
from linkgate.errors import InvalidDestination, RuleError
from linkgate.urls import parse_destination

pytestmark = pytest.mark.database_free

COUNTY_DOMAINS = ("missoulacounty.us", "co.missoula.mt.us")


def make_classifier(rules: tuple[Rule, ...] = (), actions: Mapping[str, str] | None = None) -> Classifier:
    return Classifier(COUNTY_DOMAINS, {**DEFAULT_ACTIONS, **(actions or {})}, RuleSet(rules))


def classify(
    url: str,
    rules: tuple[Rule, ...] = (),
    *,
    trusted: bool = False,
    actions: Mapping[str, str] | None = None,
) -> Classification:
    return make_classifier(rules, actions).classify(parse_destination(url), trusted=trusted)


# ---- categories ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "category"),
    [
        ("https://missoulacounty.us/", "county"),
        ("https://www.missoulacounty.us/parks", "county"),
        ("https://a.b.missoulacounty.us/", "county"),
        ("https://WWW.MissoulaCounty.US./", "county"),
        ("https://co.missoula.mt.us/", "county"),
        ("https://gis.co.missoula.mt.us/", "county"),
        ("http://missoulacounty.us:8080/", "county"),
        ("https://www.usa.gov/", "government"),
        ("https://www.army.mil/", "government"),
        ("https://mt.gov/", "government"),
        ("https://dphhs.mt.gov/", "government"),
        ("https://ci.missoula.mt.us/", "government"),
        ("https://co.ravalli.mt.us/", "government"),
        ("https://www.fs.fed.us/", "government"),
        ("https://www.gov.uk/", "government"),
        ("https://www.hmrc.gov.uk/", "government"),
        ("https://umt.edu/", "education"),
        ("https://www.montana.edu/", "education"),
        ("https://hellgate.k12.mt.us/", "education"),
        ("https://missoula.k12.mt.us/", "education"),
        ("https://www.ox.ac.uk/", "education"),
        ("https://example.com/", "external"),
        ("https://missoulian.com/", "external"),
        ("https://missoulacounty.us.evil.com/", "external"),
        ("https://evilmissoulacounty.us/", "external"),
        ("https://gov.example.com/", "external"),
        ("https://edu.example.org/", "external"),
        ("https://foo.github.io/", "external"),
        ("http://127.0.0.1/", "external"),
        ("http://[::1]/", "external"),
    ],
)
def test_category_of_an_unruled_destination(url: str, category: str) -> None:
    assert classify(url).category == category


@pytest.mark.parametrize(
    ("host", "is_county"),
    [
        ("missoulacounty.us", True),
        ("www.missoulacounty.us", True),
        ("MissoulaCounty.US.", True),
        ("co.missoula.mt.us", True),
        ("health.co.missoula.mt.us", True),
        ("xmissoulacounty.us", False),
        ("missoulacounty.us.evil.com", False),
        ("missoula.mt.us", False),
        ("ci.missoula.mt.us", False),
    ],
)
def test_is_county_host_covers_both_domains_and_their_subdomains(host: str, is_county: bool) -> None:
    assert make_classifier().is_county_host(host) is is_county


# ---- rules --------------------------------------------------------------------------------------

RULES = (
    make_rule("partner.example", "allow"),
    make_rule("bad.partner.example", "block", exact=True),
    make_rule("blocked.example", "block"),
    make_rule("ok.blocked.example", "allow", exact=True),
    make_rule("evil.example.org", "block"),
    make_rule("www.evil.example.org", "allow"),
    # Exact beats domain on the same name, whatever the kinds.
    make_rule("same.example", "allow", exact=True),
    make_rule("same.example", "block"),
    # Equal specificity: block beats allow.
    make_rule("tie.example", "allow"),
    make_rule("tie.example", "block"),
    make_rule("exact-tie.example", "allow", exact=True),
    make_rule("exact-tie.example", "block", exact=True),
)


@pytest.mark.parametrize("order", ["as written", "reversed"])
@pytest.mark.parametrize(
    ("host", "category", "pattern"),
    [
        ("partner.example", "partner", "*.partner.example"),
        ("www.partner.example", "partner", "*.partner.example"),
        ("bad.partner.example", "blocked", "bad.partner.example"),
        ("x.bad.partner.example", "partner", "*.partner.example"),
        ("blocked.example", "blocked", "*.blocked.example"),
        ("a.b.blocked.example", "blocked", "*.blocked.example"),
        ("ok.blocked.example", "partner", "ok.blocked.example"),
        ("sub.ok.blocked.example", "blocked", "*.blocked.example"),
        ("evil.example.org", "blocked", "*.evil.example.org"),
        ("mail.evil.example.org", "blocked", "*.evil.example.org"),
        ("www.evil.example.org", "partner", "*.www.evil.example.org"),
        ("a.www.evil.example.org", "partner", "*.www.evil.example.org"),
        ("same.example", "partner", "same.example"),
        ("x.same.example", "blocked", "*.same.example"),
        ("tie.example", "blocked", "*.tie.example"),
        ("www.tie.example", "blocked", "*.tie.example"),
        ("exact-tie.example", "blocked", "exact-tie.example"),
        # Rules match whole labels only.
        ("notpartner.example", "external", None),
        ("partner.example.evil.com", "external", None),
        ("example.org", "external", None),
    ],
)
def test_most_specific_rule_wins(host: str, category: str, pattern: str | None, order: str) -> None:
    rules = RULES if order == "as written" else tuple(reversed(RULES))
    classification = classify(f"https://{host}/", rules, trusted=True)
    assert classification.category == category
    assert (classification.rule.pattern if classification.rule else None) == pattern


@pytest.mark.parametrize(
    "rule",
    [
        # Rules kept from before they were refused (make_rule without the County's domains, as then).
        make_rule("old.missoulacounty.us", "block", exact=True),
        make_rule("old.missoulacounty.us", "block"),
        make_rule("missoulacounty.us", "block"),
        make_rule("missoulacounty.us", "allow", action="notice"),
        make_rule("old.missoulacounty.us", "allow", action="notice", exact=True),
        make_rule("missoula.mt.us", "block"),  # above the County domain co.missoula.mt.us
    ],
    ids=lambda rule: f"{rule.kind}-{rule.action}-{rule.pattern}",
)
def test_no_rule_decides_a_county_host_county_links_always_go_straight_on(rule: Rule) -> None:
    for url in ("https://old.missoulacounty.us/", "https://co.missoula.mt.us/x"):
        for trusted in (True, False):
            classification = classify(url, (rule,), trusted=trusted)
            assert (classification.category, classification.action) == ("county", "redirect"), (url, trusted)
            assert classification.rule is None


def test_a_rule_above_a_county_domain_still_decides_the_hosts_that_are_not_the_countys() -> None:
    rules = (make_rule("missoula.mt.us", "block"),)
    assert classify("https://ci.missoula.mt.us/", rules).action == "block"
    assert classify("https://gis.co.missoula.mt.us/", rules).action == "redirect"


def test_county_rules_names_each_kept_rule_a_new_rule_would_be_refused_for_and_why() -> None:
    kept = (
        make_rule("old.missoulacounty.us", "block", exact=True),
        make_rule("missoula.mt.us", "block"),
        make_rule("www.missoulacounty.us", "allow"),
        make_rule("ci.missoula.mt.us", "block"),  # a sibling: not the County's
        make_rule("partner.example", "allow", action="notice"),
    )
    found = county_rules(kept, COUNTY_DOMAINS)
    assert [(rule.pattern, reason.split(":")[0]) for rule, reason in found] == [
        (
            "old.missoulacounty.us",
            "old.missoulacounty.us is a County address (under the County domain missoulacounty.us)",
        ),
        ("*.missoula.mt.us", "*.missoula.mt.us covers the County domain co.missoula.mt.us"),
        (
            "*.www.missoulacounty.us",
            "www.missoulacounty.us is a County address (under the County domain missoulacounty.us)",
        ),
    ]
    assert county_rules(kept, ()) == []


def test_block_rule_for_an_ip_address_blocks_that_address_alone() -> None:
    rule = make_rule("203.0.113.5", "block")
    assert rule.exact  # an address has no subdomains
    assert classify("https://203.0.113.5/", (rule,)).action == "block"
    assert classify("http://203.0.113.5:8080/x", (rule,)).action == "block"
    assert classify("https://203.0.113.50/", (rule,)).action == "notice"


@pytest.mark.parametrize(
    "name", ["com", "us", "mt.us", "k12.mt.us", "github.io", "co.uk", "*.co.uk", "gov", "CO.UK."]
)
@pytest.mark.parametrize("kind", ["allow", "block"])
def test_rule_on_a_public_suffix_is_refused(name: str, kind: str) -> None:
    with pytest.raises(RuleError, match="public suffix"):
        make_rule(name, kind)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "*.",
        "https://example.com/",
        "example.com/path",
        "user@example.com",
        "exa mple.com",
        "a<b.com",
        'a"b.example',
        "a'b.example",
        "-leading.example",
        "x" * 64 + ".example",
    ],
)
def test_rule_with_a_bad_name_is_refused(name: str) -> None:
    with pytest.raises(RuleError) as caught:
        make_rule(name, "allow")
    assert not isinstance(caught.value, InvalidDestination)


@pytest.mark.parametrize(
    ("kind", "action", "message"),
    [
        ("deny", None, '"allow" or "block"'),
        ("ALLOW", None, '"allow" or "block"'),
        ("allow", "maybe", "action is one of"),
        ("block", "redirect", "always blocks"),
        ("block", "notice", "always blocks"),
        ("allow", "block", "add a block rule"),
    ],
)
def test_rule_with_a_bad_kind_or_action_is_refused(kind: str, action: str | None, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        make_rule("example.org", kind, action=action)


def test_rule_note_is_at_most_500_characters() -> None:
    assert make_rule("example.org", "allow", note="n" * 500).note == "n" * 500
    with pytest.raises(RuleError, match="at most 500 characters"):
        make_rule("example.org", "allow", note="n" * 501)


def test_rule_is_normalised() -> None:
    rule = make_rule(" *.Example.ORG. ", "block", action="block", note="  phishing  ")
    assert rule == Rule(name="example.org", exact=False, kind="block", action="block", note="phishing")
    assert rule.pattern == "*.example.org"
    assert make_rule("MÜNCHEN.de", "allow", exact=True).pattern == "xn--mnchen-3ya.de"
    assert make_rule("foo.github.io", "allow").name == "foo.github.io"


@pytest.mark.parametrize(
    ("existing", "new", "conflicting"),
    [
        ((("example.org", "allow", False),), ("evil.example.org", "block", False), ["*.example.org"]),
        ((("evil.example.org", "block", False),), ("example.org", "allow", False), ["*.evil.example.org"]),
        ((("www.example.org", "allow", True),), ("example.org", "block", False), ["www.example.org"]),
        ((("example.org", "block", False),), ("www.example.org", "allow", True), ["*.example.org"]),
        ((("a.example.org", "allow", True),), ("b.example.org", "block", True), []),
        ((("example.org", "allow", False),), ("www.example.org", "allow", False), []),
        ((("example.org", "allow", False),), ("example.com", "block", False), []),
        ((("example.org", "allow", False),), ("notexample.org", "block", False), []),
        ((("example.org", "allow", False),), ("example.org", "block", True), ["*.example.org"]),
        (
            (
                ("example.org", "allow", False),
                ("x.example.org", "allow", True),
                ("other.net", "allow", False),
            ),
            ("example.org", "block", True),
            ["*.example.org"],
        ),
    ],
)
def test_rule_set_reports_overlapping_rules_of_the_other_kind(
    existing: tuple[tuple[str, str, bool], ...], new: tuple[str, str, bool], conflicting: list[str]
) -> None:
    rules = RuleSet(make_rule(name, kind, exact=exact) for name, kind, exact in existing)
    name, kind, exact = new
    found = rules.conflicts(make_rule(name, kind, exact=exact))
    assert [rule.pattern for rule in found] == conflicting


def test_rule_set_knows_its_size_and_version() -> None:
    rules = RuleSet(RULES, version=7)
    assert (len(rules), rules.version) == (len(RULES), 7)


# ---- actions and trust --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "trusted", "action"),
    [
        ("https://www.missoulacounty.us/", False, "redirect"),
        ("https://www.missoulacounty.us/", True, "redirect"),
        ("https://gis.co.missoula.mt.us/", False, "redirect"),
        ("https://www.partner.example/", True, "redirect"),
        ("https://www.partner.example/", False, "notice"),
        ("https://www.usa.gov/", True, "notice"),
        ("https://umt.edu/", True, "notice"),
        ("https://example.com/", True, "notice"),
        ("https://blocked.example/", True, "block"),
        ("https://blocked.example/", False, "block"),
    ],
)
def test_default_action_depends_on_category_and_trust(url: str, trusted: bool, action: str) -> None:
    assert classify(url, RULES, trusted=trusted).action == action


@pytest.mark.parametrize(
    ("rule", "url", "trusted", "category", "action"),
    [
        (
            make_rule("notice-partner.example", "allow", action="notice"),
            "https://notice-partner.example/",
            True,
            "partner",
            "notice",
        ),
        (
            make_rule("usa.gov", "allow", action="redirect"),
            "https://www.usa.gov/",
            True,
            "partner",
            "redirect",
        ),
        (
            make_rule("usa.gov", "allow", action="redirect"),
            "https://www.usa.gov/",
            False,
            "partner",
            "notice",
        ),
        (  # kept from before such rules were refused: it never puts the notice before a County page
            make_rule("jobs.missoulacounty.us", "allow", action="notice"),
            "https://jobs.missoulacounty.us/",
            True,
            "county",
            "redirect",
        ),
        (make_rule("bad.example", "block", action="block"), "https://bad.example/", True, "blocked", "block"),
    ],
)
def test_rule_action_overrides_the_category_action(
    rule: Rule, url: str, trusted: bool, category: str, action: str
) -> None:
    classification = classify(url, (rule,), trusted=trusted)
    assert (classification.category, classification.action) == (category, action)


@pytest.mark.parametrize(
    ("actions", "url", "trusted", "action"),
    [
        ({"government": "redirect"}, "https://www.usa.gov/", True, "redirect"),
        # Never an open redirect: an untrusted click to a non-County host gets the notice.
        ({"government": "redirect"}, "https://www.usa.gov/", False, "notice"),
        ({"education": "redirect"}, "https://umt.edu/", True, "redirect"),
        ({"external": "block"}, "https://example.com/", False, "block"),
        ({"government": "block"}, "https://mt.gov/", True, "block"),
        ({"county": "notice"}, "https://www.missoulacounty.us/", True, "notice"),
        ({"partner": "notice"}, "https://partner.example/", True, "notice"),
        ({"government": "redirect"}, "https://example.com/", True, "notice"),
    ],
)
def test_category_action_comes_from_configuration(
    actions: dict[str, str], url: str, trusted: bool, action: str
) -> None:
    assert classify(url, RULES, trusted=trusted, actions=actions).action == action


@pytest.mark.parametrize(
    ("url", "rules", "flag"),
    [
        ("https://user@www.missoulacounty.us/", (), "credentials"),
        ("https://user:pw@partner.example/", RULES, "credentials"),
        (
            "https://missoulacounty-us.com/",
            (make_rule("missoulacounty-us.com", "allow", action="redirect"),),
            "lookalike",
        ),
        ("https://pаypal.com/", (make_rule("pаypal.com", "allow"),), "mixed_script"),
        ("https://user@www.usa.gov/", (make_rule("usa.gov", "allow", action="redirect"),), "credentials"),
    ],
)
def test_deceptive_flag_forces_the_notice_even_when_trusted(
    url: str, rules: tuple[Rule, ...], flag: str
) -> None:
    everything_redirects = dict.fromkeys(
        ("county", "partner", "government", "education", "external"), "redirect"
    )
    classification = classify(url, rules, trusted=True, actions=everything_redirects)
    assert flag in classification.deceptive_flags
    assert classification.is_deceptive
    assert classification.action == "notice"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@blocked.example/",
        "http://user@www.blocked.example:8080/",
        "https://missoulacounty.org/",
    ],
)
def test_blocked_destination_stays_blocked_with_deceptive_flags(url: str) -> None:
    rules = (*RULES, make_rule("missoulacounty.org", "block"))
    classification = classify(url, rules, trusted=True)
    assert classification.is_deceptive
    assert (classification.category, classification.action) == ("blocked", "block")


def test_classification_records_rule_and_trust() -> None:
    classification = classify("https://www.partner.example/", RULES, trusted=True)
    assert classification.rule == RULES[0]
    assert classification.trusted is True
    assert classify("https://example.com/").rule is None


# ---- risk flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "flags"),
    [
        ("https://example.com/", set()),
        ("https://user:pw@example.com/", {"credentials"}),
        ("https://user@example.com/", {"credentials"}),
        ("https://:pw@example.com/", {"credentials"}),
        ("http://127.0.0.1/", {"ip_address", "insecure"}),
        ("https://0x7f.1/", {"ip_address"}),
        ("https://2130706433/", {"ip_address"}),
        ("https://[::1]/", {"ip_address"}),
        ("https://u@[::ffff:127.0.0.1]:8443/", {"credentials", "ip_address", "port"}),
        ("http://example.com/", {"insecure"}),
        ("http://example.com:80/", {"insecure"}),
        ("https://example.com:8443/", {"port"}),
        ("http://example.com:443/", {"insecure", "port"}),
        ("https://münchen.de/", {"idn"}),
        ("https://xn--mnchen-3ya.de/", {"idn"}),
        ("https://日本語.jp/", {"idn"}),
        # Japanese mixes Han, Hiragana and Katakana; Korean mixes Han and Hangul: all normal.
        ("https://ひらがな漢字カタカナ.jp/", {"idn"}),
        ("https://한국어漢字.kr/", {"idn"}),
        ("https://pаypal.com/", {"mixed_script", "idn"}),
        ("https://αpple.com/", {"mixed_script", "idn"}),
        ("https://www.missoulacounty.us/", set()),
        ("http://www.missoulacounty.us:8080/", {"insecure", "port"}),
    ],
)
def test_risk_flags(url: str, flags: set[str]) -> None:
    assert set(classify(url).flags) == flags


@pytest.mark.parametrize(
    ("flag", "deceptive"),
    [
        ("credentials", True),
        ("ip_address", True),
        ("lookalike", True),
        ("mixed_script", True),
        ("insecure", False),
        ("port", False),
        ("idn", False),
    ],
)
def test_which_flags_are_deceptive(flag: str, deceptive: bool) -> None:
    assert FLAGS[flag] is deceptive


def test_informational_flags_do_not_stop_a_county_redirect() -> None:
    classification = classify("http://www.missoulacounty.us:8080/")
    assert not classification.is_deceptive
    assert classification.action == "redirect"


@pytest.mark.parametrize(
    "host",
    [
        # Confusable homographs (UTS #39): Cyrillic і and о, digits for letters, "rn" for "m".
        "mіssoulacounty.us",
        "missоulacounty.us",
        "mіssoulacounty.com",
        "missou1acounty.us",
        "mlssoulacounty.us",
        "missoulacoun7y.us",
        "rnissoulacounty.us",
        "rnissoulacounty.com",
        "co.missou1a.mt.us",
        "co.rnissoula.mt.us",
        # One-character edits: deletion, insertion, substitution, transposition.
        "misoulacounty.us",
        "missoulacount.us",
        "missoulacountyy.us",
        "nissoulacounty.us",
        "missoulacounfy.us",
        "missoulacornty.us",
        "www.missoulacornty.us",
        "missuolacounty.us",
        "co.misoula.mt.us",
        "co.missoulla.mt.us",
        "co.missoulq.mt.us",
        # The County's name on another public suffix.
        "missoulacounty.org",
        "missoulacounty.com",
        "missoulacounty.net",
        "missoulacounty.gov",
        "www.missoulacounty.co",
        "co.missoula.mt.gov",
        # The County's name embedded in another domain.
        "missoulacounty.us.evil.com",
        "missoulacounty.us-login.com",
        "missoulacounty-us.com",
        "missoula-county.com",
        "co-missoula-mt-us.com",
        "co.missoula.mt.us.evil.net",
        "comissoula.mt.us",
    ],
)
def test_lookalike_of_a_county_domain_is_flagged(host: str) -> None:
    classification = classify(f"https://{host}/")
    assert "lookalike" in classification.flags
    assert classification.action == "notice"


@pytest.mark.parametrize(
    "host",
    [
        "missoulacounty.us",
        "www.missoulacounty.us",
        "co.missoula.mt.us",
        "gis.co.missoula.mt.us",
        # Neighbours with their own names, and siblings under the County's own registrable domain.
        "ci.missoula.mt.us",
        "www.ci.missoula.mt.us",
        "missoula.mt.us",
        "missoula.k12.mt.us",
        "co.ravalli.mt.us",
        "missoulian.com",
        "missoulafcu.org",
        "missoula.org",
        "visitmissoula.org",
        "flymissoula.com",
        "missoulapubliclibrary.org",
        "montana.edu",
        "umt.edu",
        "mt.gov",
        "lakecounty.mt.gov",
        "montanacounties.org",
        "example.com",
    ],
)
def test_legitimate_neighbour_is_not_a_lookalike(host: str) -> None:
    assert "lookalike" not in classify(f"https://{host}/").flags


@pytest.mark.parametrize(
    ("label", "mixed"),
    [
        ("pаypal", True),  # Latin + Cyrillic а
        ("аpple", True),
        ("gοogle", True),  # Latin + Greek ο
        ("παypal", True),  # Greek + Latin
        ("москва", False),
        ("ελληνικά", False),
        ("münchen", False),
        ("日本語", False),
        ("ひらがな漢字カタカナ", False),
        ("漢字ひらがなabc", False),
        ("한국어漢字", False),
        ("中文ㄅㄆ", False),
        ("москва-2024", False),
        ("한국어カタカナ", True),  # Hangul + Katakana is not a mix any language uses
    ],
)
def test_mixed_script_label_is_flagged_unless_the_mix_is_normal(label: str, mixed: bool) -> None:
    classification = classify(f"https://{label}.example/")
    assert ("mixed_script" in classification.flags) is mixed
    assert "idn" in classification.flags


# ---- properties ---------------------------------------------------------------------------------

LABELS = st.one_of(
    st.sampled_from(
        [
            "missoulacounty",
            "mіssoulacounty",
            "missou1acounty",
            "co",
            "missoula",
            "mt",
            "us",
            "www",
            "partner",
            "blocked",
            "example",
            "gov",
            "edu",
            "k12",
            "com",
            "xn--mnchen-3ya",
            "pаypal",
            "日本",
        ]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-аοі漢ひ", min_size=1, max_size=12),
)
HOSTS = st.one_of(
    st.lists(LABELS, min_size=1, max_size=5).map(".".join),
    st.sampled_from(["127.0.0.1", "[::1]", "0x7f.1", "10.0.0.1", "[2001:db8::1]"]),
)
URLS = st.builds(
    lambda scheme, userinfo, host, dot, port, path: f"{scheme}://{userinfo}{host}{dot}{port}/{path}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["", "", "", "user@", "user:pw@", ":pw@"]),
    HOSTS,
    st.sampled_from(["", ".", ""]),
    st.sampled_from(["", "", ":443", ":80", ":8080"]),
    st.text(max_size=10),
)
PROPERTY_RULES = (
    *RULES,
    make_rule("partner.example", "allow", exact=True, action="redirect"),
    make_rule("missoula.us", "allow", action="redirect"),
    make_rule("example.com", "allow", action="redirect"),
    make_rule("xn--mnchen-3ya.com", "allow"),
    make_rule("www.missoulacounty.us", "allow", action="redirect"),
)
ALL_REDIRECT = {category: ("block" if category == "blocked" else "redirect") for category in CATEGORIES}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=st.one_of(URLS, st.text(max_size=40)),
    trusted=st.booleans(),
    actions=st.sampled_from([DEFAULT_ACTIONS, ALL_REDIRECT]),
)
def test_classify_never_raises_and_never_redirects_unsafely(
    url: str, trusted: bool, actions: Mapping[str, str]
) -> None:
    try:
        destination = parse_destination(url)
    except InvalidDestination:
        reject()  # not a destination; Hypothesis fails the test if most of its URLs were refused
    classifier = make_classifier(PROPERTY_RULES, actions)
    classification = classifier.classify(destination, trusted=trusted)
    assert classification.category in CATEGORIES
    assert classification.action in ACTIONS
    assert set(classification.flags) <= set(FLAGS)
    if classification.category == "blocked":
        assert classification.action == "block"
    if classification.action == "redirect":
        assert not classification.is_deceptive
        assert trusted or classification.category == "county"
        assert trusted or classifier.is_county_host(destination.host)


# ---- rules and the County's own domains ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "exact", "action", "refused"),
    [
        ("missoulacounty.us", "block", False, None, "may not block the County's own pages"),
        ("www.missoulacounty.us", "block", True, None, "under the County domain missoulacounty.us"),
        ("a.b.co.missoula.mt.us", "block", False, None, "under the County domain co.missoula.mt.us"),
        ("missoulacounty.us", "allow", False, "notice", "may not put the notice in front of"),
        ("missoulacounty.us", "allow", False, None, "an allow rule is not needed"),
        ("www.missoulacounty.us", "allow", True, "redirect", "an allow rule is not needed"),
        ("missoula.mt.us", "block", False, None, "*.missoula.mt.us covers the County domain"),
        ("missoula.mt.us", "allow", False, "notice", "*.missoula.mt.us covers the County domain"),
        ("missoula.mt.us", "block", True, None, None),  # the one host, not the County's
        ("missoula.mt.us", "allow", False, None, None),  # County hosts stay County
        ("ci.missoula.mt.us", "block", False, None, None),  # a sibling, not under the County
        ("missoulacounty.us.evil.example", "block", False, None, None),
        ("xmissoulacounty.us", "block", False, None, None),
    ],
)
def test_a_rule_may_not_block_or_interrupt_a_county_domain(name, kind, exact, action, refused):
    if refused is None:
        assert make_rule(name, kind, exact=exact, action=action, county_domains=COUNTY_DOMAINS).name == name
        return
    with pytest.raises(RuleError) as error:
        make_rule(name, kind, exact=exact, action=action, county_domains=COUNTY_DOMAINS)
    assert refused in str(error.value)
    make_rule(name, kind, exact=exact, action=action)  # the County's domains are what refused it


@pytest.mark.parametrize("name", ["xxxxxxxxxx", "localhost", "printer.lan", "intranet.corp", "x.internal"])
def test_a_rule_must_name_a_site_on_a_public_suffix(name):
    with pytest.raises(RuleError, match="not a name on the internet"):
        make_rule(name, "allow")


@pytest.mark.parametrize("name", ["umt.edu", "www.umt.edu", "partner.example", "a.test", "203.0.113.9"])
def test_a_rule_may_name_a_registrable_domain_a_host_an_address_or_an_example(name):
    assert make_rule(name, "allow").name == name


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("umt.edu", ("umt.edu", False)),
        ("https://www.umt.edu/admissions?x=1#y", ("www.umt.edu", True)),
        ("http://user:pw@WWW.UMT.EDU:8080/", ("www.umt.edu", True)),
        ("www.umt.edu/about", ("www.umt.edu", True)),
    ],
)
def test_a_pasted_web_address_gives_its_host(typed, expected):
    assert rule_name_of(typed) == expected


def test_a_pasted_address_that_is_not_one_is_refused():
    with pytest.raises(RuleError, match="neither a host name nor a web address"):
        rule_name_of("https://exa mple.org/")
