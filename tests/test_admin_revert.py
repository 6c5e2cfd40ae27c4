"""Undoing changes in the console: the change log's revert (rules and sites' privacy links), the
confirmation before forgetting a site, and the warning before a Replace import removes rules."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from linkgate.classify import make_rule
from tests.console import VIEWER_PASSWORD, Browser, query, signed_in

pytestmark = pytest.mark.server

IMPORT = "/admin/rules/import"
CONFIRM = "/admin/rules/import/confirm"


def rule_state(server, name: str) -> list[tuple]:
    return query(server, "SELECT kind, action, note FROM rules WHERE name = ? ORDER BY exact", name)


def last_entry(server, action: str) -> tuple[int, str, str, dict | None, dict | None]:
    entry_id, actor, target, before, after = query(
        server,
        "SELECT id, actor, target, before, after FROM change_log WHERE action = ? ORDER BY id DESC",
        action,
    )[0]
    return (
        entry_id,
        actor,
        target,
        None if before is None else json.loads(before),
        None if after is None else json.loads(after),
    )


def rules_now(store) -> list[dict]:
    """Every rule as its JSON (a rule put back is a new row, with a new id)."""
    return [rule.as_json() for rule in store.rules.load()[1]]


def log_count(server) -> int:
    return query(server, "SELECT COUNT(*) FROM change_log")[0][0]


def revert(browser: Browser, entry_id: int) -> httpx.Response:
    """Open the revert's confirmation page, then confirm it, as a browser would."""
    page = browser.get(f"/admin/log/{entry_id}/revert")
    assert page.status_code == 200, page.text
    assert 'id="revert-confirm"' in page.text
    return browser.submit(f"/admin/log/{entry_id}/revert", {}, form_path=f"/admin/log/{entry_id}/revert")


def text_of(response: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", response.text))


def upload(browser: Browser, data: str, *, replace: bool = False) -> httpx.Response:
    fields = {"csrf_token": browser.token(IMPORT), "text": data}
    if replace:
        fields["replace"] = "1"
    return browser.request("POST", IMPORT, data=fields, files={"file": ("", b"", "application/octet-stream")})


def confirm_fields(preview: httpx.Response) -> dict[str, str]:
    form = re.search(
        r'<form method="post" action="/admin/rules/import/confirm">(.*?)</form>', preview.text, re.S
    )
    assert form, preview.text
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(1)))


# ---- reverting rules -------------------------------------------------------------------------------


def test_reverting_an_added_rule_removes_it_and_is_logged_as_a_new_entry(console):
    admin = signed_in(console)
    console.store().rules.add(make_rule("rv-add.example", "block", note="by mistake"), "web:admin")
    added_id = last_entry(console, "rule.add")[0]
    entry_page = admin.get(f"/admin/log/{added_id}")
    assert entry_page.status_code == 200
    assert f'href="/admin/log/{added_id}/revert"' in entry_page.text
    confirmation = admin.get(f"/admin/log/{added_id}/revert")
    assert "added by this change: will be removed" in text_of(confirmation)
    assert rule_state(console, "rv-add.example") == [("block", None, "by mistake")]  # asking changes nothing

    done = revert(admin, added_id)
    assert done.status_code == 302
    assert rule_state(console, "rv-add.example") == []
    revert_id, actor, target, before, after = last_entry(console, "rule.revert")
    assert done.headers["location"] == f"/admin/log/{revert_id}"
    assert (actor, target) == ("web:admin", "*.rv-add.example")
    assert before["rules"][0]["pattern"] == "*.rv-add.example" and after == {"rules": [], "reverts": added_id}
    shown = text_of(admin.get(f"/admin/log/{revert_id}"))
    assert f"Reverted change #{added_id}" in shown and f"change #{added_id}" in shown
    reverted = admin.get(f"/admin/log/{added_id}")
    assert 'id="entry-reverted-by"' in reverted.text and 'id="already-reverted"' in reverted.text


