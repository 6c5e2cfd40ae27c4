"""Schema migrations (Alembic): one history for SQLite and PostgreSQL, applied once however many start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from linkgate import migrations
from linkgate.store import Store, engine_url
from tests.conftest import LINKGATE
from tests.console import database_query


def linkgate_db(instance: Path, database_url: str, *args: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    env["LINKGATE_DATABASE_URL"] = database_url
    env["LINKGATE_INSTANCE"] = str(instance)
    return subprocess.Popen(
        [*LINKGATE, "db", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(instance: Path, database_url: str, *args: str) -> tuple[int, str, str]:
    process = linkgate_db(instance, database_url, *args)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_head_is_the_newest_migration():
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    assert ScriptDirectory.from_config(config).get_heads() == [migrations.HEAD]


def test_the_migrations_build_exactly_the_schema_the_code_uses(database_url):
    store = Store(database_url)
    store.create_schema()
    assert store.schema_revision() == migrations.HEAD
    assert store.schema_problems() == []  # Alembic's own comparison of the tables with linkgate.store
    assert database_query(database_url, "SELECT value FROM meta WHERE key = 'rules_version'") == [("1",)]


def test_db_check_fails_until_db_upgrade_then_passes(tmp_path, database_url):
    status, _, err = run(tmp_path, database_url, "check")
    assert status == 1
    assert "the database is at revision none; this linkgate needs" in err
    assert "Run `linkgate db upgrade`." in err
    status, out, _ = run(tmp_path, database_url, "upgrade")
    assert status == 0
    assert f"now at revision {migrations.HEAD}" in out
    status, out, _ = run(tmp_path, database_url, "check")
    assert status == 0, out
    assert "matches this linkgate" in out
    status, out, _ = run(tmp_path, database_url, "upgrade")
    assert status == 0
    assert "already at revision" in out


def test_many_upgrades_started_at_once_apply_each_migration_once(tmp_path, database_url):
    processes = [linkgate_db(tmp_path, database_url, "upgrade") for _ in range(5)]
    results = [
        (process.wait(timeout=90), process.stderr.read() if process.stderr else "") for process in processes
    ]
    assert [status for status, _ in results] == [0] * 5, results
    assert database_query(database_url, "SELECT version_num FROM alembic_version") == [(migrations.HEAD,)]
    assert database_query(database_url, "SELECT key, value FROM meta") == [("rules_version", "1")]


def test_a_database_made_before_migrations_is_adopted_without_losing_rules(database_url):
    from linkgate.classify import make_rule

    engine = sa.create_engine(engine_url(database_url))
    with engine.begin() as conn:  # what linkgate did before it had migrations: the first revision's tables
        config = Config()
        config.set_main_option("script_location", str(Path(migrations.__file__).parent))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    old = Store(database_url)
    old.rules.add(make_rule("kept.example", "block"), "test")
    old.create_schema()
    assert old.schema_revision() == migrations.HEAD
    assert [rule.name for rule in old.rules.load()[1]] == ["kept.example"]
    assert old.schema_problems() == []


def test_db_commands_say_what_is_wrong_with_an_unreachable_database(tmp_path):
    status, _, err = run(tmp_path, "postgresql://nobody@127.0.0.1:1/none", "check")
    assert status == 2
    assert err.startswith("linkgate: error: The database is unavailable")
    assert "Traceback" not in err


def test_a_schema_that_drifted_from_the_code_is_reported_by_check(tmp_path, database_url):
    store = Store(database_url)
    store.create_schema()
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sites DROP COLUMN gpc"))
    status, _, err = run(tmp_path, database_url, "check")
    assert status == 1
    assert "gpc" in err


def test_the_bounded_site_cache_migration_keeps_every_site_and_rounds_its_check_time(database_url):
    from datetime import UTC, datetime

    engine = sa.create_engine(engine_url(database_url))
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(migrations.__file__).parent))
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(
            sa.text(
                "INSERT INTO sites (host, status, override_none, checked_at) VALUES "
                "('checked.example', 'found', FALSE, :stamp), ('never.example', 'unknown', FALSE, NULL)"
            ),
            {"stamp": datetime(2026, 11, 30, 17, 0, 0, 123456, tzinfo=UTC)},
        )
    engine.dispose()
    store = Store(database_url)
    store.create_schema()
    assert store.schema_problems() == []
    checked, never = store.sites.get("checked.example"), store.sites.get("never.example")
    assert checked is not None and never is not None
    assert checked.checked_at == datetime(2026, 11, 30, 17, 0, 1, tzinfo=UTC)
    assert (checked.checks, never.checks) == (1, 0)
    assert checked.used_on == never.used_on == datetime.now(UTC).date()
