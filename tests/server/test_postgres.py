"""Several servers on one PostgreSQL: what one server does, the others see; an outage loses no clicks.

These tests need PostgreSQL itself (two servers cannot share a SQLite file across machines), so they run
in the PostgreSQL pass of the suite (``LINKGATE_TEST_DATABASE=postgresql``, as ``make test`` does) and
are skipped, with that reason, in the SQLite pass.

Every server here is a real ``linkgate serve`` (gunicorn, two workers); the outage is real too: the
servers connect as a role of their own, which the test forbids to log in and whose connections it kills
with ``pg_terminate_backend``, so the database is gone for them while it stays up for everything else
on the machine.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from linkgate.config import Settings
from tests.conftest import ON_POSTGRES, POSTGRES_URL, HeldPage, LiveServer, new_database_url, wait_for
from tests.console import ADMIN_PASSWORD, Browser, create_account, query, signed_in

pytestmark = [
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="PostgreSQL only: runs in the suite's PostgreSQL pass (LINKGATE_TEST_DATABASE=postgresql)",
    ),
]

COUNTY_REFERER = {"Referer": "https://www.missoulacounty.us/departments/parks"}
SHIPPED_REFRESH = Settings.__dataclass_fields__["rules_refresh_seconds"].default
HOME = """<!doctype html><html><head><title>Cold site</title></head><body><main><p>Welcome.</p></main>
<footer><a href="/privacy">Privacy Policy</a></footer></body></html>"""


def go(server: LiveServer, url: str, **kwargs: Any) -> httpx.Response:
    return server.get("/go?url=" + quote(url, safe=""), **kwargs)


@pytest.fixture
def pair(tmp_path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers (two workers each) on different ports sharing one PostgreSQL schema."""
    url = new_database_url(tmp_path)
    config: dict[str, dict[str, Any]] = {
        "database": {"url": url},
        "server": {"rules_refresh_seconds": SHIPPED_REFRESH},
        "fetch": {
            "allow_networks": ["127.0.0.0/8"],
            "resolve": ["cold.test=127.0.0.1"],
            "privacy_wait_ms": 200,
        },
    }
    servers = []
    for name in ("a", "b"):
        directory = tmp_path / name
        directory.mkdir()
        servers.append(LiveServer(directory, config, workers=2))
    first, second = servers
    first.cli("allow", "partner.example")
    create_account(first, "admin", ADMIN_PASSWORD)
    # Both start at once, as a load balancer's servers do after an upgrade: the schema is already there,
    # and each one's start-up check must find it so.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(LiveServer.start, servers))
    yield first, second
    for server in servers:
        server.stop()


def counts_pending(server: LiveServer) -> float:
    """Clicks the answering worker holds unwritten, from /metrics (public /healthz never says)."""
    text = server.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "linkgate_counts_pending"
    )


def test_a_rule_added_on_one_server_is_enforced_by_the_other_at_its_next_refresh(pair):
    first, second = pair
    target = "https://www.two-servers.example/"
    assert go(second, target).status_code == 200
    browser = signed_in(first)
    added = browser.submit(
        "/admin/rules/new",
        {"name": "two-servers.example", "scope": "domain", "kind": "block", "action": "", "note": ""},
    )
    assert added.status_code == 302

    def both_servers_block() -> bool:
        return all(go(server, target).status_code == 403 for server in pair for _ in range(6))

    # Each worker reads the rules again every rules_refresh_seconds (2 s shipped): 15 s is room for a
    # loaded machine, not a speed goal, and a worker that never refreshed would still fail.
    wait_for(both_servers_block, timeout=15, what="every worker to enforce the new rule")


def test_counts_from_both_servers_add_up_exactly(pair):
    first, second = pair
    per_server = 150
    statuses: Counter[int] = Counter()

    def burst(server: LiveServer) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for index in range(per_server):
                url = f"https://www.partner.example/burst/{index}"
                response = client.get("/go?url=" + quote(url, safe=""), headers=COUNTY_REFERER)
                statuses[response.status_code] += 1

    threads = [threading.Thread(target=burst, args=(server,)) for server in (first, second) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {302: 6 * per_server}
    # Four workers flush the same (day, domain, outcome) row at once: the upsert must add, never overwrite.
    # (The domain counted is the registrable one: partner.example, by the Public Suffix List's default rule.)
    wait_for(
        lambda: (
            query(first, "SELECT SUM(count) FROM click_counts WHERE domain = 'partner.example'")
            == [(6 * per_server,)]
        ),
        timeout=10,
    )
    for server in pair:
        server.stop()
    assert query(first, "SELECT outcome, count FROM click_counts WHERE domain = 'partner.example'") == [
        ("redirect", 6 * per_server)
    ]


def test_one_privacy_lookup_per_cold_host_across_both_servers(pair, threaded_site: HTTPServer):
    held = HeldPage(HOME)  # every click comes while the first lookup waits for the home page
    threaded_site.expect_request("/").respond_with_handler(held)
    key = f"cold.test:{threaded_site.port}"
    site = f"http://{key}/page"
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda index: go(pair[index % 2], site).status_code, range(24)))
    assert statuses == [200] * 24
    held.release.set()

    def shows_the_link(server: LiveServer) -> bool:
        return f'href="http://{key}/privacy"' in go(server, site).text

    wait_for(lambda: all(shows_the_link(server) for server in pair), what="the privacy link on both servers")
    # A second lookup, by any worker of either server, would have reached the home page while it was held.
    assert held.arrived == [key]


