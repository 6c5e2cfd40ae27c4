"""CSV import and export of rules against a real running server: console pages and the command line.

Every rule here is named ``*.csvtest-….example`` so that the tests of this module, which share one
server, never touch each other's rules.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re

import httpx
import pytest

from linkgate.classify import make_rule
from linkgate.store import Store
from tests.console import VIEWER_PASSWORD, Browser, change_log, csrf_token, query, signed_in

pytestmark = pytest.mark.server

HEADER = "pattern,exact,kind,action,note"
IMPORT = "/admin/rules/import"
CONFIRM = "/admin/rules/import/confirm"
EXPORT = "/admin/rules/export.csv"


def csv_file(*lines: str) -> bytes:
    return ("\r\n".join((HEADER, *lines)) + "\r\n").encode("utf-8")


def upload(browser: Browser, data: bytes, *, replace: bool = False, text: str = "") -> httpx.Response:
    fields = {"csrf_token": browser.token(IMPORT), "text": text}
    if replace:
        fields["replace"] = "1"
    return browser.request("POST", IMPORT, data=fields, files={"file": ("rules.csv", data, "text/csv")})


def paste(browser: Browser, text: str) -> httpx.Response:
    fields = {"csrf_token": browser.token(IMPORT), "text": text}
    return browser.request("POST", IMPORT, data=fields, files={"file": ("", b"", "application/octet-stream")})


def confirm_fields(preview: httpx.Response) -> dict[str, str]:
    form = re.search(
        r'<form method="post" action="/admin/rules/import/confirm">(.*?)</form>', preview.text, re.S
    )
    assert form, "the preview has no confirmation form"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(1)))


def confirm(browser: Browser, preview: httpx.Response) -> httpx.Response:
    assert preview.status_code in (200, 409), preview.text
    return browser.post(CONFIRM, confirm_fields(preview))


def rules_like(server, marker: str) -> list[tuple]:
    return query(
        server,
        "SELECT name, exact, kind, action, note FROM rules WHERE name LIKE ? ORDER BY name, exact",
        f"%{marker}%",
    )


def log_targets(server, action: str, marker: str) -> list[str]:
    return sorted(target for _, target, _, _ in change_log(server, action) if marker in target)


def page_text(response: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", response.text))


def summary_items(response: httpx.Response) -> list[str]:
    summary = re.search(r'<div class="error-summary".*?</ul>', response.text, re.S)
    assert summary, "no error summary"
    return [
        html.unescape(item)
        for item in re.findall(r"<li><a href=\"#[\w-]+\">(.*?)</a></li>", summary.group(0))
    ]


def store_of(server) -> Store:
    return server.store()


def log_count(server) -> int:
    return query(server, "SELECT COUNT(*) FROM change_log")[0][0]


# ---- who may do what ------------------------------------------------------------------------------


def test_viewer_may_export_but_not_import(console):
    store_of(console).rules.add(make_rule("csvtest-viewer.example", "allow"), "test")
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    listing = viewer.get("/admin/rules/")
    assert 'href="/admin/rules/export.csv"' in listing.text
    assert 'href="/admin/rules/import"' not in listing.text
    exported = viewer.get(EXPORT)
    assert exported.status_code == 200
    assert "*.csvtest-viewer.example,false,allow,," in exported.text
    token = csrf_token(listing)
    before = log_count(console)
    for method, path, data in (
        ("GET", IMPORT, None),
        (
            "POST",
            IMPORT,
            {"csrf_token": token, "text": csv_file("csvtest-viewer-no.example,,allow,,").decode()},
        ),
        (
            "POST",
            CONFIRM,
            {
                "csrf_token": token,
                "csv": "cGF0dGVybixraW5kCmNzdnRlc3Qtdmlld2VyLW5vLmV4YW1wbGUsYWxsb3cK",
                "version": "1",
            },
        ),
    ):
        response = viewer.request(method, path, data=data)
        assert response.status_code == 403, (method, path)
        assert "Only administrators can do this" in response.text
    assert rules_like(console, "csvtest-viewer-no") == []
    assert log_count(console) == before


def test_anonymous_visitors_get_neither_the_export_nor_the_import(console):
    for method, path in (("GET", EXPORT), ("GET", IMPORT), ("POST", IMPORT), ("POST", CONFIRM)):
        response = Browser(console).request(method, path)
        assert response.status_code == 302, (method, path)
        assert response.headers["location"].startswith("/admin/login")


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(console):
    admin = signed_in(console)
    good = csv_file("csvtest-csrf.example,,block,,")
    preview = upload(admin, good)
    fields = confirm_fields(preview)
    before = log_count(console)
    no_token = admin.request("POST", IMPORT, data={}, files={"file": ("rules.csv", good, "text/csv")})
    assert no_token.status_code == 400
    assert "This form has expired" in no_token.text
    for token in (None, "forged", signed_in(console).token(IMPORT)):  # missing, made up, another session's
        data = {key: value for key, value in fields.items() if key != "csrf_token"}
        if token is not None:
            data["csrf_token"] = token
        assert admin.post(CONFIRM, data).status_code == 400, token
    assert rules_like(console, "csvtest-csrf") == []
    assert log_count(console) == before


# ---- good files ------------------------------------------------------------------------------------


def test_good_file_is_previewed_then_applied_as_one_change_log_entry(console):
    store = store_of(console)
    store.rules.add(make_rule("csvtest-good-change.example", "allow", note="old note"), "test")
    store.rules.add(make_rule("csvtest-good-same.example", "block", note="kept"), "test")
    admin = signed_in(console)
    data = csv_file(
        "csvtest-good-new.example,,allow,notice,Library partner",
        'www.csvtest-good-host.example,true,block,,"Scam, reported"',
        "*.csvtest-good-change.example,false,block,,new note",
        "csvtest-good-same.example,,block,,kept",
    )
    before = rules_like(console, "csvtest-good")
    preview = upload(admin, data)
    assert preview.status_code == 200
    assert rules_like(console, "csvtest-good") == before  # a preview changes nothing
    text = page_text(preview)
    assert "Nothing has been changed yet." in text
    added = re.search(r'<table class="data" id="import-added">.*?</table>', preview.text, re.S).group(0)
    assert 'data-rule="*.csvtest-good-new.example"' in added
    assert 'data-rule="www.csvtest-good-host.example"' in added
    assert "this host only" in added
    changed = re.search(r'<table class="data" id="import-changed">.*?</table>', preview.text, re.S).group(0)
    assert 'data-rule="*.csvtest-good-change.example"' in changed
    assert '<del><span class="visually-hidden">was </span>allow</del>' in changed
    assert '<ins><span class="visually-hidden">will be </span>block</ins>' in changed
    assert "old note" in changed and "new note" in changed
    assert "csvtest-good-same" not in preview.text.split('id="import-summary"')[1]  # unchanged: counted only
    assert 'id="import-removed"' not in preview.text

    done = confirm(admin, preview)
    assert done.status_code == 302
    assert done.headers["location"] == "/admin/rules/"
    assert "Imported: 2 added, 1 changed, 0 removed." in admin.get("/admin/rules/").text
    assert rules_like(console, "csvtest-good") == [
        ("csvtest-good-change.example", 0, "block", None, "new note"),
        ("csvtest-good-new.example", 0, "allow", "notice", "Library partner"),
        ("csvtest-good-same.example", 0, "block", None, "kept"),
        ("www.csvtest-good-host.example", 1, "block", None, "Scam, reported"),
    ]
    assert log_targets(console, "rule.add", "csvtest-good") == [
        "*.csvtest-good-change.example",
        "*.csvtest-good-same.example",
    ]  # the two added by the test itself; the import is one entry of its own
    assert log_targets(console, "rule.update", "csvtest-good") == []
    imports = [entry for entry in change_log(console, "rule.import") if "csvtest-good" in entry[3]]
    assert len(imports) == 1
    actor, target, before_json, after_json = imports[0]
    assert (actor, target) == ("web:admin", "rules file: 2 added, 1 changed, 0 removed")
    before_rules = {rule["pattern"]: rule for rule in json.loads(before_json)["rules"]}
    after_rules = {rule["pattern"]: rule for rule in json.loads(after_json)["rules"]}
    assert list(before_rules) == ["*.csvtest-good-change.example"]
    assert sorted(after_rules) == [
        "*.csvtest-good-change.example",
        "*.csvtest-good-new.example",
        "www.csvtest-good-host.example",
    ]
    assert before_rules["*.csvtest-good-change.example"]["kind"] == "allow"
    assert before_rules["*.csvtest-good-change.example"]["note"] == "old note"
    assert after_rules["*.csvtest-good-change.example"]["kind"] == "block"
    assert after_rules["*.csvtest-good-change.example"]["note"] == "new note"


def test_pasted_rules_with_a_bom_and_bare_line_feeds_are_imported(console):
    admin = signed_in(console)
    preview = paste(admin, "\ufeffPattern,Kind\ncsvtest-paste.example,allow\n")
    assert preview.status_code == 200
    assert confirm(admin, preview).status_code == 302
    assert rules_like(console, "csvtest-paste") == [("csvtest-paste.example", 0, "allow", None, "")]


def test_a_file_that_matches_the_rules_offers_nothing_to_import(console):
    store_of(console).rules.add(make_rule("csvtest-same.example", "allow", note="n"), "test")
    preview = upload(signed_in(console), csv_file("csvtest-same.example,,allow,,n"))
    assert preview.status_code == 200
    assert "there is nothing to import" in preview.text
    assert 'action="/admin/rules/import/confirm"' not in preview.text


# ---- bad and mixed files: nothing is applied -------------------------------------------------------

BAD_LINES = [
    ("com,,allow,,", 'line 2: "com" is a public suffix'),
    ("csvtest-bad-1.example,,permit,,", 'line 3: A rule is "allow" or "block", not "permit".'),
    ("csvtest-bad-2.example,sometimes,allow,,", "line 4: The exact column must be true or false"),
    ("*.csvtest-bad-3.example,true,allow,,", "line 5: *.csvtest-bad-3.example covers every subdomain"),
    ("csvtest-bad-4.example,,allow,,note,extra", "line 6: This line has 6 cells"),
    (",,block,,", "line 7: The pattern column is blank"),
    ("csvtest-bad-5.example,,block,notice,", "line 8: A block rule always blocks"),
    ("csvtest-bad-1.example,,block,,", "line 9: *.csvtest-bad-1.example is already on line 3"),
]


def test_bad_file_names_every_bad_line_with_its_reason_and_applies_nothing(console):
    admin = signed_in(console)
    before = log_count(console)
    version = query(console, "SELECT value FROM meta WHERE key = 'rules_version'")
    response = upload(admin, csv_file(*(line for line, _ in BAD_LINES)))
    assert response.status_code == 400
    items = summary_items(response)
    assert len(items) == len(BAD_LINES)
    for (_, reason), item in zip(BAD_LINES, items, strict=True):
        assert item.startswith(reason), (reason, item)
    assert "<title>Error:" in response.text
    assert 'href="#import-file"' in response.text
    assert 'aria-describedby="import-file-hint import-file-error" aria-invalid="true"' in response.text
    assert "Nothing was imported." in response.text
    assert 'action="/admin/rules/import/confirm"' not in response.text
    assert rules_like(console, "csvtest-bad") == []
    assert log_count(console) == before
    assert query(console, "SELECT value FROM meta WHERE key = 'rules_version'") == version


def test_mixed_file_names_only_its_bad_line_and_applies_none_of_the_good_ones(console):
    store_of(console).rules.add(make_rule("csvtest-mixed-old.example", "allow", note="before"), "test")
    admin = signed_in(console)
    before = log_count(console)
    response = upload(
        admin,
        csv_file(
            "csvtest-mixed-1.example,,allow,,",
            "csvtest-mixed-old.example,,block,,after",
            'csvtest-mixed-2.example,,allow,,"multi\nline note"',
            "co.uk,,block,,",
            "csvtest-mixed-3.example,,allow,,",
        ),
        replace=True,
    )
    assert response.status_code == 400
    assert summary_items(response) == [
        'line 6: "co.uk" is a public suffix shared by many unrelated owners; a rule must name a registrable '
        "domain or a host under it."
    ]
    assert rules_like(console, "csvtest-mixed") == [("csvtest-mixed-old.example", 0, "allow", None, "before")]
    assert log_count(console) == before
    assert 'name="replace" value="1" checked' in response.text  # the choice is kept for the next try


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "The file is empty.", id="empty"),
        pytest.param(HEADER.encode() + b"\r\n", "the column names but no rules", id="header only"),
        pytest.param(
            b"csvtest-nohead.example,allow\n", "The first line must be the column names", id="no header"
        ),
        pytest.param(
            b"domain,kind\ncsvtest-head.example,allow\n",
            'There is no column called "domain"',
            id="bad header",
        ),
        pytest.param(
            b"pattern,kind\ncsvtest-latin.example,allow,\xe9\n",
            "line 2: The file is not UTF-8",
            id="not UTF-8",
        ),
        pytest.param(b"PK\x03\x04\x14\x00", "not a CSV file", id="workbook"),
        pytest.param(
            csv_file("csvtest-big.example,,allow,," + "x" * 600_000), "larger than 500 KB", id="too large"
        ),
        pytest.param(
            csv_file(*(f"r{n}.csvtest-many.example,,allow,," for n in range(5001))),
            "line 5002: The file has more than 5,000 rules",
            id="too many rows",
        ),
    ],
)
def test_bad_files_are_explained_and_apply_nothing(console, data, message):
    before = log_count(console)
    response = upload(signed_in(console), data)
    assert response.status_code == 400
    assert any(message in item for item in summary_items(response)), summary_items(response)
    for marker in ("csvtest-nohead", "csvtest-head", "csvtest-latin", "csvtest-big", "csvtest-many"):
        assert rules_like(console, marker) == []
    assert log_count(console) == before


def test_nothing_chosen_or_pasted_is_explained(console):
    response = paste(signed_in(console), "  \n")
    assert response.status_code == 400
    assert summary_items(response) == ["Choose a CSV file, or paste the rules into the box."]


def test_pasted_rules_with_a_problem_are_kept_in_the_box(console):
    response = paste(signed_in(console), "pattern,kind\ncsvtest-kept.example,allowed\n")
    assert response.status_code == 400
    assert 'href="#import-text"' in response.text
    assert "csvtest-kept.example,allowed" in re.search(r"<textarea.*?</textarea>", response.text, re.S).group(
        0
    )
    assert rules_like(console, "csvtest-kept") == []


def test_more_than_the_server_reads_at_once_gets_a_page_that_says_so(console):
    admin = signed_in(console)
    fields = {"csrf_token": admin.token(IMPORT), "text": "x" * 600_000}
    response = admin.request("POST", IMPORT, data=fields, files={"file": ("", b"", "text/csv")})
    assert response.status_code == 413
    assert "larger than 500 KB" in response.text
    assert 'name="file"' in response.text  # the form again, to try a smaller file


def test_confirm_checks_the_file_again(console):
    admin = signed_in(console)
    preview = upload(admin, csv_file("csvtest-recheck.example,,allow,,"))
    fields = confirm_fields(preview)
    fields["csv"] = base64.urlsafe_b64encode(
        csv_file("csvtest-recheck.example,,allow,,", "org,,allow,,")
    ).decode()
    response = admin.post(CONFIRM, fields)
    assert response.status_code == 400
    assert summary_items(response) == [
        'line 3: "org" is a public suffix shared by many unrelated owners; a rule must name a registrable '
        "domain or a host under it."
    ]
    assert rules_like(console, "csvtest-recheck") == []
    for broken in ({**fields, "version": "x"}, {**fields, "csv": "é"}):
        assert admin.post(CONFIRM, broken).status_code == 400
    assert rules_like(console, "csvtest-recheck") == []


# ---- replace, and the version guard -----------------------------------------------------------------


def test_replace_removes_the_rules_the_file_does_not_name(console):
    store = store_of(console)
    store.rules.add(make_rule("csvtest-replace-keep.example", "allow"), "test")
    store.rules.add(make_rule("csvtest-replace-gone.example", "block", note="old"), "test")
    admin = signed_in(console)
    assert 'name="replace" value="1" aria-describedby' in admin.get(IMPORT).text  # off unless ticked
    everything = admin.get(EXPORT).text
    lines = [line for line in everything.split("\r\n") if line and "csvtest-replace-gone" not in line]
    lines.append("csvtest-replace-new.example,,allow,,")
    data = ("\r\n".join(lines) + "\r\n").encode()

    without = upload(admin, data)
    assert 'id="import-removed"' not in without.text
    preview = upload(admin, data, replace=True)
    assert preview.status_code == 200
    removed = re.search(r'<table class="data" id="import-removed">.*?</table>', preview.text, re.S).group(0)
    assert re.findall(r'data-rule="([^"]+)"', removed) == ["*.csvtest-replace-gone.example"]
    assert 'id="import-removal-warning"' in preview.text
    assert admin.post(CONFIRM, {**confirm_fields(preview), "confirm_removal": "1"}).status_code == 302
    assert "Imported: 1 added, 0 changed, 1 removed." in admin.get("/admin/rules/").text
    assert [row[0] for row in rules_like(console, "csvtest-replace")] == [
        "csvtest-replace-keep.example",
        "csvtest-replace-new.example",
    ]
    imports = [entry for entry in change_log(console, "rule.import") if "csvtest-replace" in entry[2]]
    assert [(actor, target) for actor, target, _, _ in imports] == [
        ("web:admin", "rules file: 1 added, 0 changed, 1 removed")
    ]
    assert [rule["note"] for rule in json.loads(imports[0][2])["rules"]] == ["old"]


def test_a_change_made_after_the_preview_refuses_the_confirmation(console):
    admin = signed_in(console)
    preview = upload(admin, csv_file("csvtest-stale.example,,allow,,", "csvtest-stale-2.example,,block,,"))
    store_of(console).rules.add(make_rule("csvtest-stale-other.example", "block"), "someone else")
    refused = confirm(admin, preview)
    assert refused.status_code == 409
    assert "Someone changed the rules after you checked this file, so nothing was imported." in page_text(
        refused
    )
    assert [row[0] for row in rules_like(console, "csvtest-stale")] == ["csvtest-stale-other.example"]
    again = confirm(admin, refused)  # the page shows the changes as they are now, with the new version
    assert again.status_code == 302
    assert [row[0] for row in rules_like(console, "csvtest-stale")] == [
        "csvtest-stale-2.example",
        "csvtest-stale-other.example",
        "csvtest-stale.example",
    ]


# ---- export ------------------------------------------------------------------------------------------

TRICKY = [
    make_rule("csvtest-rt-1.example", "allow", note='=HYPERLINK("http://evil.example","x")'),
    make_rule("csvtest-rt-2.example", "block", note="+1, -1 and @me"),
    make_rule("csvtest-rt-3.example", "allow", note="-starts with a dash"),
    make_rule("csvtest-rt-4.example", "allow", note="@starts with at"),
    make_rule("csvtest-rt-5.example", "allow", note="'=already guarded"),
    make_rule("csvtest-rt-6.example", "allow", action="notice", note='comma, "quotes"\nand a line break'),
    make_rule("www.csvtest-rt-7.example", "allow", exact=True, action="redirect", note="Ünïcödé — 日本語"),
    make_rule("csvtest-rt-8.example", "block", action="block"),
]


def test_export_is_an_attachment_with_formula_cells_guarded(console):
    store = store_of(console)
    for rule in TRICKY[:5]:
        if not rules_like(console, rule.name):
            store.rules.add(rule, "test")
    exported = signed_in(console).get(EXPORT)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="linkgate-rules-\d{4}-\d\d-\d\d\.csv"', exported.headers["content-disposition"]
    )
    assert exported.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(exported.text, newline="")))
    assert rows[0] == HEADER.split(",")
    notes = {row[0]: row[4] for row in rows[1:]}
    assert notes["*.csvtest-rt-1.example"] == '\'=HYPERLINK("http://evil.example","x")'
    assert notes["*.csvtest-rt-2.example"] == "'+1, -1 and @me"
    assert notes["*.csvtest-rt-3.example"] == "'-starts with a dash"
    assert notes["*.csvtest-rt-4.example"] == "'@starts with at"
    assert notes["*.csvtest-rt-5.example"] == "''=already guarded"
    assert not any(cell[:1] in "=+-@\t\r" and cell for row in rows for cell in row)


def test_export_then_import_gives_back_the_same_rules(console):
    store = store_of(console)
    for rule in TRICKY:
        if not rules_like(console, rule.name):
            store.rules.add(rule, "test")
    expected = rules_like(console, "csvtest-rt-")
    assert len(expected) == len(TRICKY)
    admin = signed_in(console)
    exported = admin.get(EXPORT).content
    unchanged = upload(admin, exported)
    assert "there is nothing to import" in unchanged.text
    for rule in TRICKY:
        store.rules.remove(rule.name, rule.exact, "test")
    assert rules_like(console, "csvtest-rt-") == []
    preview = upload(admin, exported)
    assert preview.status_code == 200
    assert confirm(admin, preview).status_code == 302
    assert rules_like(console, "csvtest-rt-") == expected
    assert admin.get(EXPORT).content == exported


# ---- the command line ------------------------------------------------------------------------------


def test_cli_add_list_and_remove(console):
    added = console.cli(
        "rules", "add", "www.csvtest-cli.example", "--kind", "block", "--exact", "--note", "why"
    )
    assert added.stdout.strip() == "blocked www.csvtest-cli.example"
    console.cli("rules", "add", "csvtest-cli.example", "--kind", "allow", "--action", "notice")
    listed = json.loads(console.cli("rules", "list", "--json", "--kind", "block").stdout)
    assert {rule["kind"] for rule in listed["rules"]} == {"block"}
    mine = [rule for rule in listed["rules"] if "csvtest-cli" in rule["name"]]
    assert mine == [
        {
            "pattern": "www.csvtest-cli.example",
            "name": "www.csvtest-cli.example",
            "exact": True,
            "kind": "block",
            "action": None,
            "note": "why",
        }
    ]
    assert isinstance(listed["version"], int)
    plain = console.cli("rules", "list").stdout
    assert "allow  *.csvtest-cli.example  action=notice" in plain
    assert "block  www.csvtest-cli.example  # why" in plain
    assert console.cli("rules", "--json").stdout == console.cli("rules", "list", "--json").stdout
    assert "*.csvtest-cli.example" in console.cli("rules").stdout
    assert console.cli("rules", "remove", "www.csvtest-cli.example", "--exact").stdout.strip() == (
        "removed block www.csvtest-cli.example"
    )
    assert [row[0] for row in rules_like(console, "csvtest-cli")] == ["csvtest-cli.example"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rules", "add", "com", "--kind", "allow"), "is a public suffix"),
        (
            ("rules", "add", "csvtest-cli-dup.example", "--kind", "allow"),
            "There is already an allow rule for *.csvtest-cli-dup.example",
        ),
        (("rules", "add", "csvtest-cli-x.example", "--kind", "permit"), "'permit' is not one of"),
        (("rules", "add", "csvtest-cli-x.example"), "Missing option '--kind'"),
        (("rules", "import", "/nonexistent/rules.csv"), "Cannot read /nonexistent/rules.csv"),
        (("rules", "export", "/nonexistent/dir/rules.csv"), "Cannot write /nonexistent/dir/rules.csv"),
        (("rules", "list", "--kind", "maybe"), "'maybe' is not one of"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(console, args, message):
    if not rules_like(console, "csvtest-cli-dup"):
        store_of(console).rules.add(make_rule("csvtest-cli-dup.example", "allow"), "test")
    result = console.cli(*args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    if not message.startswith(("'", "Missing")):  # click's own usage errors add a usage line
        assert len(result.stderr.strip().splitlines()) == 1
    assert rules_like(console, "csvtest-cli-x") == []


def test_cli_import_prints_the_plan_applies_the_file_and_logs_each_change(console, tmp_path):
    store_of(console).rules.add(make_rule("csvtest-cli-imp-old.example", "allow", note="before"), "test")
    path = tmp_path / "rules.csv"
    path.write_bytes(
        csv_file(
            "csvtest-cli-imp-new.example,,block,,",
            "csvtest-cli-imp-old.example,,allow,notice,after",
        )
    )
    before = rules_like(console, "csvtest-cli-imp")
    dry = console.cli("rules", "import", str(path), "--dry-run")
    assert dry.stdout.splitlines() == [
        "add     block  *.csvtest-cli-imp-new.example",
        'change  *.csvtest-cli-imp-old.example: action usual -> notice; note "before" -> "after"',
        "1 to add, 1 to change, 0 to remove, 0 unchanged.",
        "Dry run: nothing was changed.",
    ]
    assert rules_like(console, "csvtest-cli-imp") == before
    as_json = json.loads(console.cli("rules", "import", str(path), "--dry-run", "--json").stdout)
    assert as_json["applied"] is False
    assert [rule["pattern"] for rule in as_json["added"]] == ["*.csvtest-cli-imp-new.example"]
    assert (
        as_json["changed"][0]["before"]["note"] == "before"
        and as_json["changed"][0]["after"]["note"] == "after"
    )

    done = console.cli("rules", "import", str(path))
    assert done.stdout.splitlines()[-1] == "Imported: 1 added, 1 changed, 0 removed."
    assert rules_like(console, "csvtest-cli-imp") == [
        ("csvtest-cli-imp-new.example", 0, "block", None, ""),
        ("csvtest-cli-imp-old.example", 0, "allow", "notice", "after"),
    ]
    imports = [entry for entry in change_log(console, "rule.import") if "csvtest-cli-imp" in entry[3]]
    assert [(actor.startswith("cli"), target) for actor, target, _, _ in imports] == [
        (True, "rules file: 1 added, 1 changed, 0 removed")
    ]
    again = console.cli("rules", "import", "-", input=path.read_text())
    assert again.stdout.splitlines()[-2:] == [
        "0 to add, 0 to change, 0 to remove, 2 unchanged.",
        "Nothing to change.",
    ]


def test_cli_import_of_a_bad_file_prints_every_bad_line_exits_2_and_applies_nothing(console, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        csv_file("csvtest-cli-bad-1.example,,allow,,", "net,,allow,,", "csvtest-cli-bad-2.example,,maybe,,")
    )
    before = log_count(console)
    result = console.cli("rules", "import", str(path), check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f'linkgate: error: {path}: line 3: "net" is a public suffix')
    assert lines[1] == f'linkgate: error: {path}: line 4: A rule is "allow" or "block", not "maybe".'
    assert lines[2] == f"linkgate: error: Nothing was imported: {path} has 2 problems."
    assert len(lines) == 3
    assert result.stdout == ""
    assert rules_like(console, "csvtest-cli-bad") == []
    assert log_count(console) == before
    stdin = console.cli("rules", "import", "-", check=False, input="")
    assert stdin.returncode == 2
    assert "standard input: The file is empty." in stdin.stderr


def test_cli_export_matches_the_console_and_replace_round_trips(console, tmp_path):
    store = store_of(console)
    store.rules.add(make_rule("csvtest-cli-exp-keep.example", "allow", note="=1+1"), "test")
    store.rules.add(make_rule("csvtest-cli-exp-gone.example", "block"), "test")
    path = tmp_path / "all.csv"
    written = console.cli("rules", "export", str(path))
    assert "exported" in written.stderr
    exported = path.read_bytes()
    assert exported == signed_in(console).get(EXPORT).content
    assert b"*.csvtest-cli-exp-keep.example,false,allow,,'=1+1\r\n" in exported
    on_stdout = console.cli("rules", "export").stdout  # read as text: line ends become \n
    assert on_stdout == exported.decode("utf-8").replace("\r\n", "\n")
    lines = [line for line in exported.split(b"\r\n") if b"csvtest-cli-exp-gone" not in line]
    path.write_bytes(b"\r\n".join(lines))
    result = console.cli("rules", "import", str(path), "--replace")
    assert "remove  block  *.csvtest-cli-exp-gone.example" in result.stdout
    assert result.stdout.splitlines()[-1] == "Imported: 0 added, 0 changed, 1 removed."
    assert [row[0] for row in rules_like(console, "csvtest-cli-exp")] == ["csvtest-cli-exp-keep.example"]
    assert rules_like(console, "csvtest-cli-exp-keep")[0][4] == "=1+1"


# ---- the pages themselves ---------------------------------------------------------------------------


def test_import_pages_have_labels_captions_scoped_headers_and_no_inline_code(console):
    admin = signed_in(console)
    form = admin.get(IMPORT)
    preview = upload(admin, csv_file("csvtest-a11y.example,,allow,,", "csvtest-a11y-2.example,,block,,"))
    for page in (form, preview):
        assert page.status_code == 200
        assert "<script" not in page.text and "style=" not in page.text and " on" + "click=" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        tables = re.findall(r"<table.*?</table>", page.text, re.S)
        assert tables
        for table in tables:
            assert "<caption" in table
            assert re.findall(r"<th(?: [^>]*)?>", table) == re.findall(r"<th scope=\"(?:col|row)\">", table)
    for field in ("import-file", "import-text", "import-replace"):
        assert f'<label for="{field}">' in form.text
    assert 'enctype="multipart/form-data"' in form.text
    assert "<h1>Import rules from a CSV file</h1>" in form.text
    assert "<h1>Check the changes before you import them</h1>" in preview.text
