"""The built wheel, installed in a fresh venv outside the checkout, serves the notice page with its CSS and
its translations, /healthz and /metrics; and the single-server steps of docs/deploy.md, run as written by
scripts/deploy-single-server.sh, install that wheel and serve with it."""

from __future__ import annotations

import os
import re
import signal
import site
import sqlite3
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, answers_health, free_port, wait_for

# Both install linkgate as a single server installs it, with SQLite in the instance folder, whatever the
# run's database: the PostgreSQL run would repeat them as they are.
pytestmark = [pytest.mark.server, pytest.mark.sqlite_only]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = wheels.glob("linkgate-*.whl")
    return built


def test_wheel_installed_outside_the_checkout_serves_notice_and_css(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from the test environment (no network); linkgate itself only from the wheel.
    (site_packages / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site_packages),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    env.update(
        LINKGATE_INSTANCE=str(workdir / "instance"),
        LINKGATE_SERVER_PORT=str(port),
        LINKGATE_SERVER_WORKERS="1",
        LINKGATE_FETCH_SYSTEM_RESOLVER="false",  # the notice looks nothing up on the network
        PYTHONPATH="",
    )
    located = subprocess.run(
        [python, "-c", "import linkgate, sys; print(linkgate.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(site_packages) in located and str(ROOT) not in located
    usage = subprocess.run(
        [python, "-m", "linkgate.cli", "--help"],
        check=False,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert usage.returncode == 0 and "linkgate: Missoula County" in usage.stdout, usage.stderr
    process = subprocess.Popen(
        [python, "-m", "linkgate.cli", "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers_health(base), timeout=30, what="the installed server to answer")
        notice = httpx.get(base + "/go", params={"url": "https://www.missoulian.com/"}, timeout=10)
        assert notice.status_code == 200
        assert "You are leaving Missoula County" in notice.text
        css = httpx.get(base + "/static/linkgate.css", timeout=10)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert ".button" in css.text
        # The message catalogues were compiled into the wheel by the build (hatch_build.py).
        spanish = httpx.get(
            base + "/go", params={"url": "https://www.missoulian.com/", "lang": "es"}, timeout=10
        )
        assert "Está saliendo del sitio web del Condado de Missoula" in spanish.text
        assert '<html lang="es">' in spanish.text
        assert httpx.get(base + "/healthz", timeout=10).json()["db"] == "ok"
        metrics = httpx.get(base + "/metrics", timeout=10)
        assert metrics.status_code == 200
        clicks = {
            sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(metrics.text)
            if family.name == "linkgate_clicks"
            for sample in family.samples
        }
        assert clicks == {"redirect": 0, "notice": 2, "block": 0, "invalid": 0}
    finally:
        process.terminate()
        process.wait(timeout=20)


def guide_steps(guide: str) -> tuple[list[str], list[int]]:
    """The shell blocks the guide marks as steps (indented ones too), and its step numbers in order."""
    blocks = re.findall(r"^[ \t]*<!-- step -->\n[ \t]*```sh\n", guide, re.M)
    numbers = [int(number) for number in re.findall(r"\*\*Step (\d+)\.\*\*", guide)]
    return blocks, numbers


def test_every_shell_block_of_the_single_server_walk_through_is_a_numbered_step() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks, numbers = guide_steps(guide)
    assert numbers == list(range(1, len(blocks) + 1))
    walk_through = guide[
        guide.index("## One server with SQLite") : guide.index("### What the nginx site does")
    ]
    assert walk_through.count("```sh") == walk_through.count("<!-- step -->") == 7
    for number in numbers:  # each label is followed by its block before the next label
        after = guide.split(f"**Step {number}.**", 1)[1]
        assert "<!-- step -->" in after.split(f"**Step {number + 1}.**", 1)[0], number


def test_deployment_guide_single_server_steps_run_as_written(wheel: Path, tmp_path: Path) -> None:
    """scripts/deploy-single-server.sh: every numbered step, nginx, the backup, a restore and the uninstall,
    with the shipped files unchanged, on this machine's nginx (in namespaces of its own)."""
    if os.geteuid() != 0:
        pytest.skip("the rehearsal runs the guide's steps as root, in namespaces of their own")
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    steps = len(guide_steps(guide)[0])
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "deploy-single-server.sh"), "--wheel", str(wheel), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:  # the script stops what the steps started when it is told to stop
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 0, output[-4000:]
    assert output.count("--- step ") == steps and f"--- step {steps} of {steps}" in output
    assert "deploy-single-server: every step passed" in output
    # What the steps did, seen from outside: linkgate installed from the wheel, served by hand, by the
    # service and through nginx, reloaded, backed up, restored, uninstalled.
    assert "Successfully installed linkgate-" in output
    assert re.search(r"^linkgate \d+\.\d+", output, re.M)
    assert output.count('"db":"ok"') == 3  # by hand, through nginx, after the restore
    assert output.count("302 https://www.missoulacounty.us/") == 2  # by hand, through nginx over TLS
    assert 'linkgate_clicks_total{outcome="redirect"} 1.0' in output
    assert output.count("nginx: configuration file /etc/nginx/nginx.conf test is successful") == 2
    assert "Active: active (running)" in output
    assert not re.search(r"^linkgate: (error|warning)", output, re.M)
    root = tmp_path / "root"
    # The service: started, reloaded (the check passed, then SIGHUP), no visitor's address in its log.
    journal = (root / "var" / "log" / "rehearsal-journal" / "linkgate.service.log").read_text()
    assert "Handling signal: hup" in journal and "ip=" not in journal
    # nginx: the requests reached it by name, and its log holds no address and no query string.
    access = (root / "var" / "log" / "nginx" / "linkgate-access.log").read_text().splitlines()
    assert any(re.search(r'"GET /go HTTP/[0-9.]+" 302 ', line) for line in access)  # curl speaks HTTP/2
    assert all("?" not in line and "127.0.0.1 " not in line.split('"')[0] for line in access)
    # The instance folder's files are its account's, unreadable to others.
    instance = root / "var" / "lib" / "linkgate"
    for name in ("linkgate.db", "secret_key"):
        assert (instance / name).stat().st_mode & 0o007 == 0, name
    # The backup: database, key, configuration and rules, readable by its owner only.
    (backup,) = (root / "var" / "backups" / "linkgate").glob("20*")
    assert sorted(path.name for path in backup.iterdir()) == [
        "config.tar.gz",
        "linkgate.db",
        "rules.csv",
        "secret_key",
    ]
    assert all(path.stat().st_mode & 0o077 == 0 for path in backup.iterdir())
    with sqlite3.connect(backup / "linkgate.db") as conn:
        assert conn.execute("SELECT name, role FROM accounts").fetchall() == [("webmaster", "admin")]
    assert (backup / "rules.csv").read_text().startswith("pattern,")
    assert (backup / "secret_key").read_text() == (instance / "secret_key").read_text()
    with tarfile.open(backup / "config.tar.gz") as archive:
        assert "linkgate/linkgate.toml" in archive.getnames()
