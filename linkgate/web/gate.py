"""``GET /go``: the click path. Parse the destination, classify it, then redirect, warn or block.

Never a 500: an unexpected failure still gets the visitor a notice (or the error page) from what was
parsed. Never an open redirect: a redirect goes only to the parser's own serialisation of a County or
trusted partner destination. Never stores or logs the visitor's address, user agent, cookies or the full
destination: only registrable domain x day x outcome is counted.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING

from babel.dates import format_date as format_day
from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request as WerkzeugRequest

from linkgate.archive import ArchivedCopy
from linkgate.classify import FLAGS, Classification
from linkgate.clock import county_datetime
from linkgate.errors import InvalidDestination
from linkgate.sites import SiteFacts
from linkgate.urls import Destination, parse_destination, registrable_domain, unicode_host
from linkgate.web.app_runtime import WebRuntime, get_runtime
from linkgate.web.language import VARY, language_name, language_of, links_to_languages, same_page
from linkgate.web.reports import form_values
from linkgate.web.security import HEADERS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)
blueprint = Blueprint("gate", __name__)

# What every answer of /go carries, from either of its paths (ClickPath and the view) and whatever the
# outcome: no caching or indexing, its type, the headers every response gets (security.HEADERS) and, as
# every visitor page in a negotiated language, Vary: Accept-Language. The after-request hooks that add the
# last two to the application's other responses find them here and leave them as they are. A redirect adds
# its Location, and every answer its length: answer_headers.
ANSWER_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Robots-Tag", "noindex, nofollow"),
    ("Content-Type", "text/html; charset=utf-8"),
    *HEADERS.items(),
    VARY,
)

CATEGORY_TEXT = {
    "county": _l("a Missoula County website"),
    "partner": _l("a partner website that Missoula County trusts"),
    "government": _l("a government website, not run by Missoula County"),
    "education": _l("a school, college or university website, not run by Missoula County"),
    "external": _l("a website not run by Missoula County"),
    "blocked": _l("a website Missoula County has blocked"),
}

FLAG_TEXT = {
    "credentials": _l(
        "The address contains a user name or password before the site's name. Tricksters use this to make "
        "a link look like it goes somewhere else."
    ),
    "ip_address": _l(
        "The address uses a number (an IP address) instead of a website name, so you cannot tell who runs it."
    ),
    "lookalike": _l(
        "The website's name looks like a Missoula County address but is not one. It may be pretending to be "
        "the County."
    ),
    "mixed_script": _l(
        "The website's name mixes letters from different alphabets, a trick used to imitate other sites."
    ),
    "insecure": _l(
        "The connection to this site is not encrypted (http, not https): others on your network could see "
        "or change what you send and receive."
    ),
    "port": _l("The address uses an unusual port number, which ordinary websites rarely need."),
    "idn": _l("The website's name uses international characters; check that it is the site you expect."),
}


# What is wrong with a destination (InvalidDestination.reason), in the visitor's language.
DESTINATION_PROBLEMS = {
    "several": _l("The link names more than one destination, so it is not clear where it should go."),
    "missing": _l("This link is incomplete: it does not say which website it should take you to."),
    "too_long": _l("The web address is too long (%(length)s characters; the limit is %(limit)s)."),
    "relative": _l("The web address is not complete: it must start with http:// or https://."),
    "invalid": _l("The web address is not valid, so there is nowhere safe to send you."),
    "scheme": _l(
        'Only web addresses starting with http:// or https:// can be followed; this one is a "%(scheme)s:" '
        "address."
    ),
    "host_too_long": _l(
        "The website's name in this address is too long to be a real website (%(length)s characters; a name "
        "can have at most %(limit)s)."
    ),
    "label_too_long": _l(
        "Part of the website's name in this address is too long to be a real website (%(length)s characters "
        "between two dots; the most is %(limit)s)."
    ),
    "empty_label": _l(
        "The website's name in this address has an empty part (two dots together, or a dot at the start), so "
        "it cannot be a real website."
    ),
}


def describe_problem(error: InvalidDestination) -> str:
    """The visitor's-language sentence for what is wrong with a destination."""
    template = DESTINATION_PROBLEMS.get(error.reason)
    if template is None:
        return str(error)
    params = {
        key: format_decimal(value) if isinstance(value, int) else value for key, value in error.params.items()
    }
    return str(template) % params if params else str(template)


