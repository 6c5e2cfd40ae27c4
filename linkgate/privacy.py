"""Finding a site's own privacy-policy link in one of its pages.

The leaving notice shows visitors a direct link to the destination's privacy statement. This module
reads a page that has already been fetched and picks the one link a careful reader would click for the
site's privacy policy (in any of the common languages), or says there is none. Every rule is general:
wording in many languages, where on the page the link sits, the shape of its address.

It is pure: bytes or text in, a value out. It must never fetch or follow anything, never return an
address that is not an absolute http(s) URL serialised by :func:`linkgate.urls.resolve_web_link`, and
never carry a rule about one particular site.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from bs4.element import Tag

from linkgate.urls import registrable_domain, resolve_web_link

__all__ = ["MIN_SCORE", "PrivacyLink", "find_privacy_link", "is_privacy_page"]

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

_INVISIBLE = dict.fromkeys(map(ord, "\xad\u200b\u200c\u200d\u2060\ufeff"), None)


def _fold(text: str) -> str:
    text = text.casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_INVISIBLE))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        text = text.replace("ł", "l").replace("ø", "o")
    return " ".join(text.split())


def _compile(*alternatives: str, word: bool = True) -> re.Pattern[str]:
    folded = sorted({_fold(a) for a in alternatives}, key=len, reverse=True)
    body = "|".join(re.escape(a).replace(r"\ ", r"[\s\-_/.]*") for a in folded)
    return re.compile(rf"(?<![^\W\d_])(?:{body})" if word else f"(?:{body})")


# Words that, alone, name a privacy statement in a short link label.
_PRIVACY = _compile(
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


# --- The two entry points -------------------------------------------------------------------------------


def find_privacy_link(html: bytes | str, base_url: str) -> PrivacyLink | None:
    """The link on ``html`` (saved from ``base_url``) that leads to the site's privacy policy, or None.

    Looks at ``<a>`` and ``<area>`` links (visible text, ``aria-label``, ``title``, address),
    ``rel="privacy-policy"`` and ``onclick`` navigation; prefers the footer and navigation; refuses
    consent tools, opt-outs, cookie-only policies, topic and article pages and embedded widgets'
    policies. Of two equally good links the first in the page wins.
    """
    soup = _parse(html)
    page = resolve_web_link(base_url, base_url)
    if soup is None or page is None:
        return None
    base = _document_base(soup, page)
    best: PrivacyLink | None = None
    for element in _link_elements(soup):
        candidate = _judge(element, base, page)
        if candidate is not None and (best is None or candidate.score > best.score):
            best = candidate
    if best is None or best.score < MIN_SCORE:
        return None
    return best


def is_privacy_page(html: bytes | str) -> bool:
    """True when the page's ``<title>`` or main heading names a privacy policy, in any supported language.

    Used to accept a guessed address such as ``/privacy`` only when it really is the policy: not a
    "page not found", not a tag or topic listing, not a consent-settings page, not a news story.
    """
    soup = _parse(html)
    if soup is None:
        return False
    headings: list[str] = []
    if isinstance(soup.title, Tag):
        headings.append(soup.title.get_text(" "))
    heading = soup.find("h1") or soup.find("h2")
    if isinstance(heading, Tag):
        headings.append(heading.get_text(" "))
    return any(_is_policy_heading(text) for text in headings)


# --- Reading the page -----------------------------------------------------------------------------------

# WHATWG Encoding Standard labels that Python names differently or decodes more strictly than browsers.
_ENCODING_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "tis-620": "cp874",
    "iso-8859-9": "cp1254",
}
_XML_DECLARATION = re.compile(r"\s*<\?xml[^>]*>", re.I)
_INERT_START = re.compile(r"<(script|style|svg|template)\b|<!--", re.I)
_INERT_ENDS = {name: re.compile(rf"</{name}\s*>", re.I) for name in ("script", "style", "svg", "template")}


def _codec(label: str | None) -> str | None:
    """Python's name for a charset label, or None for unknown labels and non-text codecs (base64...)."""
    if not label:
        return None
    label = label.strip().lower()
    try:
        name = codecs.lookup(_ENCODING_ALIASES.get(label, label)).name
        b"<".decode(name, "ignore")  # raises for base64, zlib, "undefined" and other non-text codecs
    except (LookupError, UnicodeError):
        return None
    return name


def _decode(data: bytes) -> str:
    """Bytes to text as a browser would: byte-order mark, then the declared charset, then UTF-8."""
    data, bom = EncodingDetector.strip_byte_order_mark(data)
    bom_codec = _codec(bom)
    if bom_codec:
        return data.decode(bom_codec, errors="replace")
    declared = _codec(EncodingDetector.find_declared_encoding(data, is_html=True))
    if (declared and declared.startswith("utf-16")) or (declared and declared.startswith("utf-32")):
        declared = "utf-8"  # a page that merely says UTF-16 is ASCII-compatible (HTML standard)
    for codec in dict.fromkeys(c for c in (declared, "utf-8") if c):
        try:
            return data.decode(codec)
        except UnicodeError:
            continue
    try:
        return data.decode(declared or "cp1252", errors="replace")
    except UnicodeError:
        return data.decode("cp1252", errors="replace")