def test_reverting_a_removed_rule_puts_it_back(console):
    admin = signed_in(console)
    store = console.store()
    store.rules.add(make_rule("rv-remove.example", "block", exact=True, note="keep me"), "test")
    store.rules.remove("rv-remove.example", True, "web:admin")
    removed_id = last_entry(console, "rule.remove")[0]
    assert "removed by this change: will be put back" in text_of(admin.get(f"/admin/log/{removed_id}/revert"))
    assert revert(admin, removed_id).status_code == 302
    assert rule_state(console, "rv-remove.example") == [("block", None, "keep me")]
    assert query(console, "SELECT exact FROM rules WHERE name = 'rv-remove.example'") == [(True,)]


def test_reverting_an_edit_changes_the_rule_back_in_place(console):
    admin = signed_in(console)
    store = console.store()
    saved = store.rules.add(make_rule("rv-edit.example", "allow", note="partner"), "test")
    assert saved.id is not None
    store.rules.update(saved.id, make_rule("rv-edit.example", "block", note="now blocked"), "web:admin")
    edit_id = last_entry(console, "rule.update")[0]
    assert revert(admin, edit_id).status_code == 302
    assert rule_state(console, "rv-edit.example") == [("allow", None, "partner")]
    assert query(console, "SELECT id FROM rules WHERE name = 'rv-edit.example'") == [(saved.id,)]


def test_a_rename_is_reverted_to_the_old_name(console):
    admin = signed_in(console)
    store = console.store()
    saved = store.rules.add(make_rule("rv-old-name.example", "allow"), "test")
    assert saved.id is not None
    store.rules.update(saved.id, make_rule("rv-new-name.example", "allow"), "web:admin")
    assert revert(admin, last_entry(console, "rule.update")[0]).status_code == 302
    assert rule_state(console, "rv-old-name.example") == [("allow", None, "")]
    assert rule_state(console, "rv-new-name.example") == []


def test_an_import_is_one_entry_that_opens_to_its_rules_and_reverts_whole(console):
    admin = signed_in(console)
    store = console.store()
    store.rules.add(make_rule("rv-imp-changed.example", "allow", note="before"), "test")
    store.rules.add(make_rule("rv-imp-kept.example", "allow"), "test")
    rules_before = rules_now(store)
    log_before = log_count(console)
    export = admin.get("/admin/rules/export.csv").text.splitlines()
    lines = [line for line in export if "rv-imp-changed" not in line]
    lines += ["*.rv-imp-changed.example,false,block,,after", "*.rv-imp-new.example,false,allow,,"]
    preview = upload(admin, "\r\n".join(lines) + "\r\n")
    assert admin.post(CONFIRM, confirm_fields(preview)).status_code == 302
    assert log_count(console) == log_before + 1  # one import, one entry
    import_id, actor, target, before, after = last_entry(console, "rule.import")
    assert actor == "web:admin" and target == "rules file: 1 added, 1 changed, 0 removed"
    assert [rule["pattern"] for rule in before["rules"]] == ["*.rv-imp-changed.example"]
    assert sorted(rule["pattern"] for rule in after["rules"]) == [
        "*.rv-imp-changed.example",
        "*.rv-imp-new.example",
    ]

    listing = admin.get("/admin/log/?area=rule")
    row = listing.text.split('data-action="rule.import"')[1].split("</tr>")[0]
    assert f'href="/admin/log/{import_id}"' in row
    assert "Rules added</span>" in row and "Rules changed</span>" in row
    opened = admin.get(f"/admin/log/{import_id}")
    rows = dict(re.findall(r'<tr data-rule="([^"]+)" data-change="(\w+)">', opened.text))
    assert rows == {"*.rv-imp-changed.example": "changed", "*.rv-imp-new.example": "added"}
    assert "before</del>" in opened.text and "after</ins>" in opened.text

    assert revert(admin, import_id).status_code == 302
    assert rules_now(store) == rules_before
    assert last_entry(console, "rule.revert")[4]["reverts"] == import_id


