"""``/metrics`` on a real gunicorn of two workers: figures that add up across the workers, hold nothing that
identifies a visitor or a destination, start again with the server, and are served only to the configured
networks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from linkgate.chart import OUTCOMES
from linkgate.web.metrics import STATUS_CLASSES
from tests.conftest import LiveServer, wait_for
from tests.test_metrics import BLOCK, BURST, INVALID, LABEL_VALUES, NOTICE, REDIRECT, Samples, parse, value


def scrape(server: LiveServer) -> Samples:
    response = server.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def click(server: LiveServer, destination: str, client: httpx.Client | None = None) -> int:
    response = (client or httpx).get(server.url + "/go", params={"url": destination}, timeout=10)
    return response.status_code


def burst(server: LiveServer) -> None:
    links = [destination for destination, times in BURST.items() for _ in range(times)]
    # A new connection for every click (no keep-alive), so that both workers take some.
    with (
        httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        statuses = list(pool.map(lambda destination: click(server, destination, client), links))
    assert sorted(statuses) == sorted(
        {REDIRECT: 302, NOTICE: 200, BLOCK: 403, INVALID: 400}[destination] for destination in links
    )


def clicks_per_worker(folder: Path) -> list[float]:
    """Each worker's own clicks, read from its file in the server's metrics folder."""
    totals = []
    for path in sorted(folder.glob("counter_*.db")):
        (family,) = [
            metric for metric in MultiProcessCollector.merge([str(path)]) if metric.name == "linkgate_clicks"
        ]
        totals.append(sum(sample.value for sample in family.samples))
    return totals


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Two workers, one burst of known clicks (again until both workers have taken some)."""
    server = LiveServer(tmp_path_factory.mktemp("metrics"), workers=2)
    server.cli("block", "blocked.example")
    server.start()
    rounds = 0
    while rounds < 5:
        burst(server)
        rounds += 1
        if (
            len([total for total in clicks_per_worker(server.directory / "instance" / "metrics") if total])
            >= 2
        ):
            break
    server.rounds = rounds  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_every_worker_answers_with_the_clicks_of_both(busy_server: LiveServer) -> None:
    rounds: int = busy_server.rounds  # type: ignore[attr-defined]
    per_worker = clicks_per_worker(busy_server.directory / "instance" / "metrics")
    assert len([total for total in per_worker if total]) == 2, per_worker
    expected = {
        "redirect": BURST[REDIRECT] * rounds,
        "notice": BURST[NOTICE] * rounds,
        "block": BURST[BLOCK] * rounds,
        "invalid": BURST[INVALID] * rounds,
    }
    assert sum(per_worker) == sum(expected.values())
    # Each scrape reaches one worker or the other: every one of them reports the whole server.
    for _ in range(6):
        samples = scrape(busy_server)
        for outcome, count in expected.items():
            assert value(samples, "linkgate_clicks_total", outcome=outcome) == count
        go = {
            status: value(samples, "linkgate_http_request_duration_seconds_count", route="go", status=status)
            for status in STATUS_CLASSES
        }
        assert go == {
            "2xx": expected["notice"],
            "3xx": expected["redirect"],
            "4xx": expected["block"] + expected["invalid"],
            "5xx": 0,
        }
        assert (
            value(samples, "linkgate_http_request_duration_seconds_count", route="other", status="2xx") >= 1
        )
        assert value(samples, "linkgate_database_up") == 1
        assert value(samples, "linkgate_rules") == 1


def test_clicks_match_the_stored_counts_and_events(busy_server: LiveServer) -> None:
    rounds: int = busy_server.rounds  # type: ignore[attr-defined]
    want_events = {"invalid_url": BURST[INVALID] * rounds, "blocked_destination": BURST[BLOCK] * rounds}

    def agree() -> bool:
        """The stored counts, as 'linkgate stats' reads them, are the metrics' (each worker writes its
        counts every 0.3 s) and so are the security events."""
        stored = json.loads(busy_server.cli("stats", "--format", "json").stdout)["totals"]
        samples = scrape(busy_server)
        metrics = {outcome: value(samples, "linkgate_clicks_total", outcome=outcome) for outcome in OUTCOMES}
        events = {kind: value(samples, "linkgate_security_events_total", kind=kind) for kind in want_events}
        return metrics | {"total": sum(metrics.values())} == stored and events == want_events

    wait_for(agree, what="the stored counts and events to be the metrics'")
    assert value(scrape(busy_server), "linkgate_security_events_total", kind="ssrf_refused") == 0


def test_metrics_hold_no_url_host_or_address(busy_server: LiveServer) -> None:
    text = busy_server.get("/metrics").text
    for secret in ("missoulacounty", "example", "parks", "newsletter", "4471", "javascript", "127.0.0.1"):
        assert secret not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                if label == "le":
                    float(label_value)
                elif label == "version":
                    assert re.fullmatch(r"[0-9][0-9a-z.+-]*|unknown", label_value)
                else:
                    assert label_value in LABEL_VALUES[label], (sample.name, label, label_value)


@pytest.mark.sqlite_only
def test_metrics_say_the_database_is_down_and_still_answer(busy_server: LiveServer) -> None:
    moved = busy_server.database.with_name("away.db")
    busy_server.database.rename(moved)
    try:
        samples = scrape(busy_server)
        assert value(samples, "linkgate_database_up") == 0
        assert not [name for name, _labels in samples if name.startswith("linkgate_security_events")]
        assert click(busy_server, REDIRECT) == 302
    finally:
        moved.rename(busy_server.database)
    assert value(scrape(busy_server), "linkgate_database_up") == 1


def test_counters_start_from_zero_when_the_server_restarts(busy_server: LiveServer) -> None:
    folder = busy_server.directory / "instance" / "metrics"
    before = {path.name for path in folder.glob("*.db")}
    assert value(scrape(busy_server), "linkgate_clicks_total", outcome="redirect") > 0
    busy_server.stop()
    busy_server.start()
    assert value(scrape(busy_server), "linkgate_clicks_total", outcome="redirect") == 0
    after = {path.name for path in folder.glob("*.db")}
    assert not before & after  # the files of the workers that ran before are gone
    # Only the workers that have served a request since the restart have written a file (one or both).
    assert 1 <= len([name for name in after if name.startswith("counter_")]) <= 2


def test_metrics_are_refused_outside_the_allowed_networks(make_server: Any) -> None:
    server = make_server({"metrics": {"allow_networks": ["192.0.2.0/24", "2001:db8::/32"]}})
    refused = server.get("/metrics")
    assert refused.status_code == 403
    assert "linkgate_" not in refused.text
    assert server.get("/healthz").status_code == 200
