"""Known-bad lists at a million names: update time, memory per worker, lookup time, and ``/go`` against bare
Flask with and without the list.

Run from the project root: ``python benchmarks/feeds.py`` (``--names 1000000``; ``--names 100000
--duration 2 --warmup 1 --rounds 1`` for a quick look; ``--no-gate`` skips the wrk part).

It writes a list of ``--names`` distinct names (``domains`` format) into a temporary folder served by a
local HTTP server on 127.0.0.1 and, in a temporary instance whose configuration allows that address:

* **update**: ``linkgate feeds add big http://127.0.0.1:PORT/list.txt`` (fetch through the safe fetcher,
  parse, compile, store, write the table file), timed as a command, then ``linkgate feeds update big``
  (the same list again), and in this process the parse and the compile alone;
* **memory**: two gunicorn servers (``deploy/gunicorn.conf.py``, ``--workers`` workers each), one on an
  instance with the list and one without, each sent the same clicks (listed and unlisted hosts); per
  worker, RSS and PSS (``/proc/PID/smaps_rollup``) and their difference between the two, first with the
  table file written by the command, then with the file removed so that each server writes it again from
  the database (a second server on the same PostgreSQL would);
* **lookup**: ``FeedIndex.match`` in this process on hosts on the list and not, warm (a host seen before)
  and cold (``host_keys``' cache emptied), and ``Classifier.classify`` with and without the list;
* **gate**: ``benchmarks/gate.py`` with ``--before`` pointing at this same checkout, so that in the same
  rounds against the same bare Flask ``/go redirect`` and ``/go notice`` run on an instance holding the
  list and ("before") on one without it.

Targets: at most 64 MB per worker for the million names (or shared between workers), a lookup at most
5 µs, and ``/go``'s ratios to bare Flask no worse with the list. Results go to
``benchmarks/results/feeds.json`` (and the gate's to ``benchmarks/results/feeds-gate.json``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import gate as gatebench  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "feeds.json"
GATE_RESULTS = ROOT / "benchmarks" / "results" / "feeds-gate.json"
ORIGINAL_INSTANCE = gatebench.make_instance
SUFFIXES = ("com", "net", "org", "info", "xyz", "top", "co.uk", "com.br", "ru", "de")
LOOKUPS = 200_000
MEMORY_CLICKS = 2_000


def make_names(count: int, seed: int = 19) -> list[str]:
    """``count`` distinct names shaped like a phishing list's: a random stem, a number, a common suffix."""
    rng = random.Random(seed)
    letters = string.ascii_lowercase
    return [
        f"{''.join(rng.choices(letters, k=rng.randint(5, 14)))}{number}.{rng.choice(SUFFIXES)}"
        for number in range(count)
    ]


class ListServer:
    """A local HTTP server for the list's folder, in a thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def cli(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run ``linkgate ARGS``; seconds taken and standard output."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "linkgate.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"linkgate {' '.join(args)} failed: {result.stderr or result.stdout}")
    return elapsed, result.stdout


def instance(directory: Path, port: int, workers: int | None, *, lookups: bool = True) -> dict[str, str]:
    """gate.py's instance (its rule and pinned privacy link), allowed to read the local list server;
    without ``lookups``, a notice waits for no privacy lookup and no name is looked up (the memory servers'
    clicks go to made-up hosts)."""
    env = ORIGINAL_INSTANCE(directory, workers, None)
    config = Path(env["LINKGATE_CONFIG"])
    text = config.read_text(encoding="utf-8").replace(
        "[fetch]\n", f'[fetch]\nallow_networks = ["127.0.0.0/8"]\nallowed_ports = [80, 443, {port}]\n'
    )
    if not lookups:
        text = text.replace("privacy_wait_ms = 800", "privacy_wait_ms = 0\nsystem_resolver = false")
    config.write_text(text, encoding="utf-8")
    return env


# ---- memory ------------------------------------------------------------------------------------------------


def smaps(pid: int) -> dict[str, int]:
    """RSS, PSS and private memory of a process, in kB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            found[name.strip()] = int(parts[0])
    return {
        "rss_kb": found.get("Rss", 0),
        "pss_kb": found.get("Pss", 0),
        "private_kb": found.get("Private_Clean", 0) + found.get("Private_Dirty", 0),
    }


