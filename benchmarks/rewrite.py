"""How fast ``linkgate rewrite`` reads and rewrites a page, and whether its time grows linearly with size.

Run from the project root: ``python benchmarks/rewrite.py [--shape NAME ...] [--rows N] [--doublings K]
[--repeat R] [--strict]``. On demand, not a test: tests/test_rewrite.py checks what a large page becomes,
this measures how long it takes.

Each shape is a generated page built from ``--rows`` units (6,000 by default: a directory page of 6,000
rows is about 700 KB), then from twice, four times... as many (``--doublings``, 3 by default). For each
size it rewrites the page (:func:`linkgate.rewrite.rewrite_html`, as the command does) ``--repeat`` times
and keeps the least CPU time, which is what rewriting costs whatever else the machine is running. It
prints the size, the time, MB/s and, from the second size on, the time's growth against the size before
(2.0 for linear time). A growth above ``--max-growth`` (2.6 by default, room for noise and the cache) is
marked SLOW; ``--strict`` then exits 1.

Shapes:

* ``directory``: rows of a table, each with a link of the site and one off-site (rewritten);
* ``attributes``: off-site links with 20 attributes each, some unquoted, to go past the one-step tag reader;
* ``foreign``: links inside ever deeper SVG, and end tags that close none of it (the tokenizer looks for
  each among the open foreign elements);
* ``unclosed``: ``<a href=`` left open, ``<!--`` and ``</`` without their end, over and over.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from linkgate.rewrite import GateLinks, rewrite_html
from linkgate.signing import Signer

GATE = GateLinks("https://gate.county.example/go", Signer("benchmark key, not a secret"), ("county.example",))


def directory(rows: int) -> bytes:
    row = (
        '<tr><td><a href="/dept/{0}">Dept</a>'
        '<td><a href="https://p{1}.example/x?id={0}&amp;y=1" target=_blank>P</a>\n'
    )
    return ("<table>" + "".join(row.format(i, i % 300) for i in range(rows))).encode()


def attributes(rows: int) -> bytes:
    extra = " ".join(f"data-k{j}={j}x" if j % 2 else f'data-k{j}="{j}"' for j in range(20))
    return "".join(f'<p><a {extra} href="https://p{i}.example/">P</a>\n' for i in range(rows)).encode()


def foreign(rows: int) -> bytes:
    depth = rows // 10
    return (
        "<svg>"
        + "<g>" * depth
        + "".join(f'<a href="https://p{i}.example/">P</a></nothing>\n' for i in range(rows))
    ).encode()


def unclosed(rows: int) -> bytes:
    return ("<p>" + "<a href=x </ <!-x \n" * rows).encode()


SHAPES: dict[str, Callable[[int], bytes]] = {
    "directory": directory,
    "attributes": attributes,
    "foreign": foreign,
    "unclosed": unclosed,
}


def cpu_seconds(data: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        rewrite_html(data, GATE)
        best = min(best, time.process_time() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape", action="append", choices=sorted(SHAPES), help="shapes to run (all by default)"
    )
    parser.add_argument("--rows", type=int, default=6000, help="units of the smallest page of each shape")
    parser.add_argument("--doublings", type=int, default=3, help="how many times the size doubles")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the least CPU time is kept")
    parser.add_argument("--max-growth", type=float, default=2.6, help="time growth per doubling marked SLOW")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a growth is SLOW")
    args = parser.parse_args()
    slow = False
    print(f"{'shape':<11} {'rows':>7} {'KB':>8} {'CPU s':>8} {'MB/s':>7} {'growth':>7}")
    for name in args.shape or list(SHAPES):
        before: float | None = None
        for step in range(args.doublings + 1):
            rows = args.rows * 2**step
            data = SHAPES[name](rows)
            seconds = cpu_seconds(data, args.repeat)
            growth = seconds / before if before else None
            mark = ""
            if growth is not None and growth > args.max_growth:
                mark, slow = " SLOW", True
            shown = f"{growth:7.2f}" if growth is not None else " " * 7
            rate = len(data) / 1e6 / seconds if seconds else float("inf")
            print(f"{name:<11} {rows:>7} {len(data) / 1000:>8.0f} {seconds:>8.3f} {rate:>7.1f} {shown}{mark}")
            before = seconds
    return 1 if slow and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
