"""The repository stands alone: nothing it tracks reads or links to a file outside it.

A clone with nothing beside it must install, run and pass its tests, so the data the tests and benchmarks
use lives under ``tests/data/`` (with its provenance and licence) and the County's policy under ``docs/``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.database_free

# Written in two pieces so that this file does not name what it looks for.
OUTSIDE = re.compile(
    r"\.\./+" + r"shared\b|/work/" + r"shared\b|parents?(\[\d\])?\s*/\s*[\"']" + r"shared[\"']"
)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


@pytest.fixture(scope="module")
def tracked() -> list[Path]:
    files = _tracked_files()
    assert len(files) > 100, "git ls-files listed too little: not a checkout?"
    return files


def test_no_tracked_file_names_a_folder_beside_the_repository(tracked: list[Path]) -> None:
    offenders = []
    for path in tracked:
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {m.group()}" for m in OUTSIDE.finditer(text)]
    assert not offenders, "\n".join(offenders)


def test_every_relative_link_in_the_docs_stays_inside_the_repository(tracked: list[Path]) -> None:
    broken = []
    for doc in (p for p in tracked if p.suffix == ".md"):
        for match in MARKDOWN_LINK.finditer(doc.read_text(encoding="utf-8")):
            target = match.group(1).split("#", 1)[0]
            if not target or re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {match.group(1)}")
    assert not broken, "\n".join(broken)


def test_the_data_the_tests_read_ships_with_its_provenance() -> None:
    data = ROOT / "tests" / "data"
    assert "BSD" in (data / "url" / "SOURCES.txt").read_text(encoding="utf-8")
    assert (data / "url" / "urltestdata.json").stat().st_size > 100_000
    sources = (data / "privacy" / "SOURCES.csv").read_text(encoding="utf-8").splitlines()
    labels = (data / "privacy" / "labels.csv").read_text(encoding="utf-8").splitlines()
    assert sources[0] == "id,repo,path,commit"
    assert len(sources) == len(labels) > 100
    assert (data / "privacy" / "pages.tar.xz").stat().st_size > 1_000_000
    policy = (ROOT / "docs" / "county-privacy-policy.txt").read_text(encoding="utf-8")
    assert "Source:" in policy and "INTERNET PRIVACY AND SECURITY POLICY" in policy


def test_every_module_is_named_in_the_architecture() -> None:
    """docs/architecture.md's module table says where each module sits: a module it does not name is one a
    newcomer cannot place (the migrations' own files are covered by naming ``linkgate/migrations/``)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "`linkgate/migrations/`" in text
    unnamed = []
    for path in sorted((ROOT / "linkgate").rglob("*.py")):
        relative = path.relative_to(ROOT)
        if path.stem in ("__init__", "__main__") or "migrations" in relative.parts:
            continue
        names = (
            f"`{path.stem}`",
            f"`{path.stem}.",
            f"`{relative.as_posix()}`",
            f"`{relative.parent.as_posix()}/`",
        )
        if not any(name in text for name in names[:3]):
            unnamed.append(relative.as_posix())
    assert not unnamed, f"not named in docs/architecture.md: {unnamed}"


def test_linkgate_s_modules_import_one_another_without_a_cycle() -> None:
    # benchmarks/structure.py reads the source with ast and counts deferred imports too (issue #16).
    import sys

    report = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "structure.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "import cycles: 0\n" in report, report