def workers_of(server: gatebench.Server) -> list[int]:
    assert server.process is not None
    master = server.process.pid
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    ).stdout.split()
    return sorted(int(pid) for pid in children)


def click(server: gatebench.Server, hosts: list[str]) -> None:
    for host in hosts:
        try:
            with urllib.request.urlopen(f"{server.url}/go?url=https%3A%2F%2F{host}%2F", timeout=10) as answer:
                answer.read()
        except urllib.error.HTTPError as error:  # the block page is a 403
            error.read()


def memory(
    env_with: dict[str, str], env_without: dict[str, str], directory: Path, hosts: list[str], label: str
) -> dict[str, Any]:
    """Per-worker memory of two servers, with the list and without, after the same clicks."""
    figures: dict[str, Any] = {}
    servers = {
        "with": gatebench.Server("linkgate.web:create_app()", env_with, directory / f"mem-with-{label}.log"),
        "without": gatebench.Server(
            "linkgate.web:create_app()", env_without, directory / f"mem-without-{label}.log"
        ),
    }
    try:
        for server in servers.values():
            server.start("/healthz")
        time.sleep(1.0)  # every worker's upkeep has read the lists
        for name, server in servers.items():
            for _ in range(2):  # more than one round: connections reach each worker
                click(server, hosts)
            figures[name] = [smaps(pid) for pid in workers_of(server)]
    finally:
        for server in servers.values():
            server.stop()
    difference = {
        key: statistics.mean(worker[key] for worker in figures["with"])
        - statistics.mean(worker[key] for worker in figures["without"])
        for key in ("rss_kb", "pss_kb", "private_kb")
    }
    return {"workers": figures, "difference_per_worker_kb": difference}


# ---- lookups -----------------------------------------------------------------------------------------------


def lookups(env: dict[str, str], names: list[str]) -> dict[str, float]:
    """Microseconds per lookup, in this process, on the instance's lists."""
    os.environ.update({key: value for key, value in env.items() if key.startswith("LINKGATE_")})
    from linkgate.classify import Classifier, RuleSet
    from linkgate.config import DEFAULT_ACTIONS, load_settings
    from linkgate.feeds import FeedBook, host_keys
    from linkgate.store import Store
    from linkgate.urls import parse_destination

    settings = load_settings()
    store = Store(settings.database_url)
    index = FeedBook(store, settings.instance_path / "feeds").refresh()
    rng = random.Random(7)
    listed = [f"www.{name}" for name in rng.sample(names, min(LOOKUPS, len(names)))]
    unlisted = [f"www.other{number}.example.org" for number in range(len(listed))]
    assert all(index.match(host) for host in listed[:1000]) and not any(
        index.match(h) for h in unlisted[:1000]
    )

    def per_lookup(hosts: list[str], cold: bool) -> float:
        if cold:
            host_keys.cache_clear()
        match = index.match
        started = time.process_time()  # CPU time: what a lookup costs, not what a busy machine adds
        for host in hosts:
            match(host)
        return (time.process_time() - started) / len(hosts) * 1e6

    warm_hosts_hit, warm_hosts_miss = listed[:10_000], unlisted[:10_000]
    per_lookup(warm_hosts_hit, cold=False)
    per_lookup(warm_hosts_miss, cold=False)
    figures = {
        "hit_cold_us": per_lookup(listed, cold=True),
        "miss_cold_us": per_lookup(unlisted, cold=True),
        "hit_warm_us": min(per_lookup(warm_hosts_hit, cold=False) for _ in range(5)),
        "miss_warm_us": min(per_lookup(warm_hosts_miss, cold=False) for _ in range(5)),
    }
    plain = Classifier(settings.county_domains, DEFAULT_ACTIONS, RuleSet())
    with_lists = plain.with_feeds(index)
    destinations = [parse_destination(f"https://{host}/page") for host in unlisted[:10_000]]
    for name, classifier in (("classify_without_us", plain), ("classify_with_us", with_lists)):
        for destination in destinations:  # warm the caches (flags, categories, keys)
            classifier.classify(destination, trusted=True)
        best = []
        for _ in range(5):
            started = time.process_time()
            for destination in destinations:
                classifier.classify(destination, trusted=True)
            best.append((time.process_time() - started) / len(destinations) * 1e6)
        figures[name] = min(best)
    figures["table_bytes"] = sum(table.slots.nbytes for table in index.tables)
    store.dispose()
    return figures


