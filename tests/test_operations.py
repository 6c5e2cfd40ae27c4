"""What County IT meets running linkgate, in this process: a rollback onto a database a newer release
migrated, a database that is away when a server starts, secrets in files others can read, the backup of
the database, ``linkgate --version``, and the log lines a SIEM reads. (With a real gunicorn:
tests/server/test_operations.py.)"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from linkgate import migrations
from linkgate.cli import main
from linkgate.errors import SCHEMA_TOO_NEW_STATUS
from linkgate.logs import JsonFormatter, NoVisitorDetails
from linkgate.store import Store
from tests.conftest import (
    ON_POSTGRES,
    POSTGRES_URL,
    free_port,
    in_process_app,
    postgres_unreachable,
    wait_for,
)

NEWER = "0999"


def cli(tmp_path: Path, database_url: str, *args: str, config: Path | None = None) -> Any:
    environment: dict[str, str | None] = {name: None for name in os.environ if name.startswith("LINKGATE_")}
    environment |= {"LINKGATE_INSTANCE": str(tmp_path / "instance"), "LINKGATE_DATABASE_URL": database_url}
    if config is not None:
        environment |= {"LINKGATE_CONFIG": str(config), "LINKGATE_DATABASE_URL": None}
    return CliRunner(env=environment).invoke(main, list(args))


def migrated_by_a_newer_release(database_url: str) -> None:
    store = Store(database_url)
    store.create_schema()
    with store.db.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :newer"), {"newer": NEWER})
    store.dispose()


@pytest.mark.parametrize(
    "args",
    [("db", "check"), ("db", "upgrade"), ("rules", "list"), ("allow", "example.org")],
)
def test_every_command_says_plainly_that_the_database_is_newer_than_the_code(tmp_path, database_url, args):
    migrated_by_a_newer_release(database_url)
    result = cli(tmp_path, database_url, *args)
    assert result.exit_code == SCHEMA_TOO_NEW_STATUS, result.output
    assert result.stderr.strip() == (
        f"linkgate: error: the database is newer than this version of linkgate (revision {NEWER}, this code "
        f"knows up to {migrations.HEAD}): install the newer version or restore the backup taken before the "
        "upgrade"
    )
    assert "Traceback" not in result.output and "alembic" not in result.output.lower()


def test_an_older_revision_is_still_upgraded_not_called_newer(tmp_path, database_url):
    store = Store(database_url)
    store.create_schema()
    with store.db.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))
    store.dispose()
    behind = cli(tmp_path, database_url, "db", "check")
    assert behind.exit_code == 1
    assert f"the database is at revision 0002; this linkgate needs {migrations.HEAD}" in behind.stderr
    assert "Run `linkgate db upgrade`." in behind.stderr


def test_version_is_the_installed_release():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"linkgate {metadata.version('linkgate')}\n"


# A closed port: nothing listens there, so every connection is refused at once.
def closed_port_url() -> str:
    return f"postgresql://linkgate@127.0.0.1:{free_port()}/test"


def test_a_server_starts_while_the_database_is_unreachable_and_serves_degraded(tmp_path):
    app = in_process_app(tmp_path / "instance", closed_port_url(), SERVER_COUNTS_MAX_KEYS="100")
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["db"] == "degraded"
    county = client.get("/go?url=https%3A%2F%2Fwww.missoulacounty.us%2Fparks")
    assert (county.status_code, county.headers["Location"]) == (302, "https://www.missoulacounty.us/parks")
    notice = client.get("/go?url=https%3A%2F%2Fwww.example.org%2F")
    assert notice.status_code == 200  # the configured default action for an unknown site: the notice
    runtime = app.extensions["linkgate"]
    assert runtime.counts.pending == 2  # waiting in memory, within server.counts_max_keys
    assert not runtime.counts.flush()
    assert runtime.counts.pending == 2
    runtime.shutdown()


class Forwarder:
    """A TCP port that refuses connections until ``open()``, then relays them to PostgreSQL: a database
    that comes back while a server runs."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener: socket.socket | None = None

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()


