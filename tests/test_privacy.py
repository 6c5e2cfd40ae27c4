"""Finding a destination's own privacy-policy link: rules, decoys, encodings, hostile input, corpus."""

from __future__ import annotations

import importlib.util
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkgate import privacy
from linkgate.errors import InvalidDestination
from linkgate.privacy import MIN_SCORE, find_privacy_link, is_privacy_page

pytestmark = pytest.mark.database_free

BASE = "https://www.example.org/news/2024/05/some-story.html"
CORPUS = Path(__file__).resolve().parent / "data" / "privacy"  # provenance: data/privacy/README.md
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "privacy_accuracy.py"
HOSTILE = BENCHMARK.with_name("privacy_hostile.py")


def page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><title>A story</title>{head}</head><body>{body}</body></html>"


def footer(*links: str) -> str:
    return page(
        "<main><p>Story text.</p></main><footer><ul>"
        + "".join(f"<li>{a}</li>" for a in links)
        + "</ul></footer>"
    )


def found_url(html: str | bytes, base: str = BASE) -> str | None:
    link = find_privacy_link(html, base)
    return link.url if link else None


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("Privacy Policy", "/privacy-policy"),
        ("Privacy", "/legal/privacy"),
        ("Privacy Notice", "/notice"),
        ("Datenschutzerklärung", "/datenschutzerklaerung"),
        ("Datenschutz", "/datenschutz"),
        ("Impressum &amp; Datenschutz", "/impressum"),
        ("Da&shy;ten&shy;schutz&shy;er&shy;klä&shy;rung", "/ds"),
        ("Politique de confidentialité", "/politique-de-confidentialite"),
        ("Protection des données", "/protection-donnees"),
        ("Vie privée", "/vie-privee"),
        ("Aviso de privacidad", "/aviso-de-privacidad"),
        ("Política de privacidad", "/politica-de-privacidad"),
        ("Informativa privacy", "/informativa"),
        ("Privacyverklaring", "/privacyverklaring"),
        ("Política de Privacidade", "/politica-de-privacidade"),
        ("Polityka prywatności", "/polityka-prywatnosci"),
        ("Ochrana osobních údajů", "/ochrana-osobnich-udaju"),
        ("Политика конфиденциальности", "/privacy"),
        ("プライバシーポリシー", "/privacy.html"),
        ("個人情報保護方針", "/kojin.html"),
        ("隐私政策", "/yinsi.html"),
        ("隱私權政策", "/privacy.html"),
        ("개인정보처리방침", "/policy"),
        ("Kebijakan Privasi", "/kebijakan"),
        ("Privacy &amp; Cookie Policy", "/privacy-cookies"),
        ("Privacy Policy and Terms of Use", "/policies"),
    ],
)
def test_policy_label_in_any_supported_language_is_found(text: str, href: str) -> None:
    link = find_privacy_link(footer('<a href="/about">About</a>', f'<a href="{href}">{text}</a>'), BASE)
    assert link is not None
    assert link.url == "https://www.example.org" + href
    assert "footer" in link.reason


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        ('<a href="/p/42" aria-label="Privacy policy"><svg></svg></a>', "https://www.example.org/p/42"),
        ('<a href="/p/43" title="Datenschutzerklärung">§</a>', "https://www.example.org/p/43"),
        ('<a href="/legal/privacy-policy/">Read more</a>', "https://www.example.org/legal/privacy-policy/"),
        ('<a href="/datenschutz.html"></a>', "https://www.example.org/datenschutz.html"),
        ('<a href="/privacy"><img src="x.png" alt="Privacy"></a>', "https://www.example.org/privacy"),
        (
            '<map><area href="/privacy-policy" alt="Privacy Policy"></map>',
            "https://www.example.org/privacy-policy",
        ),
    ],
)
def test_accessible_name_and_address_are_matched_when_the_text_says_nothing(
    anchor: str, expected: str
) -> None:
    assert found_url(footer(anchor)) == expected


def test_relative_links_resolve_against_the_page_address() -> None:
    assert (
        found_url(footer('<a href="../../../legal/privacy">Privacy</a>'))
        == "https://www.example.org/legal/privacy"
    )


