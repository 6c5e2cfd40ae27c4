"""The console's pages as a browser sees them: a seeded server, signing in, and every page worth a look.

Shared by the accessibility tests (axe-core on every page) and by ``python -m tests.browser.screenshots``
(the pictures in docs/webmaster.md), so the pictures show the pages the tests check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from tests.conftest import LiveServer
from tests.console import ADMIN_PASSWORD, create_account

# The destination the link builder and "test a link" pages are shown with.
SAMPLE_LINK = "https://www.partner-library.example/catalog?branch=missoula"
SAMPLE_SITE = "www.example.org"
# An audit started from the console (its folder under the instance's audits/) and the run it stored.
SAMPLE_JOB = "20261201-090000-0a1b2c3d"


def seeded_server(directory: Path) -> LiveServer:
    """A server with rules, counts, a cached site with an override, and a change log worth reading."""
    server = LiveServer(directory)
    create_account(server, "webmaster", ADMIN_PASSWORD)
    create_account(server, "reader", ADMIN_PASSWORD, role="viewer")
    for args in (
        ("allow", "partner-library.example", "--note", "Missoula Public Library's catalogue"),
        ("allow", "mt.gov", "--action", "redirect", "--note", "State of Montana"),
        ("block", "free-prizes.example", "--note", "Reported as a scam"),
        ("block", "login.partner-library.example", "--exact", "--note", "Old login host, now a phish"),
    ):
        server.cli(*args)
    server.cli("site", "set-privacy", SAMPLE_SITE, "https://www.example.org/privacy")
    store = server.store()
    store.create_schema()
    today = datetime.now(ZoneInfo("America/Denver")).date()  # the County's day, as the server counts
    clicks: dict[Any, int] = {}
    for back in range(30):
        day = today - timedelta(days=back)
        for domain, outcome, base in (
            ("mt.gov", "redirect", 40),
            ("example.org", "notice", 25),
            ("partner-library.example", "redirect", 12),
            ("free-prizes.example", "block", 2),
        ):
            clicks[(day, domain, outcome)] = base + (back * 7) % 11
    store.counts.add(clicks, {(today, "bad_signature"): 3, (today, "deceptive_flag"): 1})
    seed_audits(server)
    return server


COUNTY_HOME = "https://www.missoulacounty.us/"


def audit_report(
    started: datetime, problems: dict[str, list[str]], *, minutes: int = 3, partial: bool = False
) -> dict[str, Any]:
    """What ``save_run`` reads of a report: a run of the County's site ``minutes`` long that found
    ``problems`` (address -> problem codes), each on one page."""
    counts: dict[str, int] = {}
    for codes in problems.values():
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
    return {
        "start_url": COUNTY_HOME,
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=minutes)).isoformat(),
        "partial": partial,
        "totals": {"pages": 212, "links": 1840},
        "problems": counts,
        "links": [
            {
                "url": url,
                "problems": codes,
                "error": None,
                "status": 404 if "broken" in codes else 200,
                "checked": True,
                "appearances": [{"page": COUNTY_HOME + "departments/parks"}],
            }
            for url, codes in problems.items()
        ],
    }


def seed_audits(server: LiveServer) -> None:
    """Two runs of the County's site, the second started from the console, with its report files."""
    from linkgate.audit import save_run

    now = datetime.now(UTC).replace(microsecond=0)
    store = server.store()
    save_run(
        store,
        audit_report(
            now - timedelta(days=7),
            {
                "http://www.fishwildlife.example/licenses": ["insecure"],
                "https://old-partner.example/": ["broken"],
            },
        ),
        None,
        "cli:linkgate",
    )
    folder = server.directory / "instance" / "audits" / SAMPLE_JOB
    folder.mkdir(parents=True)
    started = now - timedelta(minutes=4)
    (folder / "job.json").write_text(
        json.dumps({"start_url": COUNTY_HOME, "started_at": started.isoformat(), "by": "web:webmaster"})
    )
    (folder / "output.txt").write_text("212 page(s) read, 1840 link(s) (310 off-site), 3 with problems.\n")
    (folder / "exit_status").write_text("0")
    for name in ("report.html", "links.csv", "report.json"):
        (folder / name).write_text(name)
    save_run(
        store,
        audit_report(
            started,
            {
                "http://www.fishwildlife.example/licenses": ["insecure"],
                "https://www.library-events.example/calendar": ["no_privacy"],
                "https://www.missoulacounty.us/old-forms": ["broken"],
            },
        ),
        folder.resolve(),
        "cli:linkgate",
    )


def sign_in(page: Any, server: LiveServer, name: str = "webmaster") -> None:
    page.goto(server.url + "/admin/login")
    page.fill("#login-name", name)
    page.fill("#login-password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.rstrip("/").endswith("/admin"), f"sign-in failed: {page.url}"


def console_pages(server: LiveServer) -> dict[str, str]:
    """Name -> path of every HTML page of the console: each GET route, plus the pages behind forms."""
    from linkgate.web import create_app

    app = create_app(None, **{"database.url": server.database_url})
    pages: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in (rule.methods or ()):
            continue
        if rule.arguments or rule.rule.startswith("/admin/api/") or rule.rule.endswith((".csv", ".json")):
            continue
        pages[rule.endpoint.removeprefix("admin.")] = rule.rule
    store = server.store()
    first_rule = store.rules.page(limit=1).records[0].rule
    pages.update(
        {
            "rules.edit": f"/admin/rules/{first_rule.id}/edit",
            "rules.delete": f"/admin/rules/{first_rule.id}/delete",
            "rules.test?url": "/admin/rules/test?url=" + quote(SAMPLE_LINK, safe=""),
            "rules.test?bad": "/admin/rules/test?url=javascript%3Aalert(1)",
            "links.index?url": "/admin/links/?url=" + quote(SAMPLE_LINK, safe=""),
            "changelog.index?bad": "/admin/log/?from=yesterday",
            "stats.index?bad": "/admin/stats/?from=2026-05-02&to=2026-05-01",
        }
    )
    last_run = store.audits.runs(limit=1)
    if last_run:
        pages["audits.run"] = f"/admin/audits/{last_run[0].id}"
        pages["audits.job"] = f"/admin/audits/jobs/{SAMPLE_JOB}"
    if any(rule.rule == "/admin/sites/<host>" for rule in app.url_map.iter_rules()):
        pages["sites.site"] = f"/admin/sites/{SAMPLE_SITE}"
    added = store.changes.page(action="rule.add", limit=1).entries[0]
    pages.update(
        {
            "sites.forget": f"/admin/sites/{SAMPLE_SITE}/forget",
            "sites.remove_override": f"/admin/sites/{SAMPLE_SITE}/remove-override",
            "sites.no_policy": f"/admin/sites/{SAMPLE_SITE}/no-policy",
            "changelog.entry": f"/admin/log/{added.id}",
            "changelog.revert": f"/admin/log/{added.id}/revert",
            "accounts.account": "/admin/accounts/reader",
            "accounts.remove": "/admin/accounts/reader/remove",
        }
    )
    return pages
