"""Throughput and latency of ``GET /go`` against a bare Flask app, under linkgate's own gunicorn settings.

Run from the project root: ``python benchmarks/gate.py`` (``--duration 10 --warmup 2 --rounds 3
--connections 10,50`` by default; ``--duration 2 --warmup 1 --rounds 1`` for a quick look).

In one run it starts, with ``gunicorn -c deploy/gunicorn.conf.py`` on 127.0.0.1:

* ``benchmarks.bare_app:app``, a Flask app answering a constant string: the ceiling for any Flask app
  under these settings on this machine;
* ``linkgate.web:create_app()`` with a temporary instance (SQLite) and config: ``partner.example`` on the
  allowlist, so ``/go?url=https://www.partner.example/...`` with a County ``Referer`` is a 302, and a
  pinned privacy link for ``www.example.org`` (``linkgate site set-privacy``), so the notice for
  ``https://www.example.org/...`` is the realistic cached case, with a privacy link and no network.

With ``--before DIR`` (another checkout of linkgate, such as ``git worktree add DIR COMMIT``) a third
server runs that checkout's code with an instance of its own, and its redirect and notice are measured in
the same rounds as this checkout's, against the same bare Flask: the way to compare two builds on a
machine whose load drifts.

All servers run throughout; the cases take turns (bare, redirect, notice at each connection count) for
``--rounds`` rounds, each a ``wrk`` warm-up (discarded) then a measured ``wrk --latency`` run (2 wrk
threads by default), and the median of each figure over the rounds is kept, so that a change in the
machine's load falls on every case alike. A measured run whose connections sit lopsided on the workers
(one of them holding under half its share, seen with ``ss`` a second in) is stopped and started again,
up to ``--retries`` times: wrk opens its connections at once and keeps them, and on a shared listening
socket one worker often takes most of them for the whole run. It prints requests/s and p50/p99 latency,
the ratios against bare Flask (the medians, then round by round against the same round's bare Flask) and
PASS/FAIL against the targets below, and writes everything, every round included, to
``benchmarks/results/gate.json``.

Targets (the point is the ratio, not the absolute figures, which depend on the machine):

* redirect req/s at 50 connections >= 80 % of bare Flask's;
* notice req/s at 50 connections >= 70 % of bare Flask's;
* p99 latency at 10 connections <= 2x bare Flask's (redirect and notice).

It always exits 0 unless a server fails to start or a response is wrong; ``--strict`` also exits 1 on a
FAIL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
RESULTS = ROOT / "benchmarks" / "results" / "gate.json"

REFERER = "https://www.missoulacounty.us/"
PARTNER = "partner.example"
REDIRECT_URL = "https://www.partner.example/services/permits?id=42"
NOTICE_HOST = "www.example.org"
NOTICE_URL = "https://www.example.org/news/2024/article?ref=county"
NOTICE_PRIVACY = "https://www.example.org/privacy"

TARGETS = {"redirect": 0.80, "notice": 0.70}  # share of bare Flask's req/s at the high connection count
P99_FACTOR = 2.0  # at the low connection count


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    app: str  # "bare", "linkgate" (this checkout) or "before" (--before's)
    path: str


REDIRECT_PATH = "/go?url=" + quote(REDIRECT_URL, safe="")
NOTICE_PATH = "/go?url=" + quote(NOTICE_URL, safe="")
CASES = (
    Case("bare", "bare Flask", "bare", REDIRECT_PATH),
    Case("redirect", "/go redirect", "linkgate", REDIRECT_PATH),
    Case("notice", "/go notice", "linkgate", NOTICE_PATH),
)
BEFORE_CASES = (
    Case("redirect_before", "/go redirect (before)", "before", REDIRECT_PATH),
    Case("notice_before", "/go notice (before)", "before", NOTICE_PATH),
)
LABEL_WIDTH = max(len(case.label) for case in CASES + BEFORE_CASES)


@dataclass
class Measure:
    case: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx_3xx: int
    spread: list[int] = field(default_factory=list)  # connections per worker, most first (empty: not seen)
    attempts: int = 1


# ---- wrk -----------------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read the wrk duration {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), request count, socket errors and non-2xx/3xx answers from wrk output."""
    values: dict[str, float] = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise ValueError(f"wrk printed no Requests/sec:\n{output}")
    values["requests_per_s"] = float(match.group(1))
    for percentile, key in (("50", "p50_ms"), ("99", "p99_ms")):
        match = re.search(rf"^\s+{percentile}%\s+(\S+)", output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk printed no {percentile}% latency (was --latency given?):\n{output}")
        values[key] = _ms(match.group(1))
    match = re.search(r"(\d+) requests in", output)
    values["requests"] = int(match.group(1)) if match else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    values["errors"] = sum(int(group) for group in errors.groups()) if errors else 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    values["non_2xx_3xx"] = int(match.group(1)) if match else 0
    return values


def run_wrk(
    url: str, connections: int, threads: int, seconds: float, workers: int = 0
) -> tuple[str | None, list[int]]:
    """wrk's output, and how its connections were spread over the server's workers a moment in.

    With ``workers``, a run whose spread is lopsided is stopped there and gives no output.
    """
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "5s",
        "-H",
        f"Referer: {REFERER}",
        url,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        time.sleep(min(1.0, seconds / 3))
        spread = connection_spread(urlsplit(url).port or 80)
        if workers and is_lopsided(spread, workers):
            wrk.terminate()
            wrk.communicate(timeout=60)
            return None, spread
        stdout, stderr = wrk.communicate(timeout=seconds + 60)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed ({wrk.returncode}): {stderr or stdout}")
    return stdout, spread


def connection_spread(port: int) -> list[int]:
    """Established connections to ``port`` per owning process (a worker), most first; [] without ``ss``."""
    if shutil.which("ss") is None:
        return []
    result = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    owners = [match.group(1) for match in re.finditer(r"pid=(\d+)", result.stdout)]
    return sorted(Counter(owners).values(), reverse=True)


def is_lopsided(spread: list[int], workers: int) -> bool:
    """A worker holding less than half its share of the connections (or none)."""
    if not spread:
        return False
    fair = sum(spread) / workers
    return len(spread) < workers or spread[-1] < fair / 2


# ---- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``gunicorn -c deploy/gunicorn.conf.py APP`` of the checkout ``root``, in its own process group, with a
    port of its own."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path, root: Path = ROOT) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.root = root
        self.env = env | {"LINKGATE_SERVER_PORT": str(self.port), "LINKGATE_SERVER_PUBLIC_URL": self.url}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, probe: str) -> Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(self.root / CONFIG.relative_to(ROOT)), self.app],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited:\n{self.log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(self.url + probe, timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.app} did not start:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"Referer": REFERER})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode("utf-8", "replace")


