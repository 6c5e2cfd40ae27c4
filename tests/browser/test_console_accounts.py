"""In Chromium at 320 and 1280 px: the console's confirmation pages (forget a site, revert a change,
remove an account, a Replace import that removes rules), the accounts pages, and focus moving to the
error summary after a failed submit."""

from __future__ import annotations

from typing import Any

import pytest

from linkgate.classify import make_rule
from tests.browser.conftest import NARROW, WIDE, assert_no_serious_violations
from tests.browser.console_pages import sign_in
from tests.conftest import LiveServer
from tests.console import ADMIN_PASSWORD, create_account

pytestmark = pytest.mark.browser

VIEWPORTS = pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])


def signed_in_page(new_page: Any, server: LiveServer, viewport: dict[str, int]) -> Any:
    page = new_page(viewport=viewport)
    sign_in(page, server, "admin")
    return page


def assert_fits(page: Any, viewport: dict[str, int]) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} scrolls sideways: {width} px at {viewport['width']} px"


def assert_focus_on_error_summary(page: Any) -> None:
    assert page.title().startswith("Error:"), page.title()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')"), page.evaluate(
        "document.activeElement.outerHTML.slice(0, 200)"
    )
    page.keyboard.press("Tab")  # on to the summary's first link, which leads to the field
    assert page.evaluate("document.activeElement.closest('.error-summary') !== null")


