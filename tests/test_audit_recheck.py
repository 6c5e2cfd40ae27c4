"""``linkgate audit --recheck-after``: results kept between runs (issue #19, §2).

Real local sites (pytest-httpserver on 127.0.0.1) count the requests each path gets, on the server's
side; the store is a real database of the run's kind. The crawler runs in this process for the judgements
(the time a result is judged against is given, never waited for), and as ``linkgate audit`` for what the
webmaster sees (the option, the reports, the site cache).
"""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug import Request, Response

from linkgate.audit import AuditOptions, Crawler, build_report, keep_results, kept_results
from linkgate.audit.history import is_reusable
from linkgate.audit.records import AuditResult
from linkgate.classify import Classifier, RuleSet
from linkgate.clock import county_time
from linkgate.config import DEFAULT_ACTIONS, parse_duration
from linkgate.sites import SiteFacts
from linkgate.store import LinkResultRow
from tests.conftest import HeldPage, local_server, wait_for
from tests.test_audit import GATE, LOCAL, html, link, resolver, serve
from tests.test_audit_cli import AUDIT_SETTINGS

DAY = timedelta(hours=24)


def requested(server: Any) -> Counter[str]:
    """How many requests each path of ``server`` got (any method), on the server's side."""
    return Counter(request.path for request, _ in server.log)


def problems(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(entry["url"], code) for entry in report["links"] for code in entry["problems"]}


class Privacy:
    """The privacy lookups a run asks for (the site cache's part, in this process): each site's answer,
    and how many times each was asked."""

    def __init__(self, none: frozenset[str] = frozenset()) -> None:
        self.none = none
        self.asked: Counter[str] = Counter()

    def __call__(self, key: str) -> SiteFacts:
        self.asked[key] += 1
        if key in self.none:
            return SiteFacts(key, "none", None)
        return SiteFacts(key, "found", f"https://{key}/privacy")


def audit(
    store: Any,
    start: str,
    *,
    recheck_after: timedelta = DAY,
    now: datetime | None = None,
    keep: int = 1000,
    privacy: Privacy | None = None,
    stop_when: threading.Event | None = None,
) -> tuple[AuditResult, dict[str, Any]]:
    """One run as ``linkgate audit`` makes it: the results kept within ``recheck_after`` of ``now`` taken,
    the run's own checks kept (at most ``keep`` rows); stopped (partial) once ``stop_when`` is set."""
    earlier = kept_results(store, recheck_after, now or datetime.now(UTC))
    crawler = Crawler(
        AuditOptions(start, timeout=3.0, retries=0),
        policy=LOCAL,
        resolver=resolver,
        classifier=Classifier(("county.test",), DEFAULT_ACTIONS, RuleSet()),
        gate=GATE,
        privacy=privacy,
        earlier=earlier,
    )

    async def main() -> AuditResult:
        if stop_when is None:
            return await crawler.run()

        async def stop() -> None:
            await asyncio.to_thread(stop_when.wait, 10)
            crawler.stop()

        stopper = asyncio.create_task(stop())
        try:
            return await crawler.run()
        finally:
            stop_when.set()
            await stopper

    result = asyncio.run(main())
    report = build_report(result)
    keep_results(store, report, {page.url for page in result.pages}, keep)
    return result, report


def plant(site: Any, ext: Any, extra: str = "") -> tuple[str, str]:
    """A County page linking to an off-site page that works, one that is gone, one that refuses checkers,
    one that redirects to an http:// page (the working one), and one that refuses HEAD and answers GET
    with 200 "Page not found"."""
    base, other = f"http://www.county.test:{site.port}", f"http://ext.test:{ext.port}"
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(
        site,
        "/",
        html(
            f'<a href="{other}/ok">Working partner page</a>\n'
            f'<a href="{other}/gone">Gone partner page</a>\n'
            f'<a href="{other}/refuses">Refusing partner page</a>\n'
            f'<a href="{other}/moved">Moved partner page</a>\n'
            f'<a href="{other}/missing">Missing partner page</a>\n' + extra
        ),
    )
    serve(ext, "/ok", html("<h1>Partner</h1>"))
    ext.expect_request("/gone").respond_with_data("gone", status=404)
    ext.expect_request("/refuses").respond_with_data("no robots", status=403)
    ext.expect_request("/moved").respond_with_data("", status=301, headers={"Location": "/ok"})
    ext.expect_request("/missing", method="HEAD").respond_with_data("", status=405)
    ext.expect_request("/missing", method="GET").respond_with_data(
        html("<h1>Page not found</h1>", title="Page not found"), content_type="text/html"
    )
    serve(ext, "/new", html("<h1>New</h1>"))
    return base + "/", other