def answer_headers(length: int, location: str | None = None) -> list[tuple[str, str]]:
    """All the headers of an answer of /go: :data:`ANSWER_HEADERS`, a redirect's Location, the length."""
    return [
        *ANSWER_HEADERS,
        *(() if location is None else (("Location", location),)),
        ("Content-Length", str(length)),
    ]


class GateResponse(Response):
    """An answer of the click path from Flask's view: a page (or no body), with :func:`answer_headers`.

    Werkzeug's last pass over a response's headers (``get_wsgi_headers``) copies and checks them all
    again, to re-encode a Location or Content-Location and to count a body whose length is not yet known.
    The gate's answers have neither (a page's length is set with its body, a redirect's Location is
    exact, below), so they skip it.
    """

    def __init__(self, page: str = "", status: int = 200, location: str | None = None) -> None:
        body = page.encode()
        super().__init__(body, status=status, headers=answer_headers(len(body), location))

    def get_wsgi_response(
        self, environ: WSGIEnvironment
    ) -> tuple[Iterable[bytes], str, list[tuple[str, str]]]:
        return self.get_app_iter(environ), self.status, self.headers.to_wsgi_list()


class ExactRedirect(GateResponse):
    """A 302 whose Location is exactly the parser's serialisation, with no body.

    Werkzeug re-encodes Location headers (``iri_to_uri``), which would change a destination such as
    ``?\\x`` into ``?%5Cx``: a different URL from the one the visitor was shown and the rules judged.
    ``href`` is already ASCII and free of control characters (WHATWG serialisation), so it is sent as is.
    """

    def __init__(self, href: str) -> None:
        super().__init__(status=302, location=href)


@dataclass(frozen=True)
class DisplayAddress:
    """The destination split so the registrable domain can be emphasised."""

    before: str
    domain: str
    after: str
    unicode_host: str | None


def breakable(name: str) -> Markup:
    """``name`` escaped, with a line-break opportunity (``<wbr>``) after each dot: a page breaks a site's
    name between its labels (or after a hyphen), never inside a label unless that label alone is wider
    than the line (``.site-name`` in linkgate.css). Markup, so the stencils fill it in as the template
    shows it (``markupsafe.escape`` leaves Markup as it is)."""
    escaped = str(escape(name))  # escaping leaves the dots alone
    # No <wbr> after a final dot: the page breaks there anyway (before the registrable domain) or ends.
    broken = (
        escaped[:-1].replace(".", ".<wbr>") + "." if name.endswith(".") else escaped.replace(".", ".<wbr>")
    )
    return Markup(broken)  # noqa: S704 (escaped above; only <wbr> added)


def _site_name(name: str) -> Markup:
    """A site's name within a sentence or a button: see ``.site-name`` in linkgate.css."""
    return Markup('<span class="site-name">{}</span>').format(name)


def display_address(destination: Destination) -> DisplayAddress:
    href = destination.href
    start = href.index("//") + 2
    authority_end = href.find("/", start)
    authority = href[start:] if authority_end < 0 else href[start:authority_end]
    host_at = start + (authority.rfind("@") + 1 if destination.has_credentials else 0)
    serialized_host = f"[{destination.host}]" if ":" in destination.host else destination.host
    domain = registrable_domain(destination.host) if not destination.is_ip else destination.host
    domain_at = host_at + len(serialized_host) - len(domain) - (1 if serialized_host.startswith("[") else 0)
    if not href.startswith(domain, domain_at):
        domain_at, domain = host_at, serialized_host
    shown = unicode_host(destination.host)
    return DisplayAddress(
        before=href[:domain_at],
        domain=domain,
        after=href[domain_at + len(domain) :],
        unicode_host=shown if shown != destination.host else None,
    )


@blueprint.get("/go")
def go() -> Response:
    runtime = get_runtime()
    runtime.ensure_upkeep()
    try:
        return _go(runtime)
    except Exception as error:  # the click path must never answer 500
        _log_unexpected(error)
        return _fallback()


