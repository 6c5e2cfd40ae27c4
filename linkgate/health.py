"""Destination health: whether a destination moved away, is parked (for sale, expired) or changed hands.

Pure judgements, no I/O: the site cache (:mod:`linkgate.sites`) and the audit hand in what they fetched,
and keep what this module makes of it (a :class:`Fingerprint` per destination host, in
:mod:`linkgate.store.destinations`). Pages are read with the project's one HTML reader
(:mod:`linkgate.markup`, libxml2 in one pass, no tree) and only so far: at most ``MAX_ELEMENTS`` elements,
``MAX_TEXT`` characters of visible text and ``MAX_SCRIPT`` of inline script, so a hostile page costs
time in proportion to its length and no more memory than that.

What this module must never do: call a page parked or changed hands on a hint a normal site also gives.
A page that merely says "for sale" (homes, a County surplus auction) is not parked: only the parking
services' own hosts and markup, or wording about *the domain* being for sale or expired, count; and
"changed" needs a new registrable domain or a title and site name with no word in common, never a
routine edit (a year, a tagline).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from linkgate import markup
from linkgate.classify import is_under
from linkgate.urls import host_of, registrable_domain

__all__ = [
    "MAX_NAME",
    "Fingerprint",
    "Page",
    "changed",
    "domain_of",
    "fingerprint",
    "is_parked",
    "moved_away",
    "read_page",
]

MAX_NAME = 200  # characters kept of a page's title and of its site name
MAX_ELEMENTS = 5_000  # elements read of a page: a parking page has a few dozen
MAX_TEXT = 20_000  # characters of visible text kept
MAX_SCRIPT = 50_000  # characters of inline script kept
MAX_HOSTS = 200  # hosts of scripts, frames and forms kept
# A page with more visible words than this is a site's real page, not a parking page: wording about a
# domain for sale found deep in it (a blog post about buying domains) is not enough.
SHORT_PAGE_WORDS = 600

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ufffd]")
_SPACE = re.compile(r"\s+")


def _clean(text: str, limit: int = MAX_NAME) -> str:
    """``text`` on one line, without control or direction characters, at most ``limit`` characters."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()[:limit]


def _fold(text: str) -> str:
    """Lower case without accents (``Domínio à venda`` gives ``dominio a venda``), spaces collapsed."""
    if text.isascii():  # most pages: nothing to decompose, and no loop over every character
        return " ".join(text.casefold().split())
    text = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())


# ---- reading a page ----


@dataclass(frozen=True)
class Page:
    """What the health checks read of a fetched page: its addresses (asked for, each redirect, final),
    title, site name, the hosts its scripts, frames and forms come from, a few markers, and its
    visible text and inline script (both cut, and folded: lower case, no accents)."""

    urls: tuple[str, ...] = ()
    title: str = ""
    site_name: str = ""
    hosts: tuple[str, ...] = ()
    markers: frozenset[str] = frozenset()
    # Links to a marketplace's offer page for a domain: (the service, the link's address in lower case).
    offers: frozenset[tuple[str, str]] = frozenset()
    text: str = ""
    script: str = ""
    words: int = 0

    @property
    def final_url(self) -> str:
        return self.urls[-1] if self.urls else ""


_FRAME_TAGS = {"script": "src", "iframe": "src", "frame": "src", "embed": "src", "form": "action"}
_SITE_NAME_KEYS = ("og:site_name", "application-name")
_REFRESH_URL = re.compile(r"(?i)url\s*=")
_NOT_SHOWN = frozenset({"script", "style", "noscript", "template", "svg", "math", "head", "title"})