# ---- the duration ----


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("0", timedelta(0)),
        ("0h", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("2d", timedelta(days=2)),
        (" 24H ", DAY),
    ],
)
def test_a_duration_is_a_whole_number_and_a_unit(text, span):
    assert parse_duration(text) == span


@pytest.mark.database_free
@pytest.mark.parametrize("text", ["", "12", "1.5h", "-1h", "2w", "h", "١٢h", "12 h", "3651d", "9999999999d"])
def test_anything_else_is_not_a_duration(text):
    with pytest.raises(ValueError, match=r"is not a duration|is longer than"):
        parse_duration(text)


# ---- the crawler and the store ----


def test_a_link_that_answered_well_is_not_asked_again_and_the_same_problems_are_reported(store, site, ext):
    start, other = plant(site, ext)
    privacy = Privacy(none=frozenset({f"ext.test:{ext.port}"}))
    _, first = audit(store, start, privacy=privacy)
    assert requested(ext) == {"/ok": 2, "/gone": 2, "/refuses": 2, "/moved": 1, "/missing": 2}  # HEAD, GET
    ext.clear_log()
    _, second = audit(store, start, privacy=privacy)
    # The working page and the redirect to it (ok, only insecure) were not asked again; the rest were.
    # Asked with GET at once: their HEAD failed in the first run.
    assert requested(ext) == {"/gone": 1, "/refuses": 1, "/missing": 1}
    assert {request.method for request, _ in ext.log} == {"GET"}
    assert problems(second) == problems(first)
    assert {(other + "/moved", "insecure"), (other + "/missing", "soft_404")} <= problems(second)
    assert (other + "/ok", "no_privacy") in problems(second)  # the privacy lookup is still made...
    assert privacy.asked == {f"ext.test:{ext.port}": 2}  # ...once a run (the site cache answers it)
    for path in ("/ok", "/moved"):
        before, after = link(first, other + path), link(second, other + path)
        assert (before["from_earlier_run"], after["from_earlier_run"]) == (False, True)
        assert after["checked_at"] == before["checked_at"] is not None
        for field in ("status", "final_url", "redirects", "verdict", "method", "https", "soft_404"):
            assert after[field] == before[field], field
    for path in ("/gone", "/refuses", "/missing"):
        assert link(second, other + path)["from_earlier_run"] is False
    assert second["totals"]["from_earlier_runs"] == 2
    assert second["totals"]["requests"] < first["totals"]["requests"]


def test_a_new_link_is_always_checked(store, site, ext):
    start, other = plant(site, ext)
    audit(store, start)
    site.clear()
    ext.clear_log()
    plant(site, ext, extra=f'<a href="{other}/new">New partner page</a>')
    _, report = audit(store, start)
    assert requested(ext)["/new"] == 1 and requested(ext)["/ok"] == 0
    assert link(report, other + "/new")["from_earlier_run"] is False


def test_recheck_after_zero_checks_every_link(store, site, ext):
    start, _ = plant(site, ext)
    audit(store, start)
    ext.clear_log()
    _, report = audit(store, start, recheck_after=timedelta(0))
    assert requested(ext) == {"/ok": 2, "/gone": 2, "/refuses": 2, "/moved": 1, "/missing": 2}
    assert not any(entry["from_earlier_run"] for entry in report["links"])
    assert report["totals"]["from_earlier_runs"] == 0


