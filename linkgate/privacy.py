"""Finding a site's own privacy-policy link in one of its pages.

The leaving notice shows visitors a direct link to the destination's privacy statement. This module
reads a page that has already been fetched and picks the one link a careful reader would click for the
site's privacy policy (in any of the common languages), or says there is none. Every rule is general:
wording in many languages, where on the page the link sits, the shape of its address.

It also says which privacy links the notice may show (:func:`privacy_link_refusal`): a page decides
where on its own site the notice points, never to another site, a private address or a user name.

It is pure: bytes or text in, a value out. It must never fetch or follow anything, never return an
address that is not an absolute http(s) URL serialised by :func:`linkgate.urls.resolve_web_link`, never
carry a rule about one particular site, and never spend more than time and memory in proportion to the
page on reading it, whatever its shape: pages are untrusted input (see "Reading the page").
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from urllib.parse import unquote

import ada_url

from linkgate import markup
from linkgate.errors import InvalidDestination
from linkgate.urls import (
    DEFAULT_MAX_LENGTH,
    WEB_SCHEMES,
    host_of,
    is_public_host,
    parse_destination,
    path_and_query,
    registrable_domain,
    resolve_web_link,
    unicode_host,
)

__all__ = [
    "MIN_SCORE",
    "PrivacyLink",
    "check_privacy_url",
    "find_privacy_link",
    "is_privacy_page",
    "privacy_link_refusal",
]

#: Candidates scoring below this are never offered to visitors.
MIN_SCORE = 6.0
#: The link text handed back is at most this long.
MAX_TEXT_LENGTH = 120
# A label longer than this (characters or words) is a sentence, not the name of a page.
_LONG_TEXT = 70
_MAX_LABEL_WORDS = 10
# Attribute values and hrefs longer than this are ignored, not truncated.
_MAX_ATTRIBUTE = 2048


@dataclass(frozen=True, slots=True)
class PrivacyLink:
    """The privacy-policy link chosen on a page, and why."""

    url: str
    text: str
    reason: str
    score: float


# --- Wording -------------------------------------------------------------------------------------------
#
# Patterns match "folded" text (see _fold): lower case, accents removed, soft hyphens and zero-width
# characters dropped, whitespace collapsed. Keywords are written plainly; _compile folds them too, and
# lets the words of a phrase be joined by nothing, a space, "-", "_", "/" or "." (so they match paths).

_INVISIBLE = re.compile("[\xad\u200b\u200c\u200d\u2060\ufeff]")


def _combining_marks() -> re.Pattern[str]:
    """The combining marks of the Basic Multilingual Plane, as one character class (a quick one: the
    regex engine only tests a table for it)."""
    ranges: list[list[int]] = []
    for code in range(0x10000):
        if unicodedata.combining(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return re.compile("[" + "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges) + "]")


_COMBINING = _combining_marks()


def _fold(text: str) -> str:
    text = text.casefold()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", _INVISIBLE.sub("", text)))
        if text and max(text) > "\uffff":
            text = "".join(ch for ch in text if not unicodedata.combining(ch))
        text = text.replace("ł", "l").replace("ø", "o")
    return " ".join(text.split())


def _compile(*alternatives: str, word: bool = True) -> re.Pattern[str]:
    folded = sorted({_fold(a) for a in alternatives}, key=len, reverse=True)
    body = "|".join(re.escape(a).replace(r"\ ", r"[\s\-_/.]*") for a in folded)
    return re.compile(rf"(?<![^\W\d_])(?:{body})" if word else f"(?:{body})")


# Words that, alone, name a privacy statement in a short link label.
_PRIVACY_WORDS = (
    # English
    "privacy",
    "data protection",
    "personal data",
    "personal information protection",
    # German
    "datenschutz",
    "datenschutzerklarung",
    "datenschutzhinweis",
    "datenschutzinformation",
    "datenschutzrichtlinie",
    "dsgvo",
    "gdpr",
    "rgpd",
    "privatsphare",
    # French
    "confidentialite",
    "protection des donnees",
    "donnees personnelles",
    "vie privee",
    # Spanish, Portuguese, Italian, Catalan
    "privacidad",
    "privacidade",
    "privacitat",
    "proteccion de datos",
    "protecao de dados",
    "datos personales",
    "dados pessoais",
    "riservatezza",
    "dati personali",
    # Dutch, Scandinavian, Finnish
    "privacyverklaring",
    "privacybeleid",
    "integritetspolicy",
    "personuppgifter",
    "personvern",
    "privatlivspolitik",
    "persondatapolitik",
    "tietosuoja",
    # Polish, Czech, Slovak, Hungarian, Romanian, Croatian, Slovenian
    "prywatnosc",
    "prywatnosci",
    "ochrona danych",
    "danych osobowych",
    "osobnich udaju",
    "osobnych udajov",
    "ochrana soukromi",
    "sukromia",
    "adatvedelem",
    "adatvédelmi",
    "confidentialitate",
    "datele personale",
    "privatnost",
    "zasebnost",
    # Greek, Turkish, Indonesian, Vietnamese
    "απορρητου",
    "προσωπικων δεδομενων",
    "gizlilik",
    "kisisel veri",
    "privasi",
    "quyen rieng tu",
    # Cyrillic
    "конфиденциальности",
    "конфиденциальность",
    "персональных данных",
    "конфіденційності",
    "персональних даних",
    "поверителност",
    # Hebrew, Arabic
    "פרטיות",
    "الخصوصية",
    # Japanese, Chinese, Korean
    "プライバシー",
    "個人情報",
    "隐私",
    "隱私",
    "私隐",
    "个人信息保护",
    "個資",
    "개인정보",
    "프라이버시",
)
_PRIVACY = _compile(*_PRIVACY_WORDS)


def _names_privacy(folded: str) -> bool:
    """True when the folded text holds one of the privacy words."""
    return bool(folded) and _could_name_privacy(folded) and _PRIVACY.search(folded) is not None


def _could_name_privacy(folded: str) -> bool:
    """False when the folded text cannot hold a privacy word: a test far quicker than _PRIVACY, and never
    a wrong "no". Plain ASCII must hold every word of one of the phrases; other text must have a word (a
    run of letters, since _PRIVACY only matches where one starts) that is a phrase's first word, or
    starts as a phrase does."""
    if folded.isascii():
        if _ASCII_WORD.search(folded) is not None:
            return True
        return any(first in folded and all(word in folded for word in rest) for first, rest in _ASCII_PHRASES)
    runs = _LETTER_RUN.findall(folded)
    if not _PRIVACY_FIRST_WORDS.isdisjoint(runs):
        return True
    return any(not starts.isdisjoint(map(cut, runs)) for cut, starts in _PRIVACY_STARTS_BY_LENGTH)


def _ascii_words() -> tuple[re.Pattern[str], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The privacy words that fold to ASCII: the one-word ones as one pattern (without those that hold a
    shorter one: "datenschutzerklarung" holds "datenschutz", looking for the shorter is enough), the
    phrases as (first word, other words)."""
    phrases = {tuple(_fold(word).split()) for word in _PRIVACY_WORDS if _fold(word).isascii()}
    words = {phrase[0] for phrase in phrases if len(phrase) == 1}
    shortest = sorted(word for word in words if not any(other != word and other in word for other in words))
    longer = tuple((first, tuple(rest)) for first, *rest in sorted(phrases) if rest)
    return re.compile("|".join(map(re.escape, shortest))), longer