def test_base_href_is_resolved_against_the_page_then_used_for_links() -> None:
    html = page('<footer><a href="datenschutz.html">Datenschutz</a></footer>', head='<base href="/DE/">')
    assert found_url(html) == "https://www.example.org/DE/datenschutz.html"


def test_absolute_base_href_with_upper_case_host_gives_a_normalised_url() -> None:
    html = page(
        '<footer><a href="ds.html">Datenschutz</a></footer>', head='<base href="https://www.EXAMPLE.de/">'
    )
    assert found_url(html) == "https://www.example.de/ds.html"


def test_policy_on_another_domain_is_accepted() -> None:
    html = footer('<a href="https://www.publisher-group.com/privacy-policy/">Privacy Policy</a>')
    assert found_url(html) == "https://www.publisher-group.com/privacy-policy/"


def test_rel_privacy_policy_wins_over_other_wording() -> None:
    html = page(
        '<nav><a href="/datenschutz">Datenschutz</a></nav>',
        head='<link rel="privacy-policy" href="https://www.example.org/privacy-statement">',
    )
    link = find_privacy_link(html, BASE)
    assert link is not None
    assert link.url == "https://www.example.org/privacy-statement"
    assert "rel" in link.reason


def test_footer_link_is_preferred_over_a_link_in_the_article() -> None:
    html = page(
        '<article><p><a href="/privacy-explained">Privacy policy</a> of our partner.</p></article>'
        '<footer><a href="/privacy">Privacy policy</a></footer>'
    )
    assert found_url(html) == "https://www.example.org/privacy"


def test_footer_is_recognised_by_its_class_name() -> None:
    html = page(
        '<div class="entry-content"><a href="/a">Privacy</a></div>'
        '<div id="site-footer"><a href="/b">Privacy</a></div>'
    )
    assert found_url(html) == "https://www.example.org/b"


def test_combined_label_counts_when_one_part_names_the_policy() -> None:
    html = footer('<a href="/content/?article=158">New - Privacy Policy/YOUR CALIFORNIA PRIVACY RIGHTS</a>')
    assert found_url(html) == "https://www.example.org/content/?article=158"


def test_blog_installed_in_a_subdirectory_keeps_its_policy() -> None:
    assert (
        found_url(footer('<a href="/blog/datenschutz/">Datenschutz</a>'))
        == "https://www.example.org/blog/datenschutz/"
    )


def test_same_blog_under_another_country_suffix_is_the_same_site() -> None:
    html = page(
        '<div class="sidebar"><div class="widget"><h2><a href="https://name.blogspot.de/p/datenschutz.html">'
        "Datenschutz</a></h2></div></div>"
    )
    assert (
        found_url(html, "https://name.blogspot.com/2017/05/post.html")
        == "https://name.blogspot.de/p/datenschutz.html"
    )


def test_article_link_to_another_site_is_a_reference_not_the_policy() -> None:
    html = page('<article><p>See <a href="https://other.example/privacy">Privacy</a>.</p></article>')
    assert find_privacy_link(html, BASE) is None


def test_script_link_with_window_location_is_followed() -> None:
    html = footer(
        "<span onclick=\"window.location.assign('/donnees-personnelles/')\">Données personnelles</span>"
    )
    assert found_url(html) == "https://www.example.org/donnees-personnelles/"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:void(0)",
        "JaVaScRiPt:openPrivacy()",
        " javascript:location.href='/x'",
        "mailto:privacy@example.org",
        "tel:+15555550100",
        "data:text/html,privacy",
        "ftp://example.org/privacy",
        "file:///etc/privacy",
        "#privacy",
        "",
        "http://[::1",
        "http://exa mple.org/privacy",
    ],
)
def test_links_that_are_not_web_addresses_are_ignored(href: str) -> None:
    assert find_privacy_link(footer(f'<a href="{href}">Privacy Policy</a>'), BASE) is None


