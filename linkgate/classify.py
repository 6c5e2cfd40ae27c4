"""Classifying a destination: its category, its risk flags and what the gate does with it.

Pure and in memory: no I/O, no Flask, no database. Every click runs :meth:`Classifier.classify`, so the
work per host is cached and the rule lookup walks a host's labels through two dictionaries.

Never let a rule or a category redirect a destination that carries a deceptive flag: those always get
the notice (or the block page, when blocked).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from importlib import resources
from typing import Protocol

from confusable_homoglyphs import categories as unicode_scripts

from linkgate.errors import InvalidDestination, RuleError
from linkgate.urls import (
    Destination,
    is_ip_address,
    is_public_host,
    is_public_suffix,
    normalise_rule_name,
    parse_destination,
    registrable_domain,
    unicode_host,
)

RULE_KINDS = ("allow", "block")
MAX_NOTE = 500
_KEEP_CONTROLS = frozenset("\t\n\r")
# A rule's name once normalised (lower case, punycode): DNS labels; "_" appears in real host names.
HOST_LABELS = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
ACTIONS = ("redirect", "notice", "block")
# Top-level names reserved for documentation and tests (RFC 2606, RFC 6761): in no public suffix list,
# yet a sandbox's rules and the documentation's examples (partner.example) name them.
RESERVED_TOP_LEVEL = frozenset({"example", "localhost", "test"})

# Risk flags: code -> deceptive? The explanations visitors read live with the templates.
FLAGS: dict[str, bool] = {
    "credentials": True,
    "ip_address": True,
    "lookalike": True,
    "mixed_script": True,
    "insecure": False,
    "port": False,
    "idn": False,
}

US_STATES = frozenset(
    {
        "al",
        "ak",
        "az",
        "ar",
        "ca",
        "co",
        "ct",
        "de",
        "dc",
        "fl",
        "ga",
        "hi",
        "id",
        "il",
        "in",
        "ia",
        "ks",
        "ky",
        "la",
        "me",
        "md",
        "ma",
        "mi",
        "mn",
        "ms",
        "mo",
        "mt",
        "ne",
        "nv",
        "nh",
        "nj",
        "nm",
        "ny",
        "nc",
        "nd",
        "oh",
        "ok",
        "or",
        "pa",
        "ri",
        "sc",
        "sd",
        "tn",
        "tx",
        "ut",
        "vt",
        "va",
        "wa",
        "wv",
        "wi",
        "wy",
        "as",
        "gu",
        "mp",
        "pr",
        "vi",
    }
)
GOVERNMENT_LABELS = frozenset({"gov", "mil", "gob", "gouv", "govt", "gv", "go"})
EDUCATION_LABELS = frozenset({"edu", "ac", "k12", "school", "sch"})


@dataclass(frozen=True, slots=True)
class Rule:
    """An allowlist or blocklist entry: a host (``exact``) or a domain with all its subdomains."""

    name: str
    exact: bool
    kind: str
    action: str | None = None
    note: str = ""
    id: int | None = None

    @property
    def pattern(self) -> str:
        return self.name if self.exact else f"*.{self.name}"

    @property
    def specificity(self) -> tuple[int, int, int]:
        # More labels is more specific; an exact rule beats a domain rule on the same name;
        # at equal specificity a block beats an allow.
        return (self.name.count(".") + 1, 1 if self.exact else 0, 1 if self.kind == "block" else 0)

    def as_json(self) -> dict[str, object]:
        """The rule as ``GET /admin/api/rules``, ``linkgate rules --json`` and the change log give it
        (docs/api.md). Not ``id``: the console's address for a rule, not part of the rule."""
        return {
            "pattern": self.pattern,
            "name": self.name,
            "exact": self.exact,
            "kind": self.kind,
            "action": self.action,
            "note": self.note,
        }


