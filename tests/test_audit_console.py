"""The console's Link audits pages: the runs, new and fixed problems between two, an audit started from
the console (the real ``linkgate audit`` command against a real local site) and its report files."""

from __future__ import annotations

import html
import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from linkgate.audit import save_run
from tests.browser.console_pages import audit_report
from tests.conftest import HeldPage, local_server
from tests.console import ADMIN_PASSWORD, VIEWER_PASSWORD, Browser, create_account, signed_in, wait_for
from tests.test_audit import html as page_html
from tests.test_audit import serve

pytestmark = pytest.mark.server


def report(started: str, problems: dict[str, list[str]], *, partial: bool = False) -> dict[str, Any]:
    return audit_report(datetime.fromisoformat(started), problems, minutes=0, partial=partial)


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
        f"Compared with run {first} of 2026-03-01: 1 new problem, 2 fixed, 1 still there."
        in html.unescape(page.text)
    )
    assert rows(page.text, "new-problems") == [("https://new.example/?a=1&b=<2>", "no_privacy")]
    assert sorted(rows(page.text, "fixed-problems")) == [
        ("http://old.example/", "bypass"),
        ("https://gone.example/", "broken"),
    ]
    assert "&lt;2&gt;" in page.text  # escaped
    # The folder is not shown (it is the server's), and its files are gone: nothing to link to.
    assert "/var/lib/linkgate/audit" not in page.text
    assert "Not kept" in page.text

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


# ---- an audit started from the console ----------------------------------------------------------------


@pytest.fixture
def site() -> Any:
    server = local_server()
    yield server
    if server.is_running():
        server.stop()


@pytest.fixture
def county(make_app, site, monkeypatch):
    """A console whose County site is the local ``site``; the audit command it starts reads the same
    configuration, from the environment, as it would under gunicorn."""
    server = make_app(
        {
            "county": {"domains": ["county.test"], "home_url": f"http://www.county.test:{site.port}/"},
            "fetch": {"allow_networks": ["127.0.0.0/8"], "resolve": ["www.county.test=127.0.0.1"]},
        },
        start=False,
    )
    create_account(server, "admin", ADMIN_PASSWORD)
    create_account(server, "viewer", VIEWER_PASSWORD, role="viewer")
    for name in ("LINKGATE_CONFIG", "LINKGATE_INSTANCE"):
        monkeypatch.setenv(name, server.env[name])
    return server.start()


def job_state(browser: Browser, job: str) -> str:
    page = browser.get(job)
    assert page.status_code == 200, page.text
    found = re.search(r'id="job-state" data-state="(\w+)"', page.text)
    assert found is not None
    return found.group(1)


def test_an_admin_audits_the_county_site_watches_it_and_reads_its_reports(county, site):
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    home = HeldPage(page_html('<a href="/about">About the County</a>\n<a href="/gone">Old page</a>'))
    site.expect_request("/").respond_with_handler(home)
    serve(site, "/about", page_html("<h1>About</h1>"))
    admin = signed_in(county)
    listing = admin.get("/admin/audits/")
    assert 'id="no-runs"' in listing.text and "Start an audit" in listing.text
    # An earlier run of the same address took 2.5 minutes: the audit's page says what to expect.
    earlier = audit_report(datetime(2026, 3, 1, 9, tzinfo=UTC), {"https://gone.example/": ["broken"]}) | {
        "start_url": f"http://www.county.test:{site.port}/",
        "finished_at": "2026-03-01T09:02:30+00:00",
    }
    save_run(county.store(), earlier, None, "cli:test")

    started = admin.submit("/admin/audits/start", {}, form_path="/admin/audits/")
    assert started.status_code == 303
    job = started.headers["location"]
    assert re.fullmatch(r"/admin/audits/jobs/\d{8}-\d{6}-[0-9a-f]{8}", job)
    wait_for(lambda: home.arrived, timeout=30, what="the audit to ask for the home page")
    try:
        # While the home page is held the audit is running: the page says so and offers to reload itself.
        running = admin.get(job)
        assert 'data-state="running"' in running.text
        # The command's counts so far (its --progress lines, the first as the crawl starts).
        wait_for(lambda: 'id="job-progress"' in admin.get(job).text, timeout=30, what="the progress line")
        assert re.search(r"So far: \d+ pages? read, \d+ queued", admin.get(job).text)
        assert "The last audit of this address took less than 3 minutes." in running.text
        assert '<meta http-equiv="refresh"' not in running.text  # only when asked for
        assert 'content="10"' in admin.get(job + "?refresh=on").text
        assert 'id="audit-running"' in admin.get("/admin/audits/").text
        # One at a time: a second start shows the audit that is running.
        again = admin.submit("/admin/audits/start", {}, form_path="/admin/audits/")
        assert again.headers["location"] == job
        assert "running already" in admin.get(job).text
    finally:
        home.release.set()
    wait_for(lambda: job_state(admin, job) != "running", timeout=60, what="the audit to finish")
    finished = admin.get(job)
    assert 'data-state="finished"' in finished.text, finished.text
    run_path = re.search(r'href="(/admin/audits/\d+)" id="job-run"', finished.text).group(1)

    run = admin.get(run_path)
    assert "web:admin (from the console)" in run.text
    links = dict(
        (name, href)
        for href, name in re.findall(
            r'href="(' + run_path + r'/(report\.html|links\.csv|report\.json))"', run.text
        )
    )
    assert set(links) == {"report.html", "links.csv", "report.json"}
    report = admin.get(links["report.html"])
    assert report.status_code == 200
    assert report.headers["content-type"] == "text/html; charset=utf-8"
    assert "sandbox" in report.headers["content-security-policy"]
    assert "Link audit of" in report.text and "On the site" in report.text
    rows = admin.get(links["links.csv"])
    assert rows.headers["content-disposition"].startswith("attachment")
    assert f"http://www.county.test:{site.port}/gone" in rows.text
    document = json.loads(admin.get(links["report.json"]).text)
    assert document["start_url"] == f"http://www.county.test:{site.port}/"
    assert document["problems"]["broken"] == 1


