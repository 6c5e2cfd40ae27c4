"""``POST /report``: a visitor says the link on a notice or block page is broken, looks unsafe or goes to the
wrong site. The console's dashboard shows the counts (linkgate/store/reports.py).

What it must never do: keep, log or set anything that identifies a visitor, or count a report the gate
did not ask for. So:

- **Counts only.** A report adds one to (County day, destination site, choice); no free text, no page,
  no address. The form names the destination's site alone (its host, and a port that is not the
  default), never its path or query, which may hold anything about the visitor. A visitor's repeated
  report of the same site and choice on the same day counts once: this worker process remembers a keyed
  hash of (visitor's address, site, choice) under a random key it makes each County day and never writes
  anywhere, and forgets both at the day's end. The de-duplication (and the rate limit) is per worker
  process: with four processes a visitor may count up to four times a day.
- **No cookie, yet no forged reports.** A report is accepted only from a page of the gate's own origin
  (``Sec-Fetch-Site: same-origin``, which no page can forge; a browser that does not send it must send an
  ``Origin`` that is the gate's) and with the form token the notice or block page carried: an HMAC of the
  destination's site and the day it was shown (:func:`form_values`), under a key of its own derived from
  ``secret_key``, good for that day and the next; so a report names a site the gate showed. At most one
  HMAC per page (a site's token is kept for its day, for the last 1,024 sites a process showed); nothing
  stored.
- **Bounded.** At most ``reports.per_client_per_hour`` reports an hour from one address (an IPv6 address's
  /64) and ``reports.per_hour`` from everyone, per process, then 429; a day's remembered hashes are at most
  :data:`MAX_SEEN`; reports the database could not take wait in memory, at most :data:`MAX_WAITING` keys.
- **Never a 500.** A database that is away keeps the report waiting (and the visitor is thanked); an
  unexpected failure answers 503 with a page.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask_babel import lazy_gettext as _l

from linkgate.clock import county_today
from linkgate.config import Settings
from linkgate.errors import InvalidDestination, StoreRefused, StoreUnavailable
from linkgate.gateaddress import gate_address
from linkgate.signing import Signer
from linkgate.sites import parse_site_key, site_host, site_key
from linkgate.store import Store
from linkgate.store.reports import CHOICES, ReportKey
from linkgate.urls import Destination, parse_destination, unicode_host
from linkgate.web.app_runtime import get_runtime
from linkgate.web.language import VARY
from linkgate.web.metrics import is_allowed

log = logging.getLogger(__name__)
blueprint = Blueprint("reports", __name__)

EXTENSION = "linkgate.reports"
# A form token is good on the (UTC) day its page was shown and the next: a page left open overnight still
# works, an old copy of one does not.
TOKEN_DAYS = 2
# Keyed hashes of (address, site, choice) one process remembers a day; beyond it reports wait for tomorrow
# (429) rather than be counted without the check. With the default limits a day holds at most 14,400.
MAX_SEEN = 100_000
# Reports waiting for the database, by (day, site, choice); beyond it a new key is dropped (logged).
MAX_WAITING = 1_000
_PURPOSE = b"linkgate report form v1"
FAILED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Report not sent</title></head>'
    "<body><main><p>Your report could not be recorded. Please try again later.</p></main></body></html>"
)

# Why a report was refused (400), in the visitor's language.
REFUSALS = {
    "too_large": _l("The report was too large to be one of ours."),
    "not_a_form": _l("The report did not come from our report form."),
    "foreign": _l("The report did not come from a page of this service, so it was not counted."),
    "token": _l(
        "The report form was out of date or not one of ours. Go back, load the page again and send your "
        "report from it."
    ),
    "choice": _l("The report did not say what is wrong with the link."),
    "destination": _l("The report did not name a web address we can recognise."),
}


@lru_cache(maxsize=4)
def report_signer(secret_key: str, previous: tuple[str, ...]) -> Signer:
    """The form tokens' signer: keys derived from the secret keys for this purpose alone, so a form token
    is never a link signature or the reverse; rotating ``secret_key`` keeps the previous ones' tokens."""

    def derive(secret: str) -> str:
        return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).hexdigest()

    return Signer(derive(secret_key), [derive(secret) for secret in previous])


def form_values(settings: Settings, destination: Destination) -> dict[str, str]:
    """The report form's strings on the page of ``destination`` (the gate's page values
    ``report_site`` and ``report_token``, which the stencils fill in)."""
    site = site_key(destination)
    return {"report_site": site, "report_token": form_token(settings, site)}