def make_rule(
    name: str,
    kind: str,
    *,
    exact: bool = False,
    action: str | None = None,
    note: str = "",
    county_domains: Iterable[str] = (),
) -> Rule:
    """Validate and normalise a rule, or raise :class:`RuleError` saying what is wrong.

    Every way a person adds a rule (the console's form, ``linkgate allow``/``block``/``rules add``, a
    CSV import) passes the County's domains, so that this is the one place that refuses a rule touching
    them (:func:`county_refusal`)."""
    if kind not in RULE_KINDS:
        raise RuleError(f'A rule is "allow" or "block", not "{kind}".')
    if action is not None and action not in ACTIONS:
        raise RuleError(f'A rule\'s action is one of {", ".join(ACTIONS)}, not "{action}".')
    host = owned_name(name, "a rule")
    if is_ip_address(host):
        exact = True  # an address has no subdomains
    elif not is_internet_name(host):
        raise RuleError(
            f'"{host}" is not a name on the internet: it does not end in a known top-level domain '
            f"(such as .org, .com or .us), so no link leads there. Write the whole name, like example.org."
        )
    if kind == "block" and action not in (None, "block"):
        raise RuleError("A block rule always blocks; it cannot carry another action.")
    if kind == "allow" and action == "block":
        raise RuleError(
            "An allow rule sends visitors on or shows the notice; to block a site, add a block rule."
        )
    if len(note.strip()) > MAX_NOTE:
        raise RuleError(f"A rule's note is at most {MAX_NOTE} characters.")
    control = control_character(note)
    if control is not None:  # PostgreSQL's text cannot hold NUL: the console answered 503
        raise RuleError(f"A rule's note holds a control character (U+{ord(control):04X}); remove it.")
    rule = Rule(name=host, exact=exact, kind=kind, action=action, note=note.strip())
    refusal = county_refusal(rule, county_domains)
    if refusal is not None:
        raise RuleError(refusal)
    return rule


def is_internet_name(host: str) -> bool:
    """True when ``host`` (a normalised name, not an address) can be a registrable domain or a host under
    one: a name before a public suffix (``example.org``, ``www.umt.edu``), or a name under a top-level
    name reserved for examples and tests (:data:`RESERVED_TOP_LEVEL`). Not a single label
    (``xxxxxxxxxx``, ``localhost``), nor a name under a top-level name no one can register
    (``printer.lan``)."""
    if "." not in host:
        return False
    return is_public_host(host) or host.rsplit(".", 1)[1] in RESERVED_TOP_LEVEL


def county_refusal(rule: Rule, county_domains: Iterable[str]) -> str | None:
    """Why ``rule`` may not be kept, because of the County's own domains, or None when it may.

    Links to a County host always go straight on: a block rule would stop visitors reaching the County's
    own pages, and an allow rule with the notice would put the notice in front of them. So no rule may
    name a County domain or a host under one (an allow rule there would change nothing, and is refused
    as not needed rather than kept to mislead), and no domain rule above a County domain (``*.mt.us``
    covers ``co.missoula.mt.us``) may block or show the notice.
    """
    for domain in county_domains:
        if is_under(rule.name, (domain,)):
            if rule.kind == "allow" and rule.action != "notice":
                return (
                    f"{rule.name} is a County address (under the County domain {domain}): links to it "
                    "always go straight on, so an allow rule is not needed."
                )
            what = "block" if rule.kind == "block" else "put the notice in front of"
            return (
                f"{rule.name} is a County address (under the County domain {domain}): a rule may not "
                f"{what} the County's own pages. Links to County addresses always go straight on."
            )
        if (
            not rule.exact
            and is_under(domain, (rule.name,))
            and (rule.kind == "block" or rule.action == "notice")
        ):
            what = "block" if rule.kind == "block" else "put the notice in front of"
            return (
                f"{rule.pattern} covers the County domain {domain}: a rule may not {what} the County's own "
                f"pages. Make the rule for one host only, or for a narrower domain that is not the County's."
            )
    return None


def county_rules(rules: Iterable[Rule], county_domains: Iterable[str]) -> list[tuple[Rule, str]]:
    """The kept rules that :func:`county_refusal` would refuse today, each with the reason: rules saved
    before that check existed, or before a domain was named a County domain. None of them decides a
    County host (:meth:`Classifier.classify` lets County links go straight on whatever a rule says), so
    each misleads whoever reads the rules; the Rules page and ``linkgate rules`` name them to be removed."""
    domains = tuple(county_domains)
    found = []
    for rule in rules:
        refusal = county_refusal(rule, domains)
        if refusal is not None:
            found.append((rule, refusal))
    return found


def rule_name_of(text: str) -> tuple[str, bool]:
    """The rule name in what a person typed or pasted: the host of a web address
    (``https://www.umt.edu/about`` gives ``www.umt.edu``, with True, so the caller can say so), else the
    text as it is (with False). :class:`RuleError` for an address that is not one."""
    typed = text.strip()
    if "://" not in typed and "/" not in typed:
        return typed, False
    try:
        destination = parse_destination(typed if "://" in typed else f"https://{typed}")
    except InvalidDestination:
        raise RuleError(
            f'"{typed}" is neither a host name nor a web address that starts with https:// or http://.'
        ) from None
    return destination.host.strip("[]").rstrip("."), True


