"""Rules as a CSV file: reading an import, planning what it would change, writing an export.

Pure: bytes or text in, values out; no Flask, no database. Each rule is validated by the classifier
(:func:`linkgate.classify.make_rule`); this module only reads and writes cells, so the console, the
command line and an import accept exactly the same rules. It must never hand back rules from a file
that has a problem: a file is imported whole or not at all, so every problem is reported at once.

The columns are ``pattern,exact,kind,action,note``. ``pattern`` is a domain (``example.org`` or
``*.example.org``, both covering every subdomain) or, with ``exact`` true, one host. Cells that a
spreadsheet would run as a formula (starting with ``= + - @``, a tab or a carriage return) are written
with a leading apostrophe, and the reader takes off exactly the apostrophe the writer put on: what an
export writes, an import reads back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from linkgate.chart import ESCAPED_FORMULA, spreadsheet_safe
from linkgate.classify import Rule, control_character, make_rule
from linkgate.errors import RuleError

COLUMNS = ("pattern", "exact", "kind", "action", "note")
REQUIRED_COLUMNS = ("pattern", "kind")
MAX_FILE_BYTES = 500_000
MAX_ROWS = 5_000
CHANGEABLE = ("kind", "action", "note")  # what an import may change in a rule of the same pattern

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0", ""})

_WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (a zip file) and the old .xls
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_COLUMN_LIST = ",".join(COLUMNS)
_EMPTY = "The file is empty. Its first line must be the column names: " + _COLUMN_LIST


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a file: on ``line`` (counting the column names as line 1), or the whole file."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class RulesFile:
    """What a CSV file holds: its rules, or, when anything is wrong, no rules and every problem."""

    rules: tuple[Rule, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ImportPlan:
    """What importing a file would do to the rules as they are."""

    added: tuple[Rule, ...]
    changed: tuple[tuple[Rule, Rule], ...]  # (before, after)
    removed: tuple[Rule, ...]
    unchanged: tuple[Rule, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)


# ---- writing ----------------------------------------------------------------------------------------


def restore_cell(value: str) -> str:
    """The value :func:`~linkgate.chart.spreadsheet_safe` was given; a cell it did not change comes back
    as it is."""
    return value[1:] if ESCAPED_FORMULA.match(value) else value


def write_rules_csv(rules: Iterable[Rule]) -> str:
    """The rules as CSV text (RFC 4180, CRLF line ends), column names first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for rule in rules:
        cells = (rule.pattern, "true" if rule.exact else "false", rule.kind, rule.action or "", rule.note)
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()


# ---- reading ----------------------------------------------------------------------------------------


def read_rules_csv(
    data: bytes | str,
    *,
    county_domains: Iterable[str] = (),
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS,
) -> RulesFile:
    """Read an uploaded file (bytes, UTF-8 with or without a byte order mark) or pasted text. A line whose
    rule would touch one of ``county_domains`` is a problem like any other (``make_rule`` says why)."""
    county = tuple(county_domains)
    decoded = _decode(data, max_bytes)
    if isinstance(decoded, Problem):
        return RulesFile((), (decoded,))
    problems: list[Problem] = []
    rules: list[Rule] = []
    first_line: dict[tuple[str, bool], int] = {}
    records = _records(decoded, problems)
    header = _header(records, problems)
    if header is None:
        return RulesFile((), tuple(problems))
    for count, (line, cells) in enumerate(records, start=1):
        if count > max_rows:
            problems.append(
                Problem(
                    line,
                    f"The file has more than {max_rows:,} rules, the most one import may hold; "
                    "split it into smaller files.",
                )
            )
            break
        reasons, rule, named = _read_row(header, cells, county)
        if named is not None:
            key = (named.name, named.exact)
            if key in first_line:
                reasons.append(
                    f"{named.pattern} is already on line {first_line[key]}; a file may name each rule once."
                )
            else:
                first_line[key] = line
                if rule is not None:
                    rules.append(rule)
        problems.extend(Problem(line, reason) for reason in reasons)
    if not first_line and not problems:
        problems.append(Problem(None, "The file has the column names but no rules under them."))
    if problems:
        return RulesFile((), tuple(problems))
    return RulesFile(tuple(rules), ())


def _decode(data: bytes | str, max_bytes: int) -> str | Problem:
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        return Problem(
            None,
            f"The file is larger than {max_bytes // 1000:,} KB, the most one import may be; "
            "split it into smaller files.",
        )
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
    elif data.startswith(_WORKBOOK_SIGNATURES):
        return Problem(
            None,
            "This is a spreadsheet workbook, not a CSV file. In the spreadsheet, choose Save As and "
            'the type "CSV UTF-8 (comma delimited)", then use that file.',
        )
    elif data.startswith(_UTF16_BOMS):
        return Problem(
            None,
            'The file is saved as UTF-16 ("Unicode text"). Save it as "CSV UTF-8 (comma delimited)" '
            "and use that file.",
        )
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            return Problem(
                line,
                "The file is not UTF-8 text, so this line cannot be read. Save the file as "
                '"CSV UTF-8 (comma delimited)" and use that file.',
            )
    if not text.strip():
        return Problem(None, _EMPTY)
    return text


