"""The console's plain words, in process: a count of one is said in the singular ("1 rule", not "1 rules"),
and a Replace import that removes every rule says so rather than "1 of the 1 rules"."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask

from linkgate.classify import make_rule
from linkgate.cli import main
from tests.conftest import signed_in_client
from tests.console import csrf_token

IMPORT = "/admin/rules/import"
CONFIRM = "/admin/rules/import/confirm"


def text_of(response: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", response.get_data(as_text=True))).split())


def confirm_fields(preview: Any) -> dict[str, str]:
    form = re.search(
        r'<form method="post" action="/admin/rules/import/confirm">(.*?)</form>',
        preview.get_data(as_text=True),
        re.S,
    )
    assert form, preview.get_data(as_text=True)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(1)))


def test_a_replace_import_that_removes_the_only_rule_says_so_in_the_singular(console_app: Flask) -> None:
    store = console_app.extensions["linkgate"].store
    store.rules.add(make_rule("only-one.example", "block"), "test")
    client = signed_in_client(console_app)
    token = csrf_token(client.get(IMPORT))
    preview = client.post(
        IMPORT,
        data={"csrf_token": token, "text": "pattern,kind\n*.kept.example,allow\n", "replace": "1"},
    )
    assert preview.status_code == 200
    shown = text_of(preview)
    assert "This import removes the only rule" in shown
    assert "not in the file: 1 rule. Block rules among them: 1." in shown
    assert "I understand that 1 rule will be removed" in shown
    assert "1 rules" not in shown and "1 of the 1" not in shown

    unticked = client.post(CONFIRM, data=confirm_fields(preview))
    assert unticked.status_code == 400
    assert "Tick the box to confirm that 1 rule will be removed, or cancel the import." in text_of(unticked)
    assert [rule.pattern for rule in store.rules.load()[1]] == ["*.only-one.example"]


def test_the_rules_pages_offer_a_few_page_numbers_however_many_pages(console_app: Flask) -> None:
    store = console_app.extensions["linkgate"].store
    store.rules.apply_import([make_rule(f"r{n:03}.example", "allow") for n in range(400)], "test")
    page = signed_in_client(console_app).get("/admin/rules/?page=8").get_data(as_text=True)
    pager = re.search(r'<nav class="pagination"[^>]*>(.*?)</nav>', page, re.S)
    assert pager, "no page links"
    numbers = re.findall(r">(\d+)</a>", pager.group(1))
    assert numbers == ["1", "6", "7", "8", "9", "10", "16"]  # of 16 pages: not all of them
    assert pager.group(1).count("…") == 2


def test_statistics_for_a_domain_no_site_can_have_say_so(console_app: Flask) -> None:
    client = signed_in_client(console_app)
    for bad in ("a\x00b.example", "exa mple.org", "<b>x</b>"):
        answer = client.get("/admin/stats/", query_string={"domain": bad})
        assert answer.status_code == 400, bad
        assert "not a domain" in text_of(answer)
        assert client.get("/admin/stats/clicks.csv", query_string={"domain": bad}).status_code == 400
    assert client.get("/admin/stats/", query_string={"domain": "Example.ORG"}).status_code == 200


def test_accounts_count_one_account_and_one_failed_sign_in_in_the_singular(console_app: Flask) -> None:
    client = signed_in_client(console_app)
    listing = text_of(client.get("/admin/accounts/"))
    assert "1 account " in listing + " " and "1 accounts" not in listing
    stranger = console_app.test_client()
    token = csrf_token(stranger.get("/admin/login"))
    stranger.post("/admin/login", data={"csrf_token": token, "name": "admin", "password": "not the password"})
    assert "1 failed sign-in since the last success" in text_of(client.get("/admin/accounts/admin"))
    listing = text_of(client.get("/admin/accounts/"))
    assert "1 failed sign-in" in listing and "1 failed sign-ins" not in listing


def test_an_entry_of_many_rules_lists_a_bounded_number_and_says_how_many(console_app: Flask) -> None:
    from linkgate.web.admin.changelog import MAX_RULES_SHOWN

    store = console_app.extensions["linkgate"].store
    many = MAX_RULES_SHOWN + 20
    store.rules.apply_import([make_rule(f"m{n:04}.example", "allow") for n in range(many)], "test")
    (entry,) = store.changes.page(action="rule.import", limit=1).entries
    client = signed_in_client(console_app)
    for path in (f"/admin/log/{entry.id}", f"/admin/log/{entry.id}/revert"):
        page = client.get(path).get_data(as_text=True)
        assert page.count("<tr data-rule=") == MAX_RULES_SHOWN, path
        shown = text_of(client.get(path))
        assert f": {many}" in shown and f"The first {MAX_RULES_SHOWN} are listed here" in shown


def test_linkgate_stats_refuses_a_domain_no_site_can_have_and_reads_one_as_counted(
    console_app: Flask, tmp_path: Path
) -> None:
    runtime = console_app.extensions["linkgate"]
    env = {
        "LINKGATE_INSTANCE": str(tmp_path / "instance"),
        "LINKGATE_DATABASE_URL": runtime.settings.database_url,
        "LINKGATE_CONFIG": "",
    }
    refused = CliRunner().invoke(main, ["stats", "--domain", "a\x00b.example"], env=env)
    assert refused.exit_code == 2
    assert "--domain: 'a\\x00b.example' is not a domain" in refused.stderr
    day = runtime.counts.today()
    runtime.store.counts.add({(day, "xn--bcher-kva.example", "notice"): 3}, {})
    found = CliRunner().invoke(main, ["stats", "--domain", "Bücher.example", "--format", "json"], env=env)
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["domain"] == "xn--bcher-kva.example"
    assert json.loads(found.stdout)["totals"]["notice"] == 3