@pytest.mark.parametrize(
    "anchor",
    [
        '<a href="/ccpa">Do Not Sell or Share My Personal Information</a>',
        '<a href="/privacy#ccpa">Do Not Sell My Info</a>',
        '<a href="/choices">Your Privacy Choices</a>',
        '<a href="/privacy-settings">Privacy Settings</a>',
        '<a href="/prefs">Privacy Preferences</a>',
        '<a href="/pm">Privacy Manager</a>',
        '<a href="/ds-einstellungen">Datenschutzeinstellungen</a>',
        '<a href="/datenschutz-anfrage/">Datenschutzanfrage</a>',
        '<a href="/cookie-policy">Cookie Policy</a>',
        '<a href="/privacy#cookies">Cookie-Richtlinie</a>',
        '<a href="/adchoices">AdChoices</a>',
        '<a href="/privacy-policy#ad-choices">Ad Choices</a>',
        '<a href="/privacy#california">Your California Privacy Rights</a>',
        '<a href="/request">Privacy Request Form</a>',
        '<a href="/tag/datenschutz/">Datenschutz</a>',
        '<a href="/category/privacy/">Privacy</a>',
        '<a href="/themen/datenschutz">Datenschutz</a>',
        '<a href="/search/label/Datenschutz">Datenschutz</a>',
        '<a href="/?s=privacy">Privacy</a>',
        '<a href="/actualites/droit/protection-des-donnees">Protection des données</a>',
        '<a href="https://policies.google.com/privacy">Privacy</a>',
        '<a href="https://www.google.com/intl/de/policies/privacy/">Datenschutzerklärung</a>',
        '<a href="https://mailchimp.com/legal/privacy/">Privacy Policy</a>',
        '<a href="https://akismet.com/privacy/">how your comment data is processed</a>',
        '<a href="/x">This site is protected by reCAPTCHA and the Privacy Policy and Terms apply</a>',
    ],
)
def test_decoys_are_refused(anchor: str) -> None:
    assert find_privacy_link(footer(anchor), BASE) is None


def test_decoys_do_not_outrank_the_policy_next_to_them() -> None:
    html = footer(
        '<a href="/do-not-sell">Do Not Sell My Personal Information</a>',
        '<a href="javascript:void(0)" onclick="openCmp()">Privacy Settings</a>',
        '<a href="/cookies">Cookie Policy</a>',
        '<a href="/legal/privacy">Privacy Policy</a>',
    )
    assert found_url(html) == "https://www.example.org/legal/privacy"


@pytest.mark.parametrize(
    "body",
    [
        '<article><p><a href="/2019/11/18/facebook-fine/">Facebook fined over privacy</a></p></article>',
        '<article><p>How <a href="/2020/01/30/digital-privacy/">digital privacy</a> works.</p></article>',
        '<article><a href="https://epic.org/">Electronic Privacy Information Center (EPIC)</a></article>',
        '<nav><a href="/world/privacy-shield-ruling-what-it-means-for-europe">Privacy Shield</a></nav>',
        '<aside><a href="/stories/what-the-new-privacy-law-means-for-you">The new privacy law</a></aside>',
        "<p>We value your privacy.</p>",
    ],
)
def test_articles_and_organisations_about_privacy_are_not_the_policy(body: str) -> None:
    assert find_privacy_link(page(body), BASE) is None


def test_link_text_is_reported_collapsed_with_the_reason() -> None:
    link = find_privacy_link(footer('<a href="/privacy">\n   Privacy\n\n   Policy  </a>'), BASE)
    assert link is not None
    assert (link.url, link.text) == ("https://www.example.org/privacy", "Privacy Policy")
    assert link.reason == 'link text "Privacy Policy" in the footer'
    assert link.score >= MIN_SCORE


def test_long_link_text_is_cut_for_display() -> None:
    html = footer(f'<a href="/privacy-policy" aria-label="Privacy policy">{"Read " * 100}</a>')
    link = find_privacy_link(html, BASE)
    assert link is not None
    assert len(link.text) == 120
    assert link.text.endswith("…")


