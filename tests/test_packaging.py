"""The built wheel, installed in a fresh venv outside the checkout, serves the notice page with its CSS and
its translations."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.server


def test_wheel_installed_outside_the_checkout_serves_notice_and_css(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
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
    (wheel,) = wheels.glob("linkgate-*.whl")
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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
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
    finally:
        process.terminate()
        process.wait(timeout=20)