def check_case(case: Case, base_url: str) -> None:
    """Make sure the case measures what it says it does before loading it."""
    status, headers, body = fetch(base_url + case.path)
    if case.name == "bare":
        ok = status == 200 and body == "ok"
    elif case.path == REDIRECT_PATH:
        ok = status == 302 and headers.get("Location") == REDIRECT_URL
    else:
        ok = status == 200 and f'href="{NOTICE_PRIVACY}"' in body and "data-site-api" not in body
    if not ok:
        raise RuntimeError(
            f"{case.label}: unexpected answer {status} {headers.get('Location', '')}\n{body[:2000]}"
        )


def linkgate_cli(env: dict[str, str], root: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "linkgate.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"linkgate {' '.join(args)} failed: {result.stderr or result.stdout}")


def make_instance(
    directory: Path, workers: int | None, threads: int | None, root: Path = ROOT
) -> dict[str, str]:
    """A temporary config and instance for the checkout ``root``, the rules and the pinned privacy link;
    the environment to use."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["[fetch]", "privacy_wait_ms = 800", "[server]"]
    lines += [f"workers = {workers}"] if workers else []
    lines += [f"threads = {threads}"] if threads else []
    config = directory / "linkgate.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    env |= {"LINKGATE_CONFIG": str(config), "LINKGATE_INSTANCE": str(directory / "instance")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    linkgate_cli(env, root, "allow", PARTNER, "--note", "benchmark partner")
    linkgate_cli(env, root, "site", "set-privacy", NOTICE_HOST, NOTICE_PRIVACY)
    return env


def effective_gunicorn_settings(env: dict[str, str]) -> dict[str, object]:
    """What deploy/gunicorn.conf.py hands gunicorn under ``env`` (bind aside), for the record."""
    code = (
        "import json, runpy; s = runpy.run_path('deploy/gunicorn.conf.py')['_SETTINGS'];"
        "print(json.dumps({k: v for k, v in s.items() if k != 'bind'}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(result.stdout))


def commit_of(checkout: Path) -> str:
    """The commit checked out in ``checkout`` (with ``+changes`` when its tracked files differ from it)."""
    head = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "-C", str(checkout), "diff", "--quiet", "HEAD"], capture_output=True, check=False
    ).returncode
    return f"{head or 'unknown'}{'+changes' if changed else ''}"


# ---- the run -------------------------------------------------------------------------------------


def measure(case: Case, base_url: str, connections: int, args: argparse.Namespace) -> Measure:
    """One measured wrk run, started again (up to ``--retries`` times) while its connections sit lopsided.

    wrk opens all its connections at once and keeps them; each stays with the worker that accepted it,
    and on a shared listening socket one worker often accepts most of them, leaving the other idle for
    the whole run (throughput then falls by half or more, for bare Flask and linkgate alike). Visitors'
    connections come and go, so a server does not stay like that; the benchmark measures the spread kind.
    """
    url = base_url + case.path
    if args.warmup > 0:
        run_wrk(url, connections, args.threads, args.warmup)
    output: str | None = None
    for attempt in range(1, args.retries + 2):
        last = attempt > args.retries
        output, spread = run_wrk(
            url, connections, args.threads, args.duration, 0 if last else args.server_workers
        )
        if output is not None:
            break
        print(
            f"  {case.label:<{LABEL_WIDTH}} c={connections:<3} again: connections per worker {spread}",
            file=sys.stderr,
        )
    assert output is not None
    values = parse_wrk(output)
    print(
        f"  {case.label:<{LABEL_WIDTH}} c={connections:<3} {values['requests_per_s']:>9.0f} req/s  "
        f"p50 {values['p50_ms']:.2f} ms  p99 {values['p99_ms']:.2f} ms  "
        f"connections per worker {'/'.join(map(str, spread)) or '?'}",
        file=sys.stderr,
    )
    return Measure(case=case.name, connections=connections, spread=spread, attempts=attempt, **values)  # type: ignore[arg-type]


def median_measure(runs: list[Measure]) -> Measure:
    """The median of each figure over the rounds (counts summed)."""
    return Measure(
        case=runs[0].case,
        connections=runs[0].connections,
        requests_per_s=statistics.median(run.requests_per_s for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        requests=sum(run.requests for run in runs),
        errors=sum(run.errors for run in runs),
        non_2xx_3xx=sum(run.non_2xx_3xx for run in runs),
        spread=runs[len(runs) // 2].spread,
        attempts=sum(run.attempts for run in runs),
    )


def verdicts(
    results: dict[tuple[str, int], Measure], low: int, high: int, suffix: str = ""
) -> list[dict[str, object]]:
    """The targets' checks of this checkout's cases (``suffix="_before"``: of --before's)."""
    bare_high, bare_low = results[("bare", high)], results[("bare", low)]
    checks: list[dict[str, object]] = []
    for target, share in TARGETS.items():
        name = target + suffix
        ratio = results[(name, high)].requests_per_s / bare_high.requests_per_s
        checks.append(
            {
                "check": f"{name} req/s at c={high} >= {share:.0%} of bare",
                "value": round(ratio, 3),
                "target": share,
                "pass": ratio >= share,
            }
        )
    for target in TARGETS:
        name = target + suffix
        factor = results[(name, low)].p99_ms / bare_low.p99_ms
        checks.append(
            {
                "check": f"{name} p99 at c={low} <= {P99_FACTOR:g}x bare",
                "value": round(factor, 3),
                "target": P99_FACTOR,
                "pass": factor <= P99_FACTOR,
            }
        )
    return checks


def print_table(
    results: dict[tuple[str, int], Measure], cases: tuple[Case, ...], connections: list[int]
) -> None:
    first = f"{'':<{LABEL_WIDTH}}" + "".join(f" | {f'{c} connections':<33}" for c in connections)
    second = f"{'case':<{LABEL_WIDTH}}" + " | {:>9} {:>7} {:>7} {:>7}".format(
        "req/s", "p50 ms", "p99 ms", "vs bare"
    ) * len(connections)
    print(first)
    print(second)
    print("-" * len(second))
    for case in cases:
        row = f"{case.label:<{LABEL_WIDTH}}"
        for c in connections:
            found = results[(case.name, c)]
            ratio = found.requests_per_s / results[("bare", c)].requests_per_s
            mark = "!" if found.errors or found.non_2xx_3xx else ""
            row += f" | {found.requests_per_s:>9.0f} {found.p50_ms:>7.2f} {found.p99_ms:>7.2f}"
            row += f" {ratio:>6.0%}{mark:1}"
        print(row)


def print_rounds(
    rounds: dict[tuple[str, int], list[Measure]], cases: tuple[Case, ...], low: int, high: int
) -> None:
    """Round by round: req/s at ``high`` connections against the same round's bare Flask, and the p99 at
    ``low`` connections against bare Flask's."""
    shares_title, factors_title = f"req/s vs bare, c={high}", f"p99 vs bare, c={low}"
    width = max(len(shares_title), 6 * len(rounds[("bare", high)]) - 1)
    print(f"{'round by round':<{LABEL_WIDTH}} | {shares_title:<{width}} | {factors_title}")
    for case in cases[1:]:
        shares = [
            found.requests_per_s / bare.requests_per_s
            for found, bare in zip(rounds[(case.name, high)], rounds[("bare", high)], strict=True)
        ]
        factors = [
            found.p99_ms / bare.p99_ms
            for found, bare in zip(rounds[(case.name, low)], rounds[("bare", low)], strict=True)
        ]
        row = " ".join(f"{share:>5.0%}" for share in shares)
        print(
            f"{case.label:<{LABEL_WIDTH}} | {row:<{width}} | "
            + " ".join(f"{factor:>5.2f}" for factor in factors)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per case and load")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of discarded load before each")
    parser.add_argument("--connections", default="10,50", help="comma-separated wrk connection counts")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the median of each figure is kept)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, help="server.workers for both apps (default: linkgate's)")
    parser.add_argument(
        "--server-threads", type=int, help="server.threads for both apps (default: linkgate's)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=30,
        help="start again, up to this many times, while a worker holds under half its share of connections",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="another checkout of linkgate (git worktree add DIR COMMIT) measured beside this one",
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance and server logs")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.connections = sorted({int(part) for part in args.connections.split(",") if part.strip()})
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    low, high = args.connections[0], args.connections[-1]
    cases = CASES + (BEFORE_CASES if args.before else ())
    if args.before:
        args.before = args.before.resolve()
        if not (args.before / CONFIG.relative_to(ROOT)).is_file():
            parser.error(f"--before {args.before}: not a checkout of linkgate")

    directory = Path(tempfile.mkdtemp(prefix="linkgate-bench-"))
    rounds: dict[tuple[str, int], list[Measure]] = {}
    try:
        env = make_instance(directory / "this", args.workers, args.server_threads)
        apps = [
            ("bare", "benchmarks.bare_app:app", "/", env, ROOT),
            ("linkgate", "linkgate.web:create_app()", "/healthz", env, ROOT),
        ]
        if args.before:
            before_env = make_instance(directory / "before", args.workers, args.server_threads, args.before)
            apps.append(("before", "linkgate.web:create_app()", "/healthz", before_env, args.before))
        settings = effective_gunicorn_settings(env)
        args.server_workers = int(settings["workers"])
        print(
            f"gunicorn -c deploy/gunicorn.conf.py: worker_class={settings['worker_class']} "
            f"workers={settings['workers']} threads={settings['threads']} keepalive={settings['keepalive']}; "
            f"wrk -t{args.threads}, {args.warmup:g} s warm-up + {args.duration:g} s per run, "
            f"{os.cpu_count()} CPUs",
            file=sys.stderr,
        )
        servers: dict[str, Server] = {}
        try:
            for app, target, probe, app_env, root in apps:
                servers[app] = Server(target, app_env, directory / f"{app}.log", root).start(probe)
            for case in cases:
                check_case(case, servers[case.app].url)
            # Both servers run throughout (the idle one costs nothing) and the cases take turns, so that
            # any drift in the machine's load falls on all of them alike.
            for round_number in range(1, args.rounds + 1):
                print(f"round {round_number}/{args.rounds}", file=sys.stderr)
                for connections in args.connections:
                    for case in cases:
                        found = measure(case, servers[case.app].url, connections, args)
                        rounds.setdefault((case.name, connections), []).append(found)
        finally:
            for server in servers.values():
                server.stop()
        results = {key: median_measure(runs) for key, runs in rounds.items()}
    finally:
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)

    print()
    print_table(results, cases, args.connections)
    print()
    print_rounds(rounds, cases, low, high)
    checks = verdicts(results, low, high)
    before_checks = verdicts(results, low, high, "_before") if args.before else []
    print()
    for check in checks + before_checks:
        print(f"{'PASS' if check['pass'] else 'FAIL'}  {check['check']}: {check['value']}")
    if any(found.errors or found.non_2xx_3xx for found in results.values()):
        print("! socket errors or unexpected status codes during the run; see the JSON file")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "gunicorn_settings": settings,
                "wrk": {
                    "threads": args.threads,
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "rounds": args.rounds,
                    "retries": args.retries,
                    "referer": REFERER,
                },
                "commit": commit_of(ROOT),
                "before": {"checkout": str(args.before), "commit": commit_of(args.before)}
                if args.before
                else None,
                "cases": {case.name: {"label": case.label, "path": case.path} for case in cases},
                "results": [asdict(found) for found in results.values()],
                "rounds": [asdict(found) for runs in rounds.values() for found in runs],
                "checks": checks,
                "before_checks": before_checks,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 1 if args.strict and not all(check["pass"] for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