def test_a_result_older_than_the_window_is_checked_again(store, site, ext):
    start, other = plant(site, ext)
    audit(store, start)
    ext.clear_log()
    later = datetime.now(UTC) + timedelta(hours=25)  # the next day's run
    _, report = audit(store, start, now=later)
    assert requested(ext)["/ok"] == 2  # its own HEAD, and the redirect's (also checked again)
    assert link(report, other + "/ok")["from_earlier_run"] is False
    ext.clear_log()
    _, report = audit(store, start, now=later, recheck_after=timedelta(hours=48))  # within a longer one
    assert requested(ext)["/ok"] == 0


def test_a_result_taken_from_an_earlier_run_keeps_its_time_so_it_ages_out(store, site, ext):
    start, other = plant(site, ext)
    audit(store, start)
    checked = store.results.get(other + "/ok").checked_at
    audit(store, start)  # takes it, and keeps no new time for it
    assert store.results.get(other + "/ok").checked_at == checked


def test_the_pages_read_are_not_kept_and_every_check_is(store, site, ext):
    start, other = plant(site, ext)
    audit(store, start)
    assert store.results.get(start) is None
    gone = store.results.get(other + "/gone")
    assert gone is not None
    assert (gone.verdict, gone.status, gone.problems) == ("broken", 404, ("broken", "insecure"))
    moved = store.results.get(other + "/moved")
    assert moved is not None and moved.redirects == ((other + "/moved", 301),)
    assert moved.final_url == other + "/ok"
    assert store.results.get(other + "/missing").soft_404 is True


def kept(url: str, checked_at: datetime, **values: Any) -> LinkResultRow:
    fields: dict[str, Any] = {
        "verdict": "ok",
        "status": 200,
        "final_url": url,
        "redirects": (),
        "method": "HEAD",
        "attempts": 1,
        "error": None,
        "reason": None,
        "soft_404": False,
        "problems": (),
    }
    return LinkResultRow(url=url, checked_at=checked_at, **(fields | values))


def test_the_table_keeps_at_most_its_bound_the_oldest_checks_dropped(store, site, ext):
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [kept(f"https://ext.test/{i}", at + timedelta(minutes=i)) for i in range(1200)]
    assert store.results.save(rows, keep=1000) == 200
    assert store.results.count() == 1000
    assert store.results.get("https://ext.test/199") is None
    assert store.results.get("https://ext.test/200") is not None
    # A run keeps its own within the bound too, and its new checks are never the ones dropped.
    start, other = plant(site, ext)
    audit(store, start, keep=1000)
    assert store.results.count() == 1000
    assert store.results.get(other + "/ok") is not None


def test_a_long_address_is_kept_whole_and_found_again(store):
    url = "https://ext.test/" + "a" * 5000
    at = datetime.now(UTC).replace(microsecond=0)
    row = kept(url, at, redirects=((url + "/b", 301),), method="GET", problems=("insecure",), last_ok_at=at)
    store.results.save([row], keep=100)
    assert store.results.get(url) == row
    assert set(kept_results(store, DAY, datetime.now(UTC))) == {url}
    store.results.save([kept(url, at, verdict="broken", status=404, problems=("broken",))], keep=100)
    assert store.results.count() == 1
    assert [is_reusable(row) for row in kept_results(store, DAY, datetime.now(UTC)).values()] == [False]


def test_an_interrupted_run_keeps_only_the_checks_it_finished(store, site, ext):
    start, other = plant(site, ext, extra=f'<a href="http://ext.test:{ext.port}/held">Held partner page</a>')
    held = HeldPage(html("<h1>Held</h1>"))
    ext.expect_request("/held").respond_with_handler(held)
    stop = threading.Event()
    arrived = threading.Thread(target=lambda: wait_for(lambda: held.arrived, timeout=10) or stop.set())
    arrived.start()
    _, partial = audit(store, start, stop_when=stop)
    arrived.join()
    held.release.set()
    assert partial["partial"] is True
    assert store.results.get(other + "/held") is None  # asked, never answered: nothing kept
    _, full = audit(store, start)
    assert full["partial"] is False
    assert link(full, other + "/held")["from_earlier_run"] is False
    assert link(full, other + "/held")["verdict"] == "ok"
    _, fresh = audit(store, start, recheck_after=timedelta(0))
    assert problems(full) == problems(fresh)


# ---- linkgate audit ----


