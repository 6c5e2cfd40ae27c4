"""Console accounts: password policy, argon2id hashes, and logging in with throttling kept in the database.

Never store or log a password, and never let an answer, or the time it takes, say whether the name
exists: an unknown name is checked against a dummy hash made with the same parameters as real ones, and
is slowed and locked after failures exactly as an account is (its failures kept under a keyed hash of the
name, never the name: people type passwords into that field).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from linkgate.errors import AccountError
from linkgate.store import AccountRow, SignInThrottle, Store, now

ROLES = ("admin", "viewer")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 accepts more, but a megabyte "password" is only a way to waste CPU
# Changes are recorded as "web:" + the account's name, in 128-character columns (change_log.actor,
# rules.created_by...): a longer name could sign in but its every change failed on PostgreSQL.
MAX_NAME = 124
NAME_PATTERN = re.compile(rf"[a-z0-9][a-z0-9._@+-]{{0,{MAX_NAME - 1}}}")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def normalise_name(name: str) -> str:
    """Account names are compared without case (a proxy may send ``JSmith`` for ``jsmith``)."""
    return name.strip().lower()


def name_problem(name: str) -> str | None:
    """What is wrong with an account name (None: nothing), in words the person typing it can act on."""
    if not NAME_PATTERN.fullmatch(normalise_name(name)):
        return (
            f"An account name is 1 to {MAX_NAME} letters, digits and . _ @ + -, starting with a letter or "
            "digit."
        )
    return None


def is_locked(account: AccountRow, at: datetime | None = None) -> bool:
    """True while ``account`` is locked after failed sign-ins (at ``at``, else now)."""
    return account.locked_until is not None and account.locked_until > (at or now())


def role_problem(role: str) -> str | None:
    if role not in ROLES:
        return f'A role is "admin" (makes changes) or "viewer" (reads only), not "{role}".'
    return None


def password_problem(name: str, password: str) -> str | None:
    """What is wrong with ``password`` as the password of account ``name`` (None: nothing)."""
    if len(password) < MIN_PASSWORD:
        return f"A password must be at least {MIN_PASSWORD} characters long."
    if len(password) > MAX_PASSWORD:
        return f"A password must be at most {MAX_PASSWORD} characters long."
    if password.strip().lower() == normalise_name(name):
        return "A password must not be the account name."
    return None


def check_new_account(name: str, password: str, role: str) -> str:
    """The normalised name, or :class:`AccountError` saying what is wrong with the name, password or role."""
    problem = name_problem(name) or role_problem(role) or password_problem(name, password)
    if problem is not None:
        raise AccountError(problem)
    return normalise_name(name)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash("linkgate: no such account")


def create_account(store: Store, name: str, password: str, role: str, actor: str) -> AccountRow:
    normal = check_new_account(name, password, role)
    return store.accounts.add(normal, hash_password(password), role, actor)


def set_password(store: Store, name: str, password: str, actor: str) -> AccountRow:
    """A new password (which also lifts a lock), checked by the same rules as a new account's."""
    normal = check_new_account(name, password, "viewer")
    return store.accounts.change(normal, actor, password_hash=hash_password(password))


def set_role(store: Store, name: str, role: str, actor: str) -> AccountRow:
    problem = role_problem(role)
    if problem is not None:
        raise AccountError(problem)
    return store.accounts.change(normalise_name(name), actor, role=role)


@dataclass(frozen=True)
class LoginPolicy:
    """After ``slow_after`` failures each attempt must wait (1 s, doubling, at most ``max_wait``) after
    the last; after ``lock_after`` failures the account is locked for ``lock_for``. Failures are
    forgotten ``lock_for`` after the last one (so that a name with no account need not be remembered
    longer), and when a lock runs out."""

    slow_after: int = 5
    lock_after: int = 10
    lock_for: timedelta = timedelta(minutes=15)
    max_wait: float = 60.0

    def wait_after(self, failures: int) -> float:
        if failures < self.slow_after:
            return 0.0
        return min(self.max_wait, 2.0 ** (failures - self.slow_after))


@dataclass(frozen=True)
class LoginResult:
    """``account`` when the login succeeded. ``refused``: the password was not even checked (throttled).
    ``wait_seconds``: how long until the next attempt will be checked (until the lock ends, when locked)."""

    account: AccountRow | None = None
    refused: bool = False
    wait_seconds: int = 0
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.account is not None


def name_key(secret_key: str, name: str) -> str:
    """What the throttle of names with no account is keyed by: a keyed hash of the normalised name."""
    message = b"linkgate sign-in throttle\0" + name.encode("utf-8", "surrogatepass")
    return hmac.new(secret_key.encode("utf-8", "surrogatepass"), message, hashlib.sha256).hexdigest()


def log_in(store: Store, name: str, password: str, policy: LoginPolicy, secret_key: str) -> LoginResult:
    """Check a name and password, counting failures in the database; see :class:`LoginPolicy`.

    A name with no account goes through the same steps, on a throttle of its own, with the same answers.
    """
    at = now()
    normal = normalise_name(name)
    key = name_key(secret_key, normal)
    # A name no account can have is not looked up (the same query, for "": PostgreSQL cannot compare
    # text holding NUL, and a name with one answered 503 where any other unknown name answers "not right").
    account, unknown = store.accounts.sign_in_state(normal if NAME_PATTERN.fullmatch(normal) else "", key)
    if len(password) > MAX_PASSWORD:
        account = None  # cannot match: judged as a name with no account, without hashing a megabyte twice
    state: AccountRow | SignInThrottle = (
        account if account is not None else unknown or SignInThrottle(0, None, None)
    )
    if state.locked_until is not None and state.locked_until > at:
        return LoginResult(
            refused=True, wait_seconds=_seconds_until(state.locked_until, at), locked_until=state.locked_until
        )
    fresh = state.locked_until is not None or (
        state.last_failed_at is not None and at - state.last_failed_at >= policy.lock_for
    )
    if not fresh and state.last_failed_at is not None:
        ready = state.last_failed_at + timedelta(seconds=policy.wait_after(state.failed_count))
        if at < ready:
            return LoginResult(refused=True, wait_seconds=_seconds_until(ready, at))
    if account is not None:
        failures = store.accounts.begin_attempt(account, at, fresh=fresh)
    else:
        failures = store.accounts.begin_unknown_attempt(
            key, state.failed_count, at, fresh=fresh, forget_before=at - policy.lock_for
        )
    if failures is None:  # another attempt on this name is being checked right now
        return LoginResult(refused=True, wait_seconds=1)
    if account is None:
        password_matches(_dummy_hash(), password)
    elif password_matches(account.password_hash, password):
        store.accounts.end_throttle(account.id)
        return LoginResult(account=account)
    if failures >= policy.lock_after:
        until = at + policy.lock_for
        if account is not None:
            store.accounts.lock(account, until, failures)
        else:
            store.accounts.lock_unknown(key, until)
        return LoginResult(wait_seconds=_seconds_until(until, at), locked_until=until)
    return LoginResult(wait_seconds=math.ceil(policy.wait_after(failures)))


def _seconds_until(then: datetime, at: datetime) -> int:
    return max(1, math.ceil((then - at).total_seconds()))
