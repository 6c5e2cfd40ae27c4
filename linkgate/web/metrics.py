"""``GET /metrics``: aggregate counts and latencies in the Prometheus text format, for County IT's monitoring.

What it holds, and nothing else: request latencies by route group (``go``, ``admin``, ``other``) and status
class, clicks by outcome, counts dropped (their row refused by the database) and counted under "(other)"
(a day or a worker's buffer full), security events by kind, the rules version and whether the database
answers. Every label takes one of a few fixed values, so no URL, host,
domain, address, user agent or account name can ever appear, and the series never grow with traffic.

How several workers answer as one server: each gunicorn worker is its own process, and a scrape reaches
one of them. The request figures use prometheus_client's multiprocess mode: every worker writes its
counters into memory-mapped files in ``<instance>/metrics``, and whichever worker answers a scrape adds
up every worker's files. ``linkgate.serving`` empties that folder when the server starts (gunicorn's
``on_starting`` hook, in the master, before any worker exists) and names it to prometheus_client by the
``PROMETHEUS_MULTIPROC_DIR`` variable, which the workers inherit. A worker that exits leaves its files, so
the server's counters never go backwards until it restarts; there are no per-process gauges in the files,
so nothing needs removing when a worker exits. Without that hook (a bare ``gunicorn`` without
``-c deploy/gunicorn.conf.py``, the test client) the figures are this process's only.

The other figures are read when a scrape comes: the rules version of the answering worker, and from the
shared database the security events of every server (the same value on each server, so take ``max``,
never ``sum``, across servers). Click counts by destination domain stay in the console and ``linkgate
stats``: thousands of domains a day would be thousands of series.

Cost on the click path: two clock readings, a few dictionary look-ups and three increments of
memory-mapped values: about 5 µs a request under gunicorn, 2 to 4 µs without multiprocess mode, beside
the 120 µs or more of a redirect (measured in process on the 2-core development machine). The gate's
outcome is read from its answer's status (302 redirect, 200 notice, 403 block, 400 invalid), so the gate
itself knows nothing of metrics.

Who may read it: only peers in ``metrics.allow_networks`` (default: loopback); anyone else gets 403. Behind
a proxy every peer is the proxy, so the proxy must refuse ``/metrics`` itself (``deploy/nginx``), and
Prometheus scrapes each server directly.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from importlib import metadata
from time import perf_counter
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from linkgate.config import Network
from linkgate.counts import DROP_REASONS, EVENT_KINDS, OTHER_REASONS
from linkgate.errors import StoreUnavailable
from linkgate.runtime import Runtime
from linkgate.web.app_runtime import get_runtime

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

blueprint = Blueprint("metrics", __name__)

# The values of the "route" label: what route_group makes of a request's path.
ROUTE_GROUPS = ("go", "admin", "other")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# The gate's answers: what a visitor got from /go, by status code.
OUTCOME_BY_STATUS = {"302": "redirect", "200": "notice", "403": "block", "400": "invalid"}
# Seconds. A redirect takes well under a millisecond; a notice for a site not yet in the cache may wait
# up to fetch.privacy_wait_ms (0.8 s) for its privacy lookup.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# prometheus_client's own switch for multiprocess mode (read by the library when it is imported), set by
# linkgate.serving's on_starting hook: not a linkgate setting.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def route_group(path: str) -> str:
    if path == "/go":
        return "go"
    return "admin" if path.startswith("/admin") else "other"


class RequestMetrics:
    """The instruments every request touches, with their label children made once."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.latency = Histogram(
            "linkgate_http_request_duration_seconds",
            "Time to answer a request, by route group (go, admin, other) and status class.",
            ["route", "status"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.clicks = Counter(
            "linkgate_clicks",
            "Answers of /go by outcome: redirect, notice, block, or invalid (a link that cannot be used).",
            ["outcome"],
            registry=registry,
        )
        self.counts_dropped = Counter(
            "linkgate_counts_dropped",
            "Clicks and security events not stored: the database refused their row (refused), or writing "
            "it alone failed otherwise (error).",
            ["reason"],
            registry=registry,
        )
        self.counts_other = Counter(
            "linkgate_counts_other",
            'Clicks counted under the domain "(other)": the day already held its most domains (day_full), '
            "or the worker's buffer was full while the database was away (buffer_full).",
            ["reason"],
            registry=registry,
        )
        # Made now, so every series exists (at 0) from the start and a request pays no .labels() call.
        self.latency_for = {
            (route, status[0]): self.latency.labels(route, status)
            for route in ROUTE_GROUPS
            for status in STATUS_CLASSES
        }
        self.click_for = {code: self.clicks.labels(outcome) for code, outcome in OUTCOME_BY_STATUS.items()}
        self.counts_for = {
            **{("dropped", reason): self.counts_dropped.labels(reason) for reason in DROP_REASONS},
            **{("other", reason): self.counts_other.labels(reason) for reason in OTHER_REASONS},
        }

    def note_counts(self, what: str, reason: str, count: int) -> None:
        """Called by the click counter when clicks or events are dropped or counted under "(other)"."""
        self.counts_for[(what, reason)].inc(count)

    def observe(self, path: str, status: str, seconds: float) -> None:
        route = route_group(path)
        child = self.latency_for.get((route, status[:1]))
        if child is None:  # a status outside 2xx-5xx: not made by linkgate
            child = self.latency_for[(route, "5")]
        child.observe(seconds)
        if route == "go":
            click = self.click_for.get(status[:3])
            if click is not None:
                click.inc()


class InstrumentedApp:
    """WSGI middleware around the Flask application: times each request and notes what it answered."""

    def __init__(self, app: WSGIApplication, metrics: RequestMetrics) -> None:
        self._app = app
        self._metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = perf_counter()
        statuses: list[str] = []

        def noting_status(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], object]:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self._app(environ, noting_status)
        finally:
            self._metrics.observe(
                environ.get("PATH_INFO", ""), statuses[-1] if statuses else "500", perf_counter() - started
            )


