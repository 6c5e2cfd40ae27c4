"""``linkgate audit`` as the webmaster and the weekly timer run it: real processes, real local sites.

The configuration opts in to 127.0.0.0/8 and pins the names used; ``fetch.system_resolver`` is off, so
nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Response

from tests.conftest import LINKGATE, wait_for
from tests.console import query
from tests.test_audit import html, serve

pytestmark = pytest.mark.server


# The configuration of the audit command's tests: the County at county.test, one off-site host, both served
# on 127.0.0.1 (tests/test_audit_recheck.py and tests/test_archive_audit.py use it too).
AUDIT_SETTINGS: dict[str, Any] = {
    "county": {"domains": ["county.test"]},
    "fetch": {
        "allow_networks": ["127.0.0.0/8"],
        "resolve": ["www.county.test=127.0.0.1", "ext.test=127.0.0.1"],
    },
    "server": {"public_url": "https://links.county.test"},
}


@pytest.fixture
def linkgate(make_app):
    return make_app(AUDIT_SETTINGS, start=False)


def audit(linkgate, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return linkgate.cli("audit", *args, check=check)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://www.county.test/"], "must begin with http:// or https://"),
        (["www.county.test"], "must begin with http:// or https://"),
        (["http://unpinned.test/"], "cannot reach http://unpinned.test/"),
        (
            ["https://www.county.test/", "--per-host", "9", "--concurrency", "2"],
            "--per-host (9) cannot be more",
        ),
        (["https://ext.test/", "--ignore-robots"], "--ignore-robots is only for the County's own site"),
        (["https://ext.test/", "--same-site"], "--same-site reads every County domain"),
        (["https://www.county.test/", "--format", "pdf"], "--format: unknown value 'pdf'"),
        (["https://www.county.test/", "--fail-on", "ugly"], "--fail-on: unknown value 'ugly'"),
        (["https://www.county.test/", "--include", "("], "is not a valid regular expression"),
        (["https://www.county.test/", "--out", "/proc/linkgate-audit"], "cannot write the report into"),
    ],
)
def test_bad_input_is_one_line_and_status_2(linkgate, tmp_path, args, message):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    result = audit(linkgate, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("linkgate: error:")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-pages", "0"], "Invalid value for '--max-pages': 0 is not in the range x>=1."),
        (["--max-depth", "-1"], "Invalid value for '--max-depth': -1 is not in the range x>=0."),
        (
            ["--max-sitemap-entries", "-1"],
            "Invalid value for '--max-sitemap-entries': -1 is not in the range x>=0.",
        ),
        (["--concurrency", "0"], "Invalid value for '--concurrency': 0 is not in the range x>=1."),
        (["--per-host", "0"], "Invalid value for '--per-host': 0 is not in the range x>=1."),
        (["--retries", "-1"], "Invalid value for '--retries': -1 is not in the range x>=0."),
        (["--delay", "-0.5"], "Invalid value for '--delay': -0.5 is not in the range 0<=x<=3600."),
        (["--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range 0<x<=3600."),
        (["--timeout", "nan"], "Invalid value for '--timeout': 'nan' is not a number of seconds."),
        (["--delay", "inf"], "Invalid value for '--delay': inf is not in the range 0<=x<=3600."),
        (["--delay", "nan"], "Invalid value for '--delay': 'nan' is not a number of seconds."),
    ],
)
def test_a_number_out_of_range_is_clicks_usage_error_with_status_2(linkgate, tmp_path, args, message):
    """Click checks the ranges (click.IntRange, click.FloatRange): its usage error names the option, the
    value and the range, after the usage line, as for an unknown option."""
    result = audit(linkgate, "https://www.county.test/", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything is done


def test_a_site_that_refuses_connections_is_an_error_not_a_traceback(linkgate, tmp_path, site):
    port = site.port
    site.stop()
    result = audit(linkgate, f"http://www.county.test:{port}/", "--out", str(tmp_path), "--retries", "0")
    assert result.returncode == 2
    assert result.stderr.startswith(f"linkgate: error: cannot reach http://www.county.test:{port}/")
    site.start()


def test_reports_are_written_stored_and_compared_with_the_last_run(linkgate, tmp_path, site):
    base = f"http://www.county.test:{site.port}"
    ext = f"http://ext.test:{site.port}"
    state = {"fixed": False}
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    site.expect_request("/").respond_with_handler(
        lambda _r: Response(
            html(
                f'<a href="/about">About the County</a>\n<a href="{ext}/partner">click here</a>\n'
                + ('<a href="/new-page">New page</a>' if state["fixed"] else '<a href="/old">Old page</a>')
            ),
            content_type="text/html",
        )
    )
    serve(site, "/about", html("<h1>About</h1>"))
    serve(site, "/new-page", html("<h1>New</h1>"))
    site.expect_request("/partner").respond_with_data(
        html('<a href="/privacy">Privacy policy</a>'), content_type="text/html"
    )
    site.expect_request("/privacy").respond_with_data(
        html("<h1>Privacy Policy</h1>", title="Privacy Policy"), content_type="text/html"
    )
    out = tmp_path / "report"
    first = audit(linkgate, base + "/", "--out", str(out), "--fail-on", "broken,bypass")
    assert first.returncode == 1, first.stderr
    assert "linkgate: audit found 1 broken, 1 bypass" in first.stderr
    assert "no earlier complete run" in first.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == 1 and report["partial"] is False
    partner = next(link for link in report["links"] if link["url"] == ext + "/partner")
    assert partner["privacy_url"] == ext + "/privacy"
    assert set(partner["problems"]) == {"insecure", "bypass", "link_text"}
    rows = list(csv.DictReader((out / "links.csv").open(encoding="utf-8")))
    assert {row["url"] for row in rows} >= {base + "/about", ext + "/partner", base + "/old"}
    assert next(row for row in rows if row["url"] == base + "/old")["line"] == "4"
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    # The privacy link went into the site cache, where /go finds it.
    assert query(linkgate, "select privacy_url from sites where host = ?", f"ext.test:{site.port}") == [
        (ext + "/privacy",)
    ]
    state["fixed"] = True
    second = audit(linkgate, base + "/", "--out", str(out), "--fail-on", "broken")
    assert second.returncode == 0, second.stderr
    # Fixed: /old was broken and insecure; new: /new-page is insecure (http://).
    assert "Since run 1: 1 new problem(s), 2 fixed." in second.stdout
    assert query(linkgate, "select count(*) from audit_runs") == [(2,)]


def test_the_audit_follows_ten_redirects_from_an_address_and_no_more(linkgate, tmp_path, site):
    """docs/audit.md: 10 redirects per address (the site cache's lookups, under the same policy, follow 5)."""
    base = f"http://www.county.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(site, "/", html('<a href="/ten/10">Ten redirects</a> <a href="/eleven/11">Eleven redirects</a>'))
    for chain, length in (("ten", 10), ("eleven", 11)):
        for hop in range(1, length + 1):
            site.expect_request(f"/{chain}/{hop}").respond_with_data(
                "", status=302, headers={"Location": f"/{chain}/{hop - 1}"}
            )
        serve(site, f"/{chain}/0", html("<h1>Arrived</h1>"))
    result = audit(linkgate, base + "/", "--out", str(tmp_path), "--retries", "0")
    assert result.returncode == 0, result.stderr
    links = {link["url"]: link for link in json.loads((tmp_path / "report.json").read_text())["links"]}
    ten, eleven = links[base + "/ten/10"], links[base + "/eleven/11"]
    assert (ten["status"], len(ten["redirects"]), ten["final_url"]) == (200, 10, base + "/ten/0")
    assert (eleven["status"], eleven["reason"], len(eleven["redirects"])) == (None, "too_many_redirects", 11)


def test_ctrl_c_stops_cleanly_and_writes_a_partial_report(linkgate, tmp_path, site):
    base = f"http://www.county.test:{site.port}"
    serve(site, "/", html("".join(f'<a href="/p{i}">Page number {i}</a>' for i in range(40))))
    for i in range(40):
        site.expect_request(f"/p{i}").respond_with_handler(
            lambda _r: time.sleep(0.3) or Response(html("<p>slow</p>"), content_type="text/html")
        )
    out = tmp_path / "partial"
    process = subprocess.Popen(
        [*LINKGATE, "audit", base + "/", "--out", str(out), "--concurrency", "2", "--per-host", "2"],
        env=linkgate.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: sum(1 for request, _ in site.log if request.path.startswith("/p")) >= 2,
        timeout=20,
        what="the audit to start",
    )
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "the report is partial" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["partial"] is True
    assert 1 <= sum(1 for page in report["pages"] if page["status"] == 200) < 41
    assert "This report is partial" in (out / "report.html").read_text()
    assert Path(out / "links.csv").exists()


def test_a_terminal_sees_live_progress_and_a_pipe_sees_none(linkgate, tmp_path, site):
    import os
    import pty

    base = f"http://www.county.test:{site.port}"
    serve(site, "/", html("".join(f'<a href="/p{i}">Page number {i}</a>' for i in range(6))))
    # Each page waits until the terminal shows the progress: a display drawn only at the end never
    # releases them (each then answers after 10 s and says it was not released).
    shown = threading.Event()
    released: list[bool] = []

    def after_progress(_request: Any) -> Response:
        released.append(shown.wait(timeout=10))
        return Response(html("<p>slow</p>"), content_type="text/html")

    for i in range(6):
        site.expect_request(f"/p{i}").respond_with_handler(after_progress)
    parent, child = pty.openpty()
    command = [
        *LINKGATE,
        "audit",
        base + "/",
        "--out",
        str(tmp_path / "tty"),
        "--concurrency",
        "1",
        "--per-host",
        "1",
    ]
    process = subprocess.Popen(command, env=linkgate.env, stdout=subprocess.PIPE, stderr=child)
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if b"pages crawled" in seen:
            shown.set()
    process.wait(timeout=30)
    os.close(parent)
    assert process.returncode == 0
    assert b"pages crawled" in seen and b"links checked" in seen
    assert released == [True] * 6  # the progress was on screen while the crawl went on
    piped = audit(linkgate, base + "/", "--out", str(tmp_path / "pipe"))
    assert piped.returncode == 0 and piped.stderr == ""


def test_concurrency_alone_lowers_the_connections_a_site_gets_with_it(linkgate, tmp_path, site):
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(site, "/", html('<a href="/about">About the County</a>'))
    serve(site, "/about", html("<h1>About</h1>"))
    out = tmp_path / "report"
    result = audit(linkgate, f"http://www.county.test:{site.port}/", "--concurrency", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    options = json.loads((out / "report.json").read_text())["options"]
    assert (options["concurrency"], options["per_host"]) == (2, 2)


def test_a_run_that_did_not_check_an_address_neither_fixes_its_problems_nor_makes_them_new(
    linkgate, tmp_path, site
):
    base = f"http://www.county.test:{site.port}"
    serve(site, "/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    serve(
        site,
        "/",
        html(f'<a href="/about">About the County</a> <a href="http://ext.test:{site.port}/gone">Gone</a>'),
    )
    serve(site, "/about", html("<h1>About</h1>"))
    site.expect_request("/gone").respond_with_data("gone", status=404)
    out = str(tmp_path / "report")
    first = audit(linkgate, base + "/", "--out", out, "--no-check-privacy")
    assert first.returncode == 0, first.stderr
    quick = audit(linkgate, base + "/", "--out", out, "--no-check-external")
    assert quick.returncode == 0, quick.stderr
    assert "Since run 1: 0 new problem(s), 0 fixed." in quick.stdout  # the broken link was not looked at
    full = audit(linkgate, base + "/", "--out", out, "--no-check-privacy")
    assert "Since run 2: 0 new problem(s), 0 fixed." in full.stdout  # and it is not new either


def test_an_interrupted_run_fixes_nothing_and_is_no_baseline(linkgate):
    from linkgate.audit.history import diff_runs

    store = linkgate.store()
    store.create_schema()

    def add(partial: bool, problems: list[tuple[str, str]]) -> int:
        at = datetime.now(UTC)
        summary = {"start_url": "https://www.county.test/", "started_at": at, "finished_at": at}
        summary |= {"partial": partial, "pages": 1, "links": 2, "problems": {}}
        return store.audits.add(summary, [(url, code, None, None) for url, code in problems], "test")

    full = add(False, [("https://www.county.test/a", "broken"), ("https://www.county.test/b", "broken")])
    stopped = add(True, [("https://www.county.test/a", "broken")])
    change = diff_runs(store, store.audits.get(stopped))
    assert change.previous is not None and change.previous.id == full
    assert (change.new, change.fixed) == ([], [])  # /b was not reached, not fixed
    later = add(False, [("https://www.county.test/b", "broken")])
    change = diff_runs(store, store.audits.get(later))
    assert change.previous is not None and change.previous.id == full
    assert [row.url for row in change.fixed] == ["https://www.county.test/a"]


def test_the_audit_command_loads_without_httpx_command_line_client() -> None:
    # httpx imports its command-line client (rich and pygments, 4.5 MB) when they are installed, unless
    # linkgate.http says it is missing: every run of the audit would carry it.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, linkgate.cli.audit, linkgate.audit, httpx; "
            "print(sorted(name for name in ('rich', 'pygments', 'httpx._main') if sys.modules.get(name)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_progress_lines_show_the_counts_in_a_pipe_for_logs_and_the_console(linkgate, tmp_path, site):
    base = f"http://www.county.test:{site.port}"
    serve(site, "/", html('<a href="/a">Page A</a>'))
    serve(site, "/a", html("<p>the end</p>"))
    piped = audit(linkgate, base + "/", "--out", str(tmp_path / "pipe"), "--progress", "lines")
    assert piped.returncode == 0
    assert "progress: 0 pages read" in piped.stderr  # the first line as the crawl starts
    quiet = audit(linkgate, base + "/", "--out", str(tmp_path / "quiet"), "--progress", "off")
    assert quiet.returncode == 0 and "progress:" not in quiet.stderr


def test_progress_lines_come_once_per_interval_of_the_clock_given(capsys) -> None:
    from linkgate.audit import Progress
    from linkgate.cli.audit import PROGRESS_EVERY, _progress_lines

    now = [100.0]
    show = _progress_lines(clock=lambda: now[0])
    for at, pages in ((0, 1), (PROGRESS_EVERY - 1, 2), (PROGRESS_EVERY, 3), (PROGRESS_EVERY + 1, 4)):
        now[0] = 100.0 + at
        show(Progress(pages=pages, queued=5, checked=7, errors=1))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "progress: 1 page read, 5 queued, 7 links checked, 1 error",
        "progress: 3 pages read, 5 queued, 7 links checked, 1 error",
    ]