def test_report_files_are_served_only_from_a_stored_runs_folder_to_the_signed_in(county, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    for name in ("report.html", "links.csv", "report.json", "secret.txt"):
        (folder / name).write_text(name, encoding="utf-8")
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    run_id = save_run(county.store(), report(now, {}), folder, "cli:test")
    admin = signed_in(county)
    assert admin.get(f"/admin/audits/{run_id}/report.json").text == "report.json"
    for name in ("secret.txt", "..%2Flinkgate.toml", "%2E%2E", "%2E%2E%2Freports%2Freport.json", "job.json"):
        assert admin.get(f"/admin/audits/{run_id}/{name}").status_code == 404, name
    assert admin.get("/admin/audits/999999/report.json").status_code == 404
    assert Browser(county).get(f"/admin/audits/{run_id}/report.json").status_code in (302, 303)
    viewer = signed_in(county, "viewer", VIEWER_PASSWORD)
    assert viewer.get(f"/admin/audits/{run_id}/report.html").status_code == 200
    # A later run of the command with the same folder replaced the file: it is not this run's report.
    later = time.time() + 3 * 3600
    os.utime(folder / "links.csv", (later, later))
    assert admin.get(f"/admin/audits/{run_id}/links.csv").status_code == 404
    page = admin.get(f"/admin/audits/{run_id}").text
    assert f"/admin/audits/{run_id}/report.html" in page and f"/admin/audits/{run_id}/links.csv" not in page


def test_viewers_cannot_start_an_audit_and_a_failed_start_shows_what_the_command_said(county, site):
    viewer = signed_in(county, "viewer", VIEWER_PASSWORD)
    assert "An administrator can start an audit" in viewer.get("/admin/audits/").text
    assert viewer.submit("/admin/audits/start", {}, form_path="/admin/audits/").status_code == 403
    site.stop()  # nothing answers at the County's address
    audits = county.directory / "instance" / "audits"
    for day in range(1, 26):  # older audits' folders: the newest are kept, 20 with the new one
        (audits / f"202611{day:02}-090000-0000aaaa").mkdir(parents=True)
    admin = signed_in(county)
    job = admin.submit("/admin/audits/start", {}, form_path="/admin/audits/").headers["location"]
    kept = sorted(path.name for path in audits.iterdir() if path.is_dir())
    assert len(kept) == 20 and kept[0] == "20261107-090000-0000aaaa" and kept[-1] == job.rsplit("/", 1)[1]
    wait_for(lambda: job_state(admin, job) == "failed", timeout=60, what="the audit to stop")
    wait_for(lambda: "exit status 2" in admin.get(job).text, timeout=10, what="its exit status")
    assert "linkgate: error: cannot reach" in html.unescape(admin.get(job).text)
    assert admin.get("/admin/audits/jobs/..%2F..").status_code == 404
    assert admin.get("/admin/audits/jobs/20260101-000000-00000000").status_code == 404


# ---- the report's words -------------------------------------------------------------------------------


def test_the_reports_category_column_has_a_word_for_every_category_and_flag():
    from linkgate.audit.checks import PROBLEMS
    from linkgate.audit.html import CATEGORY_LABELS, FLAG_LABELS, PROBLEM_LABELS
    from linkgate.classify import FLAGS
    from linkgate.config import CATEGORIES

    assert set(CATEGORY_LABELS) == set(CATEGORIES)
    assert set(FLAG_LABELS) == set(FLAGS)
    assert set(PROBLEM_LABELS) == set(PROBLEMS)
    assert all("_" not in label for label in [*CATEGORY_LABELS.values(), *FLAG_LABELS.values()])
