"""What a hostile page costs the privacy finder: time and memory per shape, for pages at the body cap.

Run from the project root: ``python benchmarks/privacy_hostile.py [--shape NAME ...] [--repeat N]
[--timeout S] [--json]``. Every shape is a generated page of about 2 MB (the fetcher's body cap), built
to hit a known weak spot of HTML readers: deep nesting, foreign content left open, thousands of
candidate links, nested links, attribute floods, huge comments, scripts and styles, mis-nested formatting
elements, 2 MB of ``<i>``, text without tags, floods of ``<meta>`` and ``<base>``... Each reader of
remote pages in :mod:`linkgate.privacy` (``find_privacy_link``, ``is_privacy_page``) reads each shape
in a fresh process: the worst CPU time and wall-clock time of N runs, the growth of the resident set
above the process's baseline (peak RSS, which sees lxml's memory too) and the peak of Python's own
allocations (tracemalloc).

It prints a table and exits 1 when a shape breaks the bound a worker must hold (``--max-seconds``,
1 s, and ``--max-mb``, 100 MB above baseline, by default), or a run does not finish within
``--timeout``. The time bound is checked on CPU time, which is what reading costs (one thread), whatever
else the machine is running; on an idle machine wall-clock time is the same. ``--wall`` checks wall
clock instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZE = 2_000_000
BASE_URL = "https://www.example.org/news/story.html"
LINK = '<footer><a href="/privacy">Privacy Policy</a></footer>'
HEAD = "<!doctype html><html><head><title>Story</title></head><body>"


def _fill(prefix: str, unit: str, suffix: str = "") -> bytes:
    """``prefix``, then ``unit`` repeated up to about SIZE bytes, then ``suffix``."""
    room = SIZE - len(prefix.encode()) - len(suffix.encode())
    return (prefix + unit * max(1, room // len(unit.encode())) + suffix).encode()


def _numbered(prefix: str, unit: str, suffix: str = "") -> bytes:
    """Like :func:`_fill`, with ``{i}`` in ``unit`` numbered, so that no two repeats are the same."""
    parts, size, index = [prefix], len(prefix) + len(suffix), 0
    while size < SIZE:
        piece = unit.format(i=index)
        parts.append(piece)
        size += len(piece)
        index += 1
    parts.append(suffix)
    return "".join(parts).encode()


SHAPES: dict[str, Callable[[], bytes]] = {
    "deep nesting": lambda: _fill(HEAD, "<div>", LINK),
    "deep stack, stray end tags": lambda: _fill(HEAD + "<div>" * 250, "</span>", LINK),
    "deep groups, closed and opened again": lambda: _fill(HEAD, "<div>" * 250 + "</div>" * 250, LINK),
    "flat flood of empty elements": lambda: _fill(HEAD, "<br>", LINK),
    "unclosed <svg>": lambda: _fill(HEAD, "<svg>", LINK),
    "unclosed <template>": lambda: _fill(HEAD, "<template>", LINK),
    "unclosed <math>": lambda: _fill(HEAD, "<math>", LINK),
    "<svg> then a link, repeated": lambda: _fill(HEAD, '<svg><a href="/privacy">Privacy</a>', LINK),
    "thousands of candidate links": lambda: _numbered(
        HEAD + "<footer>", '<a href="/privacy-policy/{i}">Privacy Policy</a> ', "</footer>"
    ),
    "nested links": lambda: _fill(HEAD, '<a href="/privacy">Privacy <span>', LINK),
    "groups of nested links": lambda: _fill(
        HEAD, '<a href="/privacy"><span>' * 120 + "Privacy" + "</span></a>" * 120, LINK
    ),
    "nested links over empty elements": lambda: _fill(
        HEAD + '<footer><a href="/privacy"><span>' * 250, "<b></b>", "Privacy"
    ),
    "links nested in footers": lambda: _fill(
        HEAD, '<div class="site-footer cookie-banner nav"><a href="/privacy">Privacy</a>', LINK
    ),
    "attribute flood in one tag": lambda: _numbered(
        HEAD + '<a href="/privacy"', ' x{i}="Privacy"', ">Privacy</a>"
    ),
    "long attributes": lambda: _fill(
        HEAD, '<a href="/privacy" class="' + "footer-nav " * 180 + '" title="' + "Privacy " * 250 + '">x</a>'
    ),
    "huge comment": lambda: _fill(HEAD + "<!--", '<a href="/privacy">Privacy</a>', "-->" + LINK),
    "many comments inside a link": lambda: _fill(
        HEAD + '<footer><a href="/privacy">', "Priv<!-- -->acy", "</a>"
    ),
    "comment never closed": lambda: _fill(HEAD + LINK + "<!--", '<a href="/privacy">Privacy</a>'),
    "huge script": lambda: _fill(
        HEAD + "<script>",
        "document.write('<a href=\"/privacy\">Privacy</a>'); <!-- <script> --> ",
        "</script>" + LINK,
    ),
    "huge style": lambda: _fill(
        HEAD + "<style>", "a[href='/privacy']::after{content:'</styl'}", "</style>" + LINK
    ),
    "mis-nested formatting (adoption agency)": lambda: _fill(
        HEAD, '<b><i><a href="/privacy"><u>Privacy</b></i></a></u>', LINK
    ),
    "2 MB of <i>": lambda: _fill("<html><head><title>Privacy Policy</title></head><body><h1>", "<i>"),
    "text without tags": lambda: _fill("", "Privacy policy, Datenschutz, confidentialité. "),
    "<meta> and <base> flood": lambda: _fill(
        "<html><head>", '<meta charset="utf-8"><base href="/x/"><meta name="robots" content="x">', LINK
    ),
    "<meta never closed": lambda: _fill("<html><head>", "<meta charset "),
    "script links (onclick) flood": lambda: _fill(
        HEAD, "<span onclick=\"location.href='/privacy'\">Privacy</span>", LINK
    ),
    "onclick full of unclosed quotes": lambda: _fill(
        HEAD, '<span onclick="' + "location.href='x " * 120 + '">Privacy</span>', LINK
    ),
    "long link text": lambda: _fill(HEAD + '<footer><a href="/privacy">', "Privacy policy ", "</a></footer>"),
    "character references": lambda: _fill(HEAD + '<footer><a href="/privacy">', "&#80;&#x72;&amp;", "</a>"),
    "tables left open": lambda: _fill(HEAD, '<table><tr><td><a href="/privacy">Privacy', LINK),
    "huge title and heading": lambda: _fill(
        "<html><head><title>" + "Privacy Policy | " * 50_000 + "</title></head><body><h1>",
        "Datenschutz - ",
        "</h1>",
    ),
    "tag never closed": lambda: _fill(HEAD + "<a href='/privacy' title='", "Privacy "),
    "long addresses": lambda: _fill(HEAD, '<a href="/' + "privacy/" * 300 + '">Privacy</a>', LINK),
    "NUL and control bytes": lambda: _fill(HEAD, '\x00<a href="/privacy">Pri\x01vacy</a>\x0b', LINK),
}
READERS = ("find_privacy_link", "is_privacy_page")


def _memory_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM), or the peak RSS where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Make the peak RSS the current RSS (Linux: clear_refs 5), so the peak measured is this run's."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def measure(shape: str, reader: str, repeat: int) -> dict[str, object]:
    """Read one shape with one reader in this process: worst seconds, RSS growth, tracemalloc peak."""
    from linkgate import privacy

    read: Callable[[bytes], object]
    if reader == "find_privacy_link":

        def read(html: bytes) -> object:
            link = privacy.find_privacy_link(html, BASE_URL)
            return link.url if link is not None else None

    else:

        def read(html: bytes) -> object:
            return privacy.is_privacy_page(html)

    read(b"<title>Privacy policy</title><footer><a href='/privacy'>Privacy policy</a></footer>")  # warm up
    html = SHAPES[shape]()
    gc.collect()
    baseline = _memory_kb("VmRSS")
    _reset_peak()
    worst = worst_cpu = 0.0
    answer: object = None
    for _ in range(max(1, repeat)):
        started, started_cpu = time.perf_counter(), time.process_time()
        answer = read(html)
        worst = max(worst, time.perf_counter() - started)
        worst_cpu = max(worst_cpu, time.process_time() - started_cpu)
    grown = max(0, _memory_kb("VmHWM") - baseline) / 1024
    gc.collect()
    tracemalloc.start()
    read(html)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "shape": shape,
        "reader": reader,
        "bytes": len(html),
        "seconds": round(worst, 3),
        "cpu_seconds": round(worst_cpu, 3),
        "rss_mb": round(grown, 1),
        "traced_mb": round(traced, 1),
        "answer": answer,
    }


def run(shape: str, reader: str, repeat: int, timeout: float) -> dict[str, object]:
    """:func:`measure` in a fresh process, so that one shape's memory never counts against the next."""
    command = [sys.executable, __file__, "--measure", shape, reader, "--repeat", str(repeat)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"shape": shape, "reader": reader, "error": f"still running after {timeout:g} s"}
    if done.returncode != 0:
        return {"shape": shape, "reader": reader, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape", action="append", choices=sorted(SHAPES), help="only this shape (repeatable)"
    )
    parser.add_argument("--reader", action="append", choices=READERS, help="only this reader (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per shape; the worst counts")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up on a run after S s")
    parser.add_argument("--max-seconds", type=float, default=1.0, help="the time bound (default 1 s)")
    parser.add_argument("--max-mb", type=float, default=100.0, help="the memory bound (default 100 MB)")
    parser.add_argument("--wall", action="store_true", help="check the time bound on wall-clock time")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--measure", nargs=2, metavar=("SHAPE", "READER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.measure[1], args.repeat)))
        return 0
    results = []
    timed = "seconds" if args.wall else "cpu_seconds"
    if not args.json:
        columns = f"{'CPU':>9} {'wall':>9} {'RSS growth':>14} {'Python peak':>13}"
        print(f"{'shape':<42} {'reader':<18} {columns}  answer")
    for shape in args.shape or SHAPES:
        for reader in args.reader or READERS:
            result = run(shape, reader, args.repeat, args.timeout)
            result["over"] = "error" in result or (
                float(str(result[timed])) > args.max_seconds or float(str(result["rss_mb"])) > args.max_mb
            )
            results.append(result)
            if not args.json:
                print(_row(result), flush=True)
    broken = [r for r in results if r["over"]]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        clock = "wall-clock" if args.wall else "CPU"
        bound = f"{args.max_seconds:g} s ({clock}) and {args.max_mb:g} MB"
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"\n{len(results) - len(broken)} of {len(results)} runs within {bound}; load average {load}")
    return 1 if broken else 0


def _row(result: dict[str, object]) -> str:
    name = f"{result['shape']:<42} {result['reader']:<18}"
    if "error" in result:
        return f"{name} {'FAILED':>8}  {result['error']}"
    flag = "  OVER" if result["over"] else ""
    return (
        f"{name} {result['cpu_seconds']:>7.3f} s {result['seconds']:>7.3f} s {result['rss_mb']:>7.1f} MB RSS "
        f"{result['traced_mb']:>7.1f} MB traced  -> {str(result['answer'])[:40]}{flag}"
    )


if __name__ == "__main__":
    sys.exit(main())
