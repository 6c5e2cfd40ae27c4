"""The real server where it is what is under test: gunicorn's workers sharing one site lookup and one rule
set, a stopping server writing what it holds, two server processes sharing sessions, and what gunicorn
itself takes from a request."""

from __future__ import annotations

import http.client
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from tests.conftest import HeldPage, new_database_url, wait_for
from tests.console import ADMIN_PASSWORD, create_account, query, signed_in
from tests.test_admin import GOOD
from tests.test_gate import go
from tests.test_sites import HOME, notice, site_config


def test_two_workers_clicking_a_cold_host_at_once_fetch_it_once(make_server, threaded_site):
    """A real gunicorn: its two workers are two processes, each with a site cache of its own."""
    held = HeldPage(HOME.format(href="/privacy"))  # every click comes while the first lookup waits for it
    threaded_site.expect_request("/").respond_with_handler(held)
    config = site_config()
    config["fetch"]["privacy_wait_ms"] = 200
    server = make_server(config, workers=2)
    key = f"site.test:{threaded_site.port}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: notice(server, f"http://{key}/page").status_code, range(16)))
    assert statuses == [200] * 16
    held.release.set()
    wait_for(lambda: server.get(f"/api/site/{key}").json()["status"] == "found")
    # A second lookup would have reached the home page while the first one was held there.
    assert held.arrived == [key]


def test_rule_added_in_the_console_is_enforced_by_every_worker_at_its_next_refresh(make_server):
    from linkgate.config import Settings

    # The shipped refresh interval, not the test servers' quicker one.
    shipped = Settings.__dataclass_fields__["rules_refresh_seconds"].default
    server = make_server({"server": {"rules_refresh_seconds": shipped}}, workers=2, start=False)
    create_account(server, "admin", ADMIN_PASSWORD)
    server.start()
    target = "/go?url=" + quote("https://www.propagate.example/", safe="")
    assert server.get(target).status_code == 200
    browser = signed_in(server)
    added = browser.submit("/admin/rules/new", {**GOOD, "name": "propagate.example", "kind": "block"})
    assert added.status_code == 302

    def every_worker_blocks() -> bool:
        return all(server.get(target).status_code == 403 for _ in range(12))

    # Each worker reads the rules again every rules_refresh_seconds (2 s shipped): 15 s is room for a
    # loaded machine, not a speed goal, and a worker that never refreshed would still fail.
    wait_for(every_worker_blocks, timeout=15, what="every worker to enforce the new rule")


def test_a_stopping_server_writes_the_counts_it_still_holds(make_server):
    server = make_server({"server": {"counts_flush_seconds": 300}})
    for _ in range(7):
        assert go(server, "https://www.missoulian.com/").status_code == 200
    server.stop()
    rows = query(server, "select domain, outcome, count from click_counts")
    assert rows == [("missoulian.com", "notice", 7)]


def test_signing_out_in_one_browser_signs_the_account_out_of_every_server(make_server, tmp_path):
    shared = {"": {"secret_key": secrets.token_hex(32)}, "database": {"url": new_database_url(tmp_path)}}
    first = make_server(shared, start=False)
    create_account(first, "roaming", ADMIN_PASSWORD)
    first.start()
    second = make_server(shared)
    here, there = signed_in(first, "roaming"), signed_in(second, "roaming")
    copied = {"Cookie": f"session={there.cookie}"}
    assert second.get("/admin/", headers=copied).status_code == 200
    assert here.submit("/admin/logout", {}, form_path="/admin/").status_code == 302
    assert second.get("/admin/", headers=copied).status_code == 302
    assert there.get("/admin/").status_code == 302


def test_a_script_name_header_through_gunicorn_never_becomes_the_mount_point(make_server):
    """gunicorn makes a ``SCRIPT_NAME`` header from a loopback peer (its default forwarded_allow_ips) the
    WSGI SCRIPT_NAME, which every link a page makes starts with; the mount point is server.public_url's
    path instead. And the redirect Werkzeug makes for a missing slash never names the Host header's host."""
    server = make_server()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        destination = quote("https://www.example.org/", safe="")
        connection.request(
            "GET", f"//evil.example/go?url={destination}", headers={"SCRIPT_NAME": "//evil.example"}
        )
        answer = connection.getresponse()
        body = answer.read().decode()
        assert answer.status == 404
        assert "evil.example" not in body
        connection.request("GET", f"/go?url={destination}", headers={"SCRIPT_NAME": ""})
        notice = connection.getresponse()
        assert notice.status == 200
        assert 'href="/static/' in notice.read().decode()
        connection.request("GET", "/admin/rules?kind=block", headers={"Host": "evil.example"})
        moved = connection.getresponse()
        moved.read()
        assert (moved.status, moved.getheader("Location")) == (308, "/admin/rules/?kind=block")
    finally:
        connection.close()