class _Reader:
    """Parser target for :func:`markup.feed`: collects what :class:`Page` holds, within its caps."""

    def __init__(self) -> None:
        self.elements = 0
        self.stack: list[str] = []
        self.title: list[str] = []
        self.site_name = ""
        self.hosts: list[str] = []
        self.markers: set[str] = set()
        self.offers: set[tuple[str, str]] = set()
        self.text: list[str] = []
        self.text_length = 0
        self.script: list[str] = []
        self.script_length = 0

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise markup.StopReading
        tag = tag.lower() if isinstance(tag, str) else ""
        self.stack.append(tag)
        if tag == "html" and any(name.lower() == "data-adblockkey" for name in attrib):
            self.markers.add("data-adblockkey")
        if tag == "meta":
            key = (attrib.get("property") or attrib.get("name") or "").strip().lower()
            if key in _SITE_NAME_KEYS and not self.site_name:
                self.site_name = _clean(attrib.get("content", ""))
            if (attrib.get("http-equiv") or "").strip().lower() == "refresh":
                target = _REFRESH_URL.split(attrib.get("content") or "", maxsplit=1)[1:]
                self._host(target[0].strip(" '\"") if target else "", self.markers)
        source = _FRAME_TAGS.get(tag)
        if source is not None:
            self._host(attrib.get(source, ""), None if tag == "form" else self.markers)
        if tag == "a":
            href = attrib.get("href", "")
            for pattern, marker in _LINK_MARKERS:
                if len(self.offers) < MAX_HOSTS and pattern.search(href[:500]):
                    self.offers.add((marker, href[:500].lower()))

    def end(self, _tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def data(self, data: str) -> None:
        where = self.stack[-1] if self.stack else ""
        if where == "title":
            if sum(map(len, self.title)) < MAX_NAME * 2:
                self.title.append(data)
        elif where == "script":
            if self.script_length < MAX_SCRIPT:
                self.script.append(data[: MAX_SCRIPT - self.script_length])
                self.script_length += len(self.script[-1])
        elif self.text_length < MAX_TEXT and not (_NOT_SHOWN & set(self.stack[-3:])):
            piece = data[: MAX_TEXT - self.text_length]
            self.text.append(piece)
            self.text_length += len(piece)

    def close(self) -> None:
        return None

    def _host(self, href: str, markers: set[str] | None) -> None:
        """Keep the host ``href`` loads from, and in ``markers`` (if any) what of a parking service it
        shows."""
        if len(self.hosts) >= MAX_HOSTS or not href:
            return
        href = href.strip()
        if href.startswith("//"):
            href = "https:" + href
        if not re.match(r"(?i)https?://", href):
            return
        try:
            host = host_of(href[:2000])
        except ValueError:
            return
        if host:
            self.hosts.append(host.lower().rstrip("."))
        if markers is not None:
            markers.update(marker for pattern, marker in _LINK_MARKERS if pattern.search(href[:500]))


def read_page(html: bytes | str | None, urls: Iterable[str] = (), *, charset: str | None = None) -> Page:
    """What the health checks need of ``html`` (None or empty: only its addresses), fetched at ``urls``
    (the address asked for, each redirect, the final address). Decoded as a browser decodes it and read
    with :func:`markup.feed`, within this module's caps."""
    urls = tuple(urls)
    page = Page(urls=urls)
    if not html:
        return page
    utf8 = markup.utf8(html, charset)
    if utf8 is None:
        return page
    reader = _Reader()
    markup.feed(utf8, reader)
    text = _fold(" ".join(reader.text))[:MAX_TEXT]
    return Page(
        urls=urls,
        title=_clean("".join(reader.title)),
        site_name=reader.site_name,
        hosts=tuple(dict.fromkeys(reader.hosts)),
        markers=frozenset(reader.markers),
        offers=frozenset(reader.offers),
        text=text,
        script=_fold(" ".join(reader.script)),
        words=len(text.split()),
    )


# ---- parked ----

# Hosts that serve nothing but parked or for-sale domains: a page that ends on one of them, or loads a
# script, frame or form from one, is parked. Each maps to the service's name, for the report.
PARKING_HOSTS: dict[str, str] = {
    "sedoparking.com": "Sedo",
    "sedo.com": "Sedo",
    "bodis.com": "Bodis",
    "parkingcrew.net": "ParkingCrew",
    "above.com": "Above.com",
    "trafficz.com": "Above.com",
    "dan.com": "Dan.com",
    "afternic.com": "Afternic",
    "cashparking.com": "GoDaddy CashParking",
    "parkingpage.namecheap.com": "Namecheap parking",
    "parking.namecheap.com": "Namecheap parking",
    "hugedomains.com": "HugeDomains",
    "uniregistry.com": "Uniregistry",
    "uniregistrymarket.link": "Uniregistry",
    "domainmarket.com": "DomainMarket",
    "parklogic.com": "Parklogic",
    "voodoo.com": "Voodoo",
    "dsnextgen.com": "DomainSponsor",
    "domainsponsor.com": "DomainSponsor",
    "skenzo.com": "Skenzo",
    "fabulous.com": "Fabulous",
    "parked.com": "Parked.com",
    "undeveloped.com": "Undeveloped",
    "efty.com": "Efty",
    "buydomains.com": "BuyDomains",
    "domainnamesales.com": "DomainNameSales",
    "rookmedia.net": "Rook Media",
    "ztomy.com": "Ztomy",
    "searchvity.com": "Searchvity",
    "parkingcrew.com": "ParkingCrew",
    "epik.com": "Epik marketplace",
    "squadhelp.com": "Atom (Squadhelp)",
    "atom.com": "Atom (Squadhelp)",
    "brandbucket.com": "BrandBucket",
}
# Markers in a page's markup or script that only parking pages carry.
_SCRIPT_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"window\.park\s*="), "a parking script (window.park)"),
    (re.compile(r"parking-lander|/parking/lander"), "GoDaddy parking (parking-lander)"),
    (re.compile(r"adsense/domains/caf\.js|caf\.js.{0,80}pubid.{0,40}dp-"), "Google AdSense for Domains"),
    (re.compile(r"\bparkingcrew\b"), "ParkingCrew"),
    (re.compile(r"\bsedoparking\b"), "Sedo"),
    (re.compile(r"\bbodis\b"), "Bodis"),
)
_LINK_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)adsense/domains/caf\.js"), "Google AdSense for Domains"),
    (re.compile(r"(?i)img\d*\.wsimg\.com/parking-lander|parking-lander"), "GoDaddy parking (parking-lander)"),
    (re.compile(r"(?i)godaddy\.com/(?:domainsearch/find\?.*domaintocheck|forsale/)"), "GoDaddy for sale"),
    (re.compile(r"(?i)sedo\.com/search/details|sedo\.com/checkdomainoffer"), "Sedo"),
    (re.compile(r"(?i)dan\.com/buy-domain"), "Dan.com"),
    (re.compile(r"(?i)afternic\.com/(?:domain|forsale)"), "Afternic"),
    (re.compile(r"(?i)hugedomains\.com/domain_profile"), "HugeDomains"),
)
_MARKER_SERVICE = {"data-adblockkey": "a parking service (data-adblockkey)"}


