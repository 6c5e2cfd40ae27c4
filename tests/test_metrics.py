"""``/metrics`` in process: route groups, the peer check, outcomes and dropped counts, the OpenMetrics
format, the setting; and what both this module and tests/server/test_metrics.py (the real server across
its workers) read a scrape with."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from linkgate.config import load_settings
from linkgate.counts import DROP_REASONS, EVENT_KINDS, OTHER_REASONS
from linkgate.errors import ConfigError
from linkgate.web import create_app
from linkgate.web.metrics import OUTCOME_BY_STATUS, ROUTE_GROUPS, STATUS_CLASSES, is_allowed, route_group
from tests.conftest import in_process_app
from tests.test_counts import refuse

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

REDIRECT = "https://www.missoulacounty.us/parks?from=newsletter"
NOTICE = "https://www.example.org/page?id=4471"
BLOCK = "https://www.blocked.example/offer"
INVALID = "javascript:alert(1)"
BURST = {REDIRECT: 23, NOTICE: 17, BLOCK: 11, INVALID: 7}
# What the scrape may say: every label value comes from a fixed set, so nothing from a request can appear.
LABEL_VALUES = {
    "route": set(ROUTE_GROUPS),
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
    refuse(runtime.store, "click_counts", "domain", "refused.example")  # www.refused.example's domain
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
