"""What the browser tests share besides their fixtures: Chromium's flags, viewports, axe-core's verdicts.

The fixtures themselves (``browser``, ``new_page``, ``axe``) live in ``tests/conftest.py``, so that every
test module, inside this folder or not, uses the one Chromium of the session: Playwright's sync API
cannot run two instances in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT, LiveServer, serve_console, serve_gate

AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")
IMPACT_ORDER = ("critical", "serious", "moderate", "minor")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 320, "height": 640}


@pytest.fixture(scope="session")
def gate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The root conftest's shared gate, as a real gunicorn: Chromium reaches it through a socket."""
    yield from serve_gate(LiveServer(tmp_path_factory.mktemp("gate")))


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The root conftest's console, as a real gunicorn, for Chromium."""
    yield from serve_console(LiveServer(tmp_path_factory.mktemp("console")))


def count_by_impact(violations: list[dict[str, Any]]) -> dict[str, int]:
    return {impact: sum(1 for v in violations if v.get("impact") == impact) for impact in IMPACT_ORDER}


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation (id, impact, help, rule URL), then the target of each offending node."""
    lines = []
    ranked = sorted(violations, key=lambda v: IMPACT_ORDER.index(v.get("impact") or "minor"))
    for violation in ranked:
        lines.append(
            f"- {violation['id']} [{violation.get('impact')}] {violation['help']} ({violation['helpUrl']})"
        )
        for node in violation["nodes"]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    at {node['target']}: {summary}")
    return "\n".join(lines)


def assert_no_serious_violations(violations: list[dict[str, Any]], where: str) -> None:
    serious = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    assert not serious, (
        f"axe-core found {len(serious)} serious or critical violation(s) on {where} "
        f"(all impacts: {count_by_impact(violations)}):\n{describe_violations(violations)}"
    )