def _wording(*phrases: str) -> re.Pattern[str]:
    """One pattern of ``phrases`` (folded), where ``DOMAIN`` stands for a domain's name or "domain"
    words in several languages, matched as whole words. A match starts only where a word does (never
    after a letter, digit, dot or hyphen), so one long hyphenated word costs time in proportion to its
    length, not to its square."""
    return re.compile(r"(?<![\w.-])(?:" + "|".join(phrases) + r")(?![\w])")


_NAME = r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+"  # a domain's name, such as example.org
# Wording about the domain itself being for sale, parked or expired, folded (no accents, lower case):
# "homes for sale", "surplus items for sale" never match; "this domain is for sale" does.
FOR_SALE = _wording(
    # English
    rf"(?:this|the) domain(?: name)?(?: {_NAME})? (?:is|may be|might be|could be) (?:for sale|available)",
    rf"{_NAME} (?:is|may be|might be) for sale",
    r"(?:this )?domain(?: name)? (?:is )?for sale",
    r"buy this domain(?: name)?",
    r"make an offer (?:on|for) (?:this|the) domain",
    r"(?:get|own) this domain",
    r"inquire about this domain",
    # Spanish
    r"(?:este )?dominio (?:esta )?(?:en venta|a la venta|se vende)",
    r"compr(?:a|e|ar) este dominio",
    # French
    r"(?:ce )?(?:nom de )?domaine (?:est )?a vendre",
    r"achete[rz]? ce (?:nom de )?domaine",
    # German
    r"(?:diese )?domain (?:steht|ist) (?:zum verkauf|zu verkaufen)",
    r"(?:diese )?domain kaufen",
    r"domain zu verkaufen",
    # Italian
    r"(?:questo )?dominio (?:e )?in vendita",
    r"acquista questo dominio",
    # Portuguese
    r"(?:este )?dominio (?:esta )?a venda",
    r"compre este dominio",
    # Dutch
    r"(?:dit |deze )?(?:domein|domeinnaam) (?:is )?te koop",
    r"koop (?:dit|deze) (?:domein|domeinnaam)",
)
PARKED_WORDING = _wording(
    rf"(?:this|the) domain(?: name)?(?: {_NAME})? "
    r"(?:has expired|is expired|expired on|is parked|has been parked)",
    r"parked free",
    r"(?:this )?domain (?:is )?parked",
    r"(?:este )?dominio (?:ha )?(?:caducado|expirado|vencido)|dominio (?:aparcado|estacionado)",
    r"(?:ce )?(?:nom de )?domaine (?:a )?expire|domaine (?:parque|gare)",
    r"(?:diese )?domain (?:ist|wurde) (?:abgelaufen|geparkt)|geparkte domain",
    r"(?:questo )?dominio (?:e )?(?:scaduto|parcheggiato)",
    r"(?:este )?dominio (?:expirou|expirado|esta estacionado)|dominio estacionado",
    r"(?:dit )?domein (?:is )?(?:verlopen|geparkeerd)|geparkeerd domein",
)


