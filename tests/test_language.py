"""Visitor pages in English and Spanish: choosing the language, the switch, and a complete catalogue."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from babel.messages.pofile import read_po

from tests.conftest import ROOT

TRANSLATIONS = ROOT / "linkgate" / "translations"
NOTICE = {"url": "https://www.example.org/parks"}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def heading(response: httpx.Response) -> str:
    return html.unescape(re.search(r"<h1>(.*?)</h1>", response.text, re.S).group(1).strip())


def html_lang(response: httpx.Response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.text).group(1)


@pytest.mark.server
@pytest.mark.parametrize(
    ("params", "headers", "lang", "text"),
    [
        ({}, {}, "en", "You are leaving Missoula County's website"),
        ({"lang": "es"}, {}, "es", "Está saliendo del sitio web del Condado de Missoula"),
        ({}, {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}, "es", "Está saliendo"),
        ({}, {"Accept-Language": "fr-CA,fr;q=0.9"}, "en", "You are leaving"),
        ({"lang": "en"}, {"Accept-Language": "es"}, "en", "You are leaving"),  # the choice beats the browser
        ({"lang": "xx"}, {"Accept-Language": "es"}, "es", "Está saliendo"),  # an unknown choice is ignored
    ],
)
def test_notice_language_comes_from_lang_then_accept_language(gate_server, params, headers, lang, text):
    response = gate_server.get("/go", params={**NOTICE, **params}, headers=headers)
    assert response.status_code == 200
    assert html_lang(response) == lang
    assert heading(response).startswith(text)
    assert "accept-language" in response.headers["vary"].lower()
    assert "set-cookie" not in response.headers


@pytest.mark.server
def test_spanish_block_and_error_pages_say_what_is_wrong_in_spanish(gate_server):
    blocked = gate_server.get("/go", params={"url": "https://blocked.example/", "lang": "es"})
    assert blocked.status_code == 403
    assert heading(blocked) == "Este enlace está bloqueado"
    scheme = gate_server.get("/go", params={"url": "javascript:alert(1)", "lang": "es"})
    assert scheme.status_code == 400
    assert "Solo se pueden seguir direcciones web" in scheme.text
    assert "&#34;javascript:&#34;" in scheme.text
    long = gate_server.get("/go", params={"url": "https://a.example/" + "x" * 5000, "lang": "es"})
    assert "5.018 caracteres; el límite es 4.096" in long.text
    missing = gate_server.get("/go", params={"lang": "es"})
    assert "Este enlace está incompleto: no dice a qué sitio web debe llevarle." in missing.text
    not_found = gate_server.get("/no-such-page", params={"lang": "es"})
    assert not_found.status_code == 404
    assert heading(not_found) == "Página no encontrada"


@pytest.mark.server
def test_language_switch_links_to_the_same_page_and_keeps_the_signature(gate_server):
    signed = gate_server.cli("sign", "https://www.partner.example/forms").stdout.strip()
    page = gate_server.get(signed + "&lang=es")
    # A signed partner link is sent straight on, in any language: lang is not part of what is signed.
    assert page.status_code == 302
    assert page.headers["location"] == "https://www.partner.example/forms"

    notice = gate_server.get("/go", params={**NOTICE, "lang": "es"})
    switch = re.search(r'<a href="([^"]+)" hreflang="en" lang="en" id="language-en">English</a>', notice.text)
    assert switch, "the Spanish page links to its English version"
    query = parse_qs(urlsplit(switch.group(1).replace("&amp;", "&")).query)
    # The switch shows the same click again: marked as counted already (see test_gate.py).
    assert query == {"url": [NOTICE["url"]], "counted": ["1"], "lang": ["en"]}
    english = gate_server.get("/go", params=NOTICE)
    assert 'hreflang="es" lang="es" id="language-es">Español</a>' in english.text
    assert 'aria-label="Language"' in english.text and 'aria-label="Idioma"' in notice.text


@pytest.mark.server
def test_the_console_stays_in_english(gate_server):
    response = gate_server.get("/admin/login", params={"lang": "es"}, headers={"Accept-Language": "es"})
    assert html_lang(response) == "en"
    assert "language-switch" not in response.text


def test_every_visitor_string_is_translated_into_spanish_with_the_same_placeholders(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "-o",
            str(template),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with template.open("rb") as handle:
        wanted = {message.id for message in read_po(handle) if message.id}
    with (TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="es")
    translated = {message.id: message.string for message in catalogue if message.id and message.string}
    assert not wanted - set(translated), (
        f"untranslated (run make messages): {sorted(wanted - set(translated))}"
    )
    assert not catalogue.fuzzy
    problems = [(message.id, str(error)) for message, errors in catalogue.check() for error in errors]
    assert not problems
    for msgid, msgstr in translated.items():
        assert (
            re.findall(r"%\((\w+)\)s", msgid)
            and sorted(re.findall(r"%\((\w+)\)s", msgid)) == sorted(re.findall(r"%\((\w+)\)s", msgstr))
        ) or not re.findall(r"%\((\w+)\)s", msgid), msgid


def test_adding_a_language_is_adding_a_catalogue(tmp_path, monkeypatch):
    from linkgate.web import language

    folder = tmp_path / "translations"
    for code in ("es", "fr"):
        (folder / code / "LC_MESSAGES").mkdir(parents=True)
        (folder / code / "LC_MESSAGES" / "messages.po").write_text('msgid ""\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr(language, "TRANSLATIONS", folder)
    language.languages.cache_clear()
    try:
        assert language.languages() == ("en", "es", "fr")
        assert language.language_name("fr") == "Français"
    finally:
        language.languages.cache_clear()
