"""Console accounts in the console: the list, and an administrator's changes to them (add, remove, role,
a new password, unlock); everyone's own password, with the current one.

The rules are those of the command line, in one place (:mod:`linkgate.accounts`: names, roles, password
length, argon2id; :mod:`linkgate.store.accounts`: the last administrator kept, every change logged and
ending the account's sessions). Never show or log a password or its hash. A change to one's own account
keeps this session (it takes the account's new session stamp); every other session of it ends. The
current password asked for a change of one's own is checked as a sign-in is, with its throttle: a session
left open is not a way to guess it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from linkgate.accounts import (
    MIN_PASSWORD,
    ROLES,
    create_account,
    is_locked,
    log_in,
    name_problem,
    normalise_name,
    password_problem,
    role_problem,
    set_password,
    set_role,
)
from linkgate.errors import AccountError
from linkgate.store import AccountRow
from linkgate.web.admin.auth import actor, admin_required, current_account, failure_message, login_policy
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("accounts", __name__)

ADD_FIELDS = {"name": "account-name", "role": "account-role-admin", "password": "account-password"}
OWN_FIELDS = {
    "current": "own-current",
    "password": "own-password",
    "again": "own-again",
}


def _account_or_404(name: str) -> AccountRow:
    # A name no account can have is not looked up: PostgreSQL cannot compare text holding NUL (a 503).
    if name_problem(name) is not None:
        abort(404)
    account = get_runtime().store.accounts.get(normalise_name(name))
    if account is None:
        abort(404)
    return account


def _keep_session(changed: AccountRow) -> None:
    """A change to one's own account gives it a new session stamp; this session takes it and goes on."""
    if changed.name == current_account().name:
        session["stamp"] = changed.session_stamp


def _render_list(
    errors: dict[str, str] | None = None, typed: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "admin/accounts.html",
        accounts=get_runtime().store.accounts.all(),
        is_locked=is_locked,
        errors=errors or {},
        typed=typed or {"name": "", "role": "viewer"},
        roles=ROLES,
        min_password=MIN_PASSWORD,
        fields=ADD_FIELDS,
    ), status


@blueprint.get("/accounts/")
def index() -> ResponseReturnValue:
    """Every account with its role and lock; any signed-in account may read it, as it may the log."""
    return _render_list()


@blueprint.post("/accounts/")
@admin_required
def add() -> ResponseReturnValue:
    typed = {"name": request.form.get("name", "").strip()[:200], "role": request.form.get("role", "")}
    password = request.form.get("password", "")
    errors = _problems(
        name=name_problem(typed["name"]) if typed["name"] else _("Enter a name for the account."),
        role=role_problem(typed["role"]),
        password=password_problem(typed["name"], password) if password else _("Enter a password."),
    )
    if not errors:
        try:
            made = create_account(get_runtime().store, typed["name"], password, typed["role"], actor())
        except AccountError as error:
            errors["name"] = str(error)
        else:
            flash(_("Added the %(role)s account %(name)s.", role=made.role, name=made.name), "success")
            return redirect(url_for("admin.accounts.index"))
    return _render_list(errors, typed, 400)


def _render_account(
    account: AccountRow, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "admin/account.html",
        shown=account,
        locked=is_locked(account),
        errors=errors or {},
        roles=ROLES,
        min_password=MIN_PASSWORD,
    ), status


@blueprint.get("/accounts/<name>")
def account(name: str) -> ResponseReturnValue:
    return _render_account(_account_or_404(name))


@blueprint.post("/accounts/<name>/role")
@admin_required
def role(name: str) -> ResponseReturnValue:
    shown = _account_or_404(name)
    chosen = request.form.get("role", "")
    if chosen == shown.role:
        flash(_("%(name)s already has the role %(role)s.", name=shown.name, role=chosen), "info")
        return redirect(url_for("admin.accounts.account", name=shown.name))
    try:
        changed = set_role(get_runtime().store, shown.name, chosen, actor())
    except AccountError as error:
        return _render_account(shown, {"role": str(error)}, 400)
    _keep_session(changed)
    flash(_("%(name)s now has the role %(role)s.", name=changed.name, role=changed.role), "success")
    return redirect(url_for("admin.accounts.account", name=changed.name))