def is_parked(page: Page) -> str | None:
    """Why ``page`` is a parking, for-sale or expired-domain page, or None when it is not.

    Counted: an address of the page (a redirect included) on a parking service's host; a script, frame
    or form from one; the parking services' own markup (``data-adblockkey``, ``window.park``, GoDaddy's
    parking lander, Google's AdSense for Domains); on a short page (``SHORT_PAGE_WORDS``), a link to a
    marketplace's offer page for the page's own domain; or wording that the domain is for sale, parked or
    expired, in its title or anywhere on a short page."""
    own = domain_of(page.urls[0]) if page.urls else None
    for url in page.urls[1:]:  # where the address led: a link to a marketplace itself is not parked
        service = _parking_service(_host(url))
        if service is not None and domain_of(url) != own:
            return f"the address leads to {service}, a domain parking or sales service"
    if not (page.title or page.text or page.script or page.hosts or page.markers or page.offers):
        return None  # nothing read of the page itself (its addresses only)
    for host in page.hosts:
        service = _parking_service(host)
        if service is not None and registrable_domain(host) != own:
            return f"the page loads content from {service}, a domain parking or sales service"
    for marker in sorted(page.markers):
        return f"the page carries the markup of {_MARKER_SERVICE.get(marker, marker)}"
    label = own.split(".")[0] if own else ""
    if page.words <= SHORT_PAGE_WORDS and label:
        for service, href in sorted(page.offers):
            if label in href:  # an offer of this very domain, not a link to some other listing
                return f"the page offers the domain for sale through {service}"
    for pattern, service in _SCRIPT_MARKERS:
        if pattern.search(page.script):
            return f"the page runs the script of {service}"
    title = _fold(page.title)
    for pattern, what in ((FOR_SALE, "for sale"), (PARKED_WORDING, "parked or expired")):
        found = pattern.search(title)
        if found is None and page.words <= SHORT_PAGE_WORDS:
            found = pattern.search(page.text)
        if found is not None:
            return f'the page says the domain is {what} ("{found.group(0)}")'
    return None


def _parking_service(host: str) -> str | None:
    name = host.lower().rstrip(".")
    while name:
        service = PARKING_HOSTS.get(name)
        if service is not None:
            return service
        name = name.partition(".")[2]
    return None


@lru_cache(maxsize=4_096)  # one link's addresses are asked about several times over
def _host(url: str) -> str:
    try:
        return host_of(url).lower().rstrip(".")
    except ValueError:
        return ""


def domain_of(url: str | None) -> str | None:
    """The registrable domain of ``url``'s host, or None."""
    if not url:
        return None
    host = _host(url)
    return registrable_domain(host) if host else None


# ---- moved away ----


def moved_away(link_url: str, final_url: str, county_domains: Iterable[str], expected: bool = False) -> bool:
    """True when ``link_url`` now ends, after its redirects, at ``final_url`` on another registrable
    domain than its own.

    Not moving away: a ``www.`` or ``http`` to ``https`` hop (the same registrable domain); a link to a
    County domain wherever it leads (the County runs its own redirects: a County address sending visitors
    off the County is the County's choice, reviewed as such); a link that ends on a County domain; and a
    move a rule says is ``expected`` (an allow rule covering the final host, see docs/audit.md)."""
    if expected:
        return False
    before, after = _host(link_url), _host(final_url)
    if not before or not after:
        return False
    domains = tuple(county_domains)
    if is_under(before, domains) or is_under(after, domains):
        return False
    return registrable_domain(before) != registrable_domain(after)


