"""The link audit: crawl the County's site and report every link on it (``linkgate audit``).

:class:`Crawler` reads pages and checks links under linkgate's fetch rules; :func:`build_report` turns
a run into the report document, from which :func:`write_reports` writes ``report.json``, ``links.csv``
and ``report.html``; :func:`save_run` and :func:`diff_runs` keep runs in the database and compare them.
"""

from __future__ import annotations

from linkgate.audit.checks import PROBLEMS
from linkgate.audit.crawl import Crawler, Progress
from linkgate.audit.history import RunDiff, diff_runs, keep_results, kept_results, save_run
from linkgate.audit.records import AuditOptions, AuditResult
from linkgate.audit.report import FORMATS, SCHEMA_VERSION, build_report, write_reports

__all__ = [
    "FORMATS",
    "PROBLEMS",
    "SCHEMA_VERSION",
    "AuditOptions",
    "AuditResult",
    "Crawler",
    "Progress",
    "RunDiff",
    "build_report",
    "diff_runs",
    "keep_results",
    "kept_results",
    "save_run",
    "write_reports",
]