def _log_unexpected(error: Exception) -> None:
    frame = traceback.extract_tb(error.__traceback__)[-1]
    log.error("gate: unexpected %s at %s:%s", type(error).__name__, frame.filename, frame.lineno)


@dataclass(frozen=True, slots=True)
class Click:
    """A click's destination and what the rules make of it, before anything is counted."""

    destination: Destination
    classification: Classification
    bad_signature: bool
    back: str | None = None  # the County page "Go back" returns to, when the visitor came from one


# Parameters of the links a gate page makes to itself (its language switch, "Check again"). COUNTED says
# the click is already counted: see is_follow_up. BACK carries the County page the visitor came from, which
# the page's own links cannot pass on as a Referer (the gate sends none); it is checked again like a Referer
# (only a County page is ever linked to) and never makes a link trusted.
COUNTED = "counted"
BACK = "back"


def judge(runtime: WebRuntime, args: MultiDict[str, str], referer: str | None) -> Click:
    """Parse and classify a click; raises :class:`InvalidDestination` when there is nowhere to go."""
    values = args.getlist("url")
    if len(values) > 1:
        raise InvalidDestination("The link names more than one destination.", "several")
    destination = parse_destination(values[0] if values else None, runtime.settings.max_url_length)
    signed = False
    # Asked only when present: Werkzeug's MultiDict.get raises and catches an HTTP error on a miss.
    signature = args.get("sig") if "sig" in args else None
    if signature is not None:
        signed = runtime.signer.verify(destination.href, signature)
    source = _county_page(runtime, referer)
    classification = runtime.classifier.classify(destination, trusted=signed or source is not None)
    back = _back(runtime, args, source)
    return Click(destination, classification, bad_signature=signature is not None and not signed, back=back)


def _back(runtime: WebRuntime, args: MultiDict[str, str], source: str | None) -> str | None:
    """Where "Go back" goes, when not to the County's home page: ``source`` (the County page of the
    Referer), else the County page a gate page's own link carried (``back=``)."""
    if source is None and BACK in args:
        source = _county_page(runtime, args.get(BACK), remember=False)
    return None if source == runtime.settings.county_home_url else source


def is_follow_up(args: MultiDict[str, str], headers: Headers) -> bool:
    """Whether a request is a gate page's own link (language switch, "Check again") to a click already
    counted: it carries ``counted=1`` and the browser says it comes from a page of the gate's own origin
    (``Sec-Fetch-Site: same-origin``, a header no page can set or forge). A link elsewhere carrying the
    parameter is counted all the same: it cannot hide real clicks."""
    return COUNTED in args and args.get(COUNTED) == "1" and headers.get("Sec-Fetch-Site", "") == "same-origin"


def follow_up(click: Click) -> dict[str, str]:
    """The parameters of a gate page's own links for ``click`` (see :data:`COUNTED`, :data:`BACK`)."""
    return {COUNTED: "1"} if click.back is None else {COUNTED: "1", BACK: click.back}


def record(runtime: WebRuntime, click: Click) -> None:
    """Count a click (registrable domain x day x outcome) and its security events."""
    counts = runtime.counts
    if click.bad_signature:
        counts.event("bad_signature")
    counts.click(registrable_domain(click.destination.host), click.classification.action)
    if click.classification.is_deceptive:
        counts.event("deceptive_flag")
    if click.classification.action == "block":
        counts.event("blocked_destination")
    if click.classification.listed is not None:
        counts.event("feed_listed")


