"""Reading, planning and writing rule files (linkgate.rulesio): pure, no server."""

from __future__ import annotations

import csv
import io
import string
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkgate.chart import spreadsheet_safe
from linkgate.classify import Rule, make_rule
from linkgate.rulesio import (
    COLUMNS,
    MAX_FILE_BYTES,
    Problem,
    differences,
    plan_import,
    read_rules_csv,
    restore_cell,
    write_rules_csv,
)

pytestmark = pytest.mark.database_free

HEADER = "pattern,exact,kind,action,note"


def csv_text(*lines: str, header: str = HEADER, end: str = "\r\n") -> str:
    return end.join((header, *lines)) + end


def problems_of(data: bytes | str, **limits: int) -> list[str]:
    result = read_rules_csv(data, **limits)
    assert result.rules == ()  # a file with any problem gives no rules at all
    return [str(problem) for problem in result.problems]


def rules_of(data: bytes | str) -> list[Rule]:
    result = read_rules_csv(data)
    assert result.problems == (), result.problems
    return list(result.rules)


# ---- good files ---------------------------------------------------------------------------------------


def test_a_good_file_gives_its_rules_in_order_validated_by_make_rule():
    text = csv_text(
        "Example.ORG,,allow,,Library partner",
        "*.news.example,false,block,,",
        'www.shop.example,true,allow,notice,"Shop, front page"',
        "192.0.2.7,,block,,an address",
    )
    assert rules_of(text) == [
        make_rule("example.org", "allow", note="Library partner"),
        make_rule("news.example", "block"),
        make_rule("www.shop.example", "allow", exact=True, action="notice", note="Shop, front page"),
        make_rule("192.0.2.7", "block", note="an address"),
    ]
    assert rules_of(text)[3].exact  # an address has no subdomains


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xef\xbb\xbf" + csv_text("a.example,,allow,,").encode(), id="utf-8 with BOM"),
        pytest.param("\ufeff" + csv_text("a.example,,allow,,"), id="pasted text with BOM"),
        pytest.param(csv_text("a.example,,allow,,", end="\n").encode(), id="LF"),
        pytest.param(csv_text("a.example,,allow,,", end="\r").encode(), id="CR only"),
        pytest.param(csv_text("a.example,,allow,,").encode(), id="CRLF"),
        pytest.param(b"pattern,kind\na.example,allow", id="no newline at the end, optional columns left out"),
        pytest.param(b" Kind , PATTERN \nallow,a.example\n", id="columns in any order and case"),
        pytest.param(b"\n\npattern,kind\n\n,\na.example,allow\n,,\n", id="blank lines skipped"),
        pytest.param(b"pattern,kind,,\na.example,allow,,\n", id="trailing columns without a name"),
        pytest.param(b'"pattern","kind"\n"a.example","allow"\n', id="every cell quoted"),
        pytest.param(b"pattern,kind,exact,action\na.example,ALLOW,,\n", id="kind in capitals"),
    ],
)
def test_encodings_line_ends_and_layouts_that_are_read(data):
    assert rules_of(data) == [make_rule("a.example", "allow")]


def test_quoted_cells_keep_commas_quotes_and_line_breaks():
    text = csv_text('q.example,,allow,,"He said ""yes"", then\r\nleft"')
    assert rules_of(text)[0].note == 'He said "yes", then\r\nleft'


@pytest.mark.parametrize(
    ("word", "exact"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("no", False),
        ("0", False),
        ("", False),
        (" true ", True),
    ],
)
def test_exact_accepts_true_false_yes_no_1_0_and_blank(word, exact):
    assert rules_of(csv_text(f"www.e.example,{word},allow,,"))[0].exact is exact


def test_pattern_with_or_without_star_is_the_same_domain_rule():
    assert rules_of(csv_text("e.example,,block,,")) == rules_of(csv_text("*.e.example,,block,,"))