def test_windows_1252_bytes_are_decoded_by_their_meta_charset() -> None:
    html = (
        '<html><head><meta charset="windows-1252"></head><body><footer>'
        '<a href="/confidentialite">Politique de confidentialité</a></footer></body></html>'
    ).encode("cp1252")
    link = find_privacy_link(html, BASE)
    assert link is not None
    assert link.text == "Politique de confidentialité"


def test_shift_jis_bytes_are_decoded_by_their_meta_charset() -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"></head>'
        '<body><footer><a href="/privacy.html">プライバシーポリシー</a></footer></body></html>'
    ).encode("shift_jis")
    link = find_privacy_link(html, BASE)
    assert link is not None
    assert link.text == "プライバシーポリシー"


def test_undeclared_bytes_fall_back_to_utf8_then_windows_1252() -> None:
    utf8 = footer('<a href="/ds">Datenschutzerklärung</a>').encode("utf-8")
    latin = footer('<a href="/ds">Datenschutzerklärung</a>').encode("cp1252")
    assert [find_privacy_link(b, BASE) is not None for b in (utf8, latin)] == [True, True]


def test_utf16_with_byte_order_mark_is_decoded() -> None:
    html = footer('<a href="/privacidad">Política de privacidad</a>').encode("utf-16")
    assert found_url(html) == "https://www.example.org/privacidad"


def test_utf8_byte_order_mark_wins_over_a_meta_charset() -> None:
    html = '\ufeff<meta charset="windows-1252">' + footer('<a href="/privacidad">Política de privacidad</a>')
    link = find_privacy_link(html.encode("utf-8"), BASE)
    assert link is not None
    assert link.text == "Política de privacidad"


@pytest.mark.parametrize("charset", ["base64", "zlib", "rot13", "undefined", "no-such-charset", "utf-16"])
def test_bogus_declared_charset_falls_back_to_utf8(charset: str) -> None:
    html = f'<meta charset="{charset}">' + footer('<a href="/privacidad">Política de privacidad</a>')
    link = find_privacy_link(html.encode("utf-8"), BASE)
    assert link is not None
    assert link.text == "Política de privacidad"


def test_a_meta_in_a_comment_declares_nothing() -> None:
    # The shared sniffer's prescan (linkgate.encoding) reads tags as a browser does: the finder's own
    # scan took the first "charset=" it saw, in the comment.
    html = footer('<a href="/page/42">Политика конфиденциальности</a>')
    html = html.replace("<head>", "<head><!-- <meta charset=koi8-r> --><meta charset=windows-1251>")
    link = find_privacy_link(html.encode("cp1251"), BASE)
    assert link is not None
    assert link.text == "Политика конфиденциальности"


def test_the_servers_charset_wins_over_the_guess() -> None:
    html = footer('<a href="/page/42">Политика конфиденциальности</a>').encode("cp1251")
    assert find_privacy_link(html, BASE) is None  # read as windows-1252, it names nothing
    link = find_privacy_link(html, BASE, charset="windows-1251")
    assert link is not None
    assert link.text == "Политика конфиденциальности"
    title = "<title>Политика конфиденциальности</title>".encode("cp1251")
    assert (is_privacy_page(title), is_privacy_page(title, charset="cp1251")) == (False, True)


def test_xml_declaration_before_xhtml_is_harmless() -> None:
    html = '<?xml version="1.0" encoding="utf-8"?>' + footer('<a href="/privacy">Privacy</a>')
    assert found_url(html.encode()) == "https://www.example.org/privacy"


@pytest.mark.parametrize(
    "html",
    [
        "",
        b"",
        "   ",
        "<a href='/privacy'",
        "no markup at all, just privacy",
        "<footer><a href='/privacy'>Privacy" + "x" * 200_000,
        "<a href='/" + "a" * 100_000 + "' title='" + "Privacy " * 20_000 + "'>x</a>",
        "<div>" * 5_000 + "<a href='/privacy'>Privacy</a>",
        "<body><a href='/x'>" + "<span>" * 5_000 + "</b>" * 5_000 + "</span>" * 5_000,
        "<body>" + "<a href='/x'>" * 5_000 + "</b>" * 5_000,
        "<body><a href='/x'>" + "x" * 100_000 + "<div>" + "<a href='/y'>y</a>" * 2_000,
        b"\xff\xfe\x00\x00garbage\x00\x00",
        b"\x00" * 1000,
    ],
)
def test_hostile_or_empty_input_does_not_crash(html: str | bytes) -> None:
    link = find_privacy_link(html, BASE)
    assert link is None or link.url.startswith(("http://", "https://"))