def _go(runtime: WebRuntime) -> Response:
    repeated = is_follow_up(request.args, request.headers)
    try:
        click = judge(runtime, request.args, request.headers.get("Referer"))
    except InvalidDestination as error:
        if not repeated:
            runtime.counts.event("invalid_url")
        back = _back(runtime, request.args, _county_page(runtime, request.headers.get("Referer")))
        return _error(describe_problem(error), back)
    if not repeated:
        record(runtime, click)
    action = click.classification.action
    if action == "redirect":
        return ExactRedirect(click.destination.href)
    facts = None
    if action == "notice":
        facts = request.environ.get(FACTS_KEY) or runtime.site_facts(click.destination)
    template, status = PAGES[action]
    pending = {}
    if facts is not None and facts.pending:
        pending = {
            "site_api": url_for("api.site", host=facts.host),
            "check_again": same_page(request, follow_up(click)),
        }
    locale = str(get_locale())
    links = links_to_languages(request, locale, follow_up(click))
    kind, values = click_page_parts(
        runtime, template, click, facts, locale, request.root_path, links, pending
    )
    return GateResponse(runtime.pages.page(template, kind, values, partial(_page_context, kind)), status)


# Browsers send a County page's Referer as its origin alone (their default policy across origins), so a
# few strings come again and again: each is parsed once. Only County pages are remembered (never another
# site's address, and nothing a visitor typed), at most this many, in this process's memory only.
COUNTY_REFERERS = 256


def _county_page(runtime: WebRuntime, address: str | None, remember: bool = True) -> str | None:
    """The parser's serialisation of ``address`` (a Referer, or a gate link's ``back``) when it is a page on
    a County host, else None: the only address a "Go back" link takes from a request. Only a Referer is
    remembered (``remember``): a link's ``back`` is something anyone may type."""
    if not address:
        return None
    known = runtime.county_referers
    href = known.get(address)
    if href is not None:
        return href
    try:
        source = parse_destination(address, runtime.settings.max_url_length)
    except InvalidDestination:
        return None
    if source.is_ip or not runtime.classifier.is_county_host(source.host):
        return None
    if remember:
        if len(known) >= COUNTY_REFERERS:
            known.clear()
        known[address] = source.href
    return source.href


# The page of each action but redirect, and its status.
PAGES = {"notice": ("notice.html", 200), "block": ("block.html", 403)}


@dataclass(frozen=True, slots=True)
class PageKind:
    """What a notice or block page shows besides the click's own strings: each kind is one stencil."""

    template: str
    locale: str
    script_root: str
    category: str
    flags: tuple[str, ...]
    trusted: bool
    privacy: str  # found (a link), pending (being looked up), none (the site has none), error, unknown
    gpc: bool
    international: bool  # the host has an international form to show
    languages: tuple[str, ...]  # the language switch's other languages
    archived: bool = False  # a broken destination with an archived copy to offer (templates/_archived.html)
    health: str = ""  # moved, parked or changed: what the site cache last saw of it (templates/_health.html)
    feed: str = ""  # the known-bad list the destination is on (templates/_feed.html), if any


def page_parts(
    template: str,
    click: Click,
    facts: SiteFacts | None,
    locale: str,
    script_root: str,
    language_links: list[dict[str, str]],
    pending: Mapping[str, str],
    home: str,
    archived: ArchivedCopy | None = None,
    *,
    health: HealthNote | None = None,
) -> tuple[PageKind, dict[str, str]]:
    """A notice or block page's kind and strings (``pending``: the site API and check-again links;
    ``home``: where "Go back" goes when the visitor did not come from a County page; ``archived``: the
    archived copy of a destination the last audit found broken)."""
    destination, classification = click.destination, click.classification
    address = display_address(destination)
    privacy = "unknown"
    values = {
        "href": destination.href,
        "before": breakable(address.before),
        "domain": breakable(address.domain),
        "after": address.after,
        "back": click.back or home,
    }
    if address.unicode_host is not None:
        values["unicode_host"] = breakable(address.unicode_host)
    if facts is not None:
        if facts.privacy_url:
            privacy = "found"
            values["privacy_url"] = facts.privacy_url
        elif facts.pending:
            privacy = "pending"
            values.update(pending)
        elif facts.status in ("none", "error"):
            privacy = facts.status
    if archived is not None:
        values["archived_url"] = archived.url
        values["archived_date"] = format_day(archived.day, format="long", locale=locale)
    if health is not None:
        values["health_date"] = format_day(health.day, format="long", locale=locale)
        if health.domain:
            values["health_domain"] = breakable(health.domain)
    languages = []
    for link in language_links:
        languages.append(link["code"])
        values["language:" + link["code"]] = link["href"]
    kind = PageKind(
        template=template,
        locale=locale,
        script_root=script_root,
        category=classification.category,
        flags=classification.flags,
        trusted=classification.trusted,
        privacy=privacy,
        gpc=bool(facts and facts.gpc),
        international=address.unicode_host is not None,
        languages=tuple(languages),
        archived=archived is not None,
        health=health.kind if health is not None else "",
        feed=classification.listed.feed if classification.listed is not None else "",
    )
    return kind, values