_ASCII_WORD, _ASCII_PHRASES = _ascii_words()
_PRIVACY_FIRST_WORDS = frozenset(_fold(word).split()[0] for word in _PRIVACY_WORDS if " " in word)
_PRIVACY_STARTS = {_fold(word).replace(" ", "")[:5] for word in _PRIVACY_WORDS}
# (how to cut a word to a length, the starts of that length)
_PRIVACY_STARTS_BY_LENGTH = [
    (itemgetter(slice(length)), frozenset(start for start in _PRIVACY_STARTS if len(start) == length))
    for length in sorted({len(start) for start in _PRIVACY_STARTS})
]
_LETTER_RUN = re.compile(r"[^\W\d_]+")


# Words that make a privacy label explicitly a policy or statement.
_POLICY = _compile(
    "policy",
    "policies",
    "statement",
    "notice",
    "information",
    "practices",
    "erklarung",
    "hinweis",
    "information",
    "richtlinie",
    "politique",
    "charte",
    "politica",
    "politicas",
    "aviso",
    "declaracion",
    "informativa",
    "verklaring",
    "beleid",
    "polityka",
    "zasady",
    "политика",
    "ポリシー",
    "方針",
    "政策",
    "声明",
    "条款",
    "방침",
    word=False,
)

# Labels that mention privacy but lead somewhere else: consent tools, opt-outs, forms, rights pages.
_DECOY_TEXT = _compile(
    # Opt-outs and consent tools
    "do not sell",
    "dont sell",
    "don't sell",
    "do not share",
    "sell or share",
    "sell my",
    "share my",
    "opt out",
    "optout",
    "choices",
    "settings",
    "preferences",
    "preference",
    "manager",
    "manage",
    "controls",
    "options",
    "dashboard",
    "ad choices",
    "adchoices",
    # Rights, requests, contacts and other pages about privacy
    "your privacy rights",
    "california",
    "ccpa",
    "cpra",
    "request",
    "requests",
    "officer",
    "office",
    "dpo",
    "shield",
    "breach",
    "complaint",
    "complaints",
    "training",
    "tips",
    "kid",
    "kids",
    "children",
    "childrens",
    "for teachers",
    "for parents",
    "parametres",
    "parametrer",
    "gerer",
    "reglages",
    "delegue",
    "configuracion",
    "configurar",
    "ajustes",
    "preferencias",
    "gestionar",
    "solicitud",
    "impostazioni",
    "gestisci",
    "instellingen",
    "voorkeuren",
    "ustawienia",
    "zarzadzaj",
    "nastaveni",
    "настройки",
    "設定",
    "设置",
    "설정",
)
# Parts of compound words (German and Dutch write them as one word) that make a privacy label a decoy.
_DECOY_PART = _compile(
    "einstellung",
    "anfrage",
    "verwalten",
    "anpassen",
    "widerruf",
    "beauftragte",
    "auskunft",
    "instellingen",
    "voorkeuren",
    word=False,
)