def test_fragment_without_html_element_still_works() -> None:
    assert found_url("<footer><a href='/privacy'>Privacy</a></footer>") == "https://www.example.org/privacy"


def test_bad_base_url_gives_none() -> None:
    assert find_privacy_link(footer('<a href="/privacy">Privacy</a>'), "not a url") is None


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("HTTPS://WWW.Example.ORG/Privacy", "https://www.example.org/Privacy"),
        ("  /privacy  ", "https://www.example.org/privacy"),
        ("/priv%61cy", "https://www.example.org/priv%61cy"),
        ("//cdn.example.net/privacy.pdf", "https://cdn.example.net/privacy.pdf"),
        ("/privacy?lang=en#top", "https://www.example.org/privacy?lang=en#top"),
        ("\\\\evil.example.com\\privacy", "https://evil.example.com/privacy"),
    ],
)
def test_odd_hrefs_are_normalised_like_a_browser(href: str, expected: str) -> None:
    assert found_url(footer(f'<a href="{href}">Privacy</a>')) == expected


@given(st.text(max_size=300), st.sampled_from(["", "<footer>", "<a href='", "javascript:", "Privacy"]))
@settings(max_examples=200, deadline=None)
def test_only_http_urls_are_ever_returned(noise: str, prefix: str) -> None:
    link = find_privacy_link(prefix + noise + "<a href='" + noise + "'>Privacy</a>", BASE)
    assert link is None or link.url.startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<title>Privacy Policy | Example News</title>", True),
        ("<title>Example</title><h1>Datenschutzerklärung</h1>", True),
        ("<title>Politique de confidentialité – Le Journal</title>", True),
        ("<title>プライバシーポリシー｜株式会社</title>", True),
        ("<title>Home</title><h2>Aviso de privacidad</h2>", True),
        ("<title>Page not found</title><h1>404</h1>", False),
        ("<title>Tag: privacy | Example</title>", False),
        ("<title>Datenschutz Archive - Blog</title>", False),
        ("<title>Privacy settings</title>", False),
        ("<title>Facebook fined billions over privacy breach in Europe, regulators say</title>", False),
        ("", False),
    ],
)
def test_privacy_page_is_recognised_by_title_or_heading(html: str, expected: bool) -> None:
    assert is_privacy_page(html) is expected


# --- Reading the markup as a browser shows it


@pytest.mark.parametrize(
    "script",
    [
        "var link = '<a href=\"/privacy\">Privacy Policy</a>';",
        "if (a </a> b) { document.write('<footer><a href=/privacy>Privacy</a></footer>'); }",
        # Inside "<!--", a "<script>" makes the next "</script>" end only itself, not the script.
        "<!-- document.write('<script>x</script>'); var a = '<a href=/privacy>Privacy</a>'; -->",
        "var s = '</scripts><a href=/privacy>Privacy</a>';",
    ],
)
def test_links_written_inside_a_script_are_not_links(script: str) -> None:
    assert find_privacy_link(page(f"<script>{script}</script><footer><p>Contact</p></footer>"), BASE) is None


def test_a_script_full_of_privacy_words_does_not_hide_the_link_after_it() -> None:
    html = page(
        "<script>var t = '</a><a href=\"/fake\">Privacy Policy</a>'; /* </div></footer> */</script>"
        '<footer><a href="/privacy">Privacy</a></footer>'
    )
    assert found_url(html) == "https://www.example.org/privacy"