@VIEWPORTS
def test_a_failed_submit_puts_focus_on_the_error_summary(
    console: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    page = signed_in_page(new_page, console, viewport)
    page.goto(console.url + "/admin/accounts/")
    page.fill("#account-name", "focus-test")
    page.fill("#account-password", "short")
    with page.expect_navigation():
        page.click("#account-add")
    assert_focus_on_error_summary(page)
    assert "at least 12 characters" in page.inner_text(".error-summary")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "account-password"
    assert_fits(page, viewport)

    page.goto(console.url + "/admin/password")
    with page.expect_navigation():
        page.click("#own-save")
    assert_focus_on_error_summary(page)
    assert "Enter your current password." in page.inner_text(".error-summary")

    page.goto(console.url + "/admin/rules/new")
    page.fill("#rule-name", "com")
    with page.expect_navigation():
        page.click("form.admin-form button[type=submit]")
    assert_focus_on_error_summary(page)


@VIEWPORTS
def test_forget_asks_first_naming_the_link_that_will_be_lost(
    console: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    host = f"www.forget-{viewport['width']}.example.org"
    console.store().sites.set_override(host, f"https://{host}/privacy", "test")
    page = signed_in_page(new_page, console, viewport)
    page.goto(f"{console.url}/admin/sites/{host}")
    with page.expect_navigation():
        page.click("#forget")
    assert page.inner_text("h1") == f"Forget the site {host}?"
    assert f"https://{host}/privacy" in page.inner_text("#forget-override")
    assert_fits(page, viewport)
    with page.expect_navigation():
        page.click("#forget-cancel")
    assert console.store().sites.get(host) is not None
    with page.expect_navigation():
        page.click("#forget")
    with page.expect_navigation():
        page.click("#forget-confirm")
    assert f"Forgot {host}" in page.inner_text(".messages")
    assert console.store().sites.get(host) is None


@VIEWPORTS
def test_revert_shows_what_it_will_do_then_does_it(
    console: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    name = f"revert-{viewport['width']}.example"
    store = console.store()
    store.rules.add(make_rule(name, "block", note="added by mistake"), "web:admin")
    entry = store.changes.page(action="rule.add", target=name, limit=1).entries[0]
    page = signed_in_page(new_page, console, viewport)
    page.goto(f"{console.url}/admin/log/")
    with page.expect_navigation():
        page.click(f'tr[data-target="*.{name}"] a')
    assert page.inner_text("h1") == f"Change #{entry.id}"
    with page.expect_navigation():
        page.click("#revert")
    assert page.inner_text("h1") == f"Revert change #{entry.id}?"
    assert "will be removed" in page.inner_text(f'tr[data-rule="*.{name}"]')
    assert_fits(page, viewport)
    with page.expect_navigation():
        page.click("#revert-confirm")
    assert f"Reverted change #{entry.id}" in page.inner_text(".messages")
    assert page.locator("#entry-reverts").inner_text() == f"change #{entry.id}"
    assert all(rule.name != name for rule in store.rules.load()[1])


@VIEWPORTS
def test_a_refused_revert_says_why_with_focus_on_the_reason(
    console: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    name = f"refused-{viewport['width']}.example"
    store = console.store()
    saved = store.rules.add(make_rule(name, "allow"), "web:admin")
    entry = store.changes.page(action="rule.add", target=name, limit=1).entries[0]
    page = signed_in_page(new_page, console, viewport)
    page.goto(f"{console.url}/admin/log/{entry.id}/revert")
    assert saved.id is not None
    store.rules.update(saved.id, make_rule(name, "block"), "someone else")  # meanwhile
    with page.expect_navigation():
        page.click("#revert-confirm")
    assert page.evaluate("document.activeElement.id") == "revert-refused"
    assert f"The rule *.{name} was changed after this change" in page.inner_text("#revert-refused")
    assert_fits(page, viewport)


@VIEWPORTS
def test_accounts_page_adds_and_removes_an_account_after_confirmation(
    console: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    name = f"browser-{viewport['width']}"
    page = signed_in_page(new_page, console, viewport)
    page.click("nav.admin-nav >> text=Accounts")
    page.wait_for_url("**/admin/accounts/")
    assert page.locator('nav.admin-nav [aria-current="page"]').inner_text() == "Accounts"
    assert page.locator('tr[data-account="admin"]').count() == 1
    assert_fits(page, viewport)
    page.fill("#account-name", name)
    page.check("#account-role-viewer")
    page.fill("#account-password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("#account-add")
    assert f"Added the viewer account {name}." in page.inner_text(".messages")
    with page.expect_navigation():
        page.click(f'tr[data-account="{name}"] a')
    assert page.inner_text("h1") == f"Account {name}"
    assert_fits(page, viewport)
    with page.expect_navigation():
        page.click("#account-remove")
    assert page.inner_text("h1") == f"Remove the account {name}?"
    assert_fits(page, viewport)
    with page.expect_navigation():
        page.click("#remove-confirm")
    assert f"Removed the account {name}" in page.inner_text(".messages")
    assert page.locator(f'tr[data-account="{name}"]').count() == 0


@VIEWPORTS
def test_replace_import_warns_with_counts_and_needs_the_tick(
    console: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    store = console.store()
    for rule in store.rules.load()[1]:
        store.rules.remove(rule.name, rule.exact, "test")
    store.rules.add(make_rule("keep-me.example", "allow"), "test")
    store.rules.add(make_rule("scam-one.example", "block"), "test")
    store.rules.add(make_rule("scam-two.example", "block"), "test")
    page = signed_in_page(new_page, console, viewport)
    page.goto(console.url + "/admin/rules/import")
    page.fill("#import-text", "pattern,kind\n*.keep-me.example,allow\n")
    page.check("input[name=replace]")
    with page.expect_navigation():
        page.click("form[enctype] button[type=submit]")
    warning = page.inner_text("#import-removal-warning")
    assert "This import removes 2 of the 3 rules" in warning
    assert "not in the file: 2 rules. Block rules among them: 2." in warning
    assert_fits(page, viewport)
    with page.expect_navigation():
        page.click("text=Import these changes")
    assert_focus_on_error_summary(page)
    assert len(store.rules.load()[1]) == 3
    page.check("#import-confirm-removal")
    with page.expect_navigation():
        page.click("text=Import these changes")
    assert [rule.name for rule in store.rules.load()[1]] == ["keep-me.example"]


def test_a_viewer_is_shown_no_way_to_revert_or_change_accounts(console: LiveServer, new_page: Any) -> None:
    create_account(console, "browser-viewer", ADMIN_PASSWORD, role="viewer")
    entry = console.store().changes.page(action="account.add", limit=1).entries[0]
    page = new_page(viewport=NARROW)
    sign_in(page, console, "browser-viewer")
    page.goto(f"{console.url}/admin/log/{entry.id}")
    assert page.locator("#revert").count() == 0
    page.goto(console.url + "/admin/accounts/")
    assert page.locator("#account-add").count() == 0
    response = page.goto(f"{console.url}/admin/accounts/admin/remove")
    assert response is not None and response.status == 403


@VIEWPORTS
def test_the_new_pages_in_their_error_states_have_no_serious_axe_findings(
    console: LiveServer, new_page: Any, axe: Any, viewport: dict[str, int]
) -> None:
    page = new_page(viewport=viewport, bypass_csp=True)
    sign_in(page, console, "admin")
    checked: dict[str, Any] = {}
    page.goto(console.url + "/admin/accounts/")
    with page.expect_navigation():
        page.click("#account-add")
    checked["accounts with errors"] = axe(page)
    page.goto(console.url + "/admin/password")
    with page.expect_navigation():
        page.click("#own-save")
    checked["own password with errors"] = axe(page)
    page.goto(console.url + "/admin/accounts/admin")
    page.fill("#account-new-password", "short")
    with page.expect_navigation():
        page.click("#account-password-save")
    checked["account with errors"] = axe(page)
    name = f"axe-{viewport['width']}.example"
    store = console.store()
    saved = store.rules.add(make_rule(name, "allow"), "web:admin")
    entry = store.changes.page(action="rule.add", target=name, limit=1).entries[0]
    page.goto(f"{console.url}/admin/log/{entry.id}/revert")
    assert saved.id is not None
    store.rules.update(saved.id, make_rule(name, "block"), "someone else")
    with page.expect_navigation():
        page.click("#revert-confirm")
    checked["refused revert"] = axe(page)
    store.rules.add(make_rule(f"gone-{name}", "block"), "test")  # for the Replace to remove
    page.goto(console.url + "/admin/rules/import")
    page.fill("#import-text", f"pattern,kind\n*.{name},block\n")
    page.check("input[name=replace]")
    with page.expect_navigation():
        page.click("form[enctype] button[type=submit]")
    checked["replace warning"] = axe(page)
    with page.expect_navigation():
        page.click("text=Import these changes")
    checked["replace warning unticked"] = axe(page)
    for where, violations in checked.items():
        assert_no_serious_violations(violations, f"{where} at {viewport['width']} px")