def _is_decoy(text: str) -> bool:
    return bool(_DECOY_TEXT.search(text) or _DECOY_PART.search(text))


# Labels about cookies or consent only (no privacy word) are never the policy.
_COOKIE_TEXT = _compile(
    "cookie", "cookies", "consent", "einwilligung", "zustimmung", "consentement", "consentimiento", word=False
)

# Path segments that mean "a listing of articles about this word", never a policy.
_LISTING_SEGMENTS = frozenset(
    {
        "tag",
        "tags",
        "category",
        "categories",
        "categoria",
        "categorie",
        "categorias",
        "kategorie",
        "kategorien",
        "kategoria",
        "topic",
        "topics",
        "thema",
        "themen",
        "theme",
        "themes",
        "tema",
        "temas",
        "temat",
        "tematy",
        "schlagwort",
        "schlagworte",
        "stichwort",
        "stichworte",
        "keyword",
        "keywords",
        "label",
        "labels",
        "etiqueta",
        "etiquetas",
        "rubrique",
        "rubriques",
        "mot-cle",
        "mots-cles",
        "dossier",
        "dossiers",
        "search",
        "suche",
        "recherche",
        "buscar",
        "archive",
        "archives",
        "archiv",
        "author",
        "autor",
        "subject",
        "subjects",
        "section",
        "sections",
        "hashtag",
    }
)
# Path segments of news and blog sections: a privacy page in a category under them must say "policy".
_SECTION_SEGMENTS = frozenset(
    {
        "news",
        "actualites",
        "actualite",
        "nachrichten",
        "aktuelles",
        "noticias",
        "noticia",
        "notizie",
        "nieuws",
        "wiadomosci",
        "aktualnosci",
        "novosti",
        "blog",
        "blogs",
        "article",
        "articles",
        "artikel",
        "story",
        "stories",
        "video",
        "videos",
    }
)
_LISTING_QUERY = re.compile(r"(?:^|&)(?:s|q|query|search|tag|tags|cat|category|topic|keyword)=", re.I)

# Well-known providers of embedded widgets (comment spam filters, newsletter forms, maps, video,
# analytics, ads): their policy covers the widget, not the site the visitor is going to.
_WIDGET_DOMAINS = frozenset(
    {
        "google.com",
        "google.de",
        "google.fr",
        "google.es",
        "google.co.uk",
        "googleblog.com",
        "blogger.com",
        "youtube.com",
        "mailchimp.com",
        "list-manage.com",
        "intuit.com",
        "akismet.com",
        "automattic.com",
        "wordpress.com",
        "wordpress.org",
        "gravatar.com",
        "jetpack.com",
        "disqus.com",
        "facebook.com",
        "instagram.com",
        "twitter.com",
        "x.com",
        "pinterest.com",
        "tiktok.com",
        "vimeo.com",
        "addthis.com",
        "sharethis.com",
        "addtoany.com",
        "cloudflare.com",
        "hcaptcha.com",
        "recaptcha.net",
        "onetrust.com",
        "cookiebot.com",
        "cookielaw.org",
        "usercentrics.eu",
        "didomi.io",
        "quantcast.com",
        "trustarc.com",
        "truste.com",
        "aboutads.info",
        "youradchoices.com",
        "youronlinechoices.com",
        "youronlinechoices.eu",
        "networkadvertising.org",
        "doubleclick.net",
        "outbrain.com",
        "taboola.com",
        "criteo.com",
        "spotify.com",
        "soundcloud.com",
        "issuu.com",
        "flickr.com",
        "mapbox.com",
        "openstreetmap.org",
        "hubspot.com",
        "constantcontact.com",
        "sendinblue.com",
        "brevo.com",
        "substack.com",
        "typeform.com",
        "surveymonkey.com",
        "paypal.com",
        "stripe.com",
        "zendesk.com",
        "livechatinc.com",
        "intercom.com",
    }
)


def _word_set(*lines: str) -> frozenset[str]:
    return frozenset(_fold(word) for line in lines for word in line.split())


# Link labels that say nothing of where a link goes, so its address has to.
_GENERIC_WORDS = _word_set(
    "read more learn find out here click details detail see view info information link",
    "mehr erfahren hier weiterlesen lesen plus d en savoir ici voir lire",
    "mas leer ver detalles aqui saiba mais veja leggi di piu qui dettagli lees meer",
    "wiecej czytaj tutaj zobacz подробнее здесь 詳細 详情 더보기",
)
# Words that may stand next to the privacy keyword in a policy's label without changing what it names.
_FILLER = _word_set(
    "our the a an and of on for to your this site website web legal terms use conditions service",
    "cookie cookies info imprint impressum und der die das zur zum unsere hinweise",
    "et de du des la le les l notre mentions legales avis",
    "y e el los las del nuestra sitio uso aviso condiciones sua da do dos termos i il di",
    "o w z na oraz nasza и о сайта",
    # accessibility suffixes: "opens in a new tab", "(PDF)", "externer Link"...
    "this link opens open in new tab window external pdf offnet neuem fenster externer extern",
    "nouvelle fenetre ouvre s ventana nueva abre",
)