@pytest.mark.parametrize(
    "body",
    [
        "<div data-template=\"<footer><a href='/privacy'>Privacy Policy</a></footer>\">x</div>",
        "<footer><!-- <a href='/privacy'>Privacy</a> --></footer>",
        "<footer><textarea><a href='/privacy'>Privacy</a></textarea></footer>",
        "<footer><template><a href='/privacy'>Privacy</a></template></footer>",
        "<footer><svg><a href='/privacy'><text>Privacy</text></a></svg></footer>",
        "<footer><a href='/privacy' title='Privacy",  # a tag left open at the end is no tag
    ],
)
def test_markup_that_is_not_shown_as_a_link_is_not_a_link(body: str) -> None:
    assert find_privacy_link(page(body), BASE) is None


@pytest.mark.parametrize(
    "before",
    [
        "<!-->",  # a whole (empty) comment, as is <!--->
        "<!--->",
        "<!-- a --!>",
        "<svg-icon name='lock'></svg-icon><script-loader></script-loader>",  # not <svg>, not <script>
        "<div title='a > b <!-- c'>text</div>",
        "<svg><path d='M0 0'/></svg><svg><title>x</title></svg>",
    ],
)
def test_comments_and_look_alike_tags_end_where_the_html_standard_says(before: str) -> None:
    html = page(
        f'{before}<footer><a href="/privacy">Privacy</a></footer><!-- x --><svg></svg><script></script>'
    )
    assert found_url(html) == "https://www.example.org/privacy"


def test_an_svg_left_open_hides_its_content_until_its_parent_ends() -> None:
    link = '<footer><a href="/privacy">Privacy</a></footer>'
    assert find_privacy_link(page(f'<svg><path d="M0">{link}'), BASE) is None  # a browser draws no link
    assert found_url(page(f'<div><svg><path d="M0"></div>{link}')) == "https://www.example.org/privacy"


def test_a_lone_less_than_sign_stays_text_when_what_follows_is_left_out() -> None:
    html = page("<footer><a href='/x'>a <<!-- -->b</a> <a href='/privacy'>Privacy</a></footer>")
    assert found_url(html) == "https://www.example.org/privacy"


@pytest.mark.parametrize(
    "link",
    [
        '<a href="/legal"><div class="label">Privacy policy</div></a>',
        '<a href="/legal"><span>Privacy</span> <span>policy</span></a>',
        '<a href="/legal">Priv&#97;cy</a>',
        '<a href="/legal"><img src="p.png" alt="Privacy"></a>',
        '<a href="/legal" aria-label="Datenschutz"><svg></svg></a>',
        '<a href="/legal/priv%61cy"></a>',
        '<a href="/legal">Ｐｒｉｖａｃｙ</a>',
        '<a href="/legal">Da\u00adten\u00adschutz</a>',
        '<a href="/legal">Vie priv<!-- -->ée</a>',
    ],
)
def test_every_spelling_of_a_privacy_word_in_a_link_is_read(link: str) -> None:
    assert found_url(footer(link)) == "https://www.example.org/legal" + (
        "/priv%61cy" if "%61" in link else ""
    )


@given(
    st.lists(
        st.sampled_from([*privacy._PRIVACY_WORDS, " ", "-", "_", "/", ".", "x", "1", "é", "Ü", "の", "%"])
    )
)
@settings(max_examples=500, deadline=None)
def test_the_quick_privacy_test_never_says_no_to_a_privacy_word(pieces: list[str]) -> None:
    folded = privacy._fold("".join(pieces))
    if privacy._PRIVACY.search(folded):
        assert privacy._could_name_privacy(folded)


@pytest.mark.parametrize("word", privacy._PRIVACY_WORDS)
def test_every_privacy_word_passes_the_quick_test_however_it_is_written(word: str) -> None:
    for written in (
        word,
        word.upper(),
        word.title(),
        f"our {word}",
        f"/{word}-page",
        f"x_{word}",
        f"«{word}»",
    ):
        assert privacy._could_name_privacy(privacy._fold(written)), written
    assert len(privacy._LETTER_RUN.match(privacy._fold(word)).group()) >= 2


def _benchmark(path: Path = BENCHMARK) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_labelled_corpus_meets_precision_and_recall_targets() -> None:
    score = _benchmark().score_corpus(CORPUS)
    misses = "\n".join(f"{m.id}: expected {m.expected}, got {m.got} ({m.reason})" for m in score.misses)
    assert score.precision >= 0.98, misses
    assert score.recall >= 0.96, misses


