"""The exceptions linkgate raises, each with a message a visitor or webmaster can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # classify raises these errors, so it is imported for its types only
    from linkgate.classify import Rule


class LinkgateError(Exception):
    """Base class: ``str(error)`` is a complete sentence fit to show a person."""


class InvalidDestination(LinkgateError, ValueError):
    """A destination URL that linkgate will not send anyone to.

    ``reason`` names the problem (``missing``, ``several``, ``too_long``, ``relative``, ``invalid``,
    ``scheme``; ``host_too_long``, ``label_too_long``, ``empty_label`` for a name DNS cannot hold) and
    ``params`` its details, so the web layer can say it in the visitor's language; ``str()`` is English.
    """

    def __init__(self, message: str, reason: str = "invalid", **params: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params


class ConfigError(LinkgateError):
    """The configuration is invalid; the message names the key and what is wrong with it."""


class RuleError(LinkgateError, ValueError):
    """A rule that cannot be stored: a public suffix, a duplicate, a bad name or action."""


class DuplicateRule(RuleError):
    """A rule for the same name and scope is already kept: :attr:`existing` (with its id), so the console
    can link to it and the command line name it."""

    def __init__(self, existing: Rule) -> None:
        article = "an" if existing.kind == "allow" else "a"
        super().__init__(
            f"There is already {article} {existing.kind} rule for {existing.pattern}; edit or remove that "
            "rule instead."
        )
        self.existing = existing


class StoreUnavailable(LinkgateError):
    """The database cannot be reached or read right now."""


class SchemaTooNew(LinkgateError):
    """The database was migrated by a newer linkgate than this one (a rollback without a restore): no
    command of this version may use it. Commands exit with :data:`SCHEMA_TOO_NEW_STATUS`."""

    def __init__(self, found: str, known: str) -> None:
        super().__init__(
            f"the database is newer than this version of linkgate (revision {found}, this code knows up to "
            f"{known}): install the newer version or restore the backup taken before the upgrade"
        )
        self.found = found
        self.known = known


# The exit status of every command, and of a server, that finds the database newer than its code: distinct
# from 2 (bad input) and 1 (a check that found problems), and named in the systemd unit's
# RestartPreventExitStatus, so that a rolled-back server is not restarted every two seconds.
SCHEMA_TOO_NEW_STATUS = 5


class StoreRefused(LinkgateError):
    """The database refused what it was given (a value too long or out of range, a broken constraint):
    unlike :class:`StoreUnavailable`, the same write will fail again, so the caller drops it."""


class AccountError(LinkgateError, ValueError):
    """An account that cannot be created or changed: a bad name or role, a weak password, a duplicate."""


class RevertRefused(LinkgateError):
    """A change-log entry that cannot be reverted: nothing in it can be undone, or what it changed has
    changed again since (the message says what and how)."""