def control_character(text: str) -> str | None:
    """The first control character in ``text`` other than a tab or a line end, or None."""
    return next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in _KEEP_CONTROLS), None)


def owned_name(name: str, what: str) -> str:
    """``name`` normalised (lower case, punycode, no ``*.``, brackets or trailing dot) when it names what
    one owner controls: a host name or an IP address, not a public suffix (``com``, ``co.uk``,
    ``github.io``) shared by many unrelated registrants. Else :class:`RuleError`, saying that ``what``
    ("a rule", "a County domain") must name a registrable domain or a host under it."""
    try:
        host = normalise_rule_name(name)
    except InvalidDestination as error:
        raise RuleError(str(error)) from None
    if is_public_suffix(host):
        raise RuleError(
            f'"{host}" is a public suffix shared by many unrelated owners; {what} must name a registrable '
            f"domain or a host under it."
        )
    host = host.strip("[]")
    if not is_ip_address(host) and not HOST_LABELS.fullmatch(host):
        raise RuleError(
            f'"{name}" is not a host name: use letters, digits and hyphens (write it like example.org).'
        )
    return host


def county_domain(name: str) -> str:
    """A County domain (``county.domains``) normalised, or :class:`RuleError` saying why it cannot be one.

    Every host under a County domain is the County's and is redirected at once, without the notice, so a
    name that is not one owner's would make the gate an open redirect: a public suffix (``com``), a
    single-label name (``localhost``, ``internal``: the Public Suffix List's default rule makes every
    top-level name it does not list a public suffix too), or an IP address (never County; it has no
    subdomains). A County domain always covers its subdomains, so ``*.`` is refused rather than read.
    """
    if name.strip().startswith("*"):
        raise RuleError(
            f'"{name}": a County domain always covers its subdomains; write it without "*." '
            f"(like missoulacounty.us)."
        )
    host = owned_name(name, "a County domain")
    if is_ip_address(host):
        raise RuleError(
            f'"{name}" is an IP address; a County domain is a domain name (like missoulacounty.us).'
        )
    if "." not in host:
        raise RuleError(
            f'"{host}" is a single label: a top-level name (every name under it would be County) or a '
            f"local name such as localhost; a County domain must name a registrable domain or a host "
            f"under it."
        )
    return host


class RuleSet:
    """Rules indexed for lookup by host: the most specific rule wins, a block beats an allow."""

    def __init__(self, rules: Iterable[Rule] = (), version: int = 0) -> None:
        self.version = version
        self.rules = tuple(rules)
        self._exact: dict[str, Rule] = {}
        self._domain: dict[str, Rule] = {}
        for rule in self.rules:
            index = self._exact if rule.exact else self._domain
            current = index.get(rule.name)
            if current is None or rule.specificity > current.specificity:
                index[rule.name] = rule

    def __len__(self) -> int:
        return len(self.rules)

    def match_exact(self, host: str) -> Rule | None:
        """The exact-host rule for ``host`` (IP addresses have no parent domains)."""
        return self._exact.get(host)

    def match(self, host: str) -> Rule | None:
        """The rule that decides ``host``, or None."""
        best: Rule | None = None
        exact = self._exact.get(host)
        if exact is not None:
            best = exact
        name = host
        while True:
            rule = self._domain.get(name)
            if rule is not None and (best is None or rule.specificity > best.specificity):
                best = rule
            dot = name.find(".")
            if dot < 0:
                return best
            name = name[dot + 1 :]

    def conflicts(self, rule: Rule) -> list[Rule]:
        """Existing rules of the other kind that overlap ``rule`` (for warnings in the console)."""
        found = []
        for other in self.rules:
            if other.kind == rule.kind or (other.name == rule.name and other.exact == rule.exact):
                continue
            if _covers(other, rule.name) or _covers(rule, other.name):
                found.append(other)
        return found


def _covers(rule: Rule, host: str) -> bool:
    if rule.exact:
        return host == rule.name
    return host == rule.name or host.endswith("." + rule.name)


@dataclass(frozen=True, slots=True)
class Listed:
    """A host found on a subscribed known-bad list (``linkgate feeds``): the list's name and its action,
    ``block`` or ``notice``."""

    feed: str
    action: str


class FeedLookup(Protocol):
    """The known-bad lists as the classifier asks them (:class:`linkgate.feeds.FeedIndex`)."""

    def match(self, host: str, *, is_ip: bool = False) -> Listed | None: ...


