"""Signed gate links: HMAC of the parsed destination, tagged with a key id so keys can rotate."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkgate.signing import Signer, key_id

pytestmark = pytest.mark.database_free

SECRET = "correct horse battery staple"
OLD_SECRET = "old secret from last year"
HREF = "https://www.partner.example/path?q=1"


def test_signature_verifies_for_the_same_href() -> None:
    signer = Signer(SECRET)
    assert signer.verify(HREF, signer.sign(HREF))


def test_signature_has_key_id_and_mac() -> None:
    signature = Signer(SECRET).sign(HREF)
    assert re.fullmatch(r"[0-9a-f]{8}\.[A-Za-z0-9_-]{22}", signature)
    assert signature.split(".")[0] == key_id(SECRET)
    assert SECRET not in signature


def test_signature_is_stable_across_releases() -> None:
    # Links signed by earlier releases sit in published County pages: they must keep verifying.
    assert key_id(SECRET) == "51bf1f41"
    assert Signer(SECRET).sign(HREF) == "51bf1f41.y7E1_u53RtQrdXa_f3m8pA"


@pytest.mark.parametrize(
    "other_href",
    [
        "https://www.partner.example/path?q=2",
        "https://www.partner.example/path?q=1#x",
        "https://www.partner.example/Path?q=1",
        "http://www.partner.example/path?q=1",
        "https://evil.example/path?q=1",
        "https://www.partner.example/path?q=1/",
        "",
    ],
)
def test_signature_does_not_verify_for_another_href(other_href: str) -> None:
    signer = Signer(SECRET)
    assert not signer.verify(other_href, signer.sign(HREF))


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize("index", [0, 5, 9, 15, -1])
def test_tampered_signature_does_not_verify(index: int) -> None:
    signer = Signer(SECRET)
    signature = signer.sign(HREF)
    assert not signer.verify(HREF, _flip(signature, index % len(signature)))


@pytest.mark.parametrize(
    "signature",
    [
        "",
        ".",
        "51bf1f41",
        "51bf1f41.",
        "51bf1f41.y7E1_u53RtQrdXa_f3m8p",
        "51bf1f41.y7E1_u53RtQrdXa_f3m8pA.",
        "51bf1f41.y7E1_u53RtQrdXa_f3m8pA=",
        "51BF1F41.y7E1_u53RtQrdXa_f3m8pA",
        ".y7E1_u53RtQrdXa_f3m8pA",
        "51bf1f41.é",
        "51bf1f41.y7E1_u53RtQrdXa_f3m8pé",
        "é.y7E1_u53RtQrdXa_f3m8pA",
        "51bf1f41.\x00",
        "51bf1f41." + "A" * 10_000,
    ],
)
def test_malformed_signature_is_refused_without_error(signature: str) -> None:
    assert Signer(SECRET).verify(HREF, signature) is False


def test_signature_with_an_unknown_key_id_is_refused() -> None:
    forged = Signer("some other secret").sign(HREF)
    assert not Signer(SECRET).verify(HREF, forged)
    # The right key id does not help a mac made with another key.
    _, mac = forged.split(".")
    assert not Signer(SECRET).verify(HREF, f"{key_id(SECRET)}.{mac}")


def test_rotation_accepts_the_previous_key_and_signs_with_the_current_one() -> None:
    old_signature = Signer(OLD_SECRET).sign(HREF)
    rotated = Signer(SECRET, previous=[OLD_SECRET])
    assert rotated.verify(HREF, old_signature)
    new_signature = rotated.sign(HREF)
    assert new_signature.startswith(key_id(SECRET) + ".")
    assert rotated.verify(HREF, new_signature)
    assert not Signer(OLD_SECRET).verify(HREF, new_signature)


def test_rotation_refuses_a_key_that_was_dropped() -> None:
    old_signature = Signer(OLD_SECRET).sign(HREF)
    assert not Signer(SECRET).verify(HREF, old_signature)
    assert not Signer(SECRET, previous=["yet another secret"]).verify(HREF, old_signature)


def test_previous_key_mac_under_the_current_key_id_is_refused() -> None:
    _, old_mac = Signer(OLD_SECRET).sign(HREF).split(".")
    rotated = Signer(SECRET, previous=[OLD_SECRET])
    assert not rotated.verify(HREF, f"{key_id(SECRET)}.{old_mac}")


def test_key_id_is_stable_and_distinguishes_secrets() -> None:
    assert key_id(SECRET) == key_id(SECRET)
    assert key_id(SECRET) != key_id(OLD_SECRET)
    assert re.fullmatch(r"[0-9a-f]{8}", key_id(SECRET))
    assert Signer(SECRET).sign(HREF) == Signer(SECRET, previous=[OLD_SECRET]).sign(HREF)


@settings(max_examples=100, deadline=None)
@given(href=st.text(st.characters(codec="utf-8"), max_size=200), signature=st.text(max_size=60))
def test_verify_never_raises_and_only_accepts_real_signatures(href: str, signature: str) -> None:
    signer = Signer(SECRET)
    assert signer.verify(href, signer.sign(href))
    assert signer.verify(href, signature) is (signature == signer.sign(href))
