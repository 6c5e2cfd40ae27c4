"""The exceptions linkgate raises, each with a message a visitor or webmaster can act on."""

from __future__ import annotations


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


class StoreUnavailable(LinkgateError):
    """The database cannot be reached or read right now."""


class StoreRefused(LinkgateError):
    """The database refused what it was given (a value too long or out of range, a broken constraint):
    unlike :class:`StoreUnavailable`, the same write will fail again, so the caller drops it."""


class AccountError(LinkgateError, ValueError):
    """An account that cannot be created or changed: a bad name or role, a weak password, a duplicate."""
