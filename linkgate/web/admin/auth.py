"""Who is using the console: login, logout, session lifetimes, single sign-on, roles and CSRF checks.

The session (Flask's signed cookie, path ``/admin``) holds only the account name, the account's session
stamp, when it signed in and when it was last used. The account is read from the database on every
request (no cache: the console's requests are few), so a removed account or a changed role takes effect at
once, and a session whose stamp is no longer the account's is over: signing out, a new password or role
and an unlock give the account a new stamp, which ends every session of it on every server, copied
cookies included. A session also ends ``admin.session_max_hours`` after sign-in however much it is used,
and after ``admin.idle_minutes`` unused. A trusted header is believed only from the configured proxies.
Never redirect to anything a request names but a path of this console (see :func:`_console_path`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import unquote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.exceptions import Forbidden
from wtforms import ValidationError

from linkgate.accounts import LoginPolicy, LoginResult, log_in, name_problem, normalise_name
from linkgate.clock import county_time
from linkgate.config import Settings
from linkgate.errors import StoreUnavailable
from linkgate.store import AccountRow, Store
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import BadParameter
from linkgate.web.metrics import is_allowed

blueprint = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"admin.auth.login"})
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

F = TypeVar("F", bound=Callable[..., Any])


def current_account() -> AccountRow:
    account: AccountRow = g.account
    return account


def actor() -> str:
    """How the change log names the signed-in person."""
    return f"web:{current_account().name}"


def admin_required(view: F) -> F:
    """Only the admin role may change things; a viewer gets the 403 page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_account().role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def install_guards(admin: Blueprint) -> None:
    """Hooks that run before every console view, in order: who is it, may they see it, is the form real."""
    admin.before_request(_identify)
    admin.before_request(_check_csrf)
    admin.after_request(_no_store)
    admin.context_processor(_template_context)
    admin.register_error_handler(CSRFError, _csrf_error)
    admin.register_error_handler(Forbidden, _forbidden)
    admin.register_error_handler(StoreUnavailable, _store_unavailable)
    admin.register_error_handler(BadParameter, _bad_parameter)


def _identify() -> ResponseReturnValue | None:
    runtime = get_runtime()
    runtime.ensure_upkeep()  # a worker that serves only the console still flushes counts, reloads rules
    settings, store = runtime.settings, runtime.store
    g.account = None
    is_api = request.blueprint is not None and request.blueprint.endswith(".api")
    if is_api and "Authorization" in request.headers:
        return _identify_token(settings)
    trusted_name = _trusted_user(settings)
    if trusted_name is not None:
        account = store.accounts.get(normalise_name(trusted_name))
        if account is None:
            g.unknown_user = trusted_name
            abort(403)
        if session.get("account") != account.name:
            session.clear()
            session["account"] = account.name
        g.account = account
    elif "account" in session:
        g.account = _session_account(settings, store)
    if g.account is not None:
        session["seen"] = time.time()
        return None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if is_api:
        return _api_refusal(_("Sign in to the console, or send an API token: Authorization: Bearer TOKEN."))
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.auth.login", next=target))


def _session_account(settings: Settings, store: Store) -> AccountRow | None:
    """The account the session cookie names while its session lasts; else None, the session emptied and
    the reason flashed for the sign-in page."""
    at = time.time()
    if at - _seconds(session.get("since")) > settings.admin_session_max_hours * 3600:
        reason = _(
            "You were signed out because you signed in more than %(hours)s hours ago. Sign in again.",
            hours=f"{settings.admin_session_max_hours:g}",
        )
    elif at - _seconds(session.get("seen")) > settings.admin_idle_minutes * 60:
        reason = _(
            "You were signed out because the console was not used for %(minutes)s minutes.",
            minutes=f"{settings.admin_idle_minutes:g}",
        )
    else:
        account = store.accounts.get(str(session["account"]))
        if account is not None and account.session_stamp == session.get("stamp"):
            return account
        reason = _(
            "You were signed out: this account was signed out, or its password, role or lock was "
            "changed. Sign in again."
        )
    session.clear()
    flash(reason, "info")
    return None


