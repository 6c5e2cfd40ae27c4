"""Removing a site's override asks first, in process: a page (no JavaScript needed) that says what will be
lost, and the removal only on the second POST, the one that page sends with its CSRF token; viewers may
neither see the question nor remove anything."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from linkgate.accounts import create_account
from tests.conftest import signed_in_client
from tests.console import ADMIN_PASSWORD, csrf_token

HOST = "www.confirm.example.org"
SITE = f"/admin/sites/{HOST}"
PINNED = "https://www.confirm.example.org/privacy"


def store_of(app: Flask) -> Any:
    return app.extensions["linkgate"].store


def override_of(app: Flask) -> tuple[str | None, bool] | None:
    row = store_of(app).sites.get(HOST)
    return None if row is None else (row.override_url, bool(row.override_none))


def removals(app: Flask) -> int:
    return store_of(app).changes.page(action="site.remove-override", limit=50).total  # type: ignore[no-any-return]


def text_of(response: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", response.get_data(as_text=True))).split())


def token(client: FlaskClient) -> str:
    return csrf_token(client.get(SITE))  # type: ignore[arg-type]


def test_removing_a_privacy_link_set_by_hand_asks_first_saying_what_is_lost(console_app: Flask) -> None:
    store_of(console_app).sites.set_override(HOST, PINNED, "test")
    admin = signed_in_client(console_app)
    page = admin.get(SITE)
    assert 'id="remove-override"' in page.get_data(as_text=True)

    asked = admin.post(f"{SITE}/remove-override", data={"csrf_token": token(admin)})
    assert asked.status_code == 200
    words = text_of(asked)
    assert f"Remove the override of {HOST}?" in words
    assert f"The privacy link set by hand is deleted: {PINNED}. Visitors will no longer be shown it." in words
    assert 'id="remove-override-confirm"' in asked.get_data(as_text=True)
    assert f'href="{SITE}"' in asked.get_data(as_text=True)  # No, keep it: back to the site
    assert override_of(console_app) == (PINNED, False)  # nothing removed yet
    assert admin.get(f"{SITE}/remove-override").get_data() == asked.get_data()  # the same page by its address

    done = admin.post(f"{SITE}/remove-override", data={"csrf_token": token(admin), "confirmed": "1"})
    assert done.status_code == 302 and done.headers["Location"] == SITE
    assert override_of(console_app) == (None, False)
    assert removals(console_app) == 1
    assert "Removed the override of" in text_of(admin.get(SITE))


def test_removing_no_privacy_policy_set_by_hand_asks_first_too(console_app: Flask) -> None:
    store_of(console_app).sites.set_override(HOST, None, "test")
    admin = signed_in_client(console_app)
    asked = admin.post(f"{SITE}/remove-override", data={"csrf_token": token(admin)})
    assert asked.status_code == 200
    assert "What was set by hand is deleted: this site has no privacy policy." in text_of(asked)
    assert override_of(console_app) == (None, True)


def test_a_site_without_an_override_has_nothing_to_confirm(console_app: Flask) -> None:
    admin = signed_in_client(console_app)
    asked = admin.get(f"{SITE}/remove-override")
    assert asked.status_code == 200
    assert "This site has no override: there is nothing to remove." in text_of(asked)
    assert 'id="remove-override-confirm"' not in asked.get_data(as_text=True)
    assert removals(console_app) == 0


@pytest.mark.parametrize("data", [{"confirmed": "1"}, {"confirmed": "1", "csrf_token": "forged"}])
def test_the_confirmed_removal_needs_the_forms_csrf_token(console_app: Flask, data: dict[str, str]) -> None:
    store_of(console_app).sites.set_override(HOST, PINNED, "test")
    admin = signed_in_client(console_app)
    assert admin.post(f"{SITE}/remove-override", data=data).status_code == 400
    assert override_of(console_app) == (PINNED, False)


def test_viewers_may_not_see_the_question_nor_remove_an_override(console_app: Flask) -> None:
    store_of(console_app).sites.set_override(HOST, PINNED, "test")
    create_account(store_of(console_app), "reader", ADMIN_PASSWORD, "viewer", "test")
    viewer = signed_in_client(console_app, "reader")
    assert viewer.get(f"{SITE}/remove-override").status_code == 403
    refused = viewer.post(f"{SITE}/remove-override", data={"csrf_token": token(viewer), "confirmed": "1"})
    assert refused.status_code == 403
    assert override_of(console_app) == (PINNED, False)
    assert removals(console_app) == 0


def test_saying_a_site_has_no_policy_asks_first_when_it_replaces_a_privacy_link_set_by_hand(
    console_app: Flask,
) -> None:
    store_of(console_app).sites.set_override(HOST, PINNED, "test")
    admin = signed_in_client(console_app)
    asked = admin.post(f"{SITE}/no-policy", data={"csrf_token": token(admin)})
    assert asked.status_code == 200
    assert f"The privacy link set by hand is replaced: {PINNED}." in text_of(asked)
    assert override_of(console_app) == (PINNED, False)  # kept until confirmed
    assert admin.get(f"{SITE}/no-policy").get_data() == asked.get_data()  # the same page by its address
    done = admin.post(f"{SITE}/no-policy", data={"csrf_token": token(admin), "confirmed": "1"})
    assert done.status_code == 302
    assert override_of(console_app) == (None, True)


def test_saying_a_site_has_no_policy_goes_at_once_when_no_link_was_set_by_hand(console_app: Flask) -> None:
    admin = signed_in_client(console_app)
    assert admin.get(f"{SITE}/no-policy").status_code == 302  # nothing to ask: back to the site's page
    assert override_of(console_app) is None
    assert admin.post(f"{SITE}/no-policy", data={"csrf_token": token(admin)}).status_code == 302
    assert override_of(console_app) == (None, True)