# Ancestors (tag, role, id or class) that say where on the page a link sits.
_FOOTER_HINT = re.compile(
    r"foot|fuss|colophon|copyright|site-?info|bottom|legal|imprint|impressum|pie-?de-?pagina"
    r"|(?<![a-z])pie(?![a-z])",
    re.I,
)
_NAV_HINT = re.compile(r"(?<![a-z])nav|menu|header|masthead|topbar|top-bar|toolbar", re.I)
_BODY_HINT = re.compile(
    r"entry-content|entry_content|post-content|post_content|post-body|postbody|article-body|articlebody|"
    r"article__body|article-content|article__content|story-body|storybody|story-content|body-text|"
    r"bodytext|text-body|rich-?text|comment|related|teaser|tagcloud|tag-cloud|taglist|"
    r"tag-list|keywords|breadcrumb|share|social|newsletter|signup|subscribe",
    re.I,
)
_SIDEBAR_HINT = re.compile(r"sidebar|widget", re.I)
_BANNER_HINT = re.compile(
    r"cookie|consent|gdpr|cmp|onetrust|didomi|usercentrics|truste|privacy-?banner|qc-|sp_message", re.I
)

_ONCLICK_URL = re.compile(
    r"""(?:location(?:\.href)?\s*=|location\.(?:assign|replace)\s*\(|window\.open\s*\()\s*(['"])(.*?)\1""",
    re.S,
)
_SCRIPT_HREF = re.compile(r"\s*(?:javascript|vbscript|data):", re.I)
_DATE_PATH = re.compile(r"/(?:19|20)\d\d(?:/[01]?\d/|-[01]\d-[0-3]\d/|[01]\d[0-3]\d/)")
_SLUG_WORDS = re.compile(r"[a-z0-9]+")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")
_LABEL_PIECES = re.compile(r"\s*[/|•·;]\s*")
_TITLE_PARTS = re.compile(r"\s[|\-–—·:»/]\s|[|·»]")
_NOT_FOUND = frozenset({"404", "not found", "nicht gefunden", "introuvable", "no encontrada", "non trovata"})


# --- The entry points -----------------------------------------------------------------------------------


def find_privacy_link(
    html: bytes | str, base_url: str, *, site: Sequence[str] | None = None, charset: str | None = None
) -> PrivacyLink | None:
    """The link on ``html`` (saved from ``base_url``) that leads to the site's privacy policy, or None.

    Looks at ``<a>`` and ``<area>`` links (visible text, ``aria-label``, ``title``, address),
    ``rel="privacy-policy"`` and ``onclick`` navigation; prefers the footer and navigation; refuses
    consent tools, opt-outs, cookie-only policies, topic and article pages and embedded widgets'
    policies. Of two equally good links the first in the page wins.

    With ``site`` (the addresses linkgate fetched for the destination, see :func:`privacy_link_refusal`),
    only a link the notice may show for that destination is chosen; without it, a policy on another
    domain is found too (that is how the finder's accuracy is measured). ``charset`` is the one the
    page's Content-Type named, if any: it wins over the page's ``<meta>``, as in a browser.
    """
    page = resolve_web_link(base_url, base_url)
    reader = _read(html, _Reader(links=True), charset) if page is not None else None
    if reader is None or page is None:
        return None
    fetched = (page,) if site is None else (page, *site)
    best: PrivacyLink | None = None
    for candidate in reader.judged(page):
        if (best is None or candidate.score > best.score) and privacy_link_refusal(
            candidate.url, site=fetched, domains=site is not None
        ) is None:
            best = candidate
    if best is None or best.score < MIN_SCORE:
        return None
    return best


def is_privacy_page(html: bytes | str, *, charset: str | None = None) -> bool:
    """True when the page's ``<title>`` or main heading names a privacy policy, in any supported language.

    Used to accept a guessed address such as ``/privacy`` only when it really is the policy: not a
    "page not found", not a tag or topic listing, not a consent-settings page, not a news story.
    """
    reader = _read(html, _Reader(links=False), charset)
    if reader is None:
        return False
    found = reader.headings
    heading = found.get("h1") or found.get("h2")
    texts = (text.text() for text in (found.get("title"), heading) if text is not None)
    return any(_is_policy_heading(text) for text in texts)


def privacy_link_refusal(url: str, *, site: Sequence[str] = (), domains: bool = True) -> str | None:
    """Why the notice must not show ``url`` as a privacy policy, or None when it may.

    A privacy link is shown only when it is an absolute http(s) address, without a user name or password,
    on a public host (:func:`linkgate.urls.is_public_host`: a public address, or a name under a public
    suffix), and, for a link found on a destination's pages, on the destination's own registrable domain.

    ``site`` holds the addresses linkgate fetched for the destination: the address asked for and where
    its home page's redirects ended. A link to one of their hosts (and ports) is on a host the fetcher has
    already checked, address by address. With ``domains`` (the default, when ``site`` is given), the link
    must be on the registrable domain of one of them: a page decides where on its own site the notice
    points, never which other site. Without ``site`` (a webmaster's override), only the first rules apply.
    """
    try:
        link = ada_url.URL(url)
    except ValueError:
        return "it is not a web address"
    if link.protocol not in WEB_SCHEMES:
        return "it must start with http:// or https://"
    if link.username or link.password:
        return "it must not contain a user name or password"
    fetched = [parsed for parsed in map(_parsed_url, site) if parsed is not None]
    host = link.hostname
    checked = any(host == other.hostname and link.port == other.port for other in fetched)
    if not checked and not is_public_host(host):
        return (
            f"it must be on a public internet host, and {unicode_host(host)} is not (a private, local or "
            f"reserved address, or a name without a public suffix such as .org)"
        )
    if domains and fetched:
        domain = registrable_domain(host)
        if domain not in {registrable_domain(other.hostname) for other in fetched}:
            return f"it is on {unicode_host(domain)}, another site than the one it was found on"
    return None