def _records(text: str, problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """Each line that is not blank, with the number of the line it starts on; a broken line ends it."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problems.append(Problem(line, _csv_reason(str(error))))
            return
        cells = [restore_cell(cell) for cell in cells]
        if any(cell.strip() for cell in cells):
            yield line, cells


def _csv_reason(message: str) -> str:
    if "unexpected end of data" in message:
        return (
            'A cell starts with a double quote (") that is never closed, so the rest of the file cannot be '
            "read. Close the quote, or remove it."
        )
    if "expected after" in message:
        return (
            'A double quote (") inside a cell must be written twice (""), and the whole cell put in '
            "double quotes."
        )
    if "field larger than field limit" in message:
        return "A cell is far too long to be part of a rule."
    return f"This line cannot be read as CSV ({message})."


def _header(records: Iterator[tuple[int, list[str]]], problems: list[Problem]) -> list[str] | None:
    """The column name of each cell position ("" for a column without a name), or None."""
    first = next(records, None)
    if first is None:
        if not problems:
            problems.append(Problem(None, _EMPTY))
        return None
    line, cells = first
    names = [cell.strip().lower() for cell in cells]
    reasons = []
    if not set(names) & set(COLUMNS):
        if len(cells) == 1 and any(mark in cells[0] for mark in ";\t"):
            reasons.append(
                "The columns must be separated by commas, not semicolons or tabs. The first line must be "
                "the column names: " + _COLUMN_LIST
            )
        else:
            reasons.append(
                "The first line must be the column names: "
                + _COLUMN_LIST
                + " (exact, action and note may be left out)."
            )
    else:
        for name in dict.fromkeys(names):
            if name and name not in COLUMNS:
                reasons.append(
                    f'There is no column called "{name}"; the columns are pattern, exact, kind, action '
                    "and note."
                )
            elif name and names.count(name) > 1:
                reasons.append(f'The column "{name}" is named more than once.')
        reasons.extend(
            f'The column "{name}" is missing; the first line must name it.'
            for name in REQUIRED_COLUMNS
            if name not in names
        )
    if reasons:
        problems.extend(Problem(line, reason) for reason in reasons)
        return None
    return names


def _read_row(
    header: list[str], cells: list[str], county_domains: tuple[str, ...]
) -> tuple[list[str], Rule | None, Rule | None]:
    """What is wrong with one line; its rule when nothing is; and which rule it names, when it can tell.

    The last is for finding duplicates: a line whose kind is wrong still names a pattern, and a later
    line for the same pattern is reported now rather than after the first one is corrected.
    """
    reasons: list[str] = []
    if len(cells) > len(header):
        reasons.append(
            f"This line has {len(cells)} cells but the first line names {len(header)} columns. "
            "A note that holds a comma must be put in double quotes."
        )
        return reasons, None, None
    values = dict.fromkeys(COLUMNS, "")
    for name, cell in zip(header, cells, strict=False):
        if name:
            values[name] = cell
        elif cell.strip():
            reasons.append("There is a value in a column that has no name in the first line.")
    for name, cell in values.items():
        control = control_character(cell)
        if control is not None:
            reasons.append(f"The {name} column holds a control character (U+{ord(control):04X}); remove it.")
    pattern = values["pattern"].strip()
    kind = values["kind"].strip().lower()
    action = values["action"].strip().lower()
    exact_text = values["exact"].strip().lower()
    if not pattern:
        reasons.append("The pattern column is blank: write a domain such as example.org.")
    if not kind:
        reasons.append("The kind column is blank: write allow or block.")
    exact = exact_text in TRUE_WORDS
    named: Rule | None = None
    if not exact and exact_text not in FALSE_WORDS:
        reasons.append(
            f'The exact column must be true or false (or yes or no, 1 or 0), not "{values["exact"].strip()}".'
        )
    elif exact and pattern.startswith("*."):
        reasons.append(
            f"{pattern} covers every subdomain, so exact cannot be true; write {pattern[2:]} for that "
            "host alone."
        )
    elif pattern:
        try:
            named = make_rule(pattern, "allow", exact=exact)
        except RuleError as error:
            reasons.append(str(error))
            return reasons, None, None
    if reasons:
        return reasons, None, named
    try:
        rule = make_rule(
            pattern,
            kind,
            exact=exact,
            action=action or None,
            note=values["note"],
            county_domains=county_domains,
        )
    except RuleError as error:
        return [str(error)], None, named
    return [], rule, rule


# ---- planning ---------------------------------------------------------------------------------------


def differences(before: Rule, after: Rule) -> tuple[str, ...]:
    """Which of kind, action and note differ between two rules for the same pattern."""
    return tuple(name for name in CHANGEABLE if getattr(before, name) != getattr(after, name))


def plan_import(existing: Iterable[Rule], incoming: Iterable[Rule], *, replace: bool = False) -> ImportPlan:
    """What importing ``incoming`` (each pattern once, as :func:`read_rules_csv` gives) would change.

    Rules are matched on name and exactness, as the store matches them; with ``replace``, every
    existing rule the file does not name is removed.
    """
    current = {(rule.name, rule.exact): rule for rule in existing}
    added: list[Rule] = []
    changed: list[tuple[Rule, Rule]] = []
    unchanged: list[Rule] = []
    named: set[tuple[str, bool]] = set()
    for rule in incoming:
        key = (rule.name, rule.exact)
        named.add(key)
        before = current.get(key)
        if before is None:
            added.append(rule)
        elif differences(before, rule):
            changed.append((before, rule))
        else:
            unchanged.append(rule)
    removed = [current[key] for key in sorted(current) if key not in named] if replace else []
    return ImportPlan(tuple(added), tuple(changed), tuple(removed), tuple(unchanged))
