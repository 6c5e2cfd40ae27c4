"""Browser fixtures: one headless Chromium per session (Playwright, sync API) and an axe-core runner.

The browser is Debian's ``/usr/bin/chromium``, never one Playwright downloads. axe-core comes from npm
(``package.json`` at the project root; run ``npm install``). When either is missing the browser tests
fail under CI (``CI=true``) and are skipped elsewhere, so a CI run can never pass without them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from tests.conftest import ROOT, chromium_path

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


def unavailable(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere: a missing browser or axe-core must never look like a pass."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI is set, so browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium not found: install Debian's chromium package (/usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in its own context, e.g. ``new_page(viewport=NARROW, bypass_csp=True)``; closed after."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", WIDE)
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_SCRIPT.is_file():
        unavailable(f"axe-core not found at {AXE_SCRIPT}: run `npm install` in {ROOT}")
    return str(AXE_SCRIPT)


@pytest.fixture
def axe(axe_source: str) -> Callable[[Any], list[dict[str, Any]]]:
    """Run axe-core on a page and return its violations (every impact).

    ``add_script_tag`` inserts axe as an inline script, which the gate's CSP (``script-src 'self'``)
    rightly refuses: pages checked with axe must come from a context made with ``bypass_csp=True``.
    """

    def run(page: Any) -> list[dict[str, Any]]:
        page.add_script_tag(path=axe_source)
        # resultTypes: full node lists only for violations, which is all we read (and faster).
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS,
        )
        return list(result["violations"])

    return run


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