def check_privacy_url(text: str, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """A privacy link typed by a webmaster (console or command line), as the parser writes it.

    Raises :class:`InvalidDestination`, with a message the webmaster can act on, for anything the notice
    would never show (:func:`privacy_link_refusal`).
    """
    destination = parse_destination(text.strip(), max_length)
    refusal = privacy_link_refusal(destination.href)
    if refusal is not None:
        raise InvalidDestination(f"This address cannot be a privacy link: {refusal}.", "refused")
    return destination.href


def _parsed_url(url: str) -> ada_url.URL | None:
    try:
        return ada_url.URL(url)
    except ValueError:
        return None


# --- Reading the page -----------------------------------------------------------------------------------
#
# Pages are read by lxml (libxml2's HTML parser), as the audit reads them (linkgate.markup), which
# reports each element as it goes (see _Reader): no tree is built, for libxml2's trees cost time squared
# in an element's attributes. Everything is linear in the page, whatever its shape: the encoding is found
# by the HTML standard's prescan (linkgate.encoding), over at most 64 KB; an element's place (footer,
# navigation...) is worked out once, from its parent's, when a link inside it asks; a link's text is read
# up to a bound and goes to the innermost link only; reading stops 256 elements deep, where libxml2 stops
# building trees, since its parser looks through the open elements for each end tag; and of a page with
# thousands of links, the first and last 2,000 are judged. The benchmark benchmarks/privacy_hostile.py
# measures this on generated hostile pages at the body cap.


def _read(html: bytes | str, reader: _Reader, charset: str | None) -> _Reader | None:
    """Feed the page (read as a browser reads it, see :mod:`linkgate.markup`) to libxml2's HTML parser,
    which reports it to ``reader`` element by element; None for an empty page."""
    page = markup.utf8(html, charset)
    if page is None:
        return None
    # lxml closes the reader when the parser reaches the end; a parser that gives up on a broken page,
    # or a page nested too deeply, leaves what was read so far, and the reader is closed here.
    markup.feed(page, reader)
    reader.close()
    return reader


# libxml2 stops building a tree 256 elements deep, and so does the reader: its parser looks through
# the open elements for each end tag, so a deeper stack would make a page cost time squared.
_MAX_DEPTH = 256
# Where an element sits, as bits: what it and its ancestors up to <body> say (see _Reader._place).
_FOOTER, _NAV, _CONTENT, _FORM, _SIDEBAR, _BANNER = (1 << bit for bit in range(6))
# Elements whose content no visitor sees as page text or links: inline icons and formulas, templates,
# and the raw-text elements (their content is text to the parser, never elements).
_NOT_SHOWN = _word_set("svg math template script style iframe textarea noembed noframes")
_NAV_ROLES = frozenset({"navigation", "menu", "menubar", "banner"})
# Read in this order: the first hint that matches an id or class counts.
_HINTS = (
    (_BANNER_HINT, _BANNER),
    (_FOOTER_HINT, _FOOTER),
    (_BODY_HINT, _CONTENT),
    (_SIDEBAR_HINT, _SIDEBAR),
    (_NAV_HINT, _NAV),
)
# What a place is worth, strongest first: (bit, name in the reason, score).
_PLACE_SCORES = (
    (_FOOTER, "footer", 2.0),
    (_BANNER, "cookie notice", 0.5),
    (_NAV, "navigation", 1.5),
    (_FORM, "form", -2.0),
    (_CONTENT, "page content", -2.5),
    (_SIDEBAR, "sidebar", -1.0),
)
# A link's text is read from at most this many of its elements: enough for any label, bounded for any link.
_MAX_TEXT_NODES = 200
# Of a page with more links than twice this, the first and the last this many are judged (a site's own
# policy link sits in its header or its footer; the largest page of the labelled corpus has 1,346 links).
_MAX_LINKS = 2_000


class _Text:
    """The start of an element's shown text: its text nodes, a space where an element starts or ends, up
    to 4 × ``MAX_TEXT_LENGTH`` characters and ``_MAX_TEXT_NODES`` elements; its images' alt texts."""

    __slots__ = ("alts", "left", "nodes", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.alts: list[str] = []
        self.left = 4 * MAX_TEXT_LENGTH + 1
        self.nodes = _MAX_TEXT_NODES

    def add(self, data: str) -> None:
        if self.left > 0 and self.nodes > 0:
            piece = data[: self.left]
            self.parts.append(piece)
            self.left -= len(piece)

    def mark(self, tag: str, attrib: Mapping[str, str] | None) -> None:
        """An element starts (with its attributes) or ends inside."""
        if self.nodes > 0:
            self.nodes -= 1
            self.parts.append(" ")
            if tag == "img" and attrib is not None:
                self.alts.append(_attr(attrib, "alt"))

    def text(self) -> str:
        """The text, or its images' alt texts when it has none, with spaces collapsed."""
        text = _SPACE.sub(" ", _INVISIBLE.sub("", "".join(self.parts))).strip()
        return text or _SPACE.sub(" ", " ".join(self.alts)).strip()


@dataclass(slots=True)
class _Link:
    """A link-like element as the parser reported it: what _judge reads of it."""

    tag: str
    attrib: dict[str, str]
    flags: int  # the place bits of its ancestors (set once the link is open)
    href: str  # where it leads: its href, or the address its onclick handler goes to
    by_script: bool
    order: int  # where it starts in the page, counted in elements
    text: _Text


# The elements that may be links without an onclick handler.
_LINK_TAGS = frozenset({"a", "area", "link"})
# The attributes of a link that _judge reads.
_LINK_ATTRIBUTES = ("href", "onclick", "rel", "aria-label", "title", "alt")


class _Reader:
    """An lxml parser target that reads a page in one pass, as libxml2 parses it.

    libxml2 reports each element's start (with its attributes), its text and its end, having decided
    where each element goes (it closes what HTML closes by itself and nests at most 256 deep); the reader
    keeps the open elements' place bits on a stack and, with ``links``, the link-like elements (the first
    and last ``_MAX_LINKS``), to be judged once the page's ``<base>`` is known; without ``links``, the
    text of the first ``<title>``, ``<h1>`` and ``<h2>``. Each event costs
    a bounded amount of work: text goes only to the innermost link (or heading) open.
    """

    def __init__(self, *, links: bool) -> None:
        self.links = links
        # The open elements, the document first: whether each is hidden (inside an <svg>, a <template>,
        # a <script>...), what it says of its own place (bits, or the attributes to read them from), and
        # its place with its ancestors' (None until a link inside it asks: most elements hold none).
        self.hidden = [False]
        self.own: list[int | tuple[str, str, str, str]] = [0]
        self.places: list[int | None] = [0]
        self.texts: list[tuple[int, _Text]] = []  # open links (or headings): (depth, text), innermost last
        self.open_links: list[tuple[int, _Link]] = []
        # The links read, as they end: the first _MAX_LINKS, then the last ones.
        self.first: list[_Link] = []
        self.last: deque[_Link] = deque(maxlen=_MAX_LINKS)
        self.base: str | None = None
        self.headings: dict[str, _Text] = {}
        self._own_places: dict[tuple[str, str, str, str], int] = {}
        self._elements = 0

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        hidden = self.hidden
        depth = len(hidden)
        if depth > _MAX_DEPTH:
            raise markup.StopReading
        shown = not hidden[-1] and tag not in _NOT_SHOWN
        hidden.append(not shown)
        if tag in ("html", "body"):
            self.own.append(0)
            self.places.append(0)  # what sits above <body> says nothing of where a link is
        else:
            if attrib and ("role" in attrib or "id" in attrib or "class" in attrib):
                get = attrib.get
                self.own.append((tag, get("role", ""), get("id", ""), get("class", "")))
            else:
                self.own.append(_TAG_PLACES.get(tag, 0))
            self.places.append(None)
        self._elements += 1
        if self.texts:
            self.texts[-1][1].mark(tag, attrib)
        if not shown:
            return
        if self.links:
            if tag == "base" and self.base is None and "href" in attrib:
                self.base = _attr(attrib, "href")
            link = _link(tag, attrib, self._elements) if tag in _LINK_TAGS or "onclick" in attrib else None
            if link is not None:
                link.flags = self._place(depth - 1)
                self.open_links.append((depth + 1, link))
                self.texts.append((depth + 1, link.text))
        elif tag in ("title", "h1", "h2") and tag not in self.headings:
            text = self.headings[tag] = _Text()
            self.texts.append((depth + 1, text))

    def end(self, tag: str) -> None:
        depth = len(self.hidden)
        if depth > 1:
            self.hidden.pop()
            self.own.pop()
            self.places.pop()
        if self.texts and self.texts[-1][0] == depth:
            self.texts.pop()
        if self.texts:
            self.texts[-1][1].mark(tag, None)
        if self.open_links and self.open_links[-1][0] == depth:
            self._keep(self.open_links.pop()[1])

    def data(self, data: str) -> None:
        if self.texts and not self.hidden[-1]:
            self.texts[-1][1].add(data)

    def _place(self, index: int) -> int:
        """The place bits of the open element at ``index`` (with its ancestors'), worked out for it and
        the ancestors not yet known, each once while it is open."""
        places, own = self.places, self.own
        known = index
        while (value := places[known]) is None:
            known -= 1
        for position in range(known + 1, index + 1):
            mine = own[position]
            if not isinstance(mine, int):
                cached = self._own_places.get(mine)
                if cached is None:
                    cached = self._own_places[mine] = _own_place(*mine)
                mine = cached
            value |= mine
            places[position] = value
        return value

    def close(self) -> None:
        """The page has ended (or the parser gave up): links still open end here."""
        while self.open_links:
            self._keep(self.open_links.pop()[1])
        self.texts.clear()

    def _keep(self, link: _Link) -> None:
        (self.first if len(self.first) < _MAX_LINKS else self.last).append(link)

    def judged(self, page: str) -> Iterator[PrivacyLink]:
        """The kept links that name privacy, judged in document order (a link ends after the links
        nested in it)."""
        base = (resolve_web_link(self.base, page) if self.base else None) or page
        for link in sorted((*self.first, *self.last), key=lambda kept: kept.order):
            candidate = _judge(link, base, page)
            if candidate is not None:
                yield candidate


def _own_place(tag: str, role: str, id_: str, classes: str) -> int:
    """The place bits an element gives itself: its landmark or role (the first that applies), then the
    first hint its id and class hold."""
    role = role if len(role) <= _MAX_ATTRIBUTE else ""
    if tag == "footer" or role == "contentinfo":
        place = _FOOTER
    elif tag in ("nav", "header") or role in _NAV_ROLES:
        place = _NAV
    elif tag in ("article", "aside") or role in ("article", "complementary"):
        place = _CONTENT
    elif tag == "form":
        place = _FORM
    else:
        place = 0
    hints = " ".join(value for value in (id_, classes) if len(value) <= _MAX_ATTRIBUTE)
    if hints and not hints.isspace():
        for pattern, bit in _HINTS:
            if pattern.search(hints):
                return place | bit
    return place


# The place bits of the elements that give themselves one without attributes.
_TAG_PLACES = {tag: _own_place(tag, "", "", "") for tag in _word_set("footer nav header article aside form")}


def _link(tag: str, attrib: Mapping[str, str], order: int) -> _Link | None:
    """The element as a link, if it is one: ``<a>`` or ``<area>`` with an address, an element whose
    onclick handler goes to an address, or ``<link rel="privacy-policy">``."""
    is_link = tag in ("a", "area")
    if not (is_link or "onclick" in attrib or (tag == "link" and "privacy-policy" in _rel(attrib))):
        return None
    href = _attr(attrib, "href").strip()
    by_script = False
    if not href or href.startswith("#") or _SCRIPT_HREF.match(href):
        match = _ONCLICK_URL.search(_attr(attrib, "onclick"))
        if match is None:
            return None
        href, by_script = match.group(2).strip(), True
    kept = {name: attrib[name] for name in _LINK_ATTRIBUTES if name in attrib}
    return _Link(tag, kept, 0, href, by_script, order, _Text())


# --- Judging one link -----------------------------------------------------------------------------------


def _judge(link: _Link, base: str, page: str) -> PrivacyLink | None:
    """Score one link-like element; None when no privacy word is in it (its text, labels or address) and
    it is not rel="privacy-policy", or when it cannot be the site's privacy policy."""
    if link.tag == "area":
        raw_text = _SPACE.sub(" ", _attr(link.attrib, "alt")).strip()
    else:
        raw_text = "" if link.tag == "link" else link.text.text()
    text, address = _fold(raw_text), _url_words(link.href)
    labels = (_fold(_attr(link.attrib, "aria-label")), _fold(_attr(link.attrib, "title")))
    is_rel = "privacy-policy" in _rel(link.attrib)
    if not (is_rel or _names_privacy(text) or _names_privacy(address) or any(map(_names_privacy, labels))):
        return None
    url = resolve_web_link(link.href, base)
    if url is None:
        return None

    # Wording: the text, then the accessible name, then the address.
    score, why = _wording_score(text, raw_text, labels, address)
    if score is None:
        return None
    if is_rel:
        score = max(score, 8.0) + 4.0
        why = f'{why} marked rel="privacy-policy"' if why else 'marked rel="privacy-policy"'
    if score <= 0:
        return None

    # The address: listings, articles, opt-out pages and widgets' policies are not the site's policy.
    same_site = _is_same_site(url, page)
    shape = _address_penalty(url, page)
    if shape is None:
        return None
    penalty, note = shape
    score -= penalty

    # Position on the page.
    where, adjustment = _position(link.flags)
    score += adjustment
    if same_site:
        score += 0.5
    elif where == "page content":
        score -= 3.0  # a link out of an article is a reference, not this site's policy
    if link.by_script:
        score -= 0.5
        why += " (reached by a script link)"
    if where:
        why += f" in the {where}"
    if note:
        why += f"; {note}"
    shown = _shorten(raw_text) or _shorten(_attr(link.attrib, "aria-label") or _attr(link.attrib, "title"))
    return PrivacyLink(url=url, text=shown, reason=why, score=round(score, 2))


def _wording_score(
    text: str, raw_text: str, labels: tuple[str, str], address: str
) -> tuple[float | None, str]:
    """How strongly the wording says "privacy policy"; None when it says something else (a decoy)."""
    if text and _names_privacy(text):
        if len(text) > _LONG_TEXT or len(text.split()) > _MAX_LABEL_WORDS:
            return None, ""
        # "Privacy Policy / Your California Privacy Rights" is the policy; "Privacy Settings" alone is not.
        pieces = [p for p in _LABEL_PIECES.split(text) if _names_privacy(p) and not _is_decoy(p)]
        if not pieces:
            return None, ""
        return max(map(_label_score, pieces)), f'link text "{_shorten(raw_text)}"'
    if text and (_COOKIE_TEXT.search(text) or _is_decoy(text)):
        return None, ""
    generic = not text or all(w in _GENERIC_WORDS for w in _WORD.findall(text)) or bool(_POLICY.search(text))
    for label in labels:
        if label and _names_privacy(label):
            if (
                len(label) > _LONG_TEXT
                or _is_decoy(label)
                or (_COOKIE_TEXT.search(label) and not _POLICY.search(label))
            ):
                return None, ""
            # "Twitter" titled "Datenschutz bei Twitter" names another page than the label's own site's.
            return _label_score(label) - (1.5 if generic else 3.5), f'link label "{_shorten(label)}"'
    if _names_privacy(address):
        if _COOKIE_TEXT.search(address) and not _POLICY.search(address):
            return None, ""
        # The address alone counts only when the text says nothing else ("Read more", an icon, nothing).
        score = 6.0 if generic else 3.0
        if "#" in address:
            score -= 2.0  # a section of some page, such as "#advertising"
        return score, f'address "{_shorten(address)}"'
    return 0.0, ""


def _label_score(label: str) -> float:
    """9 for a bare privacy label, 10 when it says policy or statement; one less for each other word."""
    rest = _POLICY.sub(" ", _PRIVACY.sub(" ", label))
    others = [w for w in _WORD.findall(rest) if w not in _FILLER]
    score = 10.0 if _POLICY.search(label) else 9.0
    return max(3.0, score - max(0, len(others) - 1))


def _address_penalty(url: str, page: str) -> tuple[float, str] | None:
    """How much the address's shape counts against it; None when it can never be the site's policy."""
    domain = _domain_of(url)
    if domain in _WIDGET_DOMAINS and domain != _domain_of(page):
        return None
    raw_path, query = path_and_query(url)
    path = unquote(raw_path).lower()
    segments = [s for s in path.split("/") if s]
    last = _fold(segments[-1]) if segments else ""
    if any(s in _LISTING_SEGMENTS for s in segments[:-1]):
        return None
    # /news/<category>/data-protection is a topic page; /blog/datenschutz is a blog's own policy.
    if any(s in _SECTION_SEGMENTS for s in segments[:-2]) and not _POLICY.search(last):
        return None
    if query and _LISTING_QUERY.search(query):
        return None
    penalty, note = 0.0, ""
    words = _url_words(f"{raw_path}?{query}")
    if _is_decoy(words) and not _POLICY.search(words):
        penalty, note = 4.0, "address names a settings or request page"
    if _DATE_PATH.search(path):
        penalty, note = penalty + 3.0, "address looks like an article"
    elif len(_SLUG_WORDS.findall(last.rsplit(".", 1)[0])) >= 6:
        penalty, note = penalty + 2.0, "address looks like an article"
    return penalty, note


def _position(flags: int) -> tuple[str, float]:
    """Where the link sits (footer, navigation, consent notice, article) and what that is worth."""
    for bit, where, score in _PLACE_SCORES:
        if flags & bit:
            return where, score
    return "", 0.0


def _is_policy_heading(raw: str) -> bool:
    """A title such as "Privacy Policy | Example" or "Datenschutz – Example", but not a story or listing."""
    for piece in _TITLE_PARTS.split(_fold(raw)):
        part = piece.strip()
        if not part or len(part.split()) > 6 or not _names_privacy(part):
            continue
        words = set(_WORD.findall(part))
        if _is_decoy(part) or words & _LISTING_SEGMENTS or any(nf in part for nf in _NOT_FOUND):
            continue
        if _label_score(part) >= 8.0:
            return True
    return False


# --- Small helpers --------------------------------------------------------------------------------------


def _attr(attrib: Mapping[str, str], name: str) -> str:
    value = attrib.get(name)
    return value if value is not None and len(value) <= _MAX_ATTRIBUTE else ""


def _rel(attrib: Mapping[str, str]) -> list[str]:
    return _attr(attrib, "rel").lower().split()


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT_LENGTH else text[: MAX_TEXT_LENGTH - 1].rstrip() + "…"


def _url_words(href: str) -> str:
    """The words of an address (host, path, query, fragment), for keyword matching."""
    rest = href.partition("://")[2] if "://" in href[:12] else href
    return _fold(unquote(rest).replace("-", " ").replace("_", " "))


def _is_same_site(url: str, page: str) -> bool:
    """One site's addresses: the same registrable domain, or the same name under another suffix
    (example.com and example.de, name.blogspot.com and name.blogspot.de)."""
    host, page_host = host_of(url).strip("[]"), host_of(page).strip("[]")
    domain, page_domain = _domain_of(url), _domain_of(page)
    if domain == page_domain or domain.partition(".")[0] == page_domain.partition(".")[0]:
        return True
    return host.removeprefix("www.").rpartition(".")[0] == page_host.removeprefix("www.").rpartition(".")[0]


def _domain_of(url: str) -> str:
    host = host_of(url).strip("[]")
    return registrable_domain(host) if host else ""