# ---- bad rows -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("com,,allow,,", 'line 2: "com" is a public suffix'),
        ("co.uk,,block,,", 'line 2: "co.uk" is a public suffix'),
        ("github.io,,allow,,", 'line 2: "github.io" is a public suffix'),
        ("x.example,,permit,,", 'line 2: A rule is "allow" or "block", not "permit".'),
        (
            "x.example,,allow,explode,",
            'line 2: A rule\'s action is one of redirect, notice, block, not "explode"',
        ),
        ("x.example,,block,notice,", "line 2: A block rule always blocks"),
        (
            "x.example,maybe,allow,,",
            'line 2: The exact column must be true or false (or yes or no, 1 or 0), not "maybe"',
        ),
        ("*.x.example,true,allow,,", "line 2: *.x.example covers every subdomain, so exact cannot be true"),
        (",,allow,,", "line 2: The pattern column is blank"),
        ("x.example,,,,", "line 2: The kind column is blank"),
        ("exa mple.org,,allow,,", 'line 2: "exa mple.org" is not a host name'),
        ("https://x.example/,,allow,,", "is not a host name"),
        ("x.example,,allow,,note,extra", "line 2: This line has 6 cells but the first line names 5 columns"),
        ("x.example,,allow,,bad\x00note", "line 2: The note column holds a control character (U+0000)"),
        ("x.example,,allow,,bell\x07", "U+0007"),
    ],
)
def test_every_kind_of_bad_row_is_named_with_its_line_and_reason(row, reason):
    problems = problems_of(csv_text(row))
    assert len(problems) == 1
    assert reason in problems[0]


def test_every_bad_row_is_reported_not_only_the_first():
    text = csv_text(
        "good-1.example,,allow,,",
        "com,,allow,,",
        "good-2.example,,block,,",
        "x.example,,permit,,",
        "y.example,perhaps,allow,,",
        "good-3.example,,allow,,",
    )
    problems = problems_of(text)
    assert [problem.split(":")[0] for problem in problems] == ["line 3", "line 5", "line 6"]


def test_duplicate_rows_name_the_line_that_came_first():
    text = csv_text("dup.example,,allow,,", "other.example,,allow,,", "*.DUP.example.,,block,,")
    assert problems_of(text) == [
        "line 4: *.dup.example is already on line 2; a file may name each rule once."
    ]


def test_a_duplicate_of_a_line_with_another_problem_is_reported_at_once():
    assert problems_of(csv_text("twice.example,,permit,,", "twice.example,,allow,,")) == [
        'line 2: A rule is "allow" or "block", not "permit".',
        "line 3: *.twice.example is already on line 2; a file may name each rule once.",
    ]


def test_the_domain_and_the_exact_host_rule_of_one_name_are_two_rules():
    assert len(rules_of(csv_text("both.example,,allow,,", "both.example,true,block,,"))) == 2


def test_line_numbers_count_lines_of_the_file_not_records():
    text = csv_text('multi.example,,allow,,"first\nsecond\nthird"', "", "com,,allow,,")
    assert problems_of(text) == [
        "line 6: "
        + '"com" is a public suffix shared by many unrelated owners; a rule must name a registrable domain '
        "or a host under it."
    ]


# ---- bad files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", "The file is empty", id="empty"),
        pytest.param(b"\xef\xbb\xbf \r\n\r\n", "The file is empty", id="only a BOM and blank lines"),
        pytest.param(b",,,\n,,\n", "The file is empty", id="only empty cells"),
        pytest.param(b"pattern,kind\r\n", "the column names but no rules", id="column names only"),
        pytest.param(b"a.example,allow\n", "line 1: The first line must be the column names", id="no header"),
        pytest.param(
            b"pattern;kind\na.example;allow\n", "separated by commas, not semicolons", id="semicolons"
        ),
        pytest.param(b"pattern\tkind\n", "separated by commas", id="tabs"),
        pytest.param(
            b"pattern,kind,colour\n", 'line 1: There is no column called "colour"', id="unknown column"
        ),
        pytest.param(b"pattern,kind,Kind\n", 'line 1: The column "kind" is named more than once', id="twice"),
        pytest.param(b"pattern,note\n", 'line 1: The column "kind" is missing', id="no kind column"),
        pytest.param(b"exact,kind\n", 'line 1: The column "pattern" is missing', id="no pattern column"),
        pytest.param(
            b"pattern,kind\n\xe9t\xe9.example,allow\n", "line 2: The file is not UTF-8", id="latin-1"
        ),
        pytest.param("pattern,kind\n".encode("utf-16"), "UTF-16", id="utf-16"),
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00", "spreadsheet workbook, not a CSV file", id="xlsx"),
        pytest.param(
            b'pattern,kind\n"a.example,allow\nb.example,allow\n',
            "line 2: A cell starts with a double quote",
            id="open quote",
        ),
        pytest.param(
            b'pattern,kind\na.example,"al"low\n', 'line 2: A double quote (") inside a cell', id="stray quote"
        ),
        pytest.param(
            b"pattern,kind,,\na.example,allow,,oops\n",
            "line 2: There is a value in a column that has no name",
            id="value without a column",
        ),
    ],
)
def test_every_kind_of_bad_file_is_explained(data, expected):
    problems = problems_of(data)
    assert any(expected in problem for problem in problems), problems