def form_token(settings: Settings, site: str, now: float | None = None) -> str:
    """The token of a report form for the destination site ``site`` (a site key) shown at ``now`` (a Unix
    time): its day and one HMAC of day and site."""
    day = int((time.time() if now is None else now) // 86400)
    return _token(settings.secret_key, settings.previous_secret_keys, site, day)


# The sites a process shows again and again keep their day's token: a notice then costs no HMAC at all.
@lru_cache(maxsize=1024)
def _token(secret_key: str, previous: tuple[str, ...], site: str, day: int) -> str:
    return f"{day}.{report_signer(secret_key, previous).sign(f'{day} {site}')}"


def token_is_good(settings: Settings, site: str, token: str, now: float) -> bool:
    """Whether ``token`` was made for ``site`` by this gate (or with a previous secret key) within
    :data:`TOKEN_DAYS` days of ``now``."""
    day_text, _, signature = token.partition(".")
    if not (day_text.isascii() and day_text.isdigit()) or len(day_text) > 9:
        return False
    day = int(day_text)
    if not 0 <= int(now // 86400) - day < TOKEN_DAYS:
        return False
    signer = report_signer(settings.secret_key, settings.previous_secret_keys)
    return signer.verify(f"{day} {site}", signature)


def origin_of(public_url: str) -> str:
    """The gate's origin (``scheme://host[:port]``), as a browser writes it in ``Origin``."""
    gate = gate_address(public_url)
    return gate.root[: len(gate.root) - len(gate.path)] if gate.path else gate.root


class ReportDesk:
    """What one worker process keeps of reports between requests: the day's key and remembered hashes,
    the hour's rate counts, and reports waiting for the database. ``now`` is the clock (tests set it)."""

    def __init__(self, store: Store, settings: Settings, now: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._day: date | None = None
        self._key = b""
        self._seen: set[bytes] = set()
        self._hour = -1
        self._per_client: Counter[bytes] = Counter()
        self._in_hour = 0
        self._waiting: Counter[ReportKey] = Counter()
        self._trimmed: date | None = None

    def today(self) -> date:
        return county_today(self.settings.timezone, self.now())

    def admit(self, client: bytes, host: str, choice: str) -> tuple[str, date]:
        """Whether a report is ``counted``, a ``repeat`` of one counted today, or ``limited`` (too many
        from this client or from everyone this hour), and the County day it belongs to."""
        moment = self.now()
        today = county_today(self.settings.timezone, moment)
        hour = int(moment.timestamp() // 3600)
        with self._lock:
            if today != self._day:  # a new key each day: yesterday's hashes can no longer be matched
                self._day, self._key = today, secrets.token_bytes(32)
                self._seen.clear()
                self._per_client.clear()
            if hour != self._hour:
                self._hour, self._in_hour = hour, 0
                self._per_client.clear()
            who = self._hash(b"client", client)
            if (
                self._in_hour >= self.settings.reports_per_hour
                or self._per_client[who] >= self.settings.reports_per_client_per_hour
            ):
                return "limited", today
            self._per_client[who] += 1
            self._in_hour += 1
            seen = self._hash(b"report", client, host.encode(), choice.encode())
            if seen in self._seen:
                return "repeat", today
            if len(self._seen) >= MAX_SEEN:
                return "limited", today
            self._seen.add(seen)
        return "counted", today

    def _hash(self, *parts: bytes) -> bytes:
        return hmac.new(self._key, b"\0".join(parts), hashlib.sha256).digest()[:16]

    def add(self, day: date, host: str, choice: str) -> None:
        """Count a report (after :meth:`admit`), writing what waits with it."""
        with self._lock:
            key = (day, host, choice)
            if key in self._waiting or len(self._waiting) < MAX_WAITING:
                self._waiting[key] += 1
            else:
                log.warning(
                    "reports: %d reports already wait for the database; one more dropped", MAX_WAITING
                )
        self.flush()

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(self._waiting.values())

    def flush(self) -> bool:
        """Write the waiting reports (and, once a day, remove the days beyond ``reports.keep_days``). False
        when the database is away: they wait, within :data:`MAX_WAITING` keys, for the next report or the
        next look at the dashboard."""
        with self._lock:
            batch, self._waiting = self._waiting, Counter()
        try:
            if batch:
                self.store.reports.add(batch, self.settings.reports_max_destinations_per_day)
            today = self.today()
            if self._trimmed != today:
                self.store.reports.trim(today - timedelta(days=self.settings.reports_keep_days))
                self._trimmed = today
        except StoreUnavailable as error:
            log.warning("reports: database unavailable, %d reports wait: %s", sum(batch.values()), error)
            with self._lock:
                for key, count in batch.items():
                    if key in self._waiting or len(self._waiting) < MAX_WAITING:
                        self._waiting[key] += count
            return False
        except StoreRefused as error:
            log.error("reports: %s Dropped %d reports.", error, sum(batch.values()))
        return True


def init_app(app: Flask, store: Store, settings: Settings) -> None:
    """Register ``POST /report`` and this process's :class:`ReportDesk`."""
    app.extensions[EXTENSION] = ReportDesk(store, settings)
    app.register_blueprint(blueprint)


def get_desk() -> ReportDesk:
    desk: ReportDesk = current_app.extensions[EXTENSION]
    return desk


@blueprint.post("/report")
def report() -> Response:
    try:
        return _report(get_desk())
    except Exception as error:  # never a 500: the visitor gets a page
        frame = traceback.extract_tb(error.__traceback__)[-1]
        log.error("reports: unexpected %s at %s:%s", type(error).__name__, frame.filename, frame.lineno)
    try:
        return _page("failed", 503)
    except Exception:  # the templates themselves: a page without them
        return _answer(FAILED_PAGE, 503)


def _report(desk: ReportDesk) -> Response:
    settings = desk.settings
    # The back field (a County page) at its longest, percent-encoded, and the rest: anything larger is
    # not our form.
    limit = 3 * settings.max_url_length + 1024
    if request.content_length is not None and request.content_length > limit:
        return _refused("too_large")
    # A browser sends a form's length; without one the body would have to be read to learn it.
    if request.content_length is None or request.mimetype != "application/x-www-form-urlencoded":
        return _refused("not_a_form")
    if not _same_origin(settings):
        return _refused("foreign")
    form = request.form
    sites, tokens, choices = form.getlist("site"), form.getlist("token"), form.getlist("choice")
    back = _county_page(form.get("back", ""), settings)
    if len(sites) != 1 or len(tokens) != 1:
        return _refused("token", back)
    try:
        site = parse_site_key(sites[0])
    except InvalidDestination:
        return _refused("destination", back)
    if not token_is_good(settings, site, tokens[0], desk.now().timestamp()):
        return _refused("token", back)
    if len(choices) != 1 or choices[0] not in CHOICES:
        return _refused("choice", back)
    outcome, day = desk.admit(_client(settings), site, choices[0])
    if outcome == "limited":
        return _page("limited", 429, back)
    if outcome == "counted":
        desk.add(day, site, choices[0])
    # A repeat is thanked alike: the answer does not tell whether this visitor reported it before.
    return _page("thanks", 200, back, site=_shown(site))


def _county_page(address: str, settings: Settings) -> str:
    """Where the answer's "Go back" leads: the County page the report's page would have gone back to
    (the form's ``back``) when it is one, else the County's home page. Never stored or logged."""
    try:
        page = parse_destination(address, settings.max_url_length)
    except InvalidDestination:
        return settings.county_home_url
    if page.is_ip or not get_runtime().classifier.is_county_host(page.host):
        return settings.county_home_url
    return page.href


def _shown(site: str) -> str:
    """A site key as a visitor reads it: an international name in its own letters."""
    host = site_host(site)
    return site if ":" in host else unicode_host(host) + site[len(host) :]


def _same_origin(settings: Settings) -> bool:
    """Whether the browser says the form was sent from a page of the gate's own origin.

    ``Sec-Fetch-Site`` is the browser's own account, which no page can set; with it, ``Origin`` may be
    the gate's or ``null`` (the gate's pages send no referrer, and browsers then send a form's origin as
    ``null``). A browser too old to send it must send the gate's origin. A request with neither is
    not from a browser's form and is refused."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    own = origin_of(settings.public_url)
    if fetch_site is not None:
        return fetch_site == "same-origin" and origin in (None, "null", own)
    return origin == own


def _client(settings: Settings) -> bytes:
    """The visitor's address as bytes (an IPv6 address's /64, which one visitor commonly holds whole),
    kept only inside :meth:`ReportDesk.admit`'s keyed hashes. Behind a proxy listed in
    ``reports.trusted_proxies``, the address is the last one in ``reports.address_header``."""
    text = request.remote_addr or ""
    header = settings.reports_address_header
    if header and is_allowed(request.remote_addr, settings.reports_trusted_proxies):
        text = request.headers.get(header, "").rsplit(",", 1)[-1].strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return b""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped.packed
        return ipaddress.ip_network(f"{address}/64", strict=False).network_address.packed
    return address.packed


def _refused(reason: str, back: str | None = None) -> Response:
    return _page("refused", 400, back, message=REFUSALS[reason])


def _page(
    state: str, status: int, back: str | None = None, message: object = None, site: str | None = None
) -> Response:
    """The answer's page: thanks (for ``site``), refused (with ``message``), limited or failed; its "Go
    back" leads to ``back``, else the County's home page."""
    page = render_template(
        "report.html",
        state=state,
        message=message,
        site=site,
        back_url=back or get_runtime().settings.county_home_url,
        language_links=lambda: [],
    )
    return _answer(page, status)


def _answer(page: str, status: int) -> Response:
    """A report's answer: never cached or indexed, in the visitor's language (the security headers come
    from the application's own hook, as on every page)."""
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow", VARY[0]: VARY[1]}
    return Response(page, status, headers=headers, content_type="text/html; charset=utf-8")