@blueprint.post("/accounts/<name>/password")
@admin_required
def reset_password(name: str) -> ResponseReturnValue:
    """A new password set by an administrator (also lifts a lock); the account is signed out everywhere."""
    shown = _account_or_404(name)
    password = request.form.get("password", "")
    problem = password_problem(shown.name, password) if password else _("Enter the new password.")
    if problem is not None:
        return _render_account(shown, {"password": problem}, 400)
    changed = set_password(get_runtime().store, shown.name, password, actor())
    _keep_session(changed)
    flash(
        _(
            "Set a new password for %(name)s. Give it to them in person or by phone, not by email.",
            name=shown.name,
        ),
        "success",
    )
    return redirect(url_for("admin.accounts.account", name=changed.name))


@blueprint.post("/accounts/<name>/unlock")
@admin_required
def unlock(name: str) -> ResponseReturnValue:
    shown = _account_or_404(name)
    if not is_locked(shown) and not shown.failed_count:
        flash(_("%(name)s was not locked.", name=shown.name), "info")
        return redirect(url_for("admin.accounts.account", name=shown.name))
    changed = get_runtime().store.accounts.change(shown.name, actor(), unlock=True)
    _keep_session(changed)
    flash(_("Unlocked %(name)s: they can sign in again now.", name=shown.name), "success")
    return redirect(url_for("admin.accounts.account", name=shown.name))


@blueprint.route("/accounts/<name>/remove", methods=["GET", "POST"])
@admin_required
def remove(name: str) -> ResponseReturnValue:
    """Ask first (GET, or a POST without ``confirmed``); remove on the confirmation's POST."""
    shown = _account_or_404(name)
    if request.method == "GET" or request.form.get("confirmed") != "1":
        return render_template("admin/account_remove.html", shown=shown, errors={})
    try:
        get_runtime().store.accounts.remove(shown.name, actor())
    except AccountError as error:
        return render_template("admin/account_remove.html", shown=shown, errors={"remove": str(error)}), 409
    flash(_("Removed the account %(name)s; it was signed out everywhere.", name=shown.name), "success")
    if shown.name == current_account().name:
        session.clear()
        return redirect(url_for("admin.auth.login"))
    return redirect(url_for("admin.accounts.index"))


@blueprint.route("/password", methods=["GET", "POST"])
def own_password() -> ResponseReturnValue:
    """Anyone's own password, with the current one; every other session of the account ends."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        me = current_account()
        current = request.form.get("current", "")
        password = request.form.get("password", "")
        again = request.form.get("again", "")
        errors = _problems(
            current=None if current else _("Enter your current password."),
            password=password_problem(me.name, password) if password else _("Enter a new password."),
            again=None if again == password else _("Type the same new password twice."),
        )
        if not errors:
            runtime = get_runtime()
            settings = runtime.settings
            checked = log_in(runtime.store, me.name, current, login_policy(settings), settings.secret_key)
            if not checked.ok:
                runtime.counts.event("login_failure")
                errors["current"] = (
                    failure_message(checked, settings)
                    if checked.refused or checked.locked_until is not None
                    else _("The current password is not right.")
                )
            else:
                changed = set_password(runtime.store, me.name, password, actor())
                _keep_session(changed)
                flash(_("Your password is changed. Your other sessions were signed out."), "success")
                return redirect(url_for("admin.dashboard.index"))
    return render_template(
        "admin/account_password.html", errors=errors, fields=OWN_FIELDS, min_password=MIN_PASSWORD
    ), (400 if errors else 200)


def _problems(**found: Any) -> dict[str, str]:
    """The fields that have a problem, each with its message."""
    return {key: str(message) for key, message in found.items() if message}
