"""The drop-in script stays small: under 3 KB minified and gzipped, as County pages will load it.

terser (pinned in package.json, installed by ``npm ci``) minifies the readable source the way a build
would; without it the test fails under CI and is skipped elsewhere. The source gzipped as it is, comments
and all, must fit the same budget at gzip's default level: a bound that needs no tool at all.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, unavailable

pytestmark = pytest.mark.database_free

SCRIPT = ROOT / "static" / "linkgate.js"
TERSER = ROOT / "node_modules" / "terser" / "bin" / "terser"
BUDGET = 3 * 1024
# Servers compress at different levels (nginx's default is 1, zlib's and gzip's 6, the best 9): what
# ships fits the budget at every one of them.
GZIP_LEVELS = (1, 6, 9)


def gzipped(data: bytes, levels: tuple[int, ...] = GZIP_LEVELS) -> int:
    return max(len(gzip.compress(data, compresslevel=level, mtime=0)) for level in levels)


def minified() -> bytes:
    node = shutil.which("node")
    if node is None or not TERSER.is_file():
        unavailable(f"terser or node not found: run `npm ci` in {ROOT}")
    result = subprocess.run(
        [node, str(TERSER), str(SCRIPT), "--compress", "--mangle"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_source_gzipped_as_it_is_fits_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    raw = SCRIPT.read_bytes()
    size = gzipped(raw, levels=(6,))
    with capsys.disabled():
        print(f"\nstatic/linkgate.js: {len(raw)} bytes raw, {size} bytes gzipped (gzip -6)")
    assert size <= BUDGET


def test_minified_and_gzipped_script_is_under_3_kb(capsys: pytest.CaptureFixture[str]) -> None:
    code = minified()
    assert b"linkgate-note" in code and b"/go" in code, "terser gave back something else"
    with capsys.disabled():
        print(
            f"\nstatic/linkgate.js: {len(code)} bytes minified, {gzipped(code, (9,))} to "
            f"{gzipped(code)} bytes minified and gzipped (gzip -9 to -1)"
        )
    assert gzipped(code) < BUDGET
