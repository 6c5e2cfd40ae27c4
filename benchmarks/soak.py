"""Soak: two linkgate servers on one PostgreSQL under a steady load for ten minutes.

Run from the project root: ``python benchmarks/soak.py`` (``--minutes 10 --rate 200`` by default;
``--minutes 1`` for a quick look). It needs PostgreSQL on 127.0.0.1:5432 (database ``test``, trust
authentication), or the URL in ``LINKGATE_TEST_POSTGRES_URL``.

It starts two real ``linkgate serve`` processes (gunicorn, two workers each, the shipped settings but
for the port) sharing one fresh PostgreSQL schema, then sends ``--rate`` requests a second, spread evenly
over both servers, for ``--minutes`` minutes: a mix of redirects (an allowlisted partner with a County
Referer), notices (two hundred external domains: each one cold once, then served from the site cache) and
blocks. Each request is due at a fixed time and its latency counts from then (an open-loop load, so a slow
server cannot slow the load down and hide its own latency).

It reports, and writes to ``benchmarks/results/soak.json``:

* the resident memory of every worker at the start (after a one-minute-equivalent warm-up of 10 %% of
  the run) and at the end, and the growth per worker;
* answers by status: anything but 200/302/403 is an error, as is a request that fails or times out;
* latency p50/p99/max;
* counts: the sum of ``click_counts`` per outcome after both servers stop, against what was sent; they
  must be equal.

Exit status 1 when there was an error, a count differs, or a worker grew by more than ``--max-growth-mb``
(default 20 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LINKGATE_TEST_DATABASE", "postgresql")

import httpx  # noqa: E402

from tests.conftest import LiveServer, drop_test_schemas, new_database_url, postgres_unreachable  # noqa: E402
from tests.console import query  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
COUNTY_REFERER = {"Referer": "https://www.missoulacounty.us/departments/parks"}


def worker_pids(server: LiveServer) -> list[int]:
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request_for(index: int) -> tuple[str, dict[str, str], str]:
    kind = index % 4
    if kind == 0:
        return f"https://www.partner.example/soak/{index}", COUNTY_REFERER, "redirect"
    if kind == 1:
        return f"https://blocked.example/{index}", {}, "block"
    return f"https://www.site{index % 200}.example.com/page/{index}", {}, "notice"


def run_load(servers: list[LiveServer], rate: float, seconds: float, warmup: float) -> dict[str, Any]:
    """``rate`` requests a second for ``seconds``, from paced threads (each with its own keep-alive client).

    Request ``i`` is due at ``start + i / rate``; a thread that falls behind sends at once, and latency is
    measured from the due time, so a server that stalls shows it in the latency instead of slowing the
    load (no coordinated omission).
    """
    threads = 16
    statuses: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    total = int(rate * seconds)
    began = time.monotonic() + 0.5
    start_rss: dict[int, float] = {}

    def sender(offset: int) -> None:
        with httpx.Client(base_url=servers[offset % len(servers)].url, timeout=10) as client:
            for index in range(offset, total, threads):
                due = began + index / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                url, headers, outcome = request_for(index)
                try:
                    status = str(client.get("/go?url=" + quote(url, safe=""), headers=headers).status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                finished = time.monotonic()
                with lock:
                    statuses[status] += 1
                    sent[outcome] += 1  # the server counts a click whatever the client does with the answer
                    latencies.append(finished - due)

    workers = [threading.Thread(target=sender, args=(offset,)) for offset in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, began + warmup - time.monotonic()))
    start_rss = {pid: rss_mb(pid) for server in servers for pid in worker_pids(server)}
    for worker in workers:
        worker.join()
    end_rss = {pid: rss_mb(pid) for server in servers for pid in worker_pids(server)}
    return {
        "statuses": dict(statuses),
        "sent": dict(sent),
        "latencies": latencies,
        "start_rss": start_rss,
        "end_rss": end_rss,
        "elapsed": time.monotonic() - began,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=200.0, help="requests per second, both servers together"
    )
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    args = parser.parse_args()
    reason = postgres_unreachable()
    if reason:
        print(f"soak: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="linkgate-soak-") as directory:
        base = Path(directory)
        url = new_database_url(base)
        servers = []
        for name in ("a", "b"):
            (base / name).mkdir()
            # The shipped refresh and flush intervals, not the test servers' quick ones.
            config = {
                "database": {"url": url},
                "server": {"rules_refresh_seconds": 2.0, "counts_flush_seconds": 5.0},
            }
            servers.append(LiveServer(base / name, config, workers=2))
        servers[0].cli("allow", "partner.example")
        servers[0].cli("block", "blocked.example")
        try:
            for server in servers:
                server.start()
            seconds = args.minutes * 60
            print(
                f"soak: {args.rate:g} requests/s for {args.minutes:g} min on 2 servers x 2 workers ...",
                flush=True,
            )
            result = run_load(servers, args.rate, seconds, warmup=seconds * 0.1)
        finally:
            for server in servers:
                server.stop()
        counted = {
            outcome: int(total)
            for outcome, total in query(
                servers[0], "SELECT outcome, SUM(count) FROM click_counts GROUP BY outcome"
            )
        }
        drop_test_schemas()
        errors = {key: value for key, value in result["statuses"].items() if key not in {"200", "302", "403"}}
    latencies = sorted(result.pop("latencies"))
    growth = {
        pid: result["end_rss"][pid] - result["start_rss"].get(pid, float("nan")) for pid in result["end_rss"]
    }
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
        "minutes": args.minutes,
        "rate": args.rate,
        "achieved_rate": sum(result["sent"].values()) / result["elapsed"],
        **result,
        "latency_ms": {
            "p50": 1000 * statistics.median(latencies),
            "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "max": 1000 * latencies[-1],
        },
        "counted": counted,
        "errors": errors,
        "rss_growth_mb": growth,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(
        f"requests: {sum(result['sent'].values())} at {summary['achieved_rate']:.1f}/s;",
        f"statuses {result['statuses']}",
    )
    print("latency ms: p50 {p50:.1f}  p99 {p99:.1f}  max {max:.1f}".format(**summary["latency_ms"]))
    for pid in sorted(result["end_rss"]):
        start = result["start_rss"].get(pid, float("nan"))
        print(f"worker {pid}: RSS {start:.1f} MB -> {result['end_rss'][pid]:.1f} MB ({growth[pid]:+.1f} MB)")
    print(f"sent {result['sent']}; counted {counted}")
    failed = (
        bool(errors)
        or counted != result["sent"]
        or any(value > args.max_growth_mb for value in growth.values())
    )
    print("soak: FAIL" if failed else "soak: PASS", f"(load average {os.getloadavg()[0]:.2f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