def test_reverting_a_replace_import_puts_back_every_rule_it_removed(console):
    admin = signed_in(console)
    store = console.store()
    store.rules.add(make_rule("rv-rep-gone.example", "block", note="scam"), "test")
    store.rules.add(make_rule("rv-rep-kept.example", "allow"), "test")  # the file is never empty
    rules_before = rules_now(store)
    export = admin.get("/admin/rules/export.csv").text.splitlines()
    kept = [line for line in export if "rv-rep-gone" not in line]
    preview = upload(admin, "\r\n".join(kept) + "\r\n", replace=True)
    assert admin.post(CONFIRM, {**confirm_fields(preview), "confirm_removal": "1"}).status_code == 302
    assert rule_state(console, "rv-rep-gone.example") == []
    import_id = last_entry(console, "rule.import")[0]
    assert revert(admin, import_id).status_code == 302
    assert rules_now(store) == rules_before


def test_a_revert_is_refused_when_the_rule_changed_since_and_changes_nothing(console):
    admin = signed_in(console)
    store = console.store()
    saved = store.rules.add(make_rule("rv-stale.example", "allow"), "web:admin")
    added_id = last_entry(console, "rule.add")[0]
    assert saved.id is not None
    store.rules.update(saved.id, make_rule("rv-stale.example", "block", note="later"), "someone else")
    version, before = store.rules.load()
    log_before = log_count(console)
    refused = revert(admin, added_id)
    assert refused.status_code == 409
    shown = text_of(refused)
    assert "The rule *.rv-stale.example was changed after this change" in shown
    assert 'now a block rule, note "later"' in shown and "Nothing was changed." in shown
    assert refused.text.count('class="error-summary"') == 1
    assert "<title>Error:" in refused.text
    assert store.rules.load() == (version, before) and log_count(console) == log_before


def test_a_revert_is_refused_when_the_rule_is_gone_or_is_back(console):
    admin = signed_in(console)
    store = console.store()
    store.rules.add(make_rule("rv-gone.example", "allow"), "test")
    store.rules.remove("rv-gone.example", False, "test")
    added_id = query(
        console,
        "SELECT id FROM change_log WHERE action = 'rule.add' AND target = '*.rv-gone.example'",
    )[0][0]
    removed_id = last_entry(console, "rule.remove")[0]
    store.rules.add(make_rule("rv-gone.example", "block"), "test")  # a new rule in its place
    assert "was removed after this change" not in text_of(revert(admin, removed_id))
    assert "There is a rule for *.rv-gone.example again" in text_of(revert(admin, removed_id))
    store.rules.remove("rv-gone.example", False, "test")
    gone = revert(admin, added_id)
    assert gone.status_code == 409
    assert "The rule *.rv-gone.example was removed after this change" in text_of(gone)


def test_a_revert_can_itself_be_reverted(console):
    admin = signed_in(console)
    console.store().rules.add(make_rule("rv-twice.example", "block"), "test")
    added_id = last_entry(console, "rule.add")[0]
    assert revert(admin, added_id).status_code == 302
    revert_id = last_entry(console, "rule.revert")[0]
    assert revert(admin, revert_id).status_code == 302
    assert rule_state(console, "rv-twice.example") == [("block", None, "")]


# ---- reverting sites' privacy links ------------------------------------------------------------------


def override_of(server, host: str) -> list[tuple]:
    return query(server, "SELECT override_url, override_none FROM sites WHERE host = ?", host)


def test_reverting_a_privacy_link_set_by_hand_and_its_removal(console):
    admin = signed_in(console)
    sites = console.store().sites
    host = "www.rv-site.example.org"
    sites.set_override(host, "https://www.rv-site.example.org/first", "test")
    sites.set_override(host, "https://www.rv-site.example.org/second", "web:admin")
    set_id = last_entry(console, "site.override")[0]
    confirmation = text_of(admin.get(f"/admin/log/{set_id}/revert"))
    assert "Privacy link set by hand: https://www.rv-site.example.org/second" not in confirmation
    assert "https://www.rv-site.example.org/first" in confirmation
    assert revert(admin, set_id).status_code == 302
    assert override_of(console, host) == [("https://www.rv-site.example.org/first", False)]
    revert_id, _actor, target, before, after = last_entry(console, "site.revert")
    assert target == host
    assert before == {"override_url": "https://www.rv-site.example.org/second", "override_none": False}
    assert after == {
        "override_url": "https://www.rv-site.example.org/first",
        "override_none": False,
        "reverts": set_id,
    }

    sites.remove_override(host, "web:admin")
    cleared_id = last_entry(console, "site.remove-override")[0]
    assert revert(admin, cleared_id).status_code == 302
    assert override_of(console, host) == [("https://www.rv-site.example.org/first", False)]
    revert_page = admin.get(f"/admin/log/{revert_id}")
    assert f'href="/admin/log/{set_id}" id="entry-reverts"' in revert_page.text
    assert f"Reverts change: #{set_id}" in " ".join(text_of(revert_page).split())
    assert "override_url" not in revert_page.text and "reverts:" not in revert_page.text