def _strip_inert(text: str) -> str:
    """The markup without scripts, styles, inline icons and comments, which hold no links.

    They are most of the bytes of a modern page; leaving them out roughly halves the parse. One pass,
    linear in the length even for unclosed or nested openers.
    """
    out: list[str] = []
    position = 0
    while (start := _INERT_START.search(text, position)) is not None:
        name = start.group(1)
        if name is None:
            end = text.find("-->", start.end())
            if end < 0:
                break
            out.append(text[position : start.start()])
            position = end + 3
            continue
        close = _INERT_ENDS[name.lower()].search(text, start.end())
        if close is None:
            break
        out.append(text[position : start.start()])
        out.append(f"<{name}></{name}>")
        position = close.end()
    out.append(text[position:])
    return "".join(out)


def _parse(html: bytes | str) -> BeautifulSoup | None:
    text = _decode(html) if isinstance(html, bytes) else html.lstrip("\ufeff")
    # An XHTML page's XML declaration means nothing to an HTML parser.
    if declaration := _XML_DECLARATION.match(text):
        text = text[declaration.end() :]
    if not text.strip():
        return None
    return BeautifulSoup(_strip_inert(text), "lxml", multi_valued_attributes=None)


def _document_base(soup: BeautifulSoup, page: str) -> str:
    """The page's ``<base href>`` resolved against its own address, or the address itself."""
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        href = _attr(base_tag, "href")
        resolved = resolve_web_link(href, page) if href else None
        if resolved is not None:
            return resolved
    return page


def _link_elements(soup: BeautifulSoup) -> Iterator[Tag]:
    """Links, ``rel="privacy-policy"`` and script links, in document order: one walk of the tree."""
    for element in soup.descendants:
        if type(element) is Tag and (
            element.name in ("a", "area")
            or "onclick" in element.attrs
            or (element.name == "link" and "privacy-policy" in _rel(element))
        ):
            yield element


# --- Judging one link -----------------------------------------------------------------------------------


def _judge(element: Tag, base: str, page: str) -> PrivacyLink | None:
    """Score one link-like element; None when it cannot be the site's privacy policy."""
    href = _attr(element, "href").strip()
    by_script = False
    if not href or href.startswith("#") or _SCRIPT_HREF.match(href):
        match = _ONCLICK_URL.search(_attr(element, "onclick"))
        if match is None:
            return None
        href, by_script = match.group(2).strip(), True
    is_rel = "privacy-policy" in _rel(element)
    raw_text = _visible_text(element)
    text = _fold(raw_text)
    address = _url_words(href)
    labels = (_fold(_attr(element, "aria-label")), _fold(_attr(element, "title")))
    if not (is_rel or _PRIVACY.search(text) or _PRIVACY.search(address) or any(map(_PRIVACY.search, labels))):
        return None
    url = resolve_web_link(href, base)
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
    where, adjustment = _position(element)
    score += adjustment
    if same_site:
        score += 0.5
    elif where == "page content":
        score -= 3.0  # a link out of an article is a reference, not this site's policy
    if by_script:
        score -= 0.5
        why += " (reached by a script link)"
    if where:
        why += f" in the {where}"
    if note:
        why += f"; {note}"
    shown = _shorten(raw_text) or _shorten(_attr(element, "aria-label") or _attr(element, "title"))
    return PrivacyLink(url=url, text=shown, reason=why, score=round(score, 2))


