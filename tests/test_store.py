"""The store on a real database (SQLite, or PostgreSQL on its run): imports are all or nothing."""

from __future__ import annotations

import pytest

from linkgate.classify import make_rule
from linkgate.errors import RuleError


def test_two_imports_previewed_against_one_version_cannot_both_apply(store):
    version = store.rules_version()
    first = store.apply_rule_import([make_rule("first.example", "allow")], "test", expected_version=version)
    assert [rule.name for rule in first.added] == ["first.example"]
    with pytest.raises(RuleError, match="changed after this import was previewed"):
        store.apply_rule_import([make_rule("second.example", "block")], "test", expected_version=version)
    assert [rule.name for rule in store.load_rules()[1]] == ["first.example"]
    assert store.rules_version() == version + 1


def test_an_import_that_fails_part_way_applies_nothing(store):
    store.add_rule(make_rule("kept.example", "allow"), "test")
    before = store.load_rules()
    log_before = len(store.change_log())
    incoming = [make_rule("new.example", "block"), make_rule("new.example", "allow")]  # a duplicate
    with pytest.raises(RuleError, match="more than once"):
        store.apply_rule_import(incoming, "test", replace=True)
    assert store.load_rules() == before
    assert len(store.change_log()) == log_before


def test_replace_removes_what_the_file_does_not_name_and_logs_each_change(store):
    store.add_rule(make_rule("old.example", "allow"), "test")
    store.add_rule(make_rule("same.example", "block"), "test")
    result = store.apply_rule_import(
        [make_rule("same.example", "block"), make_rule("fresh.example", "allow", note="n")],
        "importer",
        replace=True,
    )
    assert [r.name for r in result.added] == ["fresh.example"]
    assert [r.name for r in result.removed] == ["old.example"]
    assert result.updated == []
    actions = [(e["action"], e["target"], e["actor"]) for e in store.change_log(limit=2)]
    assert sorted(actions) == [
        ("rule.add", "*.fresh.example", "importer"),
        ("rule.remove", "*.old.example", "importer"),
    ]