def test_reverting_forget_puts_the_privacy_link_set_by_hand_back(console):
    admin = signed_in(console)
    sites = console.store().sites
    host = "www.rv-forget.example.org"
    sites.set_override(host, None, "test")  # "no privacy policy", by hand
    sites.clear(host, "web:admin")
    forget_id = last_entry(console, "site.clear")[0]
    assert override_of(console, host) == []
    assert revert(admin, forget_id).status_code == 302
    assert override_of(console, host) == [(None, True)]


def test_a_site_revert_is_refused_when_the_link_changed_since(console):
    admin = signed_in(console)
    sites = console.store().sites
    host = "www.rv-site-stale.example.org"
    sites.set_override(host, "https://www.rv-site-stale.example.org/a", "web:admin")
    set_id = last_entry(console, "site.override")[0]
    sites.set_override(host, "https://www.rv-site-stale.example.org/b", "someone else")
    log_before = log_count(console)
    refused = revert(admin, set_id)
    assert refused.status_code == 409
    assert (
        f"The privacy link of {host} was changed after this change (now: the privacy link "
        "https://www.rv-site-stale.example.org/b, set by hand)"
    ) in text_of(refused)
    assert override_of(console, host) == [("https://www.rv-site-stale.example.org/b", False)]
    assert log_count(console) == log_before


def test_account_changes_and_a_forget_without_an_override_offer_no_revert(console):
    admin = signed_in(console)
    add_id = query(console, "SELECT id FROM change_log WHERE action = 'account.add' ORDER BY id")[0][0]
    assert 'id="revert"' not in admin.get(f"/admin/log/{add_id}").text
    page = admin.get(f"/admin/log/{add_id}/revert")
    assert "Only changes to rules and to sites' privacy links can be reverted." in text_of(page)
    assert 'id="revert-confirm"' not in page.text
    refused = admin.post(f"/admin/log/{add_id}/revert", {"csrf_token": admin.token(f"/admin/log/{add_id}")})
    assert refused.status_code == 409
    assert admin.get("/admin/log/999999").status_code == 404
    assert admin.get("/admin/log/999999/revert").status_code == 404


# ---- who may revert ---------------------------------------------------------------------------------


def test_a_viewer_sees_entries_but_cannot_revert(console):
    console.store().rules.add(make_rule("rv-viewer.example", "block"), "test")
    added_id = last_entry(console, "rule.add")[0]
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    page = viewer.get(f"/admin/log/{added_id}")
    assert page.status_code == 200 and 'id="revert"' not in page.text
    assert viewer.get(f"/admin/log/{added_id}/revert").status_code == 403
    token = viewer.token(f"/admin/log/{added_id}")
    refused = viewer.post(f"/admin/log/{added_id}/revert", {"csrf_token": token})
    assert refused.status_code == 403
    assert rule_state(console, "rv-viewer.example") == [("block", None, "")]


def test_a_revert_needs_the_forms_csrf_token(console):
    console.store().rules.add(make_rule("rv-csrf.example", "block"), "test")
    added_id = last_entry(console, "rule.add")[0]
    admin = signed_in(console)
    for data in ({}, {"csrf_token": "forged"}):
        assert admin.post(f"/admin/log/{added_id}/revert", data).status_code == 400
    assert rule_state(console, "rv-csrf.example") == [("block", None, "")]


# ---- forgetting a site asks first --------------------------------------------------------------------