@pytest.fixture
def linkgate(make_app):
    return make_app(AUDIT_SETTINGS, start=False)


def by_host(server: Any) -> Counter[tuple[str, str]]:
    return Counter((request.host.partition(":")[0], request.path) for request, _ in server.log)


def one_site(site: Any) -> tuple[str, str]:
    """The County's pages and a partner's on one local server (told apart by Host)."""
    base, other = f"http://www.county.test:{site.port}", f"http://ext.test:{site.port}"

    def page(request: Request) -> Response:
        if request.host.startswith("ext.test"):
            body = html('<h1>Partner</h1><a href="/privacy">Privacy policy</a>')
        else:
            body = html(f'<a href="{other}/partner">Our partner</a> <a href="{other}/gone">Gone partner</a>')
        return Response(body, content_type="text/html")

    site.expect_request("/").respond_with_handler(page)
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(site, "/partner", html('<h1>Partner</h1><a href="/privacy">Privacy policy</a>'))
    serve(site, "/privacy", html("<h1>Privacy Policy</h1>", title="Privacy Policy"))
    site.expect_request("/gone").respond_with_data("gone", status=404)
    return base + "/", other


@pytest.mark.server
def test_the_command_takes_earlier_results_and_the_reports_say_so(linkgate, tmp_path, site):
    start, other = one_site(site)
    first_out, second_out = tmp_path / "first", tmp_path / "second"
    first = linkgate.cli("audit", start, "--out", str(first_out), "--retries", "0")
    assert first.returncode == 0, first.stderr
    asked = by_host(site)
    assert (
        asked[("ext.test", "/partner")] == 1 and asked[("ext.test", "/")] >= 1
    )  # the check, the site cache's
    site.clear_log()
    second = linkgate.cli("audit", start, "--out", str(second_out), "--retries", "0")
    assert second.returncode == 0, second.stderr
    assert "1 link(s) not asked again: earlier runs' results (--recheck-after)." in second.stdout
    asked = by_host(site)
    # Only the broken link is asked again off the site: the working one, and its site's privacy link
    # (fresh in the site cache), are not.
    assert {key: count for key, count in asked.items() if key[0] == "ext.test"} == {("ext.test", "/gone"): 1}
    assert asked[("www.county.test", "/")] == 1  # the site's own pages are read as ever
    before = json.loads((first_out / "report.json").read_text())
    after = json.loads((second_out / "report.json").read_text())
    assert problems(after) == problems(before)
    partner = link(after, other + "/partner")
    assert partner["from_earlier_run"] is True
    assert partner["checked_at"] == link(before, other + "/partner")["checked_at"]
    assert partner["privacy_url"] == other + "/privacy"
    assert link(after, other + "/gone")["from_earlier_run"] is False
    assert any("not asked again" in note and "--recheck-after 24h" in note for note in after["notes"])
    rows = {row["url"]: row for row in csv.DictReader((second_out / "links.csv").open(encoding="utf-8"))}
    assert (rows[other + "/partner"]["from_earlier_run"], rows[other + "/partner"]["checked_at"]) == (
        "yes",
        partner["checked_at"],
    )
    assert rows[other + "/gone"]["from_earlier_run"] == "no"
    page = (second_out / "report.html").read_text()
    shown = county_time(datetime.fromisoformat(partner["checked_at"]), "America/Denver", seconds=True)
    assert f'From an earlier run: checked <time datetime="{partner["checked_at"]}">{shown}</time>' in page
    assert page.count("From an earlier run") == 1
    assert "<dt>Results from earlier runs</dt><dd>1</dd>" in page
    again = linkgate.cli("audit", start, "--out", str(tmp_path / "all"), "--recheck-after", "0")
    assert again.returncode == 0, again.stderr
    everything = json.loads((tmp_path / "all" / "report.json").read_text())
    assert not any(entry["from_earlier_run"] for entry in everything["links"])


