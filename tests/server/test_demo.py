"""The README's first command: ``linkgate demo`` serves a County page whose links go through the gate."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import LINKGATE, answers_health, free_port, wait_for

pytestmark = pytest.mark.server


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    env["LINKGATE_INSTANCE"] = str(tmp_path / "instance")
    env["LINKGATE_FETCH_SYSTEM_RESOLVER"] = "false"  # the demo's notices look nothing up on the network
    process = subprocess.Popen(
        [*LINKGATE, "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    first_line = process.stdout.readline()
    wait_for(lambda: answers_health(base), timeout=30, what="linkgate demo to answer /healthz")
    yield base, first_line, tmp_path / "instance"
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


def test_demo_prints_where_to_go_and_serves_a_county_page_through_the_gate(demo):
    base, first_line, instance = demo
    assert first_line.strip() == f"linkgate demo: open {base}/ in your browser (Ctrl-C to stop)."
    page = httpx.get(base + "/", timeout=10)
    assert page.status_code == 200
    gate_links = [
        html.unescape(href) for href in re.findall(rf'href="({re.escape(base)}/go\?[^"]+)"', page.text)
    ]
    assert len(gate_links) >= 6
    outcomes = {}
    for link in gate_links:
        destination = parse_qs(urlsplit(link).query)["url"][0]
        outcomes[destination] = httpx.get(link, follow_redirects=False, timeout=10).status_code
    assert outcomes["https://www.visitmontana.com/"] == 302  # the demo's trusted partner, signed link
    assert outcomes["https://malware-example.com/"] == 403  # the demo's blocked site
    assert outcomes["https://www.mt.gov/"] == 200  # a notice
    assert (instance / "demo.db").is_file()  # the demo keeps its own database
