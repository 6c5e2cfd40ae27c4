"""Audit runs in the database, and what changed between a run and the one before it.

Each run is stored as a summary and its (address, problem) pairs, through :class:`linkgate.store.Store`;
two runs of the same start address are compared on those pairs: problems that are new, and problems
that are fixed. A problem is only compared where both runs looked: an address a run did not check
(``--no-check-external``, ``--exclude``, robots.txt, a blocked destination) is stored with the mark
:data:`NOT_CHECKED`, and its problems that need a check are neither fixed by that run nor new in the next;
an interrupted run fixes nothing (what it did not reach, it did not look at) and is no run's baseline.

What each checked address answered is kept too (:func:`keep_results`, ``store.results``), so that the next
run can take a result that answered well within ``--recheck-after`` instead of asking again
(:func:`kept_results`); only a result the check found nothing wrong with but ``insecure`` (which the kept
redirects show again) is taken, and only this run's own checks are kept, at the time they were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from linkgate.audit.checks import APPEARANCE_PROBLEMS, PROBLEMS
from linkgate.health import Fingerprint, changed, domain_of
from linkgate.http import Answer, Hop
from linkgate.sites import Limits, site_key
from linkgate.store import AuditProblemRow, AuditRunRow, LinkResultRow, Store
from linkgate.urls import parse_destination

__all__ = [
    "NOT_CHECKED",
    "RunDiff",
    "diff_runs",
    "host_verdict",
    "is_reusable",
    "keep_results",
    "kept_answer",
    "kept_results",
    "save_run",
]

MAX_SITES = Limits().max_sites  # destinations kept (cache.max_sites' default)
NOT_CHECKED = "not_checked"  # the mark of an address a run found but did not check (not a problem)
# The problems only a check of the address can find; the others are judged on the page or by the rules.
NEEDS_CHECK = frozenset(PROBLEMS) - set(APPEARANCE_PROBLEMS) - {"blocked"}
# A kept result is taken again only when its check found none of these problems but what its kept address,
# redirects and final address show again; any other (a new kind included) has the address asked again.
REUSABLE_PROBLEMS = frozenset({"insecure"})
# The failures that say a host cannot be reached at all, whichever of its addresses is asked.
HOST_UNREACHABLE = frozenset({"dns", "connect", "tls"})
# Judged anew each run, whatever is kept: the rules, the site cache's privacy link, the page's own link.
JUDGED_EACH_RUN = frozenset({"blocked", "no_privacy", *APPEARANCE_PROBLEMS})


@dataclass(frozen=True)
class RunDiff:
    run: AuditRunRow
    previous: AuditRunRow | None
    new: list[AuditProblemRow]
    fixed: list[AuditProblemRow]
    unchanged: int


def save_run(
    store: Store, report: dict[str, Any], report_dir: Path | None, actor: str, *, keep_sites: int = MAX_SITES
) -> int:
    """Store a report's summary and problems, and what it found of each destination's health
    (:func:`keep_health`, at most ``keep_sites`` destinations kept); the new run's id."""
    problems: list[tuple[str, str, str | None, str | None]] = []
    for link in report["links"]:
        page = link["appearances"][0]["page"] if link["appearances"] else None
        detail = link["error"] or (f"HTTP {link['status']}" if link["status"] is not None else None)
        found = link.get("health") or {}
        problems.extend(
            (link["url"], problem, page, found.get(problem) or detail) for problem in link["problems"]
        )
        if not link["checked"]:
            problems.append((link["url"], NOT_CHECKED, page, link["error"]))
    run_id = store.audits.add(
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
    keep_health(store, report, keep_sites)
    return run_id


def keep_health(store: Store, report: dict[str, Any], keep: int = MAX_SITES) -> None:
    """Keep what a run found of its destinations' health (``store.destinations``): the site cache keeps
    each site's fingerprint as it looks the site up for the run; this adds, for each link that moved
    away, its own host's (where it now ends). A complete run then makes each destination's fingerprint its
    baseline, against which the site cache tells a change of hands until the next complete run; an
    interrupted one is no baseline."""
    at = datetime.fromisoformat(report["finished_at"])
    hosts: set[str] = set()
    for link in report["links"]:
        if not link.get("checked") or link.get("internal") or link.get("category") in ("county", "blocked"):
            continue
        try:
            own = site_key(parse_destination(link["url"]))
            final = site_key(parse_destination(link.get("final_url") or link["url"]))
        except ValueError:
            continue
        hosts.add(final)
        found = link.get("health") or {}
        if "moved_away" in found:
            hosts.add(own)
            _keep_move(store, own, link["final_url"], found.get("parked"), at)
    if not report.get("partial"):
        store.destinations.set_baseline(hosts, at)
    store.destinations.trim(keep)


def _keep_move(store: Store, host: str, final_url: str, parked: str | None, at: datetime) -> None:
    """Keep that ``host``'s link now ends at ``final_url``, over what its fingerprint held."""
    row = store.destinations.get(host)
    fingerprint = Fingerprint.from_json(
        {
            **(row.fingerprint if row is not None else {}),
            "final_domain": domain_of(final_url),
            "https": final_url.startswith("https://"),
            "seen_at": at.isoformat(),
            "parked": parked,
        }
    )
    baseline = Fingerprint.from_json(row.baseline) if row is not None and row.baseline else None
    store.destinations.record(
        host,
        fingerprint.as_json(),
        at,
        moved_to=fingerprint.final_domain,
        parked=parked,
        changed=changed(baseline, fingerprint),
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


def kept_results(store: Store, recheck_after: timedelta, now: datetime) -> dict[str, LinkResultRow]:
    """The earlier results checked within ``recheck_after`` before ``now``, by address (none for a
    ``recheck_after`` of 0): a run takes those that answered well (:func:`is_reusable`) instead of asking
    again, and asks the others again."""
    if recheck_after <= timedelta(0):
        return {}
    return store.results.checked_since(now - recheck_after)


def is_reusable(row: LinkResultRow) -> bool:
    """True when a kept result may be reported instead of asking its address again: it answered well, and
    its check found no problem but what its kept address and redirects show again."""
    return row.verdict == "ok" and set(row.problems) <= REUSABLE_PROBLEMS


def host_verdict(state: str, status: int | None, reason: str | None) -> str | None:
    """What a check's outcome (its verdict ``state``, ``status`` and failure ``reason``) says of the whole
    host rather than of one address: ``"refuses"`` (it refuses automatic checks: 401, 403, 429, a bot
    wall), ``"unreachable"`` (its name, a connection or TLS fails), else None. A run asks one of a host's
    links that had such an outcome; while the host still answers so, its other such links are reported
    so without a request of their own (:class:`linkgate.audit.crawl.Crawler`)."""
    if state == "unverified" and status is not None:
        return "refuses"
    if state == "broken" and status is None and reason in HOST_UNREACHABLE:
        return "unreachable"
    return None


def kept_answer(row: LinkResultRow) -> Answer:
    """A kept result as the answer the crawl would have had (without its body and headers)."""
    return Answer(
        row.url,
        row.final_url,
        status=row.status,
        redirects=tuple(Hop(url, status) for url, status in row.redirects),
        error=row.error,
        reason=row.reason,
        attempts=row.attempts,
        method=row.method,
    )


def keep_results(store: Store, report: dict[str, Any], pages: set[str], keep: int) -> int:
    """Keep what this run's checks found of each address (not the ``pages`` it read, not the results it took
    from earlier runs, not those it reported with their host's answer), within ``keep`` rows in all; how
    many were kept."""
    rows = [
        LinkResultRow(
            url=link["url"],
            verdict=link["verdict"],
            status=link["status"],
            final_url=link["final_url"],
            redirects=tuple((hop["url"], hop["status"]) for hop in link["redirects"]),
            method=link["method"] or "GET",
            attempts=link["attempts"],
            error=link["error"],
            reason=link["reason"],
            soft_404=link["soft_404"],
            problems=tuple(code for code in link["problems"] if code not in JUDGED_EACH_RUN),
            checked_at=datetime.fromisoformat(link["checked_at"]),
        )
        for link in report["links"]
        if link["checked_at"]
        and not link["from_earlier_run"]
        # Reported with its host's answer, not asked (attempts 0): its own last check is kept, so that
        # once that is older than --recheck-after the link is asked itself again.
        and link["attempts"]
        and link["url"] not in pages
    ]
    store.results.save(rows, keep=keep)
    return len(rows)
