"""Rules that must never be kept, refused the same way everywhere rules come in, in process: the console's
form, ``linkgate allow``/``block``/``rules add``, a CSV import from the console and the command line, and
the JSON API (which has no way to write a rule at all).

A County domain or a host under one is never blocked or put behind the notice (an allow rule there is
not needed and refused too); a name that is on no public suffix is not a site; a pasted web address gives
its host; a duplicate names (and in the console links to) the rule already kept.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from linkgate.accounts import create_account
from linkgate.classify import Rule, make_rule
from linkgate.cli import main
from linkgate.web.app_runtime import WebRuntime
from tests.conftest import signed_in_client
from tests.console import ADMIN_PASSWORD, csrf_token

COUNTY = "missoulacounty.us,co.missoula.mt.us"
GOOD = {"name": "", "scope": "domain", "kind": "block", "action": "", "note": ""}


@pytest.fixture
def app(console_app: Flask) -> Flask:
    return console_app


def store_of(app: Flask) -> Any:
    return app.extensions["linkgate"].store


def admin(app: Flask) -> FlaskClient:
    return signed_in_client(app)  # type: ignore[no-any-return]


def submit_rule(client: FlaskClient, **values: str) -> Any:
    token = csrf_token(client.get("/admin/rules/new"))  # type: ignore[arg-type]
    return client.post("/admin/rules/new", data={"csrf_token": token, **GOOD, **values})


def field_error(response: Any) -> str:
    found = re.search(
        r'<p class="field-error" id="rule-name-error">(.*?)</p>', response.get_data(as_text=True), re.S
    )
    assert found, "no error next to the name"
    shown = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", found.group(1))
    return html.unescape(re.sub(r"<[^>]+>", "", shown)).strip()


def names(app: Flask) -> list[str]:
    return [rule.pattern for rule in store_of(app).rules.load()[1]]


REFUSED = [
    ({"name": "missoulacounty.us"}, "is a County address (under the County domain missoulacounty.us)"),
    ({"name": "www.missoulacounty.us", "scope": "exact"}, "may not block the County's own pages"),
    ({"name": "gis.co.missoula.mt.us"}, "under the County domain co.missoula.mt.us"),
    ({"name": "missoula.mt.us"}, "*.missoula.mt.us covers the County domain co.missoula.mt.us"),
    ({"name": "www.missoulacounty.us", "kind": "allow", "action": "notice"}, "may not put the notice"),
    ({"name": "missoulacounty.us", "kind": "allow"}, "an allow rule is not needed"),
    ({"name": "https://www.missoulacounty.us/parks"}, "www.missoulacounty.us is a County address"),
    ({"name": "xxxxxxxxxx", "kind": "allow"}, '"xxxxxxxxxx" is not a name on the internet'),
    ({"name": "printer.lan"}, "does not end in a known top-level domain"),
    ({"name": "https://exa mple.org/"}, "neither a host name nor a web address"),
]


@pytest.mark.parametrize(("values", "message"), REFUSED)
def test_the_console_refuses_a_rule_that_touches_the_county_or_names_no_site(app, values, message):
    response = submit_rule(admin(app), **values)
    assert response.status_code == 400
    assert message in field_error(response)
    assert "There is a problem" in response.get_data(as_text=True)
    assert names(app) == []


def test_the_console_keeps_an_exact_rule_beside_a_county_domain_and_an_allow_above_it(app):
    client = admin(app)
    assert submit_rule(client, name="missoula.mt.us", scope="exact").status_code == 302
    assert submit_rule(client, name="ci.missoula.mt.us", kind="allow").status_code == 302
    assert submit_rule(client, name="mt.gov", kind="allow", scope="domain").status_code == 302
    assert sorted(names(app)) == ["*.ci.missoula.mt.us", "*.mt.gov", "missoula.mt.us"]


def test_a_pasted_address_gives_its_host_and_the_console_says_so(app):
    client = admin(app)
    response = submit_rule(client, name="https://www.umt.edu/admissions/?x=1#top", scope="exact")
    assert response.status_code == 302
    assert names(app) == ["www.umt.edu"]
    page = html.unescape(client.get("/admin/rules/").get_data(as_text=True))
    assert "Took the host www.umt.edu from the address https://www.umt.edu/admissions/?x=1#top." in page


def test_a_pasted_address_whose_rule_is_refused_shows_the_host_it_took(app):
    response = submit_rule(admin(app), name="https://gis.missoulacounty.us/map")
    assert response.status_code == 400
    text = html.unescape(response.get_data(as_text=True))
    assert 'value="gis.missoulacounty.us"' in text
    assert "Took the host gis.missoulacounty.us from the address https://gis.missoulacounty.us/map." in text


def test_a_duplicate_links_to_the_rule_already_kept(app):
    kept = store_of(app).rules.add(make_rule("dup.example", "block", note="kept"), "test")
    response = submit_rule(admin(app), name="DUP.example", kind="allow")
    assert response.status_code == 400
    assert field_error(response) == (
        "There is already a block rule for *.dup.example; edit or remove that rule instead."
    )
    link = re.search(
        r'<p class="field-error-link" id="rule-existing"><a href="([^"]+)">(.*?)</a>',
        response.get_data(as_text=True),
    )
    assert link and link.group(1) == f"/admin/rules/{kept.id}/edit"
    assert html.unescape(link.group(2)) == "Open the existing block rule for *.dup.example"


def test_editing_into_a_duplicate_links_to_the_other_rule(app):
    first = store_of(app).rules.add(make_rule("first.example", "allow"), "test")
    second = store_of(app).rules.add(make_rule("second.example", "allow"), "test")
    client = admin(app)
    path = f"/admin/rules/{second.id}/edit"
    token = csrf_token(client.get(path))  # type: ignore[arg-type]
    response = client.post(path, data={"csrf_token": token, **GOOD, "name": "first.example", "kind": "allow"})
    assert response.status_code == 400
    assert f'href="/admin/rules/{first.id}/edit"' in response.get_data(as_text=True)


# ---- the command line ----------------------------------------------------------------------------------


def run_cli(app: Flask, tmp_path: Path, *args: str, stdin: str | None = None) -> Any:
    runtime: WebRuntime = app.extensions["linkgate"]
    env = {
        "LINKGATE_INSTANCE": str(tmp_path / "instance"),
        "LINKGATE_DATABASE_URL": runtime.settings.database_url,
        "LINKGATE_COUNTY_DOMAINS": COUNTY,
        "LINKGATE_CONFIG": "",
    }
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("block", "missoulacounty.us"), "missoulacounty.us is a County address"),
        (("block", "www.co.missoula.mt.us", "--exact"), "under the County domain co.missoula.mt.us"),
        (("rules", "add", "missoula.mt.us", "--kind", "block"), "covers the County domain co.missoula.mt.us"),
        (("allow", "www.missoulacounty.us", "--action", "notice"), "may not put the notice"),
        (("allow", "missoulacounty.us"), "an allow rule is not needed"),
        (("allow", "xxxxxxxxxx"), '"xxxxxxxxxx" is not a name on the internet'),
        (("block", "https://www.missoulacounty.us/x"), "www.missoulacounty.us is a County address"),
    ],
)
def test_the_command_line_refuses_the_same_rules_with_exit_status_2(app, tmp_path, args, message):
    result = run_cli(app, tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith("linkgate: error: ")
    assert names(app) == []


def test_the_command_line_takes_the_host_of_a_pasted_address_and_says_so(app, tmp_path):
    result = run_cli(app, tmp_path, "allow", "https://www.umt.edu/about", "--exact")
    assert result.exit_code == 0, result.output
    assert "note: took the host www.umt.edu from the address https://www.umt.edu/about" in result.output
    assert names(app) == ["www.umt.edu"]


def test_the_command_line_names_the_rule_a_duplicate_would_repeat(app, tmp_path):
    store_of(app).rules.add(make_rule("dup.example", "block"), "test")
    result = run_cli(app, tmp_path, "rules", "add", "dup.example", "--kind", "allow")
    assert result.exit_code == 2
    assert (
        "There is already a block rule for *.dup.example; edit or remove that rule instead." in result.output
    )


# ---- CSV imports ----------------------------------------------------------------------------------------

CSV = (
    "pattern,exact,kind,action,note\n"
    "fine.example,,allow,,\n"
    "missoulacounty.us,,block,,\n"
    "www.co.missoula.mt.us,true,allow,notice,\n"
    "xxxxxxxxxx,,allow,,\n"
)


def test_a_csv_import_on_the_command_line_names_each_bad_line_and_applies_none(app, tmp_path):
    result = run_cli(app, tmp_path, "rules", "import", "-", stdin=CSV)
    assert result.exit_code == 2
    assert "standard input: line 3: missoulacounty.us is a County address" in result.output
    assert "standard input: line 4: www.co.missoula.mt.us is a County address" in result.output
    assert 'standard input: line 5: "xxxxxxxxxx" is not a name on the internet' in result.output
    assert "Nothing was imported: standard input has 3 problems." in result.output
    assert names(app) == []


def test_a_csv_import_in_the_console_names_each_bad_line_and_applies_none(app):
    client = admin(app)
    token = csrf_token(client.get("/admin/rules/import"))  # type: ignore[arg-type]
    response = client.post("/admin/rules/import", data={"csrf_token": token, "text": CSV})
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400, text
    assert "line 3: missoulacounty.us is a County address" in text
    assert "line 4: www.co.missoula.mt.us is a County address" in text
    assert 'line 5: "xxxxxxxxxx" is not a name on the internet' in text
    assert names(app) == []


# ---- the API ----------------------------------------------------------------------------------------------


def test_the_api_cannot_write_a_rule(app):
    client = admin(app)
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(
            "/admin/api/rules", json={"pattern": "missoulacounty.us", "kind": "block"}
        )
        assert response.status_code in (400, 405), method
    assert names(app) == []


def test_a_rule_kept_before_these_checks_can_still_be_removed(app, tmp_path):
    """A rule the checks now refuse (saved by an older linkgate) is removed in the console and the CLI."""
    store = store_of(app)
    store.rules.add(Rule("intranet", False, "block"), "old")  # as an older linkgate kept it
    store.rules.add(make_rule("www.missoulacounty.us", "block", exact=True), "old")
    assert sorted(names(app)) == ["*.intranet", "www.missoulacounty.us"]
    result = run_cli(app, tmp_path, "rules", "remove", "intranet")
    assert result.exit_code == 0, result.output
    (record,) = store.rules.page(search="missoulacounty").records
    client = admin(app)
    path = f"/admin/rules/{record.rule.id}/delete"
    token = csrf_token(client.get(path))  # type: ignore[arg-type]
    assert client.post(path, data={"csrf_token": token}).status_code == 302
    assert names(app) == []


def test_a_rule_kept_before_these_checks_never_decides_a_county_link_and_is_named_to_be_removed(
    app, tmp_path
):
    """A block rule on a County host, saved by an older linkgate, does not block County links: the gate
    sends them straight on; the Rules page and ``linkgate rules`` name the rule, and why, to be removed."""
    store = store_of(app)
    store.rules.add(make_rule("old.missoulacounty.us", "block", exact=True), "old")  # no County check then
    store.rules.add(make_rule("missoula.mt.us", "block"), "old")  # above co.missoula.mt.us
    store.rules.add(make_rule("fine.example", "block"), "old")
    client = app.test_client()
    for url in ("https://old.missoulacounty.us/forms", "https://co.missoula.mt.us/"):
        answer = client.get("/go", query_string={"url": url})
        assert (answer.status_code, answer.headers.get("Location")) == (302, url)
    assert client.get("/go", query_string={"url": "https://ci.missoula.mt.us/"}).status_code != 302

    page = admin(app).get("/admin/rules/").get_data(as_text=True)
    listed = re.search(r'<div class="message message--warning" id="county-rules">(.*?)</div>', page, re.S)
    assert listed, "the Rules page does not name the rules about County addresses"
    words = html.unescape(re.sub(r"<[^>]+>", "", listed.group(1)))
    assert "2 rules are not applied to the County's own addresses" in words
    assert "block old.missoulacounty.us: old.missoulacounty.us is a County address" in words
    assert "block *.missoula.mt.us: *.missoula.mt.us covers the County domain co.missoula.mt.us" in words
    assert "fine.example" not in words
    assert listed.group(1).count("/delete") == 2  # an administrator is offered Delete

    create_account(store, "reader", ADMIN_PASSWORD, "viewer", "test")
    seen = signed_in_client(app, "reader").get("/admin/rules/").get_data(as_text=True)
    assert 'id="county-rules"' in seen and "/delete" not in seen

    listing = run_cli(app, tmp_path, "rules")
    assert listing.exit_code == 0, listing.output
    assert "block  old.missoulacounty.us" in listing.stdout
    warnings = [line for line in listing.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the block rule *.missoula.mt.us, kept from before linkgate refused it, is not applied to "
        "County addresses: *.missoula.mt.us covers the County domain co.missoula.mt.us: a rule may not block "
        "the County's own pages. Make the rule for one host only, or for a narrower domain that is not the "
        "County's. To remove it: linkgate rules remove missoula.mt.us",
        "warning: the block rule old.missoulacounty.us, kept from before linkgate refused it, is not applied "
        "to County addresses: old.missoulacounty.us is a County address (under the County domain "
        "missoulacounty.us): a rule may not block the County's own pages. Links to County addresses always "
        "go straight on. To remove it: linkgate rules remove old.missoulacounty.us --exact",
    ]


def test_a_revert_never_puts_back_a_rule_the_checks_refuse(app):
    """Removing a block rule on a County address kept from before the checks, then reverting the removal,
    would put it back: the revert is refused, saying why, on its page and on its POST, and nothing changes."""
    store = store_of(app)
    store.rules.add(make_rule("old.missoulacounty.us", "block", exact=True), "old")  # no County check then
    store.rules.remove("old.missoulacounty.us", True, "test")
    (removal,) = store.changes.page(action="rule.remove", limit=1).entries
    client = admin(app)
    path = f"/admin/log/{removal.id}/revert"
    asked = client.get(path)
    assert asked.status_code == 200
    shown = html.unescape(asked.get_data(as_text=True))
    assert "would put back the rule old.missoulacounty.us, which linkgate now refuses" in shown
    assert 'id="revert-confirm"' not in shown
    token = csrf_token(client.get(f"/admin/log/{removal.id}"))  # type: ignore[arg-type]
    refused = client.post(path, data={"csrf_token": token})
    assert refused.status_code == 409
    assert "may not block the County's own pages" in html.unescape(refused.get_data(as_text=True))
    assert names(app) == []
    assert store.changes.page(action="rule.revert", limit=1).total == 0


def test_deleting_a_rule_someone_removed_meanwhile_says_so_never_a_500(app, monkeypatch):
    store = store_of(app)
    saved = store.rules.add(make_rule("gone-meanwhile.example", "block"), "test")
    client = admin(app)
    path = f"/admin/rules/{saved.id}/delete"
    token = csrf_token(client.get(path))  # type: ignore[arg-type]
    read = store.rules.get(saved.id)
    store.rules.remove("gone-meanwhile.example", False, "someone else")
    monkeypatch.setattr(store.rules, "get", lambda _rule_id: read)  # as read just before the removal
    answer = client.post(path, data={"csrf_token": token})
    assert answer.status_code == 302
    assert "The rule *.gone-meanwhile.example was already removed." in html.unescape(
        client.get("/admin/rules/").get_data(as_text=True)
    )
