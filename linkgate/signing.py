"""Signatures for gate links: an HMAC of the parsed destination, tagged with the key's id.

A signature is ``<key id>.<mac>``. The key id lets the County rotate its secret: links signed with the
current key or any listed previous key verify; everything else is treated as unsigned. Keys used here
are derived from the secret key, so the same secret never signs two kinds of thing.

Never compare signatures with ``==``: use :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

_PURPOSE = b"linkgate link signing v1"
_MAC_BYTES = 16


def _derive(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


def key_id(secret: str) -> str:
    """A short public name for a secret, so a signature says which key made it."""
    return hashlib.sha256(b"key id:" + _derive(secret)).hexdigest()[:8]


class Signer:
    """Signs with the current secret; verifies with the current and previous ones."""

    def __init__(self, current: str, previous: Iterable[str] = ()) -> None:
        self._current_id = key_id(current)
        self._keys = {key_id(secret): _derive(secret) for secret in (*previous, current)}

    def _mac(self, key: bytes, href: str) -> str:
        digest = hmac.new(key, href.encode("utf-8"), hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, href: str) -> str:
        return f"{self._current_id}.{self._mac(self._keys[self._current_id], href)}"

    def verify(self, href: str, signature: str) -> bool:
        kid, _, mac = signature.partition(".")
        key = self._keys.get(kid)
        # The signature comes from the visitor: compare_digest raises TypeError on non-ASCII text.
        if key is None or not mac or not mac.isascii():
            return False
        return hmac.compare_digest(mac, self._mac(key, href))