# ---- fingerprint and changed ----


@dataclass(frozen=True)
class Fingerprint:
    """What a destination host looked like when checked: where its address ends (the registrable
    domain after redirects), the page's title and site name, its privacy link's registrable domain,
    whether it ended on https, when, and whether it looked parked (and why)."""

    final_domain: str | None
    title: str = ""
    site_name: str = ""
    privacy_domain: str | None = None
    https: bool = False
    seen_at: datetime | None = None
    parked: str | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, object]:
        return {
            "final_domain": self.final_domain,
            "title": self.title,
            "site_name": self.site_name,
            "privacy_domain": self.privacy_domain,
            "https": self.https,
            "seen_at": self.seen_at.isoformat() if self.seen_at else None,
            "parked": self.parked,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Fingerprint:
        seen = data.get("seen_at")
        domain, privacy, parked = data.get("final_domain"), data.get("privacy_domain"), data.get("parked")
        return cls(
            final_domain=str(domain) if domain else None,
            title=_clean(str(data.get("title") or "")),
            site_name=_clean(str(data.get("site_name") or "")),
            privacy_domain=str(privacy) if privacy else None,
            https=bool(data.get("https")),
            seen_at=datetime.fromisoformat(seen) if isinstance(seen, str) else None,
            parked=str(parked)[:MAX_NAME] if parked else None,
        )


def fingerprint(page: Page, privacy_url: str | None = None, seen_at: datetime | None = None) -> Fingerprint:
    """The fingerprint of a destination from what was fetched of it (``page``, from :func:`read_page`,
    whose last address is where it ended) and the privacy link found there, if any."""
    final = page.final_url
    return Fingerprint(
        final_domain=domain_of(final),
        title=page.title,
        site_name=page.site_name,
        privacy_domain=domain_of(privacy_url),
        https=final.startswith("https://"),
        seen_at=seen_at,
        parked=is_parked(page),
    )


# Words that say nothing of who runs a site: a title that keeps only these is no evidence either way.
_COMMON_WORDS = frozenset(
    " ".join(
        (
            "a an and the of for to in on at by with from is are be your our my we you it its this that",
            "home homepage page welcome official site website web online inc llc ltd co corp company group",
            "de del la las el los y en le les et des du un une der die das und von zu il lo di e o da do dos",
            "das em het een van en voor index main news blog portal services service info information",
            "www com org net gov edu us",
        )
    ).split()
)
_WORDS = re.compile(r"[^\W\d_]{2,}")


def _name_words(fp: Fingerprint) -> frozenset[str]:
    """The words of a fingerprint's title and site name that could name who runs the site (folded; no
    numbers, no one-letter words, none of the common words)."""
    words = set(_WORDS.findall(_fold(f"{fp.title} {fp.site_name}")))
    return frozenset(words - _COMMON_WORDS)


def changed(before: Fingerprint | None, after: Fingerprint | None) -> str | None:
    """Why ``after`` suggests the site changed hands since ``before``, or None.

    Counted: the address now ends on another registrable domain; the privacy link moved to another
    registrable domain; or the title and site name, once both have words that could name who runs the
    site, share none of them. Not counted: anything one side does not know (an unanswered check, a page
    without a title), a change of https, a new year, a new tagline that keeps the name."""
    if before is None or after is None:
        return None
    if before.final_domain and after.final_domain and before.final_domain != after.final_domain:
        return f"the address now ends on {after.final_domain} (was {before.final_domain})"
    if before.privacy_domain and after.privacy_domain and before.privacy_domain != after.privacy_domain:
        return f"its privacy policy is now on {after.privacy_domain} (was {before.privacy_domain})"
    then, now = _name_words(before), _name_words(after)
    if then and now and not then & now:
        was = _clean(before.site_name or before.title, 80)
        is_now = _clean(after.site_name or after.title, 80)
        return f'its title and name have nothing in common with before: "{is_now}" (was "{was}")'
    return None
