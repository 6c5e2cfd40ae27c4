"""Audit runs in the database, and what changed between a run and the one before it.

Each run is stored as a summary and its (address, problem) pairs, through :class:`linkgate.store.Store`;
two runs of the same start address are compared on those pairs: problems that are new, and problems
that are fixed. A problem is only compared where both runs looked: an address a run did not check
(``--no-check-external``, ``--exclude``, robots.txt, a blocked destination) is stored with the mark
:data:`NOT_CHECKED`, and its problems that need a check are neither fixed by that run nor new in the next;
an interrupted run fixes nothing (what it did not reach, it did not look at) and is no run's baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from linkgate.audit.checks import APPEARANCE_PROBLEMS, PROBLEMS
from linkgate.store import AuditProblemRow, AuditRunRow, Store

__all__ = ["NOT_CHECKED", "RunDiff", "diff_runs", "save_run"]

NOT_CHECKED = "not_checked"  # the mark of an address a run found but did not check (not a problem)
# The problems only a check of the address can find; the others are judged on the page or by the rules.
NEEDS_CHECK = frozenset(PROBLEMS) - set(APPEARANCE_PROBLEMS) - {"blocked"}


@dataclass(frozen=True)
class RunDiff:
    run: AuditRunRow
    previous: AuditRunRow | None
    new: list[AuditProblemRow]
    fixed: list[AuditProblemRow]
    unchanged: int


def save_run(store: Store, report: dict[str, Any], report_dir: Path | None, actor: str) -> int:
    """Store a report's summary and problems; the new run's id."""
    problems: list[tuple[str, str, str | None, str | None]] = []
    for link in report["links"]:
        page = link["appearances"][0]["page"] if link["appearances"] else None
        detail = link["error"] or (f"HTTP {link['status']}" if link["status"] is not None else None)
        problems.extend((link["url"], problem, page, detail) for problem in link["problems"])
        if not link["checked"]:
            problems.append((link["url"], NOT_CHECKED, page, link["error"]))
    return store.audits.add(
        {
            "start_url": report["start_url"],
            "started_at": datetime.fromisoformat(report["started_at"]),
            "finished_at": datetime.fromisoformat(report["finished_at"]),
            "partial": report["partial"],
            "pages": report["totals"]["pages"],
            "links": report["totals"]["links"],
            "problems": report["problems"],
            "report_dir": str(report_dir) if report_dir is not None else None,
        },
        problems,
        actor,
    )


def diff_runs(store: Store, run: AuditRunRow, previous: AuditRunRow | None = None) -> RunDiff:
    """What ``run`` found that ``previous`` (by default the last complete run of the same site) did not,
    and the reverse, where both looked (see the module's docstring). With no previous run every problem
    is new; an interrupted run fixes nothing."""
    if previous is None:
        previous = store.audits.previous(run)
    current, unchecked_now = _problems(store, run.id)
    before, unchecked_then = _problems(store, previous.id) if previous is not None else ({}, set())
    new = [
        row
        for key, row in current.items()
        if key not in before and not (row.problem in NEEDS_CHECK and row.url in unchecked_then)
    ]
    fixed = [
        row
        for key, row in before.items()
        if key not in current
        and not run.partial
        and not (row.problem in NEEDS_CHECK and row.url in unchecked_now)
    ]
    return RunDiff(run, previous, new, fixed, len(current) - len(new))


def _problems(store: Store, run_id: int) -> tuple[dict[tuple[str, str], AuditProblemRow], set[str]]:
    """A run's problems by (address, problem), and the addresses it did not check."""
    rows = store.audits.problems(run_id)
    unchecked = {row.url for row in rows if row.problem == NOT_CHECKED}
    return {(row.url, row.problem): row for row in rows if row.problem != NOT_CHECKED}, unchecked
