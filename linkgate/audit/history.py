"""Audit runs in the database, and what changed between a run and the one before it.

Each run is stored as a summary and its (address, problem) pairs, through :class:`linkgate.store.Store`;
two runs of the same start address are compared on those pairs: problems that are new, and problems
that are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from linkgate.store import AuditProblemRow, AuditRunRow, Store

__all__ = ["RunDiff", "diff_runs", "save_run"]


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
    and the reverse. With no previous run every problem is new."""
    if previous is None:
        previous = store.audits.previous(run)
    current = {(row.url, row.problem): row for row in store.audits.problems(run.id)}
    earlier = [] if previous is None else store.audits.problems(previous.id)
    before = {(row.url, row.problem): row for row in earlier}
    new = [row for key, row in current.items() if key not in before]
    fixed = [row for key, row in before.items() if key not in current]
    return RunDiff(run, previous, new, fixed, len(current) - len(new))