class StateCollector:
    """Figures read when a scrape comes: the answering worker's rules, and the shared database."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        try:
            self._version = metadata.version("linkgate")
        except metadata.PackageNotFoundError:  # run from a checkout that was never installed
            self._version = "unknown"

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        info = GaugeMetricFamily(
            "linkgate_info", "The linkgate version this server runs.", labels=["version"]
        )
        info.add_metric([self._version], 1)
        yield info
        yield GaugeMetricFamily(
            "linkgate_rules_version",
            "Version of the rules the answering worker serves.",
            runtime.rules.version,
        )
        yield GaugeMetricFamily(
            "linkgate_rules",
            "Allowlist and blocklist entries the answering worker serves.",
            len(runtime.classifier.rules),
        )
        yield GaugeMetricFamily(
            "linkgate_counts_pending",
            "Clicks and security events the answering worker holds in memory, not yet written.",
            runtime.counts.pending,
        )
        try:
            events: dict[str, int] | None = runtime.store.counts.events_by_kind(date.min, date.max)
        except StoreUnavailable:
            events = None
        yield GaugeMetricFamily(
            "linkgate_database_up",
            "1 when the database answers a query, else 0 (clicks are still served).",
            0 if events is None else 1,
        )
        if events is not None:
            family = CounterMetricFamily(
                "linkgate_security_events",
                "Security events of every server, as stored in the shared database (take max, not sum).",
                labels=["kind"],
            )
            for kind in EVENT_KINDS:
                family.add_metric([kind], events.get(kind, 0))
            yield family


def init_app(app: Flask, runtime: Runtime) -> None:
    """Time every request and serve ``/metrics``; figures across workers when the server set up the folder."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_VARIABLE):
        MultiProcessCollector(registry)
        metrics = RequestMetrics(registry=None)
    else:
        metrics = RequestMetrics(registry=registry)
    registry.register(StateCollector(runtime))
    app.extensions["linkgate.metrics"] = registry
    runtime.counts.report = metrics.note_counts
    app.wsgi_app = InstrumentedApp(app.wsgi_app, metrics)  # type: ignore[method-assign]
    app.register_blueprint(blueprint)


def is_allowed(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether the peer ``address`` (an IPv4-mapped IPv6 address counts as IPv4) is in ``networks``."""
    if not address:
        return False
    try:
        peer = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in networks)


@blueprint.get("/metrics")
def metrics() -> Response:
    runtime = get_runtime()
    if not is_allowed(request.remote_addr, runtime.settings.metrics_allow_networks):
        return Response(
            "/metrics is served only to the networks in metrics.allow_networks.\n",
            status=403,
            mimetype="text/plain",
            headers={"Cache-Control": "no-store"},
        )
    runtime.ensure_upkeep()
    # The text format Prometheus asks for in Accept (OpenMetrics, or the classic 0.0.4 by default).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(current_app.extensions["linkgate.metrics"])
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
