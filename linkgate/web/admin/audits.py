"""Link audits in the console: every run of ``linkgate audit``, what changed since the run before, the
run's report files, and an audit of the County's site started by an administrator.

An audit started here is the ``linkgate audit`` command itself, run as a child process of the server
(``python -m linkgate.cli audit <county.home_url> --out <folder>``): the same crawl, reports and stored
run as the weekly timer's, in a process of its own, so a crawl's memory and time never weigh on the
worker serving pages. Each gets a folder under the instance's ``audits/`` (its reports, what the command
printed, who started it). One runs at a time per instance: the child holds an exclusive lock on
``audits/.running`` (inherited from the worker that started it), so every worker and server sharing the
instance folder sees it until the process ends, whatever happens to the worker.

Report files are served from a stored run's own folder only, by one of three fixed names, never a path
from the request; ``report.html`` is served under a CSP of its own (its inline style and script,
sandboxed).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from linkgate.audit.history import diff_runs
from linkgate.audit.html import PROBLEM_LABELS
from linkgate.config import Settings
from linkgate.store import AuditRunRow
from linkgate.web.admin.auth import actor, admin_required
from linkgate.web.app_runtime import get_runtime
from linkgate.web.bounds import MAX_PAGE, whole_number

blueprint = Blueprint("audits", __name__, url_prefix="/audits")

PAGE_SIZE = 50
# The problems' words: the report's own table, so the console and report.html name each alike.
PROBLEM_TEXT = PROBLEM_LABELS
# The report files a run writes (linkgate.audit.report.write_reports): name -> type (text is UTF-8).
REPORT_FILES = {"report.html": "text/html", "links.csv": "text/csv", "report.json": "application/json"}
# report.html is one self-contained page: its own inline style and script, nothing else, and sandboxed
# (no cookies, no requests to the console: its links come from the crawled site).
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox allow-scripts allow-popups"
)
# Report files written longer than this after their run finished were replaced by a later run of the
# command with the same --out folder: they are not this run's any more.
REPORT_WRITTEN_WITHIN = timedelta(hours=1)
AUDITS_FOLDER = "audits"
LOCK_NAME = ".running"
JOB_NAME = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}\Z")
OUTPUT_SHOWN = 4000  # characters: the end of what the command printed
REFRESH_SECONDS = 10
RUNS_SEARCHED = 50  # stored runs searched for a console audit's own
JOBS_KEPT = 20  # folders of console audits kept (reports and output); older ones are removed


@dataclass(frozen=True)
class Job:
    """An audit started from the console, as its folder tells it."""

    name: str
    folder: Path
    start_url: str
    started_at: datetime
    started_by: str
    running: bool
    exit_status: int | None
    output: str

    @property
    def progress(self) -> str:
        """The counts of the command's last ``--progress lines`` line ("3 pages read, ..."), if any."""
        at = self.output.rfind("progress: ")
        return self.output[at + len("progress: ") :].split("\n", 1)[0].strip() if at >= 0 else ""


def _audits_folder(settings: Settings) -> Path:
    return settings.instance_path / AUDITS_FOLDER


@contextmanager
def _lock_file(settings: Settings) -> Iterator[int]:
    folder = _audits_folder(settings)
    folder.mkdir(mode=0o750, exist_ok=True)
    descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def running_job(settings: Settings) -> str | None:
    """The name of the console's audit running now, if one is."""
    if not (_audits_folder(settings) / LOCK_NAME).exists():
        return None
    with _lock_file(settings) as descriptor:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            name = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip()
            return name if JOB_NAME.match(name) else None
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None


def start_job(settings: Settings, started_by: str) -> tuple[str, bool]:
    """Start ``linkgate audit`` of the County's home page; (the job's name, True), or (the running job's
    name, False) when one is running already."""
    with _lock_file(settings) as descriptor:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(descriptor, 64, 0).decode("ascii", "replace").strip(), False
        _remove_old_jobs(settings)
        now = datetime.now(UTC)
        name = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        folder = _audits_folder(settings) / name
        folder.mkdir(mode=0o750)
        job = {"start_url": settings.county_home_url, "started_at": now.isoformat(), "by": started_by}
        (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, name.encode("ascii"), 0)
        # The command reads the configuration as the server does (LINKGATE_CONFIG and LINKGATE_* in the
        # server's environment); the instance folder and the database are this server's, whatever set them.
        environment = dict(os.environ)
        environment.update(
            LINKGATE_INSTANCE=str(settings.instance_path), LINKGATE_DATABASE_URL=settings.database_url
        )
        command = [
            sys.executable,
            "-m",
            "linkgate.cli",
            "audit",
            settings.county_home_url,
            "--out",
            str(folder),
            "--progress",
            "lines",  # the job's page shows the end of the output: the counts so far
        ]
        with (folder / "output.txt").open("wb") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=environment,
                pass_fds=(descriptor,),  # the child holds the lock until it ends
                start_new_session=True,  # a worker's restart does not stop the audit
            )
    threading.Thread(target=_record_exit, args=(process, folder), name=f"audit-{name}", daemon=True).start()
    return name, True


def _remove_old_jobs(settings: Settings) -> None:
    """Keep the newest JOBS_KEPT - 1 job folders, making room for one more (called under the lock, so
    none of them is running)."""
    folders = sorted(
        (path for path in _audits_folder(settings).iterdir() if JOB_NAME.match(path.name) and path.is_dir()),
        key=lambda path: path.name,
    )
    for folder in folders[: max(0, len(folders) - (JOBS_KEPT - 1))]:
        shutil.rmtree(folder, ignore_errors=True)


def _record_exit(process: subprocess.Popen[bytes], folder: Path) -> None:
    """Wait for the command (so it leaves no zombie) and keep its exit status beside its output."""
    status = process.wait()
    (folder / "exit_status").write_text(str(status), encoding="ascii")


