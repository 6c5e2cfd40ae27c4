"""What only a real gunicorn shows, for County IT: a plain ``kill -HUP`` with a broken configuration, a
database newer than the code, a malformed request (no visitor's address in the log), JSON logs with the
sign-ins, and what a crash loses of the counts (``server.counts_flush_seconds``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from linkgate.errors import SCHEMA_TOO_NEW_STATUS
from linkgate.store import Store
from tests.conftest import LINKGATE, ROOT, answers_health, wait_for
from tests.console import ADMIN_PASSWORD, Browser, create_account, query, signed_in
from tests.server.test_deploy import _leaving_for, one_worker_config
from tests.test_gate import go

pytestmark = pytest.mark.server
# The tests so marked run on SQLite (or no database) whatever the run's database: the PostgreSQL run would
# repeat them as they are.
same_on_every_run = pytest.mark.sqlite_only

GUNICORN = [
    str(Path(sys.executable).parent / "gunicorn"),
    "--config",
    str(ROOT / "deploy" / "gunicorn.conf.py"),
]
APP = "linkgate.web:create_app()"


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@same_on_every_run
def test_a_plain_hup_with_a_broken_configuration_keeps_gunicorn_serving(tmp_path: Path) -> None:
    """`gunicorn --config deploy/gunicorn.conf.py`, as linkgate.service runs it, sent SIGHUP by hand
    (no `linkgate config check` first): it keeps the running configuration, and takes the next good one."""
    port, config, env = one_worker_config(tmp_path)
    log = tmp_path / "gunicorn.log"
    process = start([*GUNICORN, APP], env, log, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers_health(base), timeout=30, what="gunicorn to start")
        good = config.read_text()
        config.write_text(good.replace("workers = 1", 'workers = "one"'), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "was not reloaded" in log.read_text(errors="replace"), timeout=30)
        text = log.read_text(errors="replace")
        assert "the configuration was not reloaded, the running one is kept" in text
        assert "server.workers" in text
        after = lambda: log.read_text(errors="replace").split("was not reloaded", 1)[1]  # noqa: E731
        wait_for(lambda: "Booting worker" in after() and "Worker exiting" in after(), timeout=30)
        assert process.poll() is None, "gunicorn stopped on a broken configuration"
        assert all(_leaving_for(base) == "Missoula County" for _ in range(5))
        assert "Worker failed to boot" not in log.read_text(errors="replace")
        config.write_text(good.replace("Missoula County", "Ravalli County"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: _leaving_for(base) == "Ravalli County", timeout=30, what="the next good configuration"
        )
    finally:
        stop(process)


@same_on_every_run
@pytest.mark.parametrize("how", ["gunicorn", "serve"])
def test_a_server_refuses_a_database_newer_than_its_code_in_one_line(tmp_path: Path, how: str) -> None:
    _, _, env = one_worker_config(tmp_path)
    env["LINKGATE_DATABASE_URL"] = url = f"sqlite:///{tmp_path / 'linkgate.db'}"
    store = Store(url)
    store.create_schema()
    with store.db.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    store.dispose()
    command = [*GUNICORN, APP] if how == "gunicorn" else [*LINKGATE, "serve"]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == SCHEMA_TOO_NEW_STATUS, result.stderr
    assert "the database is newer than this version of linkgate (revision 0999" in result.stderr
    assert "Traceback" not in result.stderr and "Worker failed to boot" not in result.stderr
    assert "Booting worker" not in result.stderr


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@same_on_every_run
@pytest.mark.parametrize("how", ["gunicorn", "serve"])
def test_a_malformed_request_leaves_no_visitor_address_in_the_log(tmp_path: Path, how: str) -> None:
    port, _, env = one_worker_config(tmp_path)
    log = tmp_path / "server.log"
    process = start([*GUNICORN, APP] if how == "gunicorn" else [*LINKGATE, "serve"], env, log, tmp_path)
    try:
        wait_for(lambda: answers_health(f"http://127.0.0.1:{port}"), timeout=30, what="the server to start")
        for request in (
            b"GET /go?url=https%3A%2F%2Fsecret.example%2F HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            b"GET /go?url=https%3A%2F%2Fsecret.example%2F HTTP/7.1\r\nHost: x\r\n\r\n",
            b"G\x00T /go?url=https%3A%2F%2Fsecret.example%2F HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            assert raw_request(port, request).startswith(b"HTTP/1.1 400")
        wait_for(lambda: log.read_text(errors="replace").count("Invalid request refused") == 3, timeout=10)
    finally:
        stop(process)
    text = log.read_text(errors="replace")
    assert "ip=" not in text and "secret.example" not in text
    visitor_lines = [line for line in text.splitlines() if "127.0.0.1" in line]
    assert all("Listening at" in line for line in visitor_lines), visitor_lines  # the server's own address


def test_json_logs_name_sign_in_outcomes_by_account_and_never_an_address(make_server) -> None:
    server = make_server({"server": {"log_format": "json"}}, start=False)
    create_account(server, "webmaster", ADMIN_PASSWORD)
    server.start()
    signed_in(server, "webmaster")
    assert Browser(server).log_in("webmaster", "not the password").status_code == 200
    assert Browser(server).log_in("hunter2-typed-as-a-name", "x").status_code == 200
    server.stop()
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert entries and all(not line.strip() or line.startswith("{") for line in server.log().splitlines())
    sign_ins = [(entry["outcome"], entry["account"]) for entry in entries if entry.get("event") == "sign_in"]
    assert sign_ins == [("signed_in", "webmaster"), ("failed", "webmaster"), ("failed", None)]
    assert "hunter2" not in server.log()
    assert "127.0.0.1" not in "".join(line for line in server.log().splitlines() if "sign_in" in line)
    assert {"time", "level", "logger", "pid", "message"} <= set(entries[0])


@pytest.mark.parametrize(("window", "kept"), [(300, 0), (0.3, 20)])
def test_a_crash_loses_at_most_the_clicks_of_one_flush_window(make_server, window: float, kept: int) -> None:
    """SIGKILL (a crash, an out-of-memory kill) gives a worker no chance to write what it holds: what was
    counted in the last ``server.counts_flush_seconds`` is lost, and nothing older."""
    server = make_server({"server": {"counts_flush_seconds": window}})
    for _ in range(20):
        assert go(server, "https://www.missoulacounty.us/").status_code == 302
    if kept:
        wait_for(lambda: query(server, "select count from click_counts") == [(kept,)], what="a flush")
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    server.process = None
    stored = query(server, "select count from click_counts")
    assert sum(count for (count,) in stored) == kept


@same_on_every_run
def test_healthz_through_a_real_server_says_degraded_while_the_database_is_unreachable(make_server) -> None:
    from tests.test_operations import closed_port_url

    server = make_server({"database": {"url": closed_port_url()}}, start=False)
    server.start()
    health = httpx.get(server.url + "/healthz", timeout=10)
    assert (health.status_code, health.json()["db"]) == (200, "degraded")
    assert go(server, "https://www.missoulacounty.us/").status_code == 302
    server.stop()
    assert "the database cannot be reached" in server.log()