def parse_and_compile(data: bytes) -> dict[str, float]:
    from linkgate.feeds import compile_table, parse_list

    started = time.perf_counter()
    parsed = parse_list(data, "domains", 50_000_000)
    parsed_at = time.perf_counter()
    compile_table(parsed.keys)
    return {"parse_s": parsed_at - started, "compile_s": time.perf_counter() - parsed_at}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--names", type=int, default=1_000_000, help="names in the list")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the memory servers")
    parser.add_argument("--no-gate", action="store_true", help="skip benchmarks/gate.py's wrk rounds")
    parser.add_argument("--duration", type=float, default=5, help="gate.py: seconds measured per case")
    parser.add_argument("--warmup", type=float, default=1, help="gate.py: seconds of warm-up per case")
    parser.add_argument("--rounds", type=int, default=3, help="gate.py: rounds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="linkgate-feeds-bench-"))
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "commit": gatebench.commit_of(ROOT),
        "names": args.names,
    }
    served = directory / "served"
    served.mkdir()
    names = make_names(args.names)
    data = ("# benchmark list\n" + "\n".join(names) + "\n").encode()
    (served / "list.txt").write_bytes(data)
    results["list_bytes"] = len(data)
    server = ListServer(served)
    try:
        url = f"http://127.0.0.1:{server.port}/list.txt"
        env_with = instance(directory / "this", server.port, args.workers, lookups=False)
        env_without = instance(directory / "before", server.port, args.workers, lookups=False)
        add_s, added = cli(env_with, "feeds", "add", "big", url)
        again_s, _ = cli(env_with, "feeds", "update", "big")
        results["update"] = {"add_s": add_s, "update_again_s": again_s, "said": added.strip().splitlines()}
        results["update"] |= parse_and_compile(data)
        print(f"update: add {add_s:.2f} s, again {again_s:.2f} s; {results['update']}", file=sys.stderr)

        results["lookup"] = lookups(env_with, names)
        print(f"lookup: {results['lookup']}", file=sys.stderr)

        rng = random.Random(11)
        clicked = [f"www.{name}" for name in rng.sample(names, MEMORY_CLICKS // 2)]
        clicked += [f"www.other{number}.example.org" for number in range(MEMORY_CLICKS // 2)]
        results["memory"] = memory(env_with, env_without, directory, clicked, "file")
        print(f"memory (table file there): {results['memory']['difference_per_worker_kb']}", file=sys.stderr)
        for table in (Path(env_with["LINKGATE_INSTANCE"]) / "feeds").glob("*.lgfeed"):
            table.unlink()
        results["memory_from_database"] = memory(env_with, env_without, directory, clicked, "database")
        print(
            f"memory (table written again from the database): "
            f"{results['memory_from_database']['difference_per_worker_kb']}",
            file=sys.stderr,
        )

        if not args.no_gate:
            original = gatebench.make_instance

            def with_list(
                folder: Path, workers: int | None, threads: int | None, root: Path = ROOT
            ) -> dict[str, str]:
                if folder.name != "this":  # "before": gate.py's instance as it is, without the list
                    return original(folder, workers, threads, root)
                env = instance(folder, server.port, workers)
                cli(env, "feeds", "add", "big", url)
                return env

            gatebench.make_instance = with_list  # type: ignore[assignment]
            gatebench.main(
                [
                    "--before",
                    str(ROOT),
                    "--duration",
                    str(args.duration),
                    "--warmup",
                    str(args.warmup),
                    "--rounds",
                    str(args.rounds),
                    "--json",
                    str(GATE_RESULTS),
                ]
            )
            gatebench.make_instance = original  # type: ignore[assignment]
            gate_results = json.loads(GATE_RESULTS.read_text(encoding="utf-8"))
            results["gate"] = {
                "checks_with_list": gate_results["checks"],
                "checks_without_list": gate_results["before_checks"],
            }
    finally:
        server.stop()
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({key: results[key] for key in ("update", "lookup")}, indent=2))
    for key in ("memory", "memory_from_database"):
        print(key, json.dumps(results[key]["difference_per_worker_kb"]))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