@pytest.fixture
def late_postgres() -> Iterator[tuple[Forwarder, str]]:
    """A new PostgreSQL schema reached through a :class:`Forwarder` that is still closed."""
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    import psycopg

    url = sa.make_url(POSTGRES_URL)
    forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432))
    schema = f"lgtest_late_{os.getpid()}_{forwarder.port}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    late = url.set(port=forwarder.port).update_query_dict({"options": f"-csearch_path={schema}"})
    yield forwarder, late.render_as_string(hide_password=False)
    forwarder.close()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_a_server_started_without_its_database_makes_the_schema_and_writes_the_counts_when_it_returns(
    tmp_path, late_postgres
):
    forwarder, url = late_postgres
    app = in_process_app(
        tmp_path / "instance", url, SERVER_RULES_REFRESH_SECONDS="0.1", SERVER_COUNTS_FLUSH_SECONDS="0.1"
    )
    client = app.test_client()
    assert client.get("/healthz").get_json()["db"] == "degraded"  # starts the upkeep, which retries
    for _ in range(3):
        assert client.get("/go?url=https%3A%2F%2Fwww.missoulacounty.us%2F").status_code == 302
    forwarder.open()
    wait_for(lambda: client.get("/healthz").get_json()["db"] == "ok", what="the database to be used again")
    runtime = app.extensions["linkgate"]

    def stored() -> list[tuple[Any, ...]]:
        with runtime.store.db.connect() as conn:
            rows = conn.execute(sa.text("SELECT domain, outcome, count FROM click_counts")).all()
        return [tuple(row) for row in rows]

    # (Not "nothing pending": a batch being written is pending nowhere until it commits.)
    wait_for(lambda: stored() == [("missoulacounty.us", "redirect", 3)], what="the clicks held to be written")
    assert runtime.counts.pending == 0
    runtime.shutdown()


@pytest.mark.skipif(ON_POSTGRES, reason="the modes of SQLite's files")
def test_config_check_warns_about_a_secret_others_can_read(tmp_path):
    config = tmp_path / "linkgate.toml"
    config.write_text('secret_key = "a-shared-secret-for-every-server"\n', encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'instance' / 'linkgate.db'}"
    assert cli(tmp_path, database, "db", "upgrade", config=config).exit_code == 0
    db_file = tmp_path / "instance" / "linkgate.db"
    assert stat.S_IMODE(db_file.stat().st_mode) & 0o007 == 0  # made unreadable to others
    config.chmod(0o644)
    result = cli(tmp_path, database, "config", "check", config=config)
    assert result.exit_code == 0  # a warning: a reload still goes ahead
    assert result.stderr == (
        f"linkgate: warning: {config} holds secret_key and every account on this machine can read it: make "
        "it mode 0640 (owner root, group linkgate) or 0600\n"
    )
    config.chmod(0o640)
    db_file.chmod(0o644)
    warned = cli(tmp_path, database, "config", "check", config=config).stderr
    assert f"{db_file} holds the database" in warned and str(config) not in warned
    db_file.chmod(0o640)
    assert cli(tmp_path, database, "config", "check", config=config).stderr == ""


