"""``/metrics``: Prometheus figures that add up across a server's workers, hold nothing that identifies a
visitor or a destination, and are served only to the configured networks."""

from __future__ import annotations

import ipaddress
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
from linkgate.config import load_settings
from linkgate.counts import DROP_REASONS, EVENT_KINDS, OTHER_REASONS
from linkgate.errors import ConfigError
from linkgate.web import create_app
from linkgate.web.metrics import OUTCOME_BY_STATUS, ROUTES, STATUS_CLASSES, is_allowed, route_group
from tests.conftest import LiveServer, in_process_app, wait_for
from tests.test_counts import refuse

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

REDIRECT = "https://www.missoulacounty.us/parks?from=newsletter"
NOTICE = "https://www.example.org/page?id=4471"
BLOCK = "https://www.blocked.example/offer"
INVALID = "javascript:alert(1)"
BURST = {REDIRECT: 23, NOTICE: 17, BLOCK: 11, INVALID: 7}
# What the scrape may say: every label value comes from a fixed set, so nothing from a request can appear.
LABEL_VALUES = {
    "route": set(ROUTES),
    "status": set(STATUS_CLASSES),
    "outcome": set(OUTCOME_BY_STATUS.values()),
    "kind": set(EVENT_KINDS),
    "reason": {*DROP_REASONS, *OTHER_REASONS},
}


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


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


# ---- in process: the pieces, without a server ----


@pytest.mark.parametrize(
    ("path", "group"),
    [("/go", "go"), ("/go/", "other"), ("/admin", "admin"), ("/admin/login", "admin"), ("/", "other")],
)
def test_route_groups(path: str, group: str) -> None:
    assert route_group(path) == group


LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # a dual-stack listener's view of an IPv4 peer
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("unix:socket", False),
    ],
)
def test_only_peers_in_the_networks_are_allowed(address: str | None, allowed: bool) -> None:
    assert is_allowed(address, LOOPBACK) is allowed


def test_in_process_app_counts_outcomes_and_checks_the_peer(tmp_path: Path, database_url: str) -> None:
    app = create_app(
        load_settings(
            {
                "LINKGATE_INSTANCE": str(tmp_path),
                "LINKGATE_DATABASE_URL": database_url,
                "LINKGATE_FETCH_SYSTEM_RESOLVER": "false",
            },
            {"metrics.allow_networks": ["203.0.113.0/24"]},
        )
    )
    client = app.test_client()
    assert client.get("/go", query_string={"url": REDIRECT}).status_code == 302
    assert client.get("/go").status_code == 400
    assert client.get("/metrics").status_code == 403  # the test client's peer is 127.0.0.1
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 200
    samples = parse(response.get_data(as_text=True))
    assert value(samples, "linkgate_clicks_total", outcome="redirect") == 1
    assert value(samples, "linkgate_clicks_total", outcome="invalid") == 1
    assert value(samples, "linkgate_http_request_duration_seconds_count", route="other", status="4xx") == 1
    app.extensions["linkgate"].shutdown()  # its counts written now, while the test's database exists


def test_counts_dropped_or_counted_under_other_are_in_the_metrics(tmp_path: Path, database_url: str) -> None:
    app = in_process_app(
        tmp_path,
        database_url,
        FETCH_PRIVACY_WAIT_MS="0",
        SERVER_COUNTS_FLUSH_SECONDS="300",
        SERVER_COUNTS_MAX_DOMAINS_PER_DAY="10",
    )
    runtime = app.extensions["linkgate"]
    refuse(runtime.store, "click_counts", "domain", "www.refused.example")
    client = app.test_client()
    samples = parse(client.get("/metrics").get_data(as_text=True))
    for reason in DROP_REASONS:
        assert value(samples, "linkgate_counts_dropped_total", reason=reason) == 0
    for reason in OTHER_REASONS:
        assert value(samples, "linkgate_counts_other_total", reason=reason) == 0
    # A row the database refuses (flushed on its own: the worker's upkeep may flush some clicks first), then
    # twelve new domains for ten places.
    for _ in range(3):
        assert client.get("/go", query_string={"url": "https://www.refused.example/"}).status_code == 200
    assert runtime.counts.flush() is True
    for number in range(12):
        assert client.get("/go", query_string={"url": f"http://203.0.113.{number}/"}).status_code == 200
    assert runtime.counts.flush() is True

    samples = parse(client.get("/metrics").get_data(as_text=True))
    assert value(samples, "linkgate_counts_dropped_total", reason="refused") == 3
    assert value(samples, "linkgate_counts_dropped_total", reason="error") == 0
    assert value(samples, "linkgate_counts_other_total", reason="day_full") == 2
    assert value(samples, "linkgate_counts_other_total", reason="buffer_full") == 0
    assert client.get("/healthz").get_json()["counts"] == "ok"
    runtime.shutdown()


def test_open_metrics_is_served_when_asked_for(tmp_path: Path, database_url: str) -> None:
    app = create_app(
        load_settings({"LINKGATE_INSTANCE": str(tmp_path), "LINKGATE_DATABASE_URL": database_url})
    )
    response = app.test_client().get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")


@pytest.mark.parametrize(
    ("environ", "networks"),
    [
        ({}, LOOPBACK),
        ({"LINKGATE_METRICS_ALLOW_NETWORKS": "10.1.2.3/32, 192.0.2.0/24"}, ("10.1.2.3/32", "192.0.2.0/24")),
        ({"LINKGATE_METRICS_ALLOW_NETWORKS": ""}, ()),
    ],
)
def test_allow_networks_setting(tmp_path: Path, environ: dict[str, str], networks: tuple[Any, ...]) -> None:
    settings = load_settings({"LINKGATE_INSTANCE": str(tmp_path), **environ})
    assert settings.metrics_allow_networks == tuple(ipaddress.ip_network(network) for network in networks)


def test_a_bad_network_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics\.allow_networks .*'prometheus' is not a CIDR network"):
        load_settings({"LINKGATE_INSTANCE": str(tmp_path), "LINKGATE_METRICS_ALLOW_NETWORKS": "prometheus"})
