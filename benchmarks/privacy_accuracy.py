"""How well the privacy-link finder does on the labelled corpus of saved pages, and how fast.

Run from the project root: ``python benchmarks/privacy_accuracy.py [--corpus DIR] [--repeat N] [--shown]
[--json]``.
The corpus (``tests/data/privacy/``: ``labels.csv``, ``SOURCES.csv`` with each page's origin, and the pages
as ``pages.tar.xz``, read in memory; an unpacked ``pages/`` folder works too) ships with the repository.
Prints TP/FP/FN/TN, precision, recall, F1, median and p95 milliseconds per page (wall clock and CPU
time; with ``--repeat``, each page's time is the median of N runs, steadier on a shared machine), and
every miss. It is a report: it always exits 0. ``tests/test_privacy.py`` imports :func:`score_corpus`
from here so the test and the report share one definition of a hit.

Scoring: a page's label is ``NONE`` or one or more acceptable URLs (``a | b``), compared with scheme and
host case-insensitive. A right URL is a TP; a wrong URL on a labelled page is both an FP and an FN; any
URL on a ``NONE`` page is an FP; nothing on a labelled page is an FN; nothing on a ``NONE`` page is a TN.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from linkgate.privacy import find_privacy_link  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "data" / "privacy"


@dataclass(frozen=True, slots=True)
class Miss:
    id: str
    expected: str
    got: str
    reason: str


@dataclass(slots=True)
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    timings_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_ms(self) -> float:
        return _percentile(self.timings_ms, 0.5)

    @property
    def p95_ms(self) -> float:
        return _percentile(self.timings_ms, 0.95)

    def summary(self) -> dict[str, object]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "median_ms": round(self.median_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "cpu_median_ms": round(_percentile(self.cpu_ms, 0.5), 2),
            "cpu_p95_ms": round(_percentile(self.cpu_ms, 0.95), 2),
            "misses": [asdict(m) for m in self.misses],
        }


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if fraction == 0.5:
        return statistics.median(values)
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def normalise_url(url: str) -> str:
    """``url`` with scheme and host in lower case, for comparing a prediction with a label."""
    parts = urlsplit(url.strip())
    path = parts.path or "/"  # "http://host" and "http://host/" are the same address
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, parts.fragment))


def expected_urls(label: str) -> frozenset[str]:
    """The acceptable URLs of a ``privacy_url`` cell; empty for ``NONE``."""
    if label.strip().upper() == "NONE":
        return frozenset()
    return frozenset(normalise_url(u) for u in label.split(" | ") if u.strip())


def corpus_pages(corpus: Path) -> Iterator[tuple[dict[str, str], bytes]]:
    """Each labelled page of ``corpus`` as (its row of labels.csv, its bytes), in the labels' order.

    The pages come from ``pages.tar.xz`` when it is there (as the repository ships them), else from an
    unpacked ``pages/`` folder.
    """
    with (corpus / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    packed = corpus / "pages.tar.xz"
    if not packed.exists():
        for row in rows:
            yield row, (corpus / "pages" / f"{row['id']}.html").read_bytes()
        return
    with tarfile.open(packed, "r:xz") as archive:
        pages: dict[str, bytes] = {}
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                pages[Path(member.name).stem] = handle.read()
    for row in rows:
        yield row, pages[row["id"]]


def score_corpus(corpus: Path, repeat: int = 1, *, shown: bool = False) -> Score:
    """Run the finder over every labelled page of ``corpus`` and count hits and misses.

    Each page is read ``repeat`` times; its time is the median of those runs. With ``shown``, the finder
    keeps to the links the notice may show for the page's own site (a policy on another registrable
    domain is then a miss), as a lookup does.
    """
    score = Score()
    for row, html in corpus_pages(corpus):
        wall: list[float] = []
        cpu: list[float] = []
        site = (row["page_url"],) if shown else None
        for _ in range(max(1, repeat)):
            started, started_cpu = time.perf_counter(), time.process_time()
            found = find_privacy_link(html, row["page_url"], site=site)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        score.timings_ms.append(statistics.median(wall))
        score.cpu_ms.append(statistics.median(cpu))
        expected = expected_urls(row["privacy_url"])
        got = normalise_url(found.url) if found else ""
        if expected and got in expected:
            score.tp += 1
            continue
        if not expected and not got:
            score.tn += 1
            continue
        if got:
            score.fp += 1
        if expected:
            score.fn += 1
        score.misses.append(
            Miss(
                id=row["id"],
                expected=row["privacy_url"],
                got=found.url if found else "NONE",
                reason=found.reason if found else "no candidate scored high enough",
            )
        )
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory (labels.csv, pages/)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="time each page N times and take the median"
    )
    parser.add_argument(
        "--shown",
        action="store_true",
        help="only links the notice may show for the page's own site (a policy on another domain is a miss)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    score = score_corpus(args.corpus.resolve(), repeat=args.repeat, shown=args.shown)
    if args.json:
        print(json.dumps(score.summary(), ensure_ascii=False, indent=2))
        return 0
    print(f"pages: {len(score.timings_ms)}")
    print(f"TP {score.tp}  FP {score.fp}  FN {score.fn}  TN {score.tn}")
    print(f"precision {score.precision:.3f}  recall {score.recall:.3f}  F1 {score.f1:.3f}")
    runs = f"; median of {args.repeat} runs each" if args.repeat > 1 else ""
    print(f"median {score.median_ms:.1f} ms  p95 {score.p95_ms:.1f} ms per page (wall clock{runs})")
    cpu_median, cpu_p95 = _percentile(score.cpu_ms, 0.5), _percentile(score.cpu_ms, 0.95)
    steadier = "steadier on a busy machine"
    print(f"median {cpu_median:.1f} ms  p95 {cpu_p95:.1f} ms per page (CPU time; {steadier}{runs})")
    if score.misses:
        print(f"\nmisses ({len(score.misses)}):")
    for miss in score.misses:
        print(f"- {miss.id}\n    expected: {miss.expected}\n    got:      {miss.got}")
        print(f"    reason:   {miss.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