def test_rows_read_before_a_broken_line_are_still_checked():
    problems = problems_of(b'pattern,kind\ncom,allow\nok.example,allow\n"open.example,allow\n')
    assert [problem.split(":")[0] for problem in problems] == ["line 2", "line 4"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read():
    big = csv_text("a.example,,allow,," + "x" * MAX_FILE_BYTES).encode()
    assert problems_of(big) == [
        "The file is larger than 500 KB, the most one import may be; split it into smaller files."
    ]
    assert problems_of("é" * 6, max_bytes=10)[0].startswith(
        "The file is larger than"
    )  # bytes, not characters


def test_more_rows_than_the_limit_are_refused():
    rows = [f"r{number}.example,,allow,," for number in range(4)]
    assert len(read_rules_csv(csv_text(*rows[:3]), max_rows=3).rules) == 3
    assert problems_of(csv_text(*rows), max_rows=3) == [
        "line 5: The file has more than 3 rules, the most one import may hold; split it into smaller files."
    ]


def test_a_problem_reads_as_a_sentence_with_its_line():
    assert str(Problem(7, "Something.")) == "line 7: Something."
    assert str(Problem(None, "The file is empty.")) == "The file is empty."


# ---- spreadsheet formulas -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1-2", "'+1-2"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("\nnewline first", "'\nnewline first"),
        ("'\nquoted newline", "''\nquoted newline"),
        ("'=already quoted", "''=already quoted"),
        ("''+twice", "'''+twice"),
        ("plain note", "plain note"),
        ("'apostrophe first", "'apostrophe first"),
        ("a = b", "a = b"),
        ("", ""),
    ],
)
def test_formula_cells_get_an_apostrophe_that_reading_takes_off(value, written):
    assert spreadsheet_safe(value) == written
    assert restore_cell(written) == value


@given(st.text())
def test_neutralising_a_cell_is_undone_exactly(value):
    written = spreadsheet_safe(value)
    assert written[:1] not in set("=+-@\t\r\n")
    assert restore_cell(written) == value


def test_hand_written_apostrophes_are_kept_unless_they_guard_a_formula():
    text = csv_text("a.example,,allow,,'90s partner", "b.example,,allow,,'=1+1")
    assert [rule.note for rule in rules_of(text)] == ["'90s partner", "=1+1"]


def test_export_guards_every_formula_cell():
    rules = [make_rule("f.example", "allow", note=note) for note in ("=1+1", "@x")]
    rows = list(csv.reader(io.StringIO(write_rules_csv(rules), newline="")))
    assert rows[0] == list(COLUMNS)
    assert [row[4] for row in rows[1:]] == ["'=1+1", "'@x"]


# ---- round trip ---------------------------------------------------------------------------------------

TRICKY_NOTES = [
    "",
    "plain",
    "comma, inside",
    'quote " inside',
    "line\nbreak",
    "crlf\r\nbreak",
    '=HYPERLINK("http://evil.example","click")',
    "+1",
    "-1",
    "@cmd",
    "'=quoted formula",
    "'apostrophe",
    "Ünïcödé — 日本語",
    "trailing comma,",
]


def test_export_then_import_gives_back_the_same_rules():
    rules = [
        make_rule(f"n{number}.example", "allow" if number % 2 else "block", note=note)
        for number, note in enumerate(TRICKY_NOTES)
    ]
    rules += [
        make_rule("www.host.example", "allow", exact=True, action="redirect"),
        make_rule("notice.example", "allow", action="notice"),
        make_rule("198.51.100.4", "block"),
        make_rule("xn--bcher-kva.example", "allow"),
        make_rule("blocker.example", "block", action="block"),
    ]
    stored = [replace(rule, id=number) for number, rule in enumerate(rules, start=1)]
    assert rules_of(write_rules_csv(stored)) == rules
    assert rules_of(write_rules_csv(stored).encode("utf-8")) == rules