# --- Hostile pages: reading one costs time and memory in proportion to its length, whatever its shape


def _cost(read: Callable[[], object]) -> tuple[float, float]:
    """CPU seconds and peak megabytes of Python memory that ``read`` takes."""
    tracemalloc.start()
    started = time.process_time()
    try:
        read()
        return time.process_time() - started, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_thousands_of_unclosed_svg_elements_before_a_link_cost_nothing_much() -> None:
    html = b"<html><body>" + b"<svg>" * 8000 + b"<a href=/privacy>Privacy</a>"  # 40 s before
    seconds, megabytes = _cost(lambda: find_privacy_link(html, BASE))
    assert (seconds < 1.0, megabytes < 20) == (True, True), (seconds, megabytes)


def test_four_thousand_nested_privacy_links_cost_nothing_much() -> None:
    html = ("<html><body><footer>" + '<a href="/privacy">Privacy <span>' * 4000).encode()  # 10.5 s before
    seconds, megabytes = _cost(lambda: find_privacy_link(html, BASE))
    assert (seconds < 1.0, megabytes < 20) == (True, True), (seconds, megabytes)


def test_checking_the_heading_of_two_megabytes_of_italics_costs_nothing_much() -> None:
    html = b"<html><head><title>Story</title></head><body>" + b"<i>" * 666_000  # 20 s and 373 MB before
    seconds, megabytes = _cost(lambda: is_privacy_page(html))
    assert (seconds < 1.0, megabytes < 20) == (True, True), (seconds, megabytes)


# The worst shapes of benchmarks/privacy_hostile.py, and why each is there.
_WORST_SHAPES = (
    "attribute flood in one tag",  # libxml2's tree costs time squared in one element's attributes
    "deep stack, stray end tags",  # its parser looks through every open element for each end tag
    "groups of nested links",
    "mis-nested formatting (adoption agency)",
    "NUL and control bytes",
    "<meta never closed",  # a declared charset was looked for with a backtracking expression
    "thousands of candidate links",
    "unclosed <template>",
)


def test_the_worst_hostile_pages_at_the_body_cap_are_read_within_a_generous_limit() -> None:
    shapes = _benchmark(HOSTILE).SHAPES
    costs = {}
    for shape in _WORST_SHAPES:
        html = shapes[shape]()
        assert len(html) >= 1_990_000
        started = time.process_time()
        find_privacy_link(html, BASE)
        is_privacy_page(html)
        costs[shape] = round(time.process_time() - started, 2)
    assert sum(costs.values()) < 10.0, costs


def test_a_page_nested_deeper_than_the_parser_reads_keeps_what_came_before() -> None:
    link = '<footer><a href="/privacy">Privacy</a></footer>'
    assert found_url(page(link + "<div>" * 300 + "<p>deep</p>")) == "https://www.example.org/privacy"
    assert find_privacy_link(page("<div>" * 300 + link), BASE) is None
    closed = "<div>" * 200 + "</div>" * 200
    assert found_url(page(closed * 50 + link)) == "https://www.example.org/privacy"


def test_a_link_inside_a_link_lends_it_no_text_as_a_browser_shows_them_apart() -> None:
    html = footer('<a href="/privacy-center">About <span><a href="/privacy">Privacy</a></span></a>')
    link = find_privacy_link(html, BASE)
    assert link is not None and (link.url, link.text) == ("https://www.example.org/privacy", "Privacy")


def test_a_page_with_more_links_than_are_read_keeps_its_header_and_footer() -> None:
    many = "".join(f'<p><a href="/story/{n}">Story {n}</a></p>' for n in range(10_000))
    assert (
        found_url(page(many + footer('<a href="/privacy">Privacy</a>'))) == "https://www.example.org/privacy"
    )
    nav = '<nav><a href="/datenschutz">Datenschutz</a></nav>'
    assert found_url(page(nav + many)) == "https://www.example.org/datenschutz"


# --- Which privacy links the notice may show: a page decides where on its own site, nothing more