@pytest.mark.server
@pytest.mark.parametrize("value", ["5", "1.5h", "2w", "-1h", ""])
def test_a_bad_duration_is_one_line_and_status_2(linkgate, tmp_path, value):
    result = linkgate.cli(
        "audit", "https://www.county.test/", "--out", str(tmp_path), "--recheck-after", value, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("linkgate: error: --recheck-after: ")
    assert "is not a duration" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_broken_link_fixed_since_is_found_working(store, site, ext):
    start, other = plant(site, ext)
    _, first = audit(store, start)
    assert "broken" in link(first, other + "/gone")["problems"]
    ext.clear()
    serve(ext, "/gone", html("<h1>Back again</h1>"))
    _, second = audit(store, start)
    back = link(second, other + "/gone")
    assert (back["verdict"], back["method"], back["from_earlier_run"]) == ("ok", "GET", False)
    assert "broken" not in back["problems"]


def test_when_a_link_last_answered_well_is_kept_through_its_failed_checks(store, site, ext):
    """What the archived copy offered for a broken link is dated by (§3): the last check that answered
    well, however many runs found it broken since."""
    start, other = plant(site, ext)
    audit(store, start)
    answered = store.results.get(other + "/ok")
    assert answered.last_ok_at == answered.checked_at
    assert store.results.get(other + "/gone").last_ok_at is None  # never answered well
    ext.clear()
    ext.expect_request("/ok").respond_with_data("gone", status=404)
    for _ in range(2):
        _, report = audit(store, start, recheck_after=timedelta(0))
        assert "broken" in link(report, other + "/ok")["problems"]
        broken = store.results.get(other + "/ok")
        assert broken.verdict == "broken" and broken.checked_at >= answered.checked_at
        assert broken.last_ok_at == answered.checked_at


@pytest.mark.server
def test_no_store_takes_the_kept_results_and_keeps_none(linkgate, tmp_path, site):
    start, other = one_site(site)
    linkgate.cli("audit", start, "--out", str(tmp_path / "first"), "--retries", "0", "--no-store")
    store = linkgate.store()
    assert store.results.count() == 0
    linkgate.cli("audit", start, "--out", str(tmp_path / "second"), "--retries", "0")
    assert store.results.get(other + "/partner") is not None
    site.clear_log()
    linkgate.cli("audit", start, "--out", str(tmp_path / "third"), "--retries", "0", "--no-store")
    third = json.loads((tmp_path / "third" / "report.json").read_text())
    assert link(third, other + "/partner")["from_earlier_run"] is True
    assert by_host(site)[("ext.test", "/partner")] == 0


def test_a_link_that_moved_away_is_asked_again_and_reported_so_both_times(store, site, ext):
    """§1's problems come out the same from a kept result: a link that now ends on another registrable
    domain is asked again (its check found a problem), one that answered well is taken."""
    other, other_site = f"http://ext.test:{ext.port}", f"http://other.test:{ext.port}"
    start, _ = plant(site, ext, extra=f'<a href="{other}/away">Partner that moved</a>')
    ext.expect_request("/away").respond_with_data(
        "", status=301, headers={"Location": other_site + "/landing"}
    )
    serve(ext, "/landing", html("<h1>Someone else</h1>"))
    _, first = audit(store, start)
    assert "moved_away" in link(first, other + "/away")["problems"]
    ext.clear_log()
    _, second = audit(store, start)
    assert requested(ext)["/away"] == 1 and requested(ext)["/ok"] == 0
    assert problems(second) == problems(first)


# ---- links rechecked host by host ----


@pytest.fixture
def walled() -> Any:
    server = local_server()
    yield server
    server.stop()


REPORTS = 10


def refusing_partner(site: Any, walled: Any, extra: str = "") -> tuple[str, str]:
    """A County page linking to ten reports on a partner's host that answers 403 to every request (a
    firewall in front of it), and to a gone page on another host."""
    base, other = f"http://www.county.test:{site.port}", f"http://other.test:{walled.port}"
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    links = "\n".join(f'<a href="{other}/report/{i}">Partner report {i}</a>' for i in range(REPORTS))
    serve(site, "/", html(links + extra))
    for i in range(REPORTS):
        walled.expect_request(f"/report/{i}").respond_with_data(
            "<title>Access denied</title>", status=403, content_type="text/html"
        )
    return base + "/", other


def test_a_host_that_still_refuses_checks_is_asked_once_and_its_links_reported_the_same(store, site, walled):
    start, other = refusing_partner(site, walled)
    _, first = audit(store, start)
    assert len(walled.log) == 2 * REPORTS  # each asked: HEAD, then GET
    walled.clear_log()
    _, second = audit(store, start)
    assert len(walled.log) == 1  # one of them, with GET at once
    assert problems(second) == problems(first)
    asked = walled.log[0][0].path
    for i in range(REPORTS):
        entry = link(second, f"{other}/report/{i}")
        assert (entry["verdict"], entry["status"], entry["from_earlier_run"]) == ("unverified", 403, False)
        assert entry["checked_at"] is not None
        if f"/report/{i}" == asked:
            assert entry["attempts"] == 1 and entry["error"] is None
        else:
            assert entry["attempts"] == 0
            assert entry["error"] == f"host still refuses automatic checks: asked {other}{asked} (HTTP 403)"
    assert any("9 links on 1 host that still refuses automatic checks" in note for note in second["notes"])
    walled.clear_log()
    _, third = audit(store, start)  # and so on, run after run
    assert len(walled.log) == 1
    assert problems(third) == problems(first)
    # Those reported with the host's answer keep their own last check's time: once it is older than
    # --recheck-after, each is asked itself again (a page of the host that opened up is then seen).
    told = link(second, f"{other}/report/{(int(asked.rsplit('/', 1)[1]) + 1) % REPORTS}")
    assert store.results.get(told["url"]).checked_at.isoformat() == link(first, told["url"])["checked_at"]
    walled.clear_log()
    audit(store, start, now=datetime.now(UTC) + timedelta(hours=25))
    assert len(walled.log) == 2 * REPORTS


def test_a_host_that_answers_again_has_each_of_its_links_checked(store, site, walled):
    start, other = refusing_partner(site, walled)
    _, first = audit(store, start)
    assert all("unverified" in link(first, f"{other}/report/{i}")["problems"] for i in range(REPORTS))
    walled.clear()
    for i in range(REPORTS):
        serve(walled, f"/report/{i}", html(f"<h1>Report {i}</h1>"))
    _, second = audit(store, start)
    assert Counter(request.path for request, _ in walled.log) == {f"/report/{i}": 1 for i in range(REPORTS)}
    for i in range(REPORTS):
        entry = link(second, f"{other}/report/{i}")
        assert (entry["verdict"], entry["status"], entry["error"]) == ("ok", 200, None)
        assert "unverified" not in entry["problems"]


def test_a_refused_host_does_not_spare_a_broken_link_nor_another_host(store, site, walled, ext):
    """Only the links the host refused before wait for its answer: a gone page (404) is asked each run,
    and so is a link on another host."""
    gone = f"http://ext.test:{ext.port}/gone"
    start, _ = refusing_partner(site, walled, extra=f'<a href="{gone}">Gone partner page</a>')
    ext.expect_request("/gone").respond_with_data("gone", status=404)
    _, first = audit(store, start)
    walled.clear_log()
    ext.clear_log()
    _, second = audit(store, start)
    assert len(walled.log) == 1 and requested(ext) == {"/gone": 1}
    assert problems(second) == problems(first)
    assert "broken" in link(second, gone)["problems"]


def test_an_unreachable_host_is_tried_once_and_its_links_reported_unreachable(store, site):
    """A host whose name no longer resolves: one of its links is tried, the others are reported broken
    with the same reason, saying which one was tried."""
    gone = "http://expired.test"
    base = f"http://www.county.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(site, "/", html("\n".join(f'<a href="{gone}/page/{i}">Old partner {i}</a>' for i in range(4))))
    _, first = audit(store, base + "/")
    _, second = audit(store, base + "/")
    assert problems(second) == problems(first)
    entries = [link(second, f"{gone}/page/{i}") for i in range(4)]
    assert all((entry["verdict"], entry["reason"]) == ("broken", "dns") for entry in entries)
    told = [entry for entry in entries if (entry["error"] or "").startswith("host still unreachable: asked ")]
    assert len(told) == 3 and all(entry["attempts"] == 0 for entry in told)