def read_job(settings: Settings, name: str) -> Job | None:
    if not JOB_NAME.match(name):
        return None
    folder = _audits_folder(settings) / name
    try:
        job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        exit_status: int | None = int((folder / "exit_status").read_text(encoding="ascii"))
    except (OSError, ValueError):
        exit_status = None
    try:
        with (folder / "output.txt").open("rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - OUTPUT_SHOWN))
            output = handle.read().decode("utf-8", "replace")
    except OSError:
        output = ""
    return Job(
        name=name,
        folder=folder,
        start_url=str(job["start_url"]),
        started_at=datetime.fromisoformat(job["started_at"]),
        started_by=str(job["by"]),
        running=running_job(settings) == name,
        exit_status=exit_status,
        output=output,
    )


def _job_of(settings: Settings, run: AuditRunRow) -> Job | None:
    """The console's audit that made ``run``, when one did (its report folder is the job's)."""
    if run.report_dir is None:
        return None
    folder = Path(run.report_dir)
    if folder.parent != _audits_folder(settings).resolve():
        return None
    return read_job(settings, folder.name)


def _stored_run(job: Job) -> AuditRunRow | None:
    """The run the job's command stored (its reports are in the job's folder)."""
    folder = str(job.folder.resolve())
    for run in get_runtime().store.audits.runs(limit=RUNS_SEARCHED):
        if run.report_dir == folder:
            return run
    return None


def _last_complete_run(start_url: str) -> AuditRunRow | None:
    """The newest complete stored run of ``start_url``: how long it took is how long to expect."""
    for run in get_runtime().store.audits.runs(limit=RUNS_SEARCHED):
        if run.start_url == start_url and not run.partial:
            return run
    return None


def report_file(run: AuditRunRow, name: str) -> Path | None:
    """The run's report file ``name`` (one of :data:`REPORT_FILES`) when it is still that run's: a file
    in the run's folder (not a link out of it) written while the run finished."""
    if name not in REPORT_FILES or run.report_dir is None:
        return None
    folder = Path(run.report_dir)
    path = folder / name
    try:
        if not path.is_file() or path.resolve().parent != folder.resolve():
            return None
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None
    if not run.started_at <= written <= run.finished_at + REPORT_WRITTEN_WITHIN:
        return None
    return path


def _elapsed(since: datetime, now: datetime) -> dict[str, int]:
    seconds = max(0, int((now - since).total_seconds()))
    return {"minutes": seconds // 60, "seconds": seconds % 60}


@blueprint.get("/")
def index() -> ResponseReturnValue:
    runtime = get_runtime()
    page = whole_number(request.args, "page", default=1, low=1, high=MAX_PAGE)
    runs = runtime.store.audits.runs(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    running = running_job(runtime.settings)
    return render_template(
        "admin/audits.html",
        runs=runs[:PAGE_SIZE],
        more=len(runs) > PAGE_SIZE,
        page=page,
        problems=PROBLEM_TEXT,
        zone=ZoneInfo(runtime.settings.timezone),
        timezone=runtime.settings.timezone,
        running=running,
        start_url=runtime.settings.county_home_url,
    )


@blueprint.post("/start")
@admin_required
def start() -> ResponseReturnValue:
    """Start an audit of the County's site, unless one is running; either way, show its progress."""
    name, started = start_job(get_runtime().settings, actor())
    if not started:
        flash(_l("An audit is running already; start another when it has finished."), "info")
        if not JOB_NAME.match(name):  # one started by another instance's code: nothing to show
            return redirect(url_for("admin.audits.index"), 303)
    return redirect(url_for("admin.audits.job", name=name), 303)


@blueprint.get("/jobs/<name>")
def job(name: str) -> ResponseReturnValue:
    """An audit started from the console: running (the page can reload itself), finished or failed."""
    runtime = get_runtime()
    found = read_job(runtime.settings, name)
    if found is None:
        abort(404)
    run = None if found.running else _stored_run(found)
    refresh = request.args.get("refresh") == "on" and found.running
    last = _last_complete_run(found.start_url) if found.running else None
    return render_template(
        "admin/audits_job.html",
        job=found,
        run=run,
        refresh=refresh,
        refresh_seconds=REFRESH_SECONDS,
        elapsed=_elapsed(found.started_at, datetime.now(UTC)),
        last_minutes=None if last is None else _elapsed(last.started_at, last.finished_at)["minutes"] + 1,
    )


@blueprint.get("/<int:run_id>")
def run(run_id: int) -> ResponseReturnValue:
    runtime = get_runtime()
    found = runtime.store.audits.get(run_id)
    if found is None:
        abort(404)
    change = diff_runs(runtime.store, found)
    files = {name: report_file(found, name) is not None for name in REPORT_FILES}
    return render_template(
        "admin/audits_run.html",
        run=found,
        change=change,
        files=files,
        job=_job_of(runtime.settings, found),
        problems=PROBLEM_TEXT,
        zone=ZoneInfo(runtime.settings.timezone),
        timezone=runtime.settings.timezone,
    )


@blueprint.get("/<int:run_id>/<name>")
def report(run_id: int, name: str) -> ResponseReturnValue:
    """One of a stored run's report files, from that run's folder only."""
    found = get_runtime().store.audits.get(run_id)
    path = None if found is None else report_file(found, name)
    if path is None:
        abort(404)
    response = send_file(
        path,
        mimetype=REPORT_FILES[name],
        as_attachment=name != "report.html",
        download_name=f"linkgate-audit-{run_id}-{name}",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    if name == "report.html":
        response.headers["Content-Security-Policy"] = REPORT_CSP
    return response