def _wording_score(
    text: str, raw_text: str, labels: tuple[str, str], address: str
) -> tuple[float | None, str]:
    """How strongly the wording says "privacy policy"; None when it says something else (a decoy)."""
    if text and _PRIVACY.search(text):
        if len(text) > _LONG_TEXT or len(text.split()) > _MAX_LABEL_WORDS:
            return None, ""
        # "Privacy Policy / Your California Privacy Rights" is the policy; "Privacy Settings" alone is not.
        pieces = [p for p in _LABEL_PIECES.split(text) if _PRIVACY.search(p) and not _is_decoy(p)]
        if not pieces:
            return None, ""
        return max(map(_label_score, pieces)), f'link text "{_shorten(raw_text)}"'
    if text and (_COOKIE_TEXT.search(text) or _is_decoy(text)):
        return None, ""
    generic = not text or all(w in _GENERIC_WORDS for w in _WORD.findall(text)) or bool(_POLICY.search(text))
    for label in labels:
        if label and _PRIVACY.search(label):
            if (
                len(label) > _LONG_TEXT
                or _is_decoy(label)
                or (_COOKIE_TEXT.search(label) and not _POLICY.search(label))
            ):
                return None, ""
            # "Twitter" titled "Datenschutz bei Twitter" names another page than the label's own site's.
            return _label_score(label) - (1.5 if generic else 3.5), f'link label "{_shorten(label)}"'
    if _PRIVACY.search(address):
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
    parts = urlsplit(url)
    path = unquote(parts.path).lower()
    segments = [s for s in path.split("/") if s]
    last = _fold(segments[-1]) if segments else ""
    if any(s in _LISTING_SEGMENTS for s in segments[:-1]):
        return None
    # /news/<category>/data-protection is a topic page; /blog/datenschutz is a blog's own policy.
    if any(s in _SECTION_SEGMENTS for s in segments[:-2]) and not _POLICY.search(last):
        return None
    if parts.query and _LISTING_QUERY.search(parts.query):
        return None
    penalty, note = 0.0, ""
    words = _url_words(f"{parts.path}?{parts.query}")
    if _is_decoy(words) and not _POLICY.search(words):
        penalty, note = 4.0, "address names a settings or request page"
    if _DATE_PATH.search(path):
        penalty, note = penalty + 3.0, "address looks like an article"
    elif len(_SLUG_WORDS.findall(last.rsplit(".", 1)[0])) >= 6:
        penalty, note = penalty + 2.0, "address looks like an article"
    return penalty, note


def _position(element: Tag) -> tuple[str, float]:
    """Where the link sits (footer, navigation, consent notice, article) and what that is worth."""
    footer = nav = body = banner = form = sidebar = False
    for parent in element.parents:
        name = parent.name
        if name in ("[document]", "html", "body"):
            break
        role = _attr(parent, "role")
        if name == "footer" or role == "contentinfo":
            footer = True
        elif name in ("nav", "header") or role in ("navigation", "menu", "menubar", "banner"):
            nav = True
        elif name in ("article", "aside") or role in ("article", "complementary"):
            body = True
        elif name == "form":
            form = True
        hints = f"{_attr(parent, 'id')} {_attr(parent, 'class')}"
        if hints.isspace():
            continue
        if _BANNER_HINT.search(hints):
            banner = True
        elif _FOOTER_HINT.search(hints):
            footer = True
        elif _BODY_HINT.search(hints):
            body = True
        elif _SIDEBAR_HINT.search(hints):
            sidebar = True
        elif _NAV_HINT.search(hints):
            nav = True
    if footer:
        return "footer", 2.0
    if banner:
        return "cookie notice", 0.5
    if nav:
        return "navigation", 1.5
    if form:
        return "form", -2.0
    if body:
        return "page content", -2.5
    if sidebar:
        return "sidebar", -1.0
    return "", 0.0


def _is_policy_heading(raw: str) -> bool:
    """A title such as "Privacy Policy | Example" or "Datenschutz – Example", but not a story or listing."""
    for piece in _TITLE_PARTS.split(_fold(raw)):
        part = piece.strip()
        if not part or len(part.split()) > 6 or not _PRIVACY.search(part):
            continue
        words = set(_WORD.findall(part))
        if _is_decoy(part) or words & _LISTING_SEGMENTS or any(nf in part for nf in _NOT_FOUND):
            continue
        if _label_score(part) >= 8.0:
            return True
    return False


# --- Small helpers --------------------------------------------------------------------------------------


def _attr(tag: Tag, name: str) -> str:
    value = tag.attrs.get(name)
    if value is None:
        return ""
    text = " ".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= _MAX_ATTRIBUTE else ""


def _rel(tag: Tag) -> list[str]:
    return _attr(tag, "rel").lower().split()


def _visible_text(element: Tag) -> str:
    """The element's text (or its images' alt text), stopping early once it is too long to be a label."""
    if element.name == "link":
        return ""
    if element.name == "area":
        return _SPACE.sub(" ", _attr(element, "alt")).strip()
    parts: list[str] = []
    length = 0
    for string in element.strings:
        parts.append(string)
        length += len(string)
        if length > 4 * MAX_TEXT_LENGTH:
            break
    text = _SPACE.sub(" ", " ".join(parts).translate(_INVISIBLE)).strip()
    if not text:
        text = _SPACE.sub(" ", " ".join(_attr(img, "alt") for img in element.find_all("img"))).strip()
    return text


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
    host, page_host = urlsplit(url).hostname or "", urlsplit(page).hostname or ""
    domain, page_domain = _domain_of(url), _domain_of(page)
    if domain == page_domain or domain.partition(".")[0] == page_domain.partition(".")[0]:
        return True
    return host.removeprefix("www.").rpartition(".")[0] == page_host.removeprefix("www.").rpartition(".")[0]


def _domain_of(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return registrable_domain(host) if host else ""