def test_failed_sign_ins_on_one_server_lock_the_account_on_the_other(tmp_path):
    url = new_database_url(tmp_path)
    config: dict[str, dict[str, Any]] = {
        "database": {"url": url},
        "admin": {"login_slow_after": 10, "login_lock_after": 3, "login_lock_minutes": 15},
    }
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(LiveServer(tmp_path / name, config))
    first, second = servers
    create_account(first, "webmaster", ADMIN_PASSWORD)
    try:
        for server in servers:
            server.start()
        for attempt in range(3):
            browser = Browser(first)
            response = browser.post(
                "/admin/login",
                {
                    "csrf_token": browser.token("/admin/login"),
                    "name": "webmaster",
                    "password": f"wrong {attempt}",
                },
            )
            assert response.status_code in {200, 429}
        other = Browser(second)
        locked = other.post(
            "/admin/login",
            {"csrf_token": other.token("/admin/login"), "name": "webmaster", "password": ADMIN_PASSWORD},
        )
        assert locked.status_code == 429
        assert "locked" in locked.text
    finally:
        for server in servers:
            server.stop()


# ---- the database going away under load -------------------------------------------------------------


class Outage:
    """A login role of the servers' own: forbidding it to log in and killing its sessions is an outage."""

    def __init__(self) -> None:
        self.role = f"lgtest_role_{secrets.token_hex(4)}"
        self.schema = f"lgtest_{secrets.token_hex(6)}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{self.role}" LOGIN')
            conn.execute(f'CREATE SCHEMA "{self.schema}" AUTHORIZATION "{self.role}"')

    @property
    def url(self) -> str:
        base = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
        host, port, dbname = base.get("host", "127.0.0.1"), base.get("port", 5432), base.get("dbname", "test")
        return f"postgresql://{self.role}@{host}:{port}/{dbname}?options=-csearch_path%3D{self.schema}"

    def begin(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{self.role}" NOLOGIN')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (self.role,)
            )

    def end(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{self.role}" LOGIN')

    def drop(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{self.role}" LOGIN')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (self.role,)
            )
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            conn.execute(f'DROP ROLE IF EXISTS "{self.role}"')


def test_a_database_outage_under_steady_load_gives_no_5xx_and_loses_no_clicks(tmp_path):
    outage = Outage()
    servers: list[LiveServer] = []
    try:
        config: dict[str, dict[str, Any]] = {"database": {"url": outage.url}}
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(LiveServer(tmp_path / name, config, workers=2))
        servers[0].cli("allow", "partner.example")
        servers[0].cli("block", "blocked.example")
        for server in servers:
            server.start()
        # Each load thread counts in counters of its own (two threads adding to one Counter can lose one).
        statuses: list[Counter[int]] = []
        sent: list[Counter[str]] = []
        stop = threading.Event()

        def load(server: LiveServer, offset: int) -> None:
            cases = [
                ("https://www.partner.example/x", COUNTY_REFERER, "redirect"),
                ("https://blocked.example/", {}, "block"),
                ("https://www.missoulian.com/", {}, "notice"),
            ]
            answered: Counter[int] = Counter()
            clicked: Counter[str] = Counter()
            statuses.append(answered)
            sent.append(clicked)
            with httpx.Client(base_url=server.url, timeout=10) as client:
                index = offset
                while not stop.is_set():
                    url, headers, outcome = cases[index % len(cases)]
                    response = client.get("/go?url=" + quote(url, safe=""), headers=headers)
                    answered[response.status_code] += 1
                    clicked[outcome] += 1
                    index += 1

        def clicks_sent() -> int:
            return sum(sum(clicked.values()) for clicked in sent)

        def health() -> list[dict[str, Any]]:
            return [server.get("/healthz").json() for server in servers]

        threads = [threading.Thread(target=load, args=(server, n)) for n, server in enumerate(servers * 2)]
        for thread in threads:
            thread.start()
        wait_for(
            lambda: query(servers[0], "SELECT 1 FROM click_counts"), what="clicks written before the outage"
        )
        outage.begin()
        # /healthz reaches one worker of each server, and that one may not be the worker holding the clicks:
        # wait until both say degraded and one of them holds clicks it cannot write.
        degraded: list[dict[str, Any]] = []

        def holding_clicks() -> bool:
            degraded[:] = health()
            return all(h["db"] == "degraded" for h in degraded) and any(map(counts_pending, servers))

        wait_for(holding_clicks, timeout=10, what="both servers degraded, holding clicks")
        outage.end()
        wait_for(lambda: all(h["db"] == "ok" for h in health()), timeout=15)
        resumed = clicks_sent()
        wait_for(lambda: clicks_sent() >= resumed + 100, what="100 clicks after the database is back")
        stop.set()
        for thread in threads:
            thread.join()
        answers = sum(statuses, Counter())
        assert set(answers) == {200, 302, 403}, answers  # no 5xx, nor anything else, at any moment
        for server in servers:
            server.stop()  # each worker writes what it still holds as it stops
        counted = dict(query(servers[0], "SELECT outcome, SUM(count) FROM click_counts GROUP BY outcome"))
        assert {outcome: int(total) for outcome, total in counted.items()} == dict(sum(sent, Counter()))
    finally:
        for server in servers:
            server.stop()
        outage.drop()