HOME_PAGE = ("https://www.example.org/", "https://www.example.org/en/home")


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.1/cgi-bin/reset?factory=1",
        "http://127.0.0.1:18009/privacy",
        "http://10.0.0.1/privacy",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/privacy",
        "http://[fe80::1]/privacy",
        "http://[::ffff:127.0.0.1]/privacy",
        "http://0x7f.1/privacy",  # 127.0.0.1, as the parser reads it
        "http://localhost/privacy",
        "http://policies.localhost/privacy",
        "https://intranet/privacy",
        "https://printer.internal/privacy",
        "https://router.lan/privacy",
        "https://com/privacy",
        "https://www.missoulacounty.us@phish.example/privacy",
        "https://user:pw@www.example.org/privacy",
        "ftp://www.example.org/privacy",
        "javascript:alert(1)",
        "not an address",
    ],
)
def test_a_link_to_a_private_or_local_host_or_with_a_user_name_is_never_shown(url: str) -> None:
    assert privacy.privacy_link_refusal(url) is not None
    assert privacy.privacy_link_refusal(url, site=HOME_PAGE) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.org/privacy",
        "https://legal.example.org/privacy",  # the same registrable domain
        "http://example.org/privacy",
        "https://www.example.org:8443/privacy",
    ],
)
def test_a_link_on_the_sites_own_registrable_domain_is_shown(url: str) -> None:
    assert privacy.privacy_link_refusal(url, site=HOME_PAGE) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://unrelated-policies.com/privacy",
        "https://www.example.org.evil.com/privacy",
        "https://example.net/privacy",
        "http://8.8.8.8/privacy",
    ],
)
def test_a_link_to_another_site_found_on_a_page_is_not_shown(url: str) -> None:
    assert "another site" in (privacy.privacy_link_refusal(url, site=HOME_PAGE) or "")
    assert privacy.privacy_link_refusal(url) is None  # a webmaster may pin it


def test_where_the_home_page_redirected_counts_as_the_sites_own() -> None:
    site = ("https://old-name.org/", "https://www.new-name.com/welcome")
    assert privacy.privacy_link_refusal("https://www.new-name.com/privacy", site=site) is None
    assert privacy.privacy_link_refusal("https://old-name.org/privacy", site=site) is None


def test_the_host_and_port_the_page_came_from_are_checked_already() -> None:
    site = ("http://site.test:8000/",)  # the fetcher resolved and checked it (a test's local server)
    assert privacy.privacy_link_refusal("http://site.test:8000/privacy", site=site) is None
    assert privacy.privacy_link_refusal("http://site.test:9000/privacy", site=site) is not None
    assert privacy.privacy_link_refusal("http://127.0.0.1:8000/privacy", site=site) is not None


def test_the_finder_passes_over_links_it_may_not_show_for_the_next_best() -> None:
    html = page(
        '<footer><a href="http://192.168.1.1/cgi-bin/reset?factory=1" rel="privacy-policy">Privacy Policy</a>'
        '<a href="https://policies.other-owner.com/privacy">Privacy Policy</a>'
        '<a href="/legal/privacy">Privacy</a></footer>'
    )
    link = find_privacy_link(html, HOME_PAGE[1], site=HOME_PAGE[:1])
    assert link is not None and link.url == "https://www.example.org/legal/privacy"
    found = find_privacy_link(html, HOME_PAGE[1])  # without a site: another owner's policy is found
    assert found is not None and found.url == "https://policies.other-owner.com/privacy"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("http://192.168.1.1/cgi-bin/reset?factory=1", "192.168.1.1 is not"),
        ("https://www.missoulacounty.us@phish.example/privacy", "must not contain a user name or password"),
        ("javascript:alert(1)", '"javascript:" address'),
    ],
)
def test_a_privacy_link_typed_by_a_webmaster_is_checked_by_the_same_rules(typed: str, message: str) -> None:
    with pytest.raises(InvalidDestination) as refused:
        privacy.check_privacy_url(typed)
    assert message in str(refused.value)
    assert privacy.check_privacy_url(" HTTPS://Policies.Example.NET/p ") == "https://policies.example.net/p"
