"""The store on a real database (SQLite, or PostgreSQL on its run): imports are all or nothing, and a
database that cannot answer is StoreUnavailable whichever way it is used."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from linkgate.classify import make_rule
from linkgate.errors import RuleError, StoreRefused, StoreUnavailable
from linkgate.store import Store
from linkgate.store.schema import meta
from tests.conftest import ON_POSTGRES


def test_two_imports_previewed_against_one_version_cannot_both_apply(store):
    version = store.rules.version()
    first = store.rules.apply_import([make_rule("first.example", "allow")], "test", expected_version=version)
    assert [rule.name for rule in first.added] == ["first.example"]
    with pytest.raises(RuleError, match="changed after this import was previewed"):
        store.rules.apply_import([make_rule("second.example", "block")], "test", expected_version=version)
    assert [rule.name for rule in store.rules.load()[1]] == ["first.example"]
    assert store.rules.version() == version + 1


def test_an_import_that_fails_part_way_applies_nothing(store):
    store.rules.add(make_rule("kept.example", "allow"), "test")
    before = store.rules.load()
    log_before = store.changes.page().total
    incoming = [make_rule("new.example", "block"), make_rule("new.example", "allow")]  # a duplicate
    with pytest.raises(RuleError, match="more than once"):
        store.rules.apply_import(incoming, "test", replace=True)
    assert store.rules.load() == before
    assert store.changes.page().total == log_before


def test_replace_removes_what_the_file_does_not_name_and_logs_the_import_as_one_entry(store):
    store.rules.add(make_rule("old.example", "allow"), "test")
    store.rules.add(make_rule("same.example", "block"), "test")
    result = store.rules.apply_import(
        [make_rule("same.example", "block"), make_rule("fresh.example", "allow", note="n")],
        "importer",
        replace=True,
    )
    assert [r.name for r in result.added] == ["fresh.example"]
    assert [r.name for r in result.removed] == ["old.example"]
    assert result.updated == []
    (entry,) = store.changes.page(limit=1).entries
    assert (entry.action, entry.target, entry.actor) == (
        "rule.import",
        "rules file: 1 added, 0 changed, 1 removed",
        "importer",
    )
    assert [rule["pattern"] for rule in (entry.before or {})["rules"]] == ["*.old.example"]
    assert [rule["pattern"] for rule in (entry.after or {})["rules"]] == ["*.fresh.example"]


def test_reads_and_writes_of_a_database_that_cannot_be_reached_raise_store_unavailable(tmp_path):
    """The one mapping of database errors covers reads (connect) and writes (begin), on both databases."""
    for url in (f"sqlite:///{tmp_path}/never-made.db", "postgresql://linkgate@127.0.0.1:1/none"):
        away = Store(url)
        try:
            with pytest.raises(StoreUnavailable, match="The database is unavailable"):
                away.rules.load()
            with pytest.raises(StoreUnavailable, match="The database is unavailable"):
                away.sites.set_override("away.example", None, "test")
        finally:
            away.dispose()


def test_a_query_the_database_cannot_answer_raises_store_unavailable_in_reads_and_writes(store):
    with store.db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE rules RENAME TO rules_away")
    # SQLite calls a missing table an OperationalError, PostgreSQL a ProgrammingError.
    message = "The database cannot be read" if ON_POSTGRES else "The database is unavailable"
    with pytest.raises(StoreUnavailable, match=message):
        store.rules.page()
    with pytest.raises(StoreUnavailable, match=message):
        store.rules.add(make_rule("new.example", "allow"), "test")
    assert store.counts.events_by_kind(date.min, date.max) == {}  # the other tables answer as before


def test_a_row_the_database_refuses_is_the_callers_to_handle_in_reads_and_writes(store):
    """A refused row is not an unavailable database: the counts, for one, drop it rather than keep it."""
    duplicate = sa.insert(meta).values(key="rules_version", value="0")
    with pytest.raises(sa.exc.IntegrityError), store.db.begin() as conn:
        conn.execute(duplicate)
    with pytest.raises(sa.exc.IntegrityError), store.db.connect() as conn:
        conn.execute(duplicate)


def test_a_writer_that_names_what_it_writes_gets_store_refused_and_nothing_is_written(store):
    """``begin(refused=...)``, as the counts write: a broken constraint, and on PostgreSQL a value too long
    for its column, is StoreRefused, whose message names the kind of refusal and no value of the row."""
    kept = sa.insert(meta).values(key="never-kept", value="1")
    duplicate = sa.insert(meta).values(key="rules_version", value="0")
    too_long = sa.insert(meta).values(key="k" * 65, value="0")  # meta.key is VARCHAR(64)
    refused = r"^The database refused the rows \(\w+\)\.$"
    with pytest.raises(StoreRefused, match=refused), store.db.begin(refused="the rows") as conn:
        conn.execute(kept)
        conn.execute(duplicate)
    if ON_POSTGRES:  # SQLite keeps any length
        with pytest.raises(StoreRefused, match=refused), store.db.begin(refused="the rows") as conn:
            conn.execute(kept)
            conn.execute(too_long)
        # Without ``refused`` such a value is a database that cannot be read, as before.
        with pytest.raises(StoreUnavailable, match="The database cannot be read"), store.db.begin() as conn:
            conn.execute(too_long)
    with store.db.connect() as conn:
        assert conn.execute(sa.select(meta.c.key).where(meta.c.key == "never-kept")).first() is None