class _NoFeeds:
    def match(self, host: str, *, is_ip: bool = False) -> Listed | None:
        return None


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    action: str
    flags: tuple[str, ...]
    rule: Rule | None
    trusted: bool
    listed: Listed | None = None  # the known-bad list that decided the destination

    @property
    def deceptive_flags(self) -> tuple[str, ...]:
        return tuple(flag for flag in self.flags if FLAGS[flag])

    @property
    def is_deceptive(self) -> bool:
        return any(FLAGS[flag] for flag in self.flags)


@dataclass(frozen=True)
class Classifier:
    """Classifies destinations against the County's domains, the category actions and a rule set."""

    county_domains: tuple[str, ...]
    actions: Mapping[str, str]
    rules: RuleSet = field(default_factory=RuleSet)
    feeds: FeedLookup = field(default_factory=_NoFeeds)

    def with_rules(self, rules: RuleSet) -> Classifier:
        return replace(self, rules=rules)

    def with_feeds(self, feeds: FeedLookup) -> Classifier:
        return replace(self, feeds=feeds)

    def is_county_host(self, host: str) -> bool:
        return is_under(host.rstrip(".").lower(), self.county_domains)

    def classify(self, destination: Destination, *, trusted: bool) -> Classification:
        host = destination.host.rstrip(".")
        county = not destination.is_ip and self.is_county_host(host)
        if destination.is_ip:
            rule = self.rules.match_exact(host)
        elif county:
            # No rule decides a County host: links to the County's own pages always go straight on. New
            # rules that would block or interrupt one are refused (county_refusal); this keeps a rule
            # saved before that check (or before a domain became the County's) from taking effect, and
            # county_rules names it so that the webmaster removes it.
            rule = None
        else:
            rule = self.rules.match(host)
        # Known-bad lists come last: a rule written by hand decides before them, and no list decides a
        # County host.
        listed = None if county or rule is not None else self.feeds.match(host, is_ip=destination.is_ip)
        category = self.category(host, rule, is_ip=destination.is_ip, county=county)
        if listed is not None and listed.action == "block":
            category = "blocked"
        flags = self.flags(destination)
        if category == "blocked":
            action = "block"
        else:
            action = (rule.action if rule is not None and rule.action else None) or self.actions[category]
            if listed is not None and action == "redirect":
                action = "notice"  # a list that notices: never straight on, trusted or not
            elif action == "redirect" and (
                any(FLAGS[flag] for flag in flags) or not (trusted or category == "county")
            ):
                action = "notice"
        return Classification(category, action, flags, rule, trusted, listed)

    def category(self, host: str, rule: Rule | None, *, is_ip: bool = False, county: bool = False) -> str:
        """The category of ``host``, which ``rule`` decides unless it is a County host (``county``)."""
        if county:
            return "county"
        if rule is not None and rule.kind == "block":
            return "blocked"
        if rule is not None:
            return "partner"
        if is_ip:
            return "external"
        return public_category(host)

    def flags(self, destination: Destination) -> tuple[str, ...]:
        flags: list[str] = []
        if destination.has_credentials:
            flags.append("credentials")
        if destination.is_ip:
            flags.append("ip_address")
        else:
            flags.extend(self._host_flags(destination.host.rstrip(".")))
        if destination.scheme == "http":
            flags.append("insecure")
        if destination.port is not None:
            flags.append("port")
        return tuple(flags)

    def _host_flags(self, host: str) -> tuple[str, ...]:
        return _host_flags(host, self.county_domains)


