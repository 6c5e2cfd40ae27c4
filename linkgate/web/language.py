"""Which language a visitor's page is in: ``?lang=`` first, then the browser's ``Accept-Language``.

Languages are the folders of ``linkgate/translations`` (each with ``LC_MESSAGES/messages.po``, compiled
to ``messages.mo`` by the build), plus English, the language of the source: adding a language is adding
a file. The console under ``/admin`` is in English. No cookie remembers the choice (none is ever set on
the click path); the language switch on each page carries ``lang`` in its link instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from urllib.parse import quote, unquote_plus, urlencode

from babel import Locale
from babel.support import Translations
from flask import Flask, Response, g, request
from flask_babel import Babel, get_locale, get_translations
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Request

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
SOURCE_LANGUAGE = "en"
# On every page whose language was negotiated.
VARY = ("Vary", "Accept-Language")
# The default ``county.name``, here so that the catalogue can give it in each language.
DEFAULT_COUNTY_NAME = _l("Missoula County")


@cache
def languages() -> tuple[str, ...]:
    """English, then every language with a catalogue, in alphabetical order."""
    found = (
        sorted(
            folder.name
            for folder in TRANSLATIONS.iterdir()
            if (folder / "LC_MESSAGES" / "messages.mo").is_file()
            or (folder / "LC_MESSAGES" / "messages.po").is_file()
        )
        if TRANSLATIONS.is_dir()
        else []
    )
    return (SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE))


def select_locale() -> Locale:
    return _locale(language_of(request))


def language_of(request: Request) -> str:
    """The language code of ``request``'s page (a Flask request, or a Werkzeug one on the click path)."""
    if request.path.startswith("/admin"):
        return SOURCE_LANGUAGE
    asked = request.args.get("lang", "") if "lang" in request.args else ""  # a miss costs an exception
    if asked in languages():
        return asked
    return _best_language(request.headers.get("Accept-Language", ""), languages())


@lru_cache(maxsize=256)
def _best_language(accept_language: str, offered: tuple[str, ...]) -> str:
    """The language of ours a browser's ``Accept-Language`` prefers. Browsers send a handful of distinct
    values, so each answer is kept for the next page (parsing the header costs more than the rest of the
    choice); the header is kept in this process's memory only, never stored or logged."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(offered) or SOURCE_LANGUAGE


@cache
def _locale(code: str) -> Locale:
    """One ``Locale`` per language (Flask-Babel would parse the code again on every request)."""
    return Locale.parse(code)


@cache
def language_name(code: str) -> str:
    """A language's name in that language (``español``), capitalised for a link."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def language_links() -> list[dict[str, str]]:
    """Links to this same page in each other language (the query string kept, ``lang`` replaced)."""
    if request.endpoint is None or request.path.startswith("/admin"):
        return []
    return links_to_languages(request, str(get_locale()))


def links_to_languages(
    request: Request, current: str, more: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Links to ``request``'s page in each language but ``current`` (``more``: parameters to set as well)."""
    path = request.root_path + request.path
    kept = (
        _query_without(request, {"lang", *more}) + _encoded(more)
        if more
        else _query_without(request, {"lang"})
    )
    return [
        {"code": code, "name": language_name(code), "href": f"{path}?{kept}lang={code}"}
        for code in languages()
        if code != current
    ]


def same_page(request: Request, more: Mapping[str, str]) -> str:
    """The address of ``request``'s page (under its mount point) with the parameters ``more`` set."""
    return f"{request.root_path}{request.path}?{_query_without(request, set(more))}{_encoded(more)[:-1]}"


def _encoded(parameters: Mapping[str, str]) -> str:
    """``key=value&`` for each parameter, its value encoded."""
    return "".join(
        f"{key}={value if value.isalnum() else quote(value, safe='')}&" for key, value in parameters.items()
    )


def _query_without(request: Request, names: set[str]) -> str:
    """The query string without the parameters ``names``, each kept one followed by ``&``.

    The parameters are kept as the browser sent them (re-encoding a destination costs more than the rest
    of a notice's language switch); a query string that is not plain printable ASCII is encoded anew.
    """
    raw: str = request.environ.get("QUERY_STRING", "")
    if raw.isascii() and raw.isprintable() and " " not in raw:
        kept = [part for part in raw.split("&") if part and unquote_plus(part.partition("=")[0]) not in names]
        return "".join(part + "&" for part in kept)
    pairs = [(key, value) for key, value in request.args.items(multi=True) if key not in names]
    return urlencode(pairs) + "&" if pairs else ""


def _translations() -> Translations:
    """This request's catalogue, looked up once: Flask-Babel's own lookup costs several context-local
    reads per string, and a notice page has a few dozen strings."""
    try:
        cached: Translations = g._linkgate_translations
    except AttributeError:
        cached = g._linkgate_translations = get_translations()
    return cached


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    # The templates' _() and ngettext, on the per-request catalogue (same strings, same newstyle escaping).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: _translations().ugettext(text),
        ngettext=lambda singular, plural, n: _translations().ungettext(singular, plural, n),
        newstyle=True,
    )

    @app.after_request
    def _vary(response: Response) -> Response:
        # Pages whose language was negotiated (not redirects, scripts, JSON, or the English console).
        if response.mimetype == "text/html" and not request.path.startswith("/admin"):
            response.vary.add(VARY[1])  # once: the gate's answers carry it already (gate.ANSWER_HEADERS)
        return response