def _seconds(value: object) -> float:
    """A time kept in the session (a signed cookie: only this module writes it); 0 for a cookie without."""
    return float(value) if isinstance(value, int | float) else 0.0


def _identify_token(settings: Settings) -> ResponseReturnValue | None:
    """An API token: read-only (the viewer role), never a session, never a cookie."""
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _api_refusal(_("Send the token as: Authorization: Bearer TOKEN."))
    if not settings.api_token_hashes:
        return _api_refusal(_("This gate has no API tokens configured (admin.api_tokens)."))
    digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).hexdigest()
    # Compare with every configured hash, always all of them, so the timing says nothing.
    matched = [hmac.compare_digest(digest, known) for known in settings.api_token_hashes]
    if not any(matched):
        get_runtime().counts.event("bad_api_token")
        return _api_refusal(_("That API token is not valid."))
    if request.method != "GET":
        return _api_refusal(_("API tokens can only read."), 405)
    g.account = AccountRow(
        id=0,
        name="api-token",
        password_hash="",
        role="viewer",
        created_at=datetime.fromtimestamp(0, UTC),
        failed_count=0,
        last_failed_at=None,
        locked_until=None,
        session_stamp="",
    )
    g.api_token = True
    return None


def _api_refusal(message: str, status: int = 401) -> ResponseReturnValue:
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="linkgate"'
    return response


def _trusted_user(settings: Settings) -> str | None:
    """The name in the single sign-on header, when it is configured and came from a trusted proxy."""
    if not settings.admin_trusted_header:
        return None
    name = request.headers.get(settings.admin_trusted_header, "").strip()
    if not name or not is_allowed(request.remote_addr, settings.admin_trusted_proxies):
        return None
    return name


def _check_csrf() -> None:
    if request.method not in CHANGING_METHODS:
        return
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as error:
        raise CSRFError(error.args[0]) from None


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _template_context() -> dict[str, Any]:
    return {"csrf_token": generate_csrf, "account": g.get("account")}


def _csrf_error(error: CSRFError) -> ResponseReturnValue:
    message = _(
        "This form has expired or did not come from this console. Go back, reload the page and try again."
    )
    return render_template("admin/problem.html", title=_("The form could not be used"), message=message), 400


def _forbidden(error: Forbidden) -> ResponseReturnValue:
    unknown = g.get("unknown_user")
    if unknown:
        title = _("No console account")
        message = _(
            "There is no console account named %(name)s. Ask an administrator to create one "
            "(linkgate create-admin).",
            name=unknown,
        )
    else:
        title = _("Only administrators can do this")
        message = _("Your account can read the console but cannot make changes. Ask an administrator.")
    return render_template("admin/problem.html", title=title, message=message), 403


def _bad_parameter(error: BadParameter) -> ResponseReturnValue:
    message = _(
        "This address is not one the console makes: %(name)s must be %(problem)s.",
        name=error.field,
        problem=error.problem,
    )
    return render_template("admin/problem.html", title=_("This address cannot be used"), message=message), 400


def _store_unavailable(error: StoreUnavailable) -> ResponseReturnValue:
    message = _("The database cannot be reached right now, so the console cannot be used. Try again soon.")
    return render_template("admin/problem.html", title=_("The console is unavailable"), message=message), 503


# A path of the console, in printable ASCII: no space, no control character, nothing before "/admin".
_CONSOLE_PATH = re.compile(r"/admin(?:[/?#][!-~]*)?")
# What a browser or the address itself would read differently once decoded: control characters (a
# browser drops tab and newline, a header cannot hold CR or LF), backslashes (read as "/").
_UNSAFE_DECODED = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
MAX_NEXT = 2048