def _page_context(kind: PageKind, values: Mapping[str, str]) -> dict[str, object]:
    """The template context of a notice or block page, from its kind and its strings alone."""
    return {
        "href": values["href"],
        "back_url": values["back"],
        "address": DisplayAddress(  # before, domain and unicode_host: breakable() Markup
            before=values["before"],
            domain=values["domain"],
            after=values["after"],
            unicode_host=values.get("unicode_host"),
        ),
        "site_name": _site_name,
        "category": kind.category,
        "category_text": CATEGORY_TEXT[kind.category],
        "flags": [{"code": flag, "deceptive": FLAGS[flag], "text": FLAG_TEXT[flag]} for flag in kind.flags],
        "trusted": kind.trusted,
        "deceptive": any(FLAGS[flag] for flag in kind.flags) or bool(kind.feed),
        "feed": kind.feed,
        "privacy": kind.privacy,
        "privacy_url": values.get("privacy_url"),
        "site_api": values.get("site_api"),
        "check_again": values.get("check_again"),
        "gpc": kind.gpc,
        "archived": kind.archived,
        "archived_url": values.get("archived_url"),
        "archived_date": values.get("archived_date"),
        "health": kind.health,
        "health_date": values.get("health_date"),
        "health_domain": values.get("health_domain"),
        "report_site": values["report_site"],  # the report form's (linkgate/web/reports.py)
        "report_token": values["report_token"],
        "language_links": lambda: [
            {"code": code, "name": language_name(code), "href": values["language:" + code]}
            for code in kind.languages
        ],
    }


def click_page_parts(
    runtime: WebRuntime,
    template: str,
    click: Click,
    facts: SiteFacts | None,
    locale: str,
    script_root: str,
    language_links: list[dict[str, str]],
    pending: Mapping[str, str],
) -> tuple[PageKind, dict[str, str]]:
    """A click's notice or block page parts, as both of /go's paths (the view and :class:`ClickPath`) make
    them: :func:`page_parts` with the archived copy, the health note and the report form's values."""
    kind, values = page_parts(
        template,
        click,
        facts,
        locale,
        script_root,
        language_links,
        pending,
        runtime.settings.county_home_url,
        archived_copy(runtime, click),
        health=health_note(runtime, click, facts),
    )
    values.update(form_values(runtime.settings, click.destination))  # the report form: one HMAC at most
    return kind, values


def archived_copy(runtime: WebRuntime, click: Click) -> ArchivedCopy | None:
    """The archived copy a notice offers: of a destination the last audit found broken, from the
    worker's memory (linkgate.archive.ArchivedCopies), never the database."""
    if click.classification.action != "notice":
        return None
    return runtime.archived.get(click.destination.href)


@dataclass(frozen=True, slots=True)
class HealthNote:
    """What the notice says of a destination's health: it ``moved`` (to ``domain``), looked ``parked``, or
    ``changed`` hands, when the site cache last checked it on the County's ``day``."""

    kind: str
    day: date
    domain: str = ""


def health_note(runtime: WebRuntime, click: Click, facts: SiteFacts | None) -> HealthNote | None:
    """The notice's word on the destination's health, from the site facts it already has (no query): a
    parked page first, then a move to another registrable domain (never off a County address nor into
    one, nor one the County expects: an allow rule covers the new domain), then a change of hands."""
    if facts is None or facts.health_at is None or click.classification.category == "county":
        return None
    kind, domain = "", ""
    moved = facts.moved_to
    if facts.parked:
        kind = "parked"
    elif moved and not runtime.classifier.is_county_host(moved):
        rule = runtime.classifier.rules.match(moved)
        if rule is None or rule.kind != "allow":
            kind, domain = "moved", unicode_host(moved)
    if not kind and facts.changed:
        kind = "changed"
    if not kind:  # most sites: nothing to say, and no date to work out
        return None
    return HealthNote(kind, county_datetime(facts.health_at, runtime.settings.timezone).date(), domain)


