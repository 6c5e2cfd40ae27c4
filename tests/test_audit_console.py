"""The console's Link audits pages on a real server: the runs, and new and fixed problems between two."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from linkgate.audit import save_run
from tests.console import VIEWER_PASSWORD, Browser, signed_in

pytestmark = pytest.mark.server

START = "https://www.missoulacounty.us/"


def report(started: str, problems: dict[str, list[str]], *, partial: bool = False) -> dict[str, Any]:
    links = [
        {
            "url": url,
            "problems": codes,
            "error": None,
            "status": 404 if "broken" in codes else 200,
            "appearances": [{"page": START + "news"}],
        }
        for url, codes in problems.items()
    ]
    counts: dict[str, int] = {}
    for codes in problems.values():
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
    return {
        "start_url": START,
        "started_at": started,
        "finished_at": started,
        "partial": partial,
        "totals": {"pages": 12, "links": len(links)},
        "problems": counts,
        "links": links,
    }


def rows(page: str, table: str) -> list[tuple[str, str]]:
    section = page.split(f'id="{table}"')[1].split("</table>", maxsplit=1)[0]
    return [
        (html.unescape(url), problem)
        for url, problem in re.findall(r'data-url="([^"]+)" data-problem="([^"]+)"', section)
    ]


def test_runs_are_listed_and_a_run_shows_new_and_fixed_problems(console):
    store = console.store()
    first = save_run(
        store,
        report(
            "2026-03-01T09:00:00+00:00",
            {"https://gone.example/": ["broken"], "http://old.example/": ["insecure", "bypass"]},
        ),
        None,
        "cli:test",
    )
    save_run(store, report("2026-03-04T09:00:00+00:00", {}, partial=True), None, "cli:test")
    third = save_run(
        store,
        report(
            "2026-03-08T09:00:00+00:00",
            {"http://old.example/": ["insecure"], "https://new.example/?a=1&b=<2>": ["no_privacy"]},
        ),
        "/var/lib/linkgate/audit",
        "cli:timer",
    )
    browser = signed_in(console)
    listing = browser.get("/admin/audits/")
    assert listing.status_code == 200
    assert re.findall(r'<tr data-run="(\d+)">', listing.text)[:3] == [str(third), str(third - 1), str(first)]
    assert "(partial)" in listing.text
    assert 'aria-current="page">Link audits' in listing.text

    page = browser.get(f"/admin/audits/{third}")
    assert page.status_code == 200
    assert (
        f"Compared with run {first} of 2026-03-01: 1 new problems, 2 fixed, 1 still there."
        in html.unescape(page.text)
    )
    assert rows(page.text, "new-problems") == [("https://new.example/?a=1&b=<2>", "no_privacy")]
    assert sorted(rows(page.text, "fixed-problems")) == [
        ("http://old.example/", "bypass"),
        ("https://gone.example/", "broken"),
    ]
    assert "&lt;2&gt;" in page.text  # escaped
    assert "/var/lib/linkgate/audit" in page.text

    oldest = browser.get(f"/admin/audits/{first}")
    assert 'id="no-previous"' in oldest.text
    assert len(rows(oldest.text, "new-problems")) == 3
    assert browser.get("/admin/audits/999999").status_code == 404


def test_viewers_may_read_audits_and_strangers_are_sent_to_sign_in(console):
    viewer = signed_in(console, "viewer", VIEWER_PASSWORD)
    assert viewer.get("/admin/audits/").status_code == 200
    stranger = Browser(console).get("/admin/audits/")
    assert stranger.status_code in (302, 303)
    assert "/admin/login" in stranger.headers["location"]
