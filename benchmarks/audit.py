"""Benchmark of ``linkgate audit`` on a synthetic County site served from 127.0.0.1 (on demand, not a test).

    .venv/bin/python benchmarks/audit.py [--pages 2000] [--concurrency 8] [--json results.json]

It builds a site of ``--pages`` pages (about 20 internal and 5 off-site links each, most of them routed
through the gate), with planted problems: broken internal and off-site links, redirect chains, slow
pages, soft 404s, sites that refuse checkers, a site without a privacy policy, links that bypass the
gate, vague link text, ``target="_blank"`` without ``noopener``, pages robots.txt forbids and pages
only the sitemap names. A small asyncio HTTP/1.1 server (keep-alive, every host on one port, told apart
by the Host header) serves it and counts the connections open at once.

It runs ``linkgate audit`` as a separate process twice (half the pages, then all of them) and reports:
the time, the peak memory (RSS, target at most 100 MB), the most connections open at once (never more
than ``--concurrency``), every planted problem found, false alarms (none expected), and the memory growth
per 1,000 pages. Every link is http:// here, so "insecure" is on every link and is left out of the
comparison. Nothing leaves 127.0.0.1: the names are pinned and the system resolver is off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SITE = "www.bench.county.test"
GATE = "https://links.bench.county.test/go?url="
EXTERNAL = [f"ext{i}.bench.test" for i in range(8)]
NO_PRIVACY = "noprivacy.bench.test"
REFUSING = "refusing.bench.test"
MEMORY_TARGET_MB = 100
ORPHAN = b"<!doctype html><title>Orphan</title><h1>Only in the sitemap</h1><a href='/p/1'>Page one</a>"


class Site:
    """The synthetic site: every page, and the problems planted in it (address -> problem codes)."""

    def __init__(self, pages: int, port: int, seed: int = 7) -> None:
        self.pages = pages
        self.port = port
        self.random = random.Random(seed)
        self.expected: dict[str, set[str]] = {}
        self.slow = {i for i in range(pages) if i % 50 == 25}
        self.forbidden_requests: list[str] = []
        self.orphans = [f"/orphan/{i}" for i in range(20)]
        self.bodies = [self._page(i) for i in range(pages)]

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def plant(self, url: str, *problems: str) -> str:
        self.expected.setdefault(url, set()).update(problems)
        return url

    def _external(self, i: int, k: int) -> str:
        host = EXTERNAL[(i + k) % len(EXTERNAL)]
        target = self.url(host, f"/item/{(i * 5 + k) % 400}")
        return f'<a href="{GATE}{quote(target, safe="")}">Partner item {(i * 5 + k) % 400}</a>'

    def _page(self, i: int) -> str:
        rnd = self.random
        links = [
            f'<a href="/p/{rnd.randrange(self.pages)}">County page {rnd.randrange(1000)}</a>'
            for _ in range(20)
        ]
        links += [self._external(i, k) for k in range(5)]
        planted = i % 40
        if planted == 1:
            links.append(
                f'<a href="{self.plant(self.url(SITE, f"/missing/{i}"), "broken")}">Old form {i}</a>'
            )
        elif planted == 2:
            gone = self.plant(self.url(EXTERNAL[i % 8], f"/gone/{i}"), "broken")
            links.append(f'<a href="{GATE}{quote(gone, safe="")}">Partner report {i}</a>')
        elif planted == 3:
            links.append(f'<a href="/r/{i}">Moved page {i}</a>')  # a chain of two redirects, no problem
        elif planted == 4:
            links.append(f'<a href="/soft/{i}">Renamed page {i}</a>')
            self.plant(self.url(SITE, f"/soft/{i}"), "soft_404")
        elif planted == 5:
            bypass = self.plant(self.url(EXTERNAL[i % 8], f"/direct/{i}"), "bypass")
            links.append(f'<a href="{bypass}">Partner page {i}</a>')
        elif planted == 6:
            vague = self.plant(self.url(EXTERNAL[i % 8], f"/vague/{i}"), "link_text")
            links.append(f'<a href="{GATE}{quote(vague, safe="")}">click here</a>')
        elif planted == 7:
            blank = self.plant(self.url(EXTERNAL[i % 8], f"/blank/{i}"), "target_blank")
            links.append(f'<a href="{GATE}{quote(blank, safe="")}" target="_blank">Partner map {i}</a>')
        elif planted == 8:
            links.append(f'<a href="/private/{i}">Staff page {i}</a>')
        elif planted == 9:
            walled = self.plant(self.url(REFUSING, f"/doc/{i}"), "unverified")
            links.append(f'<a href="{GATE}{quote(walled, safe="")}">State document {i}</a>')
        elif planted == 10:
            none = self.plant(self.url(NO_PRIVACY, f"/page/{i}"), "no_privacy")
            links.append(f'<a href="{GATE}{quote(none, safe="")}">Vendor page {i}</a>')
        rnd.shuffle(links)
        body = "\n".join(f"<li>{link}</li>" for link in links)
        return (
            f"<!doctype html><html lang=en><head><title>County page {i}</title></head><body>\n"
            f"<h1>County page {i}</h1>\n<ul>\n{body}\n</ul>\n</body></html>"
        )

    def respond(self, host: str, path: str) -> tuple[int, dict[str, str], bytes, float]:
        """(status, headers, body, delay) for a request."""
        html = {"Content-Type": "text/html; charset=utf-8"}
        if host == SITE:
            if path == "/robots.txt":
                sitemap = self.url(SITE, "/sitemap.xml")
                return (
                    200,
                    {"Content-Type": "text/plain"},
                    f"User-agent: *\nDisallow: /private/\nSitemap: {sitemap}\n".encode(),
                    0,
                )
            if path == "/sitemap.xml":
                urls = [self.url(SITE, f"/p/{i}") for i in range(0, self.pages, 3)] + [
                    self.url(SITE, o) for o in self.orphans
                ]
                body = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
                return (
                    200,
                    {"Content-Type": "application/xml"},
                    f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'.encode(),
                    0,
                )
            if path == "/":
                return 200, html, self.bodies[0].encode(), 0
            if path.startswith("/p/"):
                number = int(path[3:]) if path[3:].isdigit() else -1
                if 0 <= number < self.pages:
                    return 200, html, self.bodies[number].encode(), 0.3 if number in self.slow else 0
            if path.startswith("/orphan/"):
                return 200, html, ORPHAN, 0
            if path.startswith("/r/"):
                parts = path.split("/")
                if len(parts) == 3:
                    return 301, {"Location": path + "/2"}, b"", 0
                return 302, {"Location": f"/p/{int(parts[2]) % self.pages}"}, b"", 0
            if path.startswith("/soft/"):
                return 200, html, b"<!doctype html><title>Page not found | County</title><h1>Sorry</h1>", 0
            if path.startswith("/private/"):
                self.forbidden_requests.append(path)
                return 200, html, b"<title>Staff</title>", 0
            return 404, html, b"<title>Not found</title>", 0
        if host == REFUSING:
            return 403, html, b"<title>Access denied</title>", 0
        if path == "/robots.txt":
            return 404, html, b"", 0
        if path == "/":
            privacy = "" if host == NO_PRIVACY else '<footer><a href="/privacy">Privacy Policy</a></footer>'
            return 200, html, f"<!doctype html><title>{host}</title><h1>Welcome</h1>{privacy}".encode(), 0
        if path == "/privacy" and host != NO_PRIVACY:
            return 200, html, b"<!doctype html><title>Privacy Policy</title><h1>Privacy Policy</h1>", 0
        if path.startswith("/gone/") or (host == NO_PRIVACY and not path.startswith("/page/")):
            return 404, html, b"<title>Not found</title>", 0
        return 200, html, f"<!doctype html><title>{host}{path}</title><h1>Item</h1>".encode(), 0


class Server:
    """HTTP/1.1 with keep-alive on 127.0.0.1, counting the connections open at once."""

    def __init__(self) -> None:
        self.site: Site | None = None
        self.open = 0
        self.peak = 0
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512))
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()

    def reset(self) -> None:
        self.peak = self.open
        self.requests = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                first = await reader.readexactly(1)
                if not first.isalpha():  # a TLS handshake (the site cache tries https first): refuse at once
                    break
                head = first + await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                host = headers.get("host", "").rsplit(":", 1)[0]
                self.requests += 1
                assert self.site is not None
                status, extra, body, delay = self.site.respond(host, target.split("?")[0])
                if delay:
                    await asyncio.sleep(delay)
                out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"] + [
                    f"{k}: {v}" for k, v in extra.items()
                ]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self.open -= 1
            writer.close()


def write_config(directory: Path, port: int) -> dict[str, str]:
    hosts = [SITE, NO_PRIVACY, REFUSING, *EXTERNAL]
    resolve = ", ".join(f'"{host}=127.0.0.1"' for host in hosts)
    (directory / "linkgate.toml").write_text(
        '[county]\ndomains = ["bench.county.test"]\n'
        '[server]\npublic_url = "https://links.bench.county.test"\n'
        f'[fetch]\nallow_networks = ["127.0.0.0/8"]\nresolve = [{resolve}]\nsystem_resolver = false\n',
        encoding="utf-8",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    return env | {
        "LINKGATE_CONFIG": str(directory / "linkgate.toml"),
        "LINKGATE_INSTANCE": str(directory / "instance"),
    }


def run_audit(server: Server, site: Site, pages: int, concurrency: int, directory: Path) -> dict[str, Any]:
    server.site = site
    server.reset()
    env = write_config(directory, server.port)
    out = directory / f"out-{pages}"
    command = [
        sys.executable,
        "-m",
        "linkgate.cli",
        "audit",
        f"http://{SITE}:{server.port}/",
        "--max-pages",
        str(pages),
        "--max-depth",
        "50",
        "--concurrency",
        str(concurrency),
        "--per-host",
        str(concurrency),
        "--out",
        str(out),
        "--timeout",
        "10",
        "--retries",
        "1",
    ]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_kb = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    stdout, stderr = process.communicate()
    if process.returncode not in (0, 1) or not (out / "report.json").exists():
        raise SystemExit(f"linkgate audit failed ({process.returncode}): {stderr}")
    report = json.loads((out / "report.json").read_text())
    found = {
        (link["url"], problem)
        for link in report["links"]
        for problem in link["problems"]
        if problem != "insecure"
    }
    read = {page["url"] for page in report["pages"]}
    expected = {
        (url, problem)
        for url, problems in site.expected.items()
        for problem in problems
        if any(link["url"] == url for link in report["links"])  # planted on a page this run reached
    }
    return {
        "pages_read": report["totals"]["pages_read"],
        "links": report["totals"]["links"],
        "appearances": report["totals"]["appearances"],
        "seconds": round(elapsed, 2),
        "pages_per_second": round(report["totals"]["pages_read"] / elapsed, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "max_open_connections": server.peak,
        "server_requests": server.requests,
        "planted": len(expected),
        "found": len(expected & found),
        "missed": sorted(expected - found)[:10],
        "false_alarms": sorted(found - expected)[:10],
        "false_alarm_count": len(found - expected),
        "robots_forbidden_requested": len(site.forbidden_requests),
        "orphans_read": sum(1 for orphan in site.orphans if site.url(SITE, orphan) in read),
        "report_bytes": {path.name: path.stat().st_size for path in sorted(out.iterdir())},
        "stdout_tail": stdout.strip().splitlines()[-1:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()
    server = Server()
    results: dict[str, Any] = {"pages": args.pages, "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        half = max(1, args.pages // 2)
        # Each run on a site of its own size, so that every planted page can be reached.
        results["half"] = run_audit(server, Site(half, server.port), half + 200, args.concurrency, directory)
        results["full"] = run_audit(
            server, Site(args.pages, server.port), args.pages + 200, args.concurrency, directory
        )
    full, small = results["full"], results["half"]
    per_thousand = (full["peak_rss_mb"] - small["peak_rss_mb"]) / max(
        1, (full["pages_read"] - small["pages_read"]) / 1000
    )
    results["memory_growth_mb_per_1000_pages"] = round(per_thousand, 1)
    checks = {
        f"peak memory ≤ {MEMORY_TARGET_MB} MB": full["peak_rss_mb"] <= MEMORY_TARGET_MB,
        "open connections ≤ --concurrency": full["max_open_connections"] <= args.concurrency,
        "every planted problem found": full["found"] == full["planted"]
        and small["found"] == small["planted"],
        "no false alarms": full["false_alarm_count"] == 0 and small["false_alarm_count"] == 0,
        "robots.txt honoured": full["robots_forbidden_requested"] == 0,
        "sitemap-only pages read": full["orphans_read"] == 20,
    }
    results["checks"] = checks
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not all(checks.values()):
        raise SystemExit("some checks failed: " + ", ".join(name for name, ok in checks.items() if not ok))


if __name__ == "__main__":
    main()