def test_forget_asks_first_saying_what_will_be_lost(console):
    admin = signed_in(console)
    host = "www.rv-ask.example.org"
    console.store().sites.set_override(host, "https://www.rv-ask.example.org/privacy", "test")
    site_page = f"/admin/sites/{host}"
    first = admin.post(f"{site_page}/forget", {"csrf_token": admin.token(site_page)})
    assert first.status_code == 200
    asked = text_of(first)
    assert f"Forget the site {host}?" in asked
    assert "The privacy link set by hand: https://www.rv-ask.example.org/privacy" in asked
    assert override_of(console, host) == [("https://www.rv-ask.example.org/privacy", False)]
    assert admin.get(f"{site_page}/forget").text == first.text  # the same page, by its address
    done = admin.post(f"{site_page}/forget", {"csrf_token": admin.token(site_page), "confirmed": "1"})
    assert done.status_code == 302
    assert override_of(console, host) == []


def test_forget_confirmation_is_for_administrators_and_needs_csrf(console):
    host = "www.rv-ask-viewer.example.org"
    console.store().sites.set_override(host, None, "test")
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    assert viewer.get(f"/admin/sites/{host}/forget").status_code == 403
    admin = signed_in(console)
    assert admin.post(f"/admin/sites/{host}/forget", {"confirmed": "1"}).status_code == 400
    assert override_of(console, host) == [(None, True)]


# ---- a Replace import that removes rules warns and asks for a tick ------------------------------------


def test_replace_import_names_how_many_rules_and_block_rules_it_removes(console):
    admin = signed_in(console)
    store = console.store()
    for name, kind in (("rv-w1.example", "block"), ("rv-w2.example", "block"), ("rv-w3.example", "allow")):
        store.rules.add(make_rule(name, kind), "test")
    current = len(store.rules.load()[1])
    blocks = sum(1 for rule in store.rules.load()[1] if rule.kind == "block")
    preview = upload(
        admin, "pattern,exact,kind,action,note\r\n*.rv-w-only.example,false,allow,,\r\n", replace=True
    )
    assert preview.status_code == 200
    shown = text_of(preview)
    assert f"This import removes all {current} rules" in shown
    assert f"not in the file: {current} rules. Block rules among them: {blocks}." in shown
    assert 'name="confirm_removal"' in preview.text

    unticked = admin.post(CONFIRM, confirm_fields(preview))
    assert unticked.status_code == 400
    assert "Tick the box to confirm that" in text_of(unticked)
    assert 'href="#import-confirm-removal"' in unticked.text and "<title>Error:" in unticked.text
    assert len(store.rules.load()[1]) == current  # nothing removed
    ticked = admin.post(CONFIRM, {**confirm_fields(unticked), "confirm_removal": "1"})
    assert ticked.status_code == 302
    assert [rule.name for rule in store.rules.load()[1]] == ["rv-w-only.example"]
    revert(admin, last_entry(console, "rule.import")[0])  # and back, for the module's other tests
    assert len(store.rules.load()[1]) == current


def test_an_import_that_adds_only_needs_no_tick(console):
    admin = signed_in(console)
    preview = upload(admin, "pattern,exact,kind,action,note\r\n*.rv-add-only.example,false,allow,,\r\n")
    assert 'name="confirm_removal"' not in preview.text
    assert admin.post(CONFIRM, confirm_fields(preview)).status_code == 302


# ---- the store's revert -----------------------------------------------------------------------------


def test_a_revert_moves_the_rules_version_on_and_cannot_be_made_twice(store):
    from linkgate.errors import RevertRefused

    store.rules.add(make_rule("rv-store.example", "block"), "test")
    (added,) = store.changes.page(action="rule.add", limit=1).entries
    version = store.rules.version()
    done = store.changes.revert(added.id, "web:admin")
    assert (done.action, done.target, done.after) == (
        "rule.revert",
        "*.rv-store.example",
        {"rules": [], "reverts": added.id},
    )
    assert store.rules.version() == version + 1  # every worker reloads its rules
    assert store.changes.reverted_by(added.id) == done
    assert store.changes.reverted_by(done.id) is None
    with pytest.raises(RevertRefused, match="was removed after this change"):
        store.changes.revert(added.id, "web:admin")
    assert store.rules.version() == version + 1 and store.changes.page().total == 2
