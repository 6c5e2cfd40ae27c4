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
from html import unescape as html_unescape
from operator import itemgetter
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
    return _could_name_privacy(folded) and _PRIVACY.search(folded) is not None


def _could_name_privacy(folded: str) -> bool:
    """False when the folded text cannot hold a privacy word: a test far quicker than _PRIVACY, and never
    a wrong "no". Plain ASCII must hold every word of one of the phrases; other text must have a word (a
    run of letters, since _PRIVACY only matches where one starts) that is a phrase's first word, or
    starts as a phrase does."""
    if folded.isascii():
        for first, rest in _ASCII_PHRASES:
            if first in folded and (not rest or all(word in folded for word in rest)):
                return True
        return False
    runs = _LETTER_RUN.findall(folded)
    if not _PRIVACY_FIRST_WORDS.isdisjoint(runs):
        return True
    return any(not starts.isdisjoint(map(cut, runs)) for cut, starts in _PRIVACY_STARTS_BY_LENGTH)


def _ascii_phrases() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The privacy words that fold to ASCII, as (first word, other words), without those that hold a
    shorter one ("datenschutzerklarung" holds "datenschutz": looking for the shorter is enough)."""
    phrases = {tuple(_fold(word).split()) for word in _PRIVACY_WORDS if _fold(word).isascii()}
    words = {phrase[0] for phrase in phrases if len(phrase) == 1}
    phrases -= {(word,) for word in words if any(other != word and other in word for other in words)}
    return tuple((first, tuple(rest)) for first, *rest in sorted(phrases))


_ASCII_PHRASES = _ascii_phrases()
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


# --- The two entry points -------------------------------------------------------------------------------


def find_privacy_link(html: bytes | str, base_url: str) -> PrivacyLink | None:
    """The link on ``html`` (saved from ``base_url``) that leads to the site's privacy policy, or None.

    Looks at ``<a>`` and ``<area>`` links (visible text, ``aria-label``, ``title``, address),
    ``rel="privacy-policy"`` and ``onclick`` navigation; prefers the footer and navigation; refuses
    consent tools, opt-outs, cookie-only policies, topic and article pages and embedded widgets'
    policies. Of two equally good links the first in the page wins.
    """
    page = resolve_web_link(base_url, base_url)
    soup = _parse(html, links_only=True) if page is not None else None
    if soup is None or page is None:
        return None
    return _best_link(soup, page)


def is_privacy_page(html: bytes | str) -> bool:
    """True when the page's ``<title>`` or main heading names a privacy policy, in any supported language.

    Used to accept a guessed address such as ``/privacy`` only when it really is the policy: not a
    "page not found", not a tag or topic listing, not a consent-settings page, not a news story.
    """
    soup = _parse(html, links_only=False)
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


def _parse(html: bytes | str, *, links_only: bool) -> BeautifulSoup | None:
    """The page's tree; with ``links_only``, only what can bear on its links (see :func:`_reduce`).

    None when nothing is left to read: an empty page, or (``links_only``) a page without a link that could
    name a privacy policy.
    """
    text = _decode(html) if isinstance(html, bytes) else html.lstrip("\ufeff")
    markup = _reduce(text, links_only=links_only)
    if markup is None or not markup.strip():
        return None
    return BeautifulSoup(markup, "lxml", multi_valued_attributes=None)


# --- Reducing the markup before it is parsed ------------------------------------------------------------
#
# Building the BeautifulSoup tree costs far more per node than lxml spends reading the page, and nearly all
# of a page's nodes cannot matter here: text outside links, scripts, styles, icons, comments, images,
# links that say nothing of privacy, and the elements that held only those. _reduce leaves them out of the
# markup before it is parsed, and only what cannot change the tree around what stays: the links kept,
# their text and attributes, and every element that may enclose them, with the attributes that say
# footer or navigation.
#
# It reads the markup by the HTML standard's tokenizer rules (quoted attribute values, comments, script
# data, raw-text elements), as libxml2 2.14 does, so a "<" or "</a>" inside an attribute, a script or a
# comment is never taken for markup. What it relies on, from how libxml2 builds the tree:
#
# - Inside <body>, text never opens or closes an element, so text outside links can go. Before <body>
#   (and after </body>) nothing is left out but comments and raw text: there, text or a tag decides
#   whether what follows goes into <head> or <body>.
# - The void elements dropped (<meta>, <img>, <br>, <input>...) have no content, and their start tags
#   close nothing but <head>.
# - A link is dropped whole only when nothing inside it can close it early and every end tag inside it
#   closes an element opened inside it, so the elements around it are the same without it; and only when
#   its text and attributes hold no privacy word (the same words, folding and word-start rule as _judge).
# - An element left empty goes too, when its start tag cannot have closed the element open before it.
# - libxml2 ignores a link's end tag while a <div>, <td>, <table>... opened inside the link is open; when
#   that may have happened, the rest of the page is kept whole, so no text of a link is ever lost.
#
# Comments, scripts, styles, <svg>, <template>, <iframe> and the like go even when the page is read whole
# (for is_privacy_page): none holds a link or heading a visitor sees. An empty element takes the place
# of each where the page is copied, as its start tag may still matter there.

_SPACE_CLASS = r"\t\n\f\r "
# A tag's attributes, up to its closing ">" or "/>"; quoted values may hold ">" and "<".
_ATTRIBUTES = (
    rf"(?>[{_SPACE_CLASS}]++|/(?!>)|[^{_SPACE_CLASS}/>][^{_SPACE_CLASS}/>=]*+"
    rf"(?>[{_SPACE_CLASS}]*+=[{_SPACE_CLASS}]*+(?>\"[^\"]*+\"?+|'[^']*+'?+|[^{_SPACE_CLASS}>]*+))?+)*+"
)
_TOKEN = re.compile(
    "<(?:"
    # 1 "/" of an end tag, 2 the name, 3 "/" of <x/>
    rf"(/?)([a-z][^{_SPACE_CLASS}/>]*+){_ATTRIBUTES}(/?)>"
    r"|(!--)"  # 4 a comment
    r"|(!doctype)"  # 5
    r"|(/?[a-z])"  # 6 a tag still open at the end of the page: libxml2 drops it
    r"|([!?]|/(?!>))"  # 7 <!...>, <?...>, and "</" not followed by a letter: a comment up to ">"
    r"|(/>)"  # 8 nothing
    ")",
    re.I | re.A,
)
# The common link that can be left out whole if it says nothing of privacy: text, images, and elements
# such as <span> that close nothing and hold only text, each closed by its own end tag.
_SIMPLE_LINK = re.compile(
    rf"<a(?=[{_SPACE_CLASS}/>]){_ATTRIBUTES}>"
    rf"(?:[^<]++|<(?:img|br)(?=[{_SPACE_CLASS}/>]){_ATTRIBUTES}/?>"
    r"|<(span|i|b|em|strong|small|time|abbr|u|s|sup|sub|mark|bdi|cite|code|font)"
    rf"(?=[{_SPACE_CLASS}/>]){_ATTRIBUTES}>[^<]*+</\1[{_SPACE_CLASS}]*+>)*+"
    rf"</a[{_SPACE_CLASS}]*+>",
    re.I | re.A,
)
_COMMENT_END = re.compile(r"--!?>")
_SCRIPT_DATA = re.compile(r"<(?=!--)|-(?=->)|</?script(?=[\t\n\f\r />])", re.I | re.A)
# Elements whose content libxml2 reads as text, and where that text ends.
_RAW_TEXT = _word_set("script style iframe textarea noembed noframes title xmp plaintext")
_RAW_ENDS = {
    name: re.compile(rf"</{name}(?=[\t\n\f\r />])", re.I | re.A)
    for name in _RAW_TEXT - {"script", "plaintext"}
}
# Elements left out with all their content: raw-text ones, and inline icons and templates (whose
# content libxml2 reads as markup, so they go only when their end tag is found).
_LEFT_OUT = _word_set("script style iframe textarea noembed noframes svg template")
# Raw-text elements kept as they are: their start tags may close an open <p>.
_KEPT_RAW = _word_set("title xmp plaintext")
# libxml2's empty elements, and those of them dropped outside links.
_VOID = _word_set("area base basefont br col frame hr img input isindex link meta param")
_DROPPABLE_VOID = _word_set("basefont br img input isindex link meta param")
# Start tags outside links that need more than copying.
_SPECIAL_START = _LEFT_OUT | _KEPT_RAW | _DROPPABLE_VOID | {"a", "area", "html", "head", "body"}
# Start tags never taken for the element open after them: void, or perhaps dropped (html, head, body).
_NOT_OPENED = _VOID | _word_set("html head body frameset")

# How libxml2 closes elements by itself (tests/test_privacy.py checks these facts against the parser):
# a start tag of one of _CLOSERS may close the element open before it, if that is one of _CLOSABLE, and for
# those in _CLOSED_ONLY_BY only by the start tags listed ("<li>" closes an open <li>, "<div>" an open <p>).
# Closing <head> is left out: nothing is pruned outside <body>.
_CLOSERS = _word_set(
    "a address blockquote body caption center col colgroup dd dir div dl dt fieldset form frameset",
    "h1 h2 h3 h4 h5 h6 hr li listing menu noscript ol optgroup option p pre table tbody td tfoot th thead",
    "title tr ul xmp",
)
_CLOSABLE = _word_set(
    "a address b big caption col colgroup dd dir dl dt font form h1 h2 h3 h4 h5 h6 hr i legend li link",
    "listing menu ol option p pre s script small span strike style tbody td tfoot th thead title tr tt u",
    "ul xmp",
)
_CLOSED_ONLY_BY = {
    "li": _word_set("li"),
    "ul": _word_set("address form menu pre"),
    "ol": _word_set("form"),
    "span": _word_set("td th"),
    "form": _word_set("form"),
    "option": _word_set("optgroup option"),
    "tr": _word_set("tbody tfoot tr"),
    "td": _word_set("tbody td tfoot th tr"),
    "th": _word_set("tbody td tfoot th tr"),
    "tbody": _word_set("tbody tfoot"),
    "thead": _word_set("tbody tfoot"),
}
# libxml2 lets an end tag close only elements of equal or lower priority (100 unless listed here).
_END_PRIORITY = {
    "div": 150,
    "td": 160,
    "th": 160,
    "tr": 170,
    "thead": 180,
    "tbody": 180,
    "tfoot": 180,
    "table": 190,
    "head": 200,
    "body": 200,
    "html": 220,
}
# Start tags that may close another element, or whose end tags outrank a link's: a link holding one is
# never dropped.
_UNSETTLING = _CLOSERS | frozenset(_END_PRIORITY) | {"base"}  # a <base> would take the page's base along
# What marks an element with an onclick handler as perhaps leading somewhere (see _judge).
_NAVIGATION_HINT = re.compile(r"href|location|window\.open|&", re.I)


def _reduce(text: str, *, links_only: bool) -> str | None:
    """``text`` without what cannot bear on a privacy link; None when no link that might is left.

    Without ``links_only`` only comments, scripts, styles and other raw-text content go.
    """
    return _Reducer(text, links_only=links_only).run()


class _OpenLink:
    """A link (or script link) open at the current point of the markup."""

    __slots__ = ("blockers", "droppable", "inside", "name", "nested", "priority", "start", "tags", "texts")

    def __init__(self, name: str, start: int, tag: str, *, droppable: bool) -> None:
        self.name = name
        self.priority = _END_PRIORITY.get(name, 100)
        self.start = start  # where its start tag is in the output
        self.nested = 0  # open elements of its own name inside it
        self.blockers: dict[str, int] = {}  # open elements inside it whose end tags outrank its own
        self.droppable = droppable  # it may still be left out whole
        self.inside: list[str] = []  # while droppable: the elements open inside it
        self.texts: list[str] = []  # while droppable: its text, with a space for each tag
        self.tags = [tag]  # while droppable: its start tag and the start tags inside it


class _Reducer:
    """One pass over the markup, writing the reduced copy (see "Reducing the markup" above).

    It prunes only between an explicit ``<body>`` tag and ``</body>``; elsewhere, and on all of the page
    when ``links_only`` is off, it copies everything but comments and raw text.
    """

    def __init__(self, text: str, *, links_only: bool) -> None:
        self.text = text
        self.out: list[str] = []
        self.may_prune = links_only  # whether a <body> tag starts pruning
        self.pruning = False  # inside <body>, leaving out what cannot matter
        self.links: list[_OpenLink] = []  # open links while pruning, outermost first
        self.link_names: dict[str, int] = {}  # how many of them bear each name
        self.found = not links_only  # something that may be a privacy link has been kept
        # While pruning: the start tags at the end of the output, each written just after the one before,
        # so each was the open element when the next began: (index in the output, name).
        self.opened: list[tuple[int, str]] = []

    def run(self) -> str | None:
        text, out = self.text, self.out
        position = 0
        reading = True
        while reading:
            reading = False
            for token in _TOKEN.finditer(text, position):
                if token.start() > position and (self.links or not self.pruning):
                    self._text(text[position : token.start()])
                name = token[2]
                if name is None:
                    position = self._other(token)
                    if token[5]:
                        out.append(text[token.start() : position])
                    reading = position > token.end()  # skipped past what finditer would read next
                    if reading or position == len(text):
                        break
                    continue
                name = name.lower()
                position = token.end()
                if token[1]:
                    self._end_tag(token.group(), name)
                elif (
                    self.pruning
                    and not self.links
                    and name not in _SPECIAL_START
                    and "onclick" not in token.group().lower()
                ):
                    opened = self.opened
                    if opened and opened[-1][0] != len(out) - 1:
                        opened.clear()
                    if not token[3] and name not in _NOT_OPENED:
                        opened.append((len(out), name))
                    out.append(token.group())
                else:
                    if name == "a" and self.pruning and not self.links:
                        simple = _SIMPLE_LINK.match(text, token.start())
                        if simple is not None and not _may_hold_privacy(simple.group()):
                            position, reading = simple.end(), True
                            break
                    end = self._start_tag(token, name)
                    if end > position:
                        position, reading = end, True
                        break
        if position < len(text) and (self.links or not self.pruning):
            self._text(text[position:])
        if self.links:
            self.found = True
        return "".join(out) if self.found else None

    def _other(self, token: re.Match[str]) -> int:
        """Skip a comment, doctype or bogus comment; return where reading goes on."""
        text, end = self.text, token.end()
        if token[4]:
            if text.startswith(">", end):  # <!-->
                return end + 1
            if text.startswith("->", end):  # <!--->
                return end + 2
            comment_end = _COMMENT_END.search(text, end)
            return len(text) if comment_end is None else comment_end.end()
        if token[5] or token[7]:
            close = text.find(">", end)
            return len(text) if close < 0 else close + 1
        if token[6]:  # an unterminated tag swallows the rest of the page
            return len(text)
        return end

    def _element_end(self, name: str, position: int) -> int:
        """The end of the element ``name`` whose start tag ends at ``position``: of its end tag, or of the
        page for a raw-text element left open; -1 for an <svg> or <template> left open."""
        text = self.text
        if name in _RAW_TEXT:
            if name == "plaintext":
                return len(text)
            if name == "script":
                close = _script_end(text, position)
            else:
                match = _RAW_ENDS[name].search(text, position)
                close = -1 if match is None else match.start()
            end_tag = _TOKEN.match(text, close) if close >= 0 else None
            return len(text) if end_tag is None or end_tag[2] is None else end_tag.end()
        depth = 0  # the same element nested inside it
        while (token := _TOKEN.search(text, position)) is not None:
            inner = token[2]
            if inner is None:
                position = self._other(token)
                continue
            inner = inner.lower()
            position = token.end()
            if token[1] and inner == name:
                if not depth:
                    return position
                depth -= 1
            elif not token[1] and not token[3]:
                if inner == name:
                    depth += 1
                elif inner in _RAW_TEXT:
                    position = self._element_end(inner, position)
        return -1

    def _text(self, piece: str) -> None:
        if "<" in piece:  # a "<" that was text must stay text with whatever is left out after it
            piece = piece.replace("<", "&lt;")
        self.out.append(piece)
        if self.links and self.links[0].droppable:
            self.links[0].texts.append(piece)

    def _start_tag(self, token: re.Match[str], name: str) -> int:
        """Copy or drop a start tag (with the content of a raw-text element); return where reading goes on."""
        tag, end = token.group(), token.end()
        selfclosing = bool(token[3])  # libxml2 closes any element written <x/> at once
        onclick = "onclick" in tag.lower()
        if name in _LEFT_OUT:
            after = end if selfclosing else self._element_end(name, end)
            if after >= 0:  # (an <svg> or <template> left open is read as it is)
                if self.links or not self.pruning:
                    # An empty element in its place: its start tag may still imply <head>, and what it
                    # held stays apart from the text around it.
                    self.out.append(f"<{name}></{name}>")
                    if self.links and self.links[0].droppable:
                        self.links[0].texts.append(" ")
                return after
        if name in _KEPT_RAW and not selfclosing:
            after = self._element_end(name, end)
            self.out.append(self.text[token.start() : after])
            if self.links:
                self.links[0].droppable = False
            self.found = self.found or onclick
            return after
        if not self.pruning:
            self.out.append(tag)
            if onclick or name in ("a", "area") or (name == "link" and _mentions_privacy_policy(tag)):
                self.found = True
                if not selfclosing and name not in _VOID:
                    # a <body> inside it would make all the page its text: copy it all
                    self.may_prune = False
            elif name == "body" and self.may_prune and not selfclosing:
                self.pruning = True
            return end
        if selfclosing and name in ("html", "head", "body"):
            # libxml2 drops such a misplaced tag but still closes the element open before it
            self.out.append(tag)
            self._leave_body()
            return end
        empty = selfclosing or name in _VOID
        is_link = name == "a" or (onclick and name not in _VOID and _NAVIGATION_HINT.search(tag) is not None)
        if self.links:
            self.out.append(tag)
            self._start_tag_in_link(name, tag, empty=empty, is_link=is_link)
        elif is_link:
            link = _OpenLink(name, len(self.out), tag, droppable=name == "a")
            self.out.append(tag)
            if empty:
                self._close(link)
            else:
                self._open(link)
        elif onclick or name == "area" or (name == "link" and _mentions_privacy_policy(tag)):
            self.out.append(tag)
            self.found = True
        elif name not in _DROPPABLE_VOID:
            self.out.append(tag)
        return end

    def _start_tag_in_link(self, name: str, tag: str, *, empty: bool, is_link: bool) -> None:
        outermost, innermost = self.links[0], self.links[-1]
        if outermost.droppable:
            outermost.texts.append(" ")
            outermost.tags.append(tag)
            if is_link or name in _UNSETTLING:
                outermost.droppable = False
            elif not empty:
                outermost.inside.append(name)
        if empty:
            return
        if is_link:
            self._open(_OpenLink(name, len(self.out) - 1, tag, droppable=False))
        elif name == innermost.name:
            innermost.nested += 1
        elif _END_PRIORITY.get(name, 100) > innermost.priority:
            innermost.blockers[name] = innermost.blockers.get(name, 0) + 1

    def _end_tag(self, tag: str, name: str) -> None:
        if not self.pruning:
            self.out.append(tag)
        elif name in ("body", "html"):
            self.out.append(tag)
            self._leave_body()
        elif self.links:
            self.out.append(tag)
            self._end_tag_in_link(name)
        elif not self._drop_empty(name):
            self.out.append(tag)

    def _end_tag_in_link(self, name: str) -> None:
        outermost, innermost = self.links[0], self.links[-1]
        if name == innermost.name and not innermost.nested:
            if any(innermost.blockers.values()):
                self._keep_rest()  # libxml2 may ignore this end tag and keep the link open
                return
            self.links.pop()
            self.link_names[name] -= 1
            if not self.links:
                self._close(innermost)
            return
        if name == innermost.name:
            innermost.nested -= 1
        elif self.link_names.get(name):
            self._keep_rest()
            return
        elif innermost.blockers.get(name):
            innermost.blockers[name] -= 1
        if outermost.droppable:
            inside = outermost.inside
            for index in range(len(inside) - 1, -1, -1):
                if inside[index] == name:  # it closes that element and all opened after it
                    del inside[index:]
                    break
            else:
                outermost.droppable = False  # it may close something outside the link

    def _drop_empty(self, name: str) -> bool:
        """Leave out ``</name>`` and its start tag if nothing is left between them and the start tag
        closed nothing; True if so."""
        opened = self.opened
        if not opened or opened[-1] != (len(self.out) - 1, name):
            return False
        if name in _CLOSERS:
            if len(opened) < 2:
                return False
            before = opened[-2][1]
            if before in _CLOSABLE and name in _CLOSED_ONLY_BY.get(before, _CLOSERS):
                return False
        self.out.pop()
        opened.pop()
        return True

    def _open(self, link: _OpenLink) -> None:
        self.links.append(link)
        self.link_names[link.name] = self.link_names.get(link.name, 0) + 1

    def _close(self, link: _OpenLink) -> None:
        """The outermost open link has ended: drop it if it cannot be a privacy link."""
        if link.droppable and not _may_name_privacy(link.texts, link.tags):
            del self.out[link.start :]
        else:
            self.found = True

    def _leave_body(self) -> None:
        """libxml2 may have closed <body> here: copy what follows until another <body> tag."""
        if self.links:
            self._keep_rest()
        self.pruning = False

    def _keep_rest(self) -> None:
        """Copy the rest of the page: how libxml2 reads it is no longer certain."""
        self.may_prune = self.pruning = False
        self.found = True
        self.links.clear()
        self.link_names.clear()


def _script_end(text: str, position: int) -> int:
    """Where the ``</script`` that ends a script starting at ``position`` is, or -1.

    Script data follows libxml2 (and the HTML standard): inside ``<!--``, a ``<script`` starts a stretch
    in which ``</script`` ends only that stretch, until ``-->``.
    """
    escaped = double_escaped = False
    for match in _SCRIPT_DATA.finditer(text, position):
        seen = match.group()
        if seen == "<":
            escaped = True
        elif seen == "-":
            if escaped:
                escaped = double_escaped = False
        elif seen[1] == "/":
            if not double_escaped:
                return match.start()
            double_escaped = False
        elif escaped:
            double_escaped = True
    return -1


def _mentions_privacy_policy(tag: str) -> bool:
    return "privacy" in html_unescape(tag).lower()


def _may_hold_privacy(markup: str) -> bool:
    """Whether a privacy word may be in this stretch of markup (text or attributes); never a wrong "no"."""
    words = html_unescape(markup)
    return _could_name_privacy(_fold(words)) or ("%" in words and _could_name_privacy(_fold(unquote(words))))


def _may_name_privacy(texts: list[str], tags: list[str]) -> bool:
    """Whether a link with this text (``texts``) and these tags could pass :func:`_judge`'s first check.

    Never a wrong "no": it looks for the privacy words in the text and all the attributes, with entities
    decoded as the parser would (and more), and in the attributes percent-decoded as addresses are.
    """
    words = html_unescape(" ".join(tags) + " " + "".join(texts))
    return _names_privacy(_fold(words)) or ("%" in words and _names_privacy(_fold(unquote(words))))


def _best_link(soup: BeautifulSoup, page: str) -> PrivacyLink | None:
    """The best-scoring link of the page at ``page``, if it scores enough; the first of equals."""
    base = _document_base(soup, page)
    best: PrivacyLink | None = None
    for element in _link_elements(soup):
        candidate = _judge(element, base, page)
        if candidate is not None and (best is None or candidate.score > best.score):
            best = candidate
    if best is None or best.score < MIN_SCORE:
        return None
    return best


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
    if not (is_rel or _names_privacy(text) or _names_privacy(address) or any(map(_names_privacy, labels))):
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
        if not part or len(part.split()) > 6 or not _names_privacy(part):
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
    text = _SPACE.sub(" ", _INVISIBLE.sub("", " ".join(parts))).strip()
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