hosts = st.lists(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12), min_size=1, max_size=3
)
notes = st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\r\n")).map(str.strip)


@given(
    st.lists(
        st.tuples(hosts, st.booleans(), st.sampled_from(["allow", "block"]), notes),
        max_size=8,
        unique_by=lambda item: (tuple(item[0]), item[1]),
    )
)
def test_any_rules_survive_the_round_trip(items):
    rules = [
        make_rule(".".join([*labels, "example"]), kind, exact=exact, note=note)
        for labels, exact, kind, note in items
    ]
    if not rules:
        assert read_rules_csv(write_rules_csv(rules)).problems  # no rules is "no rules under the names"
        return
    assert rules_of(write_rules_csv(rules)) == rules


# ---- plan ---------------------------------------------------------------------------------------------

OLD_ALLOW = replace(make_rule("keep.example", "allow", note="as is"), id=1)
OLD_CHANGE = replace(make_rule("change.example", "allow", note="old"), id=2)
OLD_GONE = replace(make_rule("gone.example", "block"), id=3)
OLD_EXACT = replace(make_rule("www.change.example", "allow", exact=True), id=4)
EXISTING = [OLD_ALLOW, OLD_CHANGE, OLD_GONE, OLD_EXACT]
INCOMING = [
    make_rule("keep.example", "allow", note="as is"),
    make_rule("change.example", "block", note="new"),
    make_rule("new.example", "allow"),
    make_rule("www.change.example", "allow", exact=True),
    make_rule("change.example", "block", exact=True),
]


def test_plan_sorts_the_file_into_added_changed_unchanged():
    plan = plan_import(EXISTING, INCOMING)
    assert plan.added == (INCOMING[2], INCOMING[4])  # the exact host is a rule of its own
    assert plan.changed == ((OLD_CHANGE, INCOMING[1]),)
    assert plan.unchanged == (INCOMING[0], INCOMING[3])
    assert plan.removed == ()
    assert plan.has_changes


def test_plan_with_replace_removes_every_rule_the_file_does_not_name():
    plan = plan_import(EXISTING, INCOMING, replace=True)
    assert plan.removed == (OLD_GONE,)
    assert plan_import(EXISTING, [], replace=True).removed == (OLD_CHANGE, OLD_GONE, OLD_ALLOW, OLD_EXACT)


def test_plan_of_a_file_that_matches_changes_nothing():
    plan = plan_import(EXISTING, [replace(rule, id=None) for rule in EXISTING], replace=True)
    assert not plan.has_changes
    assert len(plan.unchanged) == 4


@pytest.mark.parametrize(
    ("after", "changed"),
    [
        (make_rule("d.example", "allow"), ()),
        (make_rule("d.example", "block"), ("kind",)),
        (make_rule("d.example", "allow", action="notice"), ("action",)),
        (make_rule("d.example", "allow", note="why"), ("note",)),
        (make_rule("d.example", "block", note="why"), ("kind", "note")),
    ],
)
def test_differences_name_the_fields_that_change(after, changed):
    assert differences(make_rule("d.example", "allow"), after) == changed


def test_a_line_whose_rule_touches_a_county_domain_is_named_and_no_rule_is_given():
    text = (
        "pattern,exact,kind\n"
        "fine.example,,allow\n"
        "*.missoulacounty.us,,block\n"
        "maps.co.missoula.mt.us,true,allow\n"
        "missoula.mt.us,,block\n"
        "missoula.mt.us,true,block\n"
    )
    parsed = read_rules_csv(text, county_domains=("missoulacounty.us", "co.missoula.mt.us"))
    assert parsed.rules == ()
    assert [(problem.line, problem.reason.split(":")[0]) for problem in parsed.problems] == [
        (3, "missoulacounty.us is a County address (under the County domain missoulacounty.us)"),
        (4, "maps.co.missoula.mt.us is a County address (under the County domain co.missoula.mt.us)"),
        (5, "*.missoula.mt.us covers the County domain co.missoula.mt.us"),
    ]
    assert read_rules_csv(text).ok  # without the County's domains, every line is a rule