def test_config_check_warns_about_a_database_password_in_a_readable_file(tmp_path):
    config = tmp_path / "linkgate.toml"
    config.write_text('[database]\nurl = "postgresql://linkgate:hunter2@db.example/linkgate"\n')
    config.chmod(0o644)
    assert "holds a database password" in cli(tmp_path, "", "config", "check", config=config).stderr
    config.write_text('[database]\nurl = "postgresql://linkgate@db.example/linkgate"\n')
    assert "database password" not in cli(tmp_path, "", "config", "check", config=config).stderr


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's online backup")
def test_db_backup_copies_the_sqlite_database_readable_by_its_owner_only(tmp_path, database_url):
    assert cli(tmp_path, database_url, "allow", "partner.example").exit_code == 0
    result = cli(tmp_path, database_url, "db", "backup", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    copy = tmp_path / "backup" / "linkgate.db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    names = Store(f"sqlite:///{copy}").rules.load()[1]
    assert [rule.name for rule in names] == ["partner.example"]


def test_db_backup_dumps_postgresql_with_pg_dump(tmp_path):
    if postgres_unreachable():
        pytest.skip(str(postgres_unreachable()))
    result = cli(tmp_path, POSTGRES_URL, "db", "backup", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    dump = tmp_path / "backup" / "linkgate.dump"
    assert dump.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    failed = cli(tmp_path, closed_port_url(), "db", "backup", str(tmp_path / "again"))
    assert failed.exit_code == 2 and failed.stderr.startswith("linkgate: error: pg_dump failed: ")
    assert not (tmp_path / "again" / "linkgate.dump").exists()


def record(message: str, *args: object, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(fields)
    return made


@pytest.mark.parametrize(
    ("message", "args", "written"),
    [
        (
            "Invalid request from ip=203.0.113.9: Invalid HTTP request line: 'GET /go?url=x HTTP/1.1 x'",
            (),
            "Invalid request refused: Invalid HTTP request line",
        ),
        (
            "Invalid request from ip=2001:db8::1: Invalid HTTP Version: 'HTTP/9'",
            (),
            "Invalid request refused: ",
        ),
        (
            "Error handling request %s %s",
            ("GET", "/go?url=https%3A%2F%2Fx.example"),
            "Error handling request GET /go",
        ),
        ("Booting worker with pid: %s", (42,), "Booting worker with pid: 42"),
    ],
)
def test_gunicorns_lines_lose_the_visitors_address_and_query_string(message, args, written):
    line = record(message, *args)
    assert NoVisitorDetails().filter(line)
    assert line.getMessage().startswith(written)
    assert "203.0.113.9" not in line.getMessage() and "2001:db8" not in line.getMessage()
    assert "?" not in line.getMessage()


def test_json_lines_carry_the_sign_in_fields():
    line = record("sign-in %s: account %s", "failed", "webmaster", event="sign_in", outcome="failed")
    line.account = "webmaster"

    entry = json.loads(JsonFormatter().format(line))
    assert entry["message"] == "sign-in failed: account webmaster"
    assert (entry["event"], entry["outcome"], entry["account"], entry["level"]) == (
        "sign_in",
        "failed",
        "webmaster",
        "warning",
    )


@pytest.mark.skipif(ON_POSTGRES, reason="a backup of the SQLite file")
def test_the_backup_script_keeps_the_newest_backups_and_everything_a_restore_needs(tmp_path, database_url):
    """deploy/linkgate-backup, as linkgate-backup.service runs it (the guide's rehearsal runs it too)."""
    assert cli(tmp_path, database_url, "allow", "partner.example").exit_code == 0
    config = tmp_path / "etc" / "linkgate" / "linkgate.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    backups = tmp_path / "backups"
    backups.mkdir()
    for old in ("2020-01-01T000000", "2020-01-02T000000", "2020-01-03T000000"):
        (backups / old).mkdir()
    (backups / "notes").mkdir()  # not a backup: never removed
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")} | {
        "LINKGATE_CONFIG": str(config),
        "LINKGATE_INSTANCE": str(tmp_path / "instance"),
    }
    script = Path(__file__).resolve().parents[1] / "deploy" / "linkgate-backup"
    result = subprocess.run(
        [
            "sh",
            str(script),
            "--keep",
            "2",
            "--linkgate",
            str(Path(sys.executable).parent / "linkgate"),
            str(backups),
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (made,) = [path for path in backups.iterdir() if not path.name.startswith(("2020", "notes"))]
    assert sorted(path.name for path in backups.iterdir()) == ["2020-01-03T000000", made.name, "notes"]
    assert sorted(path.name for path in made.iterdir()) == [
        "config.tar.gz",
        "linkgate.db",
        "rules.csv",
        "secret_key",
    ]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in made.iterdir())
    assert "partner.example" in (made / "rules.csv").read_text()
    assert (made / "secret_key").read_text() == (tmp_path / "instance" / "secret_key").read_text()
