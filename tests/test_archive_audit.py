"""The audit's report offers the closest archived copy of each broken off-site link (report.json, links.csv,
report.html), looked up after the crawl at a local fake archive, and the notice offers it afterwards."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from linkgate.store.records import LinkResultRow
from tests.test_archive import FakeArchive
from tests.test_audit import html, serve
from tests.test_audit_cli import AUDIT_SETTINGS


@pytest.fixture
def fake_archive(threaded_site: Any) -> FakeArchive:
    return FakeArchive(threaded_site)


@pytest.fixture
def linkgate(make_app: Any, fake_archive: FakeArchive) -> Any:
    return make_app(
        {**AUDIT_SETTINGS, "archive": {"url": f"{fake_archive.base}/wayback/available"}},
        start=False,
    )


def county_site(site: Any) -> tuple[str, str]:
    """A County page linking to a broken partner page the archive holds, a broken one it does not, a
    working one, and a broken page of the County's own."""
    base, ext = f"http://www.county.test:{site.port}", f"http://ext.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(
        site,
        "/",
        html(
            f'<a href="{ext}/gone">Annual report</a> <a href="{ext}/never">Minutes</a> '
            f'<a href="{ext}/fine">Partner home</a> <a href="/missing">Old County page</a>'
        ),
    )
    serve(site, "/fine", html("<h1>Fine</h1>"))
    return base, ext


def run_audit(linkgate: Any, base: str, out: Path, *more: str) -> dict[str, Any]:
    result = linkgate.cli(
        "audit", base + "/", "--out", str(out), "--no-check-privacy", "--retries", "0", *more
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report


def test_the_report_offers_the_closest_archived_copy_of_broken_off_site_links(
    linkgate: Any, site: Any, fake_archive: FakeArchive, tmp_path: Path
) -> None:
    base, ext = county_site(site)
    fake_archive.held[f"{ext}/gone"] = ("20190301120000", "20230101000000")
    out = tmp_path / "report"
    report = run_audit(linkgate, base, out)
    links = {link["url"]: link for link in report["links"]}
    snapshot = f"{fake_archive.base}/web/20230101000000/{ext}/gone"
    assert links[f"{ext}/gone"]["archived"] == {"url": snapshot, "date": "2023-01-01T00:00:00+00:00"}
    assert links[f"{ext}/never"]["archived"] is None
    assert links[f"{ext}/fine"]["archived"] is None
    assert links[f"{base}/missing"]["archived"] is None
    # Asked for the two broken off-site links only: never for a working one or one of the County's.
    asked = sorted(request.args["url"] for request, _ in fake_archive.server.log)
    assert asked == [f"{ext}/gone", f"{ext}/never"]
    assert any("Archived copies" in note and "found for 1 of 2" in note for note in report["notes"])

    rows = {row["url"]: row for row in csv.DictReader((out / "links.csv").open(encoding="utf-8"))}
    assert (rows[f"{ext}/gone"]["archived_url"], rows[f"{ext}/gone"]["archived_date"]) == (
        snapshot,
        "2023-01-01T00:00:00+00:00",
    )
    assert rows[f"{ext}/never"]["archived_url"] == ""

    page = (out / "report.html").read_text(encoding="utf-8")
    # Midnight UTC on New Year's Day is still the last day of 2022 in Missoula.
    assert (
        f'<a class="archived" href="{snapshot}" rel="noopener noreferrer">Archived copy (2022-12-31)</a>'
        in page
    )
    assert page.count("Archived copy (") == 1

    # The next run asks the archive nothing: its answers, a miss included, are kept.
    before = fake_archive.asked
    again = run_audit(linkgate, base, tmp_path / "again", "--recheck-after", "0")
    assert fake_archive.asked == before
    assert {link["url"]: link for link in again["links"]}[f"{ext}/gone"]["archived"]["url"] == snapshot

    # The notice offers the copy of the broken destination, not of the others.
    server = linkgate.start()
    notice = server.get("/go", params={"url": f"{ext}/gone"}).text
    assert "See the archived copy" in notice and snapshot in notice
    assert "See the archived copy" not in server.get("/go", params={"url": f"{ext}/fine"}).text


def test_the_copy_is_from_before_the_link_was_last_known_to_work(
    linkgate: Any, site: Any, fake_archive: FakeArchive, tmp_path: Path
) -> None:
    """An earlier run's result (tests/test_audit_recheck.py) says the link worked in mid-2021: the copy
    offered is the one from before then, not the latest."""
    base, ext = county_site(site)
    fake_archive.held[f"{ext}/gone"] = ("20190301120000", "20210615083000", "20230101000000")
    linkgate.cli("db", "upgrade")
    linkgate.store().results.save(
        [
            LinkResultRow(
                url=f"{ext}/gone",
                verdict="ok",
                status=200,
                final_url=f"{ext}/gone",
                redirects=(),
                method="GET",
                attempts=1,
                error=None,
                reason=None,
                soft_404=False,
                problems=("insecure",),
                checked_at=datetime(2022, 2, 1, tzinfo=UTC),
            )
        ],
        keep=100,
    )
    report = run_audit(linkgate, base, tmp_path / "report", "--recheck-after", "0")
    gone = {link["url"]: link for link in report["links"]}[f"{ext}/gone"]
    assert gone["archived"]["date"] == "2021-06-15T08:30:00+00:00"
    asked = [request for request, _ in fake_archive.server.log if request.args["url"] == f"{ext}/gone"]
    assert [request.args["timestamp"] for request in asked] == ["20220201000000"]


def test_without_an_archive_the_report_has_no_copies_and_asks_nothing(
    make_app: Any, site: Any, fake_archive: FakeArchive, tmp_path: Path
) -> None:
    linkgate = make_app(
        {
            "county": {"domains": ["county.test"]},
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": ["www.county.test=127.0.0.1", "ext.test=127.0.0.1"],
            },
        },
        start=False,
    )
    base, ext = county_site(site)
    fake_archive.held[f"{ext}/gone"] = ("20190301120000",)
    report = run_audit(linkgate, base, tmp_path / "report")
    assert all(link["archived"] is None for link in report["links"])
    assert fake_archive.asked == 0
    assert not any("Archived copies" in note for note in report["notes"])