def is_under(host: str, domains: Iterable[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


@lru_cache(maxsize=16384)
def public_category(host: str) -> str:
    """``government``, ``education`` or ``external`` for a host that no rule or County domain claims."""
    labels = host.split(".")
    top = labels[-1]
    if top in {"gov", "mil"}:
        return "government"
    if top == "edu":
        return "education"
    if top == "us" and len(labels) >= 2:
        if "k12" in labels[:-1] or (len(labels) >= 3 and labels[-3] in {"k12", "cc", "tec", "lib"}):
            return "education"
        if labels[-2] in US_STATES or labels[-2] == "fed":
            return "government"
    suffix = _suffix_labels(host)
    if suffix and suffix[0] in GOVERNMENT_LABELS:
        return "government"
    if suffix and suffix[0] in EDUCATION_LABELS:
        return "education"
    return "external"


def _suffix_labels(host: str) -> list[str]:
    registrable = registrable_domain(host)
    return registrable.split(".")[1:] if "." in registrable else []


# ---- lookalikes and mixed scripts -------------------------------------------------------------

# Sequences of ASCII that read as another letter (UTS #39 lists these among its confusables).
_ASCII_SEQUENCES = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_ALLOWED_SCRIPT_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@cache
def _skeleton_table() -> dict[str, str]:
    """Characters that look like an ASCII letter or digit, mapped to it (from UTS #39 confusables)."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    )
    table: dict[str, str] = {}
    for char, glyphs in data.items():
        for glyph in glyphs:
            target = glyph["c"].lower()
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[char] = target
                break
    for char in "abcdefghijklmnopqrstuvwxyz":
        table.pop(char, None)
    table.update({"0": "o", "1": "l", "|": "l", "5": "s"})
    return table


def skeleton(text: str) -> str:
    """A lookalike-insensitive form of a host name: confusable characters folded to ASCII."""
    table = _skeleton_table()
    folded = unicodedata.normalize("NFKD", text.lower())
    mapped = "".join(table.get(char, char) for char in folded if not unicodedata.combining(char))
    for sequence, letter in _ASCII_SEQUENCES:
        mapped = mapped.replace(sequence, letter)
    return mapped


def is_mixed_script(label: str) -> bool:
    scripts = set(unicode_scripts.unique_aliases(label)) - _NEUTRAL_SCRIPTS
    if len(scripts) <= 1:
        return False
    return not any(scripts <= allowed for allowed in _ALLOWED_SCRIPT_MIXES)


def _within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion, substitution or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


@dataclass(frozen=True, slots=True)
class _CountyName:
    domain: str  # as configured
    registrable: str  # its registrable domain
    brand: str  # letters and digits of the domain without its public suffix ("missoulacounty")
    skeleton: str
    owns_registrable: bool  # the County domain is itself a registrable domain


@cache
def _county_names(domains: tuple[str, ...]) -> tuple[_CountyName, ...]:
    names = []
    for domain in domains:
        registrable = registrable_domain(domain)
        suffix = registrable.split(".", 1)[1] if "." in registrable else ""
        stem = domain[: -len(suffix) - 1] if suffix and domain.endswith("." + suffix) else domain
        names.append(
            _CountyName(
                domain=domain,
                registrable=registrable,
                brand=_NOT_ALNUM.sub("", stem),
                skeleton=skeleton(domain),
                owns_registrable=registrable == domain,
            )
        )
    return tuple(names)


@lru_cache(maxsize=16384)
def _host_flags(host: str, county_domains: tuple[str, ...]) -> tuple[str, ...]:
    flags: list[str] = []
    display = unicode_host(host)
    is_idn = display != host
    if is_idn and any(is_mixed_script(label) for label in display.split(".")):
        flags.append("mixed_script")
    if not is_under(host, county_domains) and _looks_like_county(host, display, county_domains):
        flags.insert(0, "lookalike")
    if is_idn:
        flags.append("idn")
    return tuple(flags)


def _looks_like_county(host: str, display: str, county_domains: tuple[str, ...]) -> bool:
    host_skeleton = skeleton(display)
    registrable = registrable_domain(host)
    collapsed_host = _NOT_ALNUM.sub("", host_skeleton)
    registrable_display = unicode_host(registrable)
    registrable_stem = _NOT_ALNUM.sub("", skeleton(registrable_display.split(".", 1)[0]))
    raw_stem = _NOT_ALNUM.sub("", registrable_display.split(".", 1)[0])
    for county in _county_names(county_domains):
        if registrable == county.registrable and not county.owns_registrable:
            # A sibling under the same registrable domain (ci.missoula.mt.us beside co.missoula.mt.us)
            # belongs to the same registrant: not a lookalike.
            continue
        # 1. Homographs: the same skeleton as a County domain, or ending in one.
        if host_skeleton == county.skeleton or host_skeleton.endswith("." + county.skeleton):
            return True
        # 2. The County's name embedded in another domain (missoulacounty-us.com, co.missoula.mt.us.evil.net).
        if len(county.brand) >= 6 and county.brand in collapsed_host:
            return True
        # 3. One-character edits of the County's domain or name (misoulacounty.us, co.misoula.mt.us,
        # missoulacounty.org), also before folding: folding "rn" to "m" would hide missoulacornty.us.
        if any(
            _within_one_edit(candidate, target)
            for candidate, target in (
                (skeleton(registrable_display), county.skeleton),
                (registrable_display, county.domain),
                (host_skeleton, county.skeleton),
                (display, county.domain),
            )
        ):
            return True
        if (
            county.owns_registrable
            and len(county.brand) >= 6
            and any(
                stem == county.brand or _within_one_edit(stem, county.brand)
                for stem in (registrable_stem, raw_stem)
            )
        ):
            return True
    return False
