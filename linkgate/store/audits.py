"""The link audit's history: one row per run, and one per (address, problem) it found, so that two runs
can be compared without keeping whole reports in the database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from linkgate.store.engine import Database
from linkgate.store.records import AuditProblemRow, AuditRunRow, as_utc
from linkgate.store.schema import audit_problems, audit_runs

# PostgreSQL refuses a key entry over 2,704 bytes, so a link address longer than this (in UTF-8) is kept
# as its start and a digest of the whole (the same link gives the same key in every run, two links two).
MAX_PROBLEM_URL = 2_000


class Audits:
    """The audit runs' repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        run: Mapping[str, Any],
        problems: list[tuple[str, str, str | None, str | None]],
        actor: str,
    ) -> int:
        """Record an audit run (``start_url``, ``started_at``, ``finished_at``, ``partial``, ``pages``,
        ``links``, ``problems`` as code -> count, ``report_dir``) and its (url, problem, page, detail)
        rows; the run's id."""
        with self._db.begin() as conn:
            inserted = conn.execute(
                sa.insert(audit_runs).values(
                    start_url=run["start_url"],
                    started_at=run["started_at"],
                    finished_at=run["finished_at"],
                    partial=bool(run["partial"]),
                    pages=int(run["pages"]),
                    links=int(run["links"]),
                    problems=json.dumps(run["problems"]),
                    report_dir=run.get("report_dir"),
                    actor=actor,
                )
            ).inserted_primary_key
            assert inserted is not None
            run_id = inserted[0]
            unique = {(_problem_url(url), problem): (page, detail) for url, problem, page, detail in problems}
            if unique:
                conn.execute(
                    sa.insert(audit_problems),
                    [
                        {"run_id": run_id, "url": url, "problem": problem, "page": page, "detail": detail}
                        for (url, problem), (page, detail) in unique.items()
                    ],
                )
        return int(run_id)

    def runs(self, limit: int = 50, offset: int = 0) -> list[AuditRunRow]:
        """Audit runs, newest first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(audit_runs).order_by(audit_runs.c.id.desc()).offset(offset).limit(limit)
            ).all()
        return [_audit_run_from_row(row) for row in rows]

    def get(self, run_id: int) -> AuditRunRow | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(audit_runs).where(audit_runs.c.id == run_id)).first()
        return None if row is None else _audit_run_from_row(row)

    def previous(self, run: AuditRunRow) -> AuditRunRow | None:
        """The last complete run of the same start address before ``run``, to compare it with."""
        with self._db.connect() as conn:
            row = conn.execute(
                sa.select(audit_runs)
                .where(
                    audit_runs.c.start_url == run.start_url,
                    audit_runs.c.id < run.id,
                    audit_runs.c.partial.is_(False),
                )
                .order_by(audit_runs.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _audit_run_from_row(row)

    def problems(self, run_id: int) -> list[AuditProblemRow]:
        with self._db.connect() as conn:
            rows = conn.execute(
                sa.select(audit_problems)
                .where(audit_problems.c.run_id == run_id)
                .order_by(audit_problems.c.problem, audit_problems.c.url)
            ).all()
        return [AuditProblemRow(row.url, row.problem, row.page, row.detail) for row in rows]


def _problem_url(url: str) -> str:
    """``url`` as audit_problems keys it: whole up to MAX_PROBLEM_URL bytes, else its start and a digest
    of the whole."""
    encoded = url.encode("utf-8", "replace")
    if len(encoded) <= MAX_PROBLEM_URL:
        return url
    start = encoded[: MAX_PROBLEM_URL - 50].decode("utf-8", "ignore")  # never half a character
    return f"{start}… [sha256 {hashlib.sha256(encoded).hexdigest()[:32]}]"


def _audit_run_from_row(row: Any) -> AuditRunRow:
    return AuditRunRow(
        id=row.id,
        start_url=row.start_url,
        started_at=as_utc(row.started_at) or row.started_at,
        finished_at=as_utc(row.finished_at) or row.finished_at,
        partial=bool(row.partial),
        pages=row.pages,
        links=row.links,
        problems=json.loads(row.problems),
        report_dir=row.report_dir,
        actor=row.actor or "",
    )