# Where ClickPath leaves the site facts it looked up for Flask's view (a WSGI key no client can set).
FACTS_KEY = "linkgate.site_facts"


class ClickPath:
    """WSGI middleware in front of the Flask application: ``GET /go`` answered without Flask when it can be.

    Flask's request context, routing, hooks and response machinery cost more than a redirect's own work.
    For a redirect, and for a notice or block page whose stencil is made, this answers from the same
    judgement (:func:`judge`, :func:`record`), the same page parts and the same headers
    (:func:`answer_headers`) as the view. Everything else goes to Flask: other paths, an invalid destination
    (the error page), a page not stencilled yet, a site still being looked up, and any failure here.
    Tests compare both paths' answers, header by header.
    """

    def __init__(self, wsgi_app: WSGIApplication, runtime: WebRuntime) -> None:
        self.wsgi_app = wsgi_app
        self.runtime = runtime

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/go" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            try:
                answer = self.answer(WerkzeugRequest(environ))
            except Exception as error:  # Flask's view answers instead (and never with a 500)
                _log_unexpected(error)
                answer = None
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
        return self.wsgi_app(environ, start_response)

    def answer(self, request: WerkzeugRequest) -> tuple[str, list[tuple[str, str]], bytes] | None:
        runtime = self.runtime
        runtime.ensure_upkeep()
        try:
            click = judge(runtime, request.args, request.headers.get("Referer"))
        except InvalidDestination:
            return None
        action = click.classification.action
        if action == "redirect":
            if not is_follow_up(request.args, request.headers):
                record(runtime, click)
            return _STATUS[302], answer_headers(0, click.destination.href), b""
        facts = runtime.site_facts(click.destination) if action == "notice" else None
        if facts is not None:
            # Should Flask's view answer after all, it takes these: asking again would wait for a pending
            # lookup a second time.
            request.environ[FACTS_KEY] = facts
            if facts.pending:
                return None
        template, status = PAGES[action]
        locale = language_of(request)
        links = links_to_languages(request, locale, follow_up(click))
        kind, values = click_page_parts(runtime, template, click, facts, locale, request.root_path, links, {})
        page = runtime.pages.filled(template, kind, values)
        if page is None:
            return None
        if not is_follow_up(request.args, request.headers):
            record(runtime, click)
        body = page.encode()
        return _STATUS[status], answer_headers(len(body)), body


# The status lines of ClickPath's answers, as Werkzeug writes the view's.
_STATUS = {code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 302, 403)}


def _error(message: str, back: str | None) -> Response:
    """The invalid link's page; its own links carry ``counted`` (and ``back``), as a notice's do."""
    more = {COUNTED: "1"} if back is None else {COUNTED: "1", BACK: back}
    links = links_to_languages(request, str(get_locale()), more)
    page = render_template(
        "error.html",
        title=_l("This link cannot be followed"),
        message=message,
        back_url=back,
        language_links=lambda: links,
    )
    return GateResponse(page, 400)


def _fallback() -> Response:
    """A last-resort page built without templates or the database."""
    try:
        destination: Destination | None = parse_destination(request.args.get("url"))
    except (InvalidDestination, ValueError):
        destination = None
    if destination is None:
        body = Markup("<p>This link cannot be followed.</p>")
        status = 400
    else:
        body = Markup(
            "<p>You are leaving Missoula County's website for {host}.</p>"
            '<p><a id="continue" rel="noopener noreferrer" href="{href}">Continue to {host}</a></p>'
        ).format(host=destination.host, href=destination.href)
        status = 200
    page = (
        Markup(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Leaving Missoula County'
            "</title></head><body><main>"
        )
        + body
        + Markup("</main></body></html>")
    )
    return GateResponse(str(escape(page)), status)