def _console_path(target: str | None) -> str | None:
    """The page to return to after signing in (``next``), when it is a path of this console; else None.

    The one place ``next`` is judged: it becomes a Location header, which a browser resolves, so anything
    but a plain path under ``/admin`` could lead to another site (``//evil.example``, ``/\\evil.example``,
    ``https:``) or break the header (CR, LF). The path must pass as written, and once and twice
    percent-decoded (``%0d%0a``, ``%5c``, ``%2f%2f``, ``%252e``): no control character, no backslash, no
    empty, ``.`` or ``..`` segment.
    """
    if not target or len(target) > MAX_NEXT or not _CONSOLE_PATH.fullmatch(target):
        return None
    once = unquote(target)
    for form in (target, once, unquote(once)):
        path = form.split("?", 1)[0].split("#", 1)[0]
        if not form.startswith("/admin") or _UNSAFE_DECODED.search(form):
            return None
        if "//" in path or any(segment in (".", "..") for segment in path.split("/")):
            return None
    return target


def login_policy(settings: Settings) -> LoginPolicy:
    return LoginPolicy(
        slow_after=settings.login_slow_after,
        lock_after=settings.login_lock_after,
        lock_for=timedelta(minutes=settings.login_lock_minutes),
    )


def _log_sign_in(runtime: Any, name: str, result: LoginResult) -> None:
    """One line per sign-in attempt for County IT's SIEM: its outcome and the account, never an address.
    A name with no account is not written: people type passwords into that field."""
    if result.account is not None:
        outcome = "signed_in"
    else:
        outcome = "locked" if result.locked_until is not None else "refused" if result.refused else "failed"
    # Only a name an account can have is looked up, as log_in does (PostgreSQL cannot compare text holding
    # NUL: a name with one answered 503), and as accounts are named (without case).
    normal = normalise_name(name)
    known = result.account is not None or (
        name_problem(normal) is None and runtime.store.accounts.get(normal) is not None
    )
    account = normal if known else None
    log.info(
        "sign-in %s: account %s",
        outcome,
        account if account is not None else "(no such account)",
        extra={"event": "sign_in", "outcome": outcome, "account": account},
    )


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = _console_path(request.values.get("next"))
    destination = request.script_root + target if target else url_for("admin.dashboard.index")
    if g.account is not None:
        return redirect(destination)
    runtime = get_runtime()
    errors: dict[str, str] = {}
    name = ""
    status = 200
    headers: dict[str, str] = {}
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        if not name:
            errors["name"] = _("Enter your account name.")
        if not password:
            errors["password"] = _("Enter your password.")
        if not errors:
            settings = runtime.settings
            result = log_in(runtime.store, name, password, login_policy(settings), settings.secret_key)
            _log_sign_in(runtime, name, result)
            if result.account is not None:
                session.clear()
                at = time.time()
                session.update(
                    account=result.account.name, stamp=result.account.session_stamp, since=at, seen=at
                )
                return redirect(destination)
            runtime.counts.event("login_failure")
            errors["password"] = failure_message(result, runtime.settings)
            if result.refused or result.locked_until is not None:
                status = 429
                headers["Retry-After"] = str(result.wait_seconds)
    body = render_template("admin/login.html", errors=errors, name=name, next=target or "")
    return body, status, headers


def failure_message(result: LoginResult, settings: Settings) -> str:
    if result.locked_until is not None:
        return _(
            "This account is locked for a while after too many failed sign-in attempts. "
            "Try again after %(time)s.",
            time=county_time(result.locked_until, settings.timezone),
        )
    if result.refused:
        return ngettext(
            "Too many failed sign-in attempts: wait %(num)s second, then try again.",
            "Too many failed sign-in attempts: wait %(num)s seconds, then try again.",
            result.wait_seconds,
        )
    if result.wait_seconds:
        return ngettext(
            "The name or password is not right. After several failed attempts you must wait "
            "%(num)s second before you try again.",
            "The name or password is not right. After several failed attempts you must wait "
            "%(num)s seconds before you try again.",
            result.wait_seconds,
        )
    return _("The name or password is not right.")


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign the account out everywhere: every session of it ends, on every server and in every browser."""
    get_runtime().store.accounts.end_sessions(current_account().name)
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("admin.auth.login"))
