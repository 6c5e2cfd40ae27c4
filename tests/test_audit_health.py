"""``linkgate audit`` finds destinations that moved away, are parked or changed hands: real local sites
(one threaded server answering for every name, each pinned to 127.0.0.1), the audit run as the webmaster
runs it, its report read back, and the console's Sites page listing what it found.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import local_server, signed_in_client
from tests.console import query

pytestmark = pytest.mark.server

PARKING = Path(__file__).parent / "data" / "parking"
PARKED = {  # host -> fixture page it serves
    "sedo-partner.org": "sedo-style.html",
    "bodis-partner.org": "bodis-style.html",
    "crew-partner.org": "parkingcrew-style.html",
    "godaddy-partner.org": "godaddy-lander.html",
    "cashparking-partner.org": "godaddy-cashparking.html",
    "huge-partner.org": "hugedomains-redirect.html",
    "dan-partner.org": "dan-forsale.html",
    "afternic-partner.org": "afternic-forsale.html",
    "namecheap-partner.org": "namecheap-parking.html",
    "caf-partner.org": "caf-adsense.html",
    "expired-partner.org": "expired-en.html",
    "spanish-partner.es": "forsale-es.html",
    "german-partner.de": "forsale-de.html",
    "dutch-partner.nl": "forsale-nl.html",
}
NORMAL = {
    "realty-partner.org": "normal/real-estate.html",
    "surplus-partner.org": "normal/county-surplus.html",
    "library-partner.org": "normal/library.html",
    "hosting-partner.com": "normal/hosting-company.html",
    "blog-partner.org": "normal/sedo-mention.html",
    "river.org": "normal/nonprofit.html",
}
REDIRECTS = {  # host -> where its every address goes
    "oldpartner.org": "newname.org",  # moved away
    "goodpartner.org": "www.goodpartner.org",  # a www. hop: not a move
    "renamed.org": "newbrand.org",  # moved, but an allow rule expects it
    "lapsed-partner.org": "sedoparking.com",  # moved to a parking service
    "county-partner.org": "www.county.test",  # into the County: never away
}
OTHERS = ("newname.org", "www.goodpartner.org", "newbrand.org", "sedoparking.com")
HOSTS = (*PARKED, *NORMAL, *REDIRECTS, *OTHERS)
HOME = """<!doctype html><html><head><title>{title}</title><meta property="og:site_name" content="{name}">
</head><body><h1>{title}</h1><footer><a href="/privacy">Privacy Policy</a></footer></body></html>"""


class World:
    """Every site of the test on one server, told apart by the Host each request names."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.pages: dict[str, bytes] = {host: (PARKING / page).read_bytes() for host, page in PARKED.items()}
        self.pages.update({host: (PARKING / page).read_bytes() for host, page in NORMAL.items()})
        for host in ("newname.org", "www.goodpartner.org", "newbrand.org", "sedoparking.com"):
            self.pages[host] = HOME.format(title=host, name=host).encode()
        server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
        server.expect_request("/privacy").respond_with_data(
            "<html><head><title>Privacy Policy</title></head><body><h1>Privacy Policy</h1></body></html>",
            content_type="text/html",
        )
        server.expect_request(re.compile(".*")).respond_with_handler(self.answer)

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.server.port}{path}"

    def answer(self, request: Request) -> Response:
        host = request.headers.get("Host", "").rpartition(":")[0]
        if host == "www.county.test":
            return Response(self.county_page(), content_type="text/html")
        if host in REDIRECTS:
            return Response("", status=301, headers={"Location": self.url(REDIRECTS[host], request.path)})
        page = self.pages.get(host)
        if page is None:
            return Response("not here", status=404)
        return Response(page, content_type="text/html")

    def county_page(self) -> str:
        links = "\n".join(
            f'<li><a href="{self.url(host, "/page")}">The {host} site</a></li>'
            for host in (*PARKED, *NORMAL, *REDIRECTS)
        )
        return (
            f"<!doctype html><html><head><title>Partners</title></head><body><ul>{links}</ul></body></html>"
        )


@pytest.fixture
def world() -> Any:
    server = local_server()
    yield World(server)
    server.stop()


@pytest.fixture
def linkgate(make_app, world):
    return make_app(
        {
            "county": {"domains": ["county.test"]},
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": [f"{host}=127.0.0.1" for host in ("www.county.test", *HOSTS)],
            },
            "server": {"public_url": "https://links.county.test"},
        },
        start=False,
    )


def audit(linkgate: Any, world: World, out: Path, *options: str) -> dict[str, Any]:
    result = linkgate.cli(
        "audit", world.url("www.county.test"), "--out", str(out), "--retries", "0", *options, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        link["url"].split("//")[1].split(":")[0]: link for link in report["links"] if not link["internal"]
    }


def test_one_audit_finds_moves_and_parked_domains_and_spares_ordinary_pages(linkgate, world, tmp_path):
    linkgate.cli("allow", "newbrand.org", "--action", "notice")
    report = audit(linkgate, world, tmp_path / "out")
    links = by_host(report)
    # Parked pages of every kind, and no ordinary page: the accuracy on this set.
    found = {host for host in PARKED if "parked" in links[host]["problems"]}
    wrong = {host for host in NORMAL if "parked" in links[host]["problems"]}
    assert (len(found), len(wrong)) == (len(PARKED), 0), (set(PARKED) - found, wrong)
    assert "Sedo" in links["sedo-partner.org"]["health"]["parked"]
    assert "domain is for sale" in links["spanish-partner.es"]["health"]["parked"]
    # Moved away, with where to; a www. hop, a County destination and an expected move are not.
    assert links["oldpartner.org"]["health"]["moved_away"] == "now ends on newname.org"
    assert "moved_away" not in links["goodpartner.org"]["problems"]
    assert "moved_away" not in links["county-partner.org"]["problems"]
    assert "moved_away" not in links["renamed.org"]["problems"]
    assert "expected_move" in links["renamed.org"]["flags"]
    lapsed = links["lapsed-partner.org"]
    assert {"moved_away", "parked"} <= set(lapsed["problems"])
    assert "Sedo" in lapsed["health"]["parked"]
    assert report["problems"]["parked"] == len(PARKED) + 1
    assert "changed" not in {problem for link in links.values() for problem in link["problems"]}
    # The labels in report.html, the codes in links.csv.
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Moved away: now ends on newname.org" in page and "Parked or for sale" in page
    assert "moved to a domain an allow rule covers" in page
    rows = list(csv.DictReader((tmp_path / "out" / "links.csv").open(encoding="utf-8")))
    assert "moved_away" in next(row for row in rows if "oldpartner.org" in row["url"])["problems"]
    # What was found is kept for the site cache (the notice reads it) and stored with the run.
    port = world.server.port
    assert linkgate.store().destinations.get(f"oldpartner.org:{port}").moved_to == "newname.org"
    assert "Sedo" in linkgate.store().destinations.get(f"sedo-partner.org:{port}").parked
    details = query(linkgate, "select detail from audit_problems where problem = ?", "moved_away")
    assert ("now ends on newname.org",) in details


def test_the_console_lists_the_sites_in_doubt_with_when_each_was_first_seen(linkgate, world, tmp_path):
    from linkgate.accounts import create_account
    from tests.console import ADMIN_PASSWORD

    audit(linkgate, world, tmp_path / "out")
    linkgate.start()
    runtime = linkgate.app.extensions["linkgate"]
    create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
    client = signed_in_client(linkgate.app)
    page = client.get("/admin/sites/").get_data(as_text=True)
    assert 'id="destination-health"' in page and 'id="health-list"' in page
    listed = client.get("/admin/sites/?health=any").get_data(as_text=True)
    port = world.server.port
    assert f'data-site="oldpartner.org:{port}" data-health="moved"' in listed
    assert "led to a different website: newname.org" in listed
    assert f'data-site="sedo-partner.org:{port}" data-health="parked"' in listed
    assert f'data-site="realty-partner.org:{port}" data-health=' not in listed
    parked_only = client.get("/admin/sites/?health=parked").get_data(as_text=True)
    assert 'data-health="moved"' not in parked_only and 'data-health="parked"' in parked_only
    row = runtime.store.destinations.get(f"sedo-partner.org:{port}")
    assert row.parked_since is not None
    assert f'<time datetime="{row.parked_since.isoformat()}"' in parked_only
    assert client.get("/admin/sites/?health=nonsense").status_code == 200
    own = client.get(f"/admin/sites/oldpartner.org:{port}").get_data(as_text=True)
    assert '<dd data-fact="moved_to">newname.org, first seen' in own


def test_a_site_that_now_leads_into_the_county_is_not_listed_as_moved(linkgate, world):
    """The site cache's lookup (a notice's) of a partner that now redirects into the County keeps no move:
    the console's list agrees with the notice, which never says such a site moved away."""
    from linkgate.accounts import create_account
    from tests.console import ADMIN_PASSWORD

    linkgate.start()
    runtime = linkgate.app.extensions["linkgate"]
    port = world.server.port
    for host in ("county-partner.org", "oldpartner.org"):
        assert runtime.sites.refresh(f"{host}:{port}", force=True) is not None
    assert runtime.store.destinations.get(f"county-partner.org:{port}").moved_to is None
    assert runtime.store.destinations.get(f"oldpartner.org:{port}").moved_to == "newname.org"
    create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
    listed = signed_in_client(linkgate.app).get("/admin/sites/?health=any").get_data(as_text=True)
    assert f'data-site="oldpartner.org:{port}" data-health="moved"' in listed
    assert f'data-site="county-partner.org:{port}" data-health=' not in listed
    assert "led to a different website: county.test" not in listed


def test_a_change_of_owner_between_two_audits_is_reported_once(linkgate, world, tmp_path):
    report = audit(linkgate, world, tmp_path / "first")
    assert "changed" not in by_host(report)["river.org"]["problems"]
    # The partner's domain lapsed and a casino bought it.
    world.pages["river.org"] = HOME.format(title="Best Online Slots 2026", name="Lucky Spin Casino").encode()
    # A day later (the site cache's facts, a day old, are still within its week): the audit's default
    # --recheck-after (24h) looks the site up again, so the change shows in this audit, not a week later.
    age(linkgate, f"river.org:{world.server.port}", timedelta(hours=25))
    second = audit(linkgate, world, tmp_path / "second")
    river = by_host(second)["river.org"]
    assert "changed" in river["problems"]
    assert "Lucky Spin Casino" in river["health"]["changed"]
    assert "Changed hands: its title and name" in (tmp_path / "second" / "report.html").read_text()
    assert "changed" not in by_host(second)["library-partner.org"]["problems"]
    # The complete second run is the new baseline: the next run, with nothing new, reports no change.
    third = audit(linkgate, world, tmp_path / "third", "--recheck-after", "0")
    assert "changed" not in by_host(third)["river.org"]["problems"]


def test_recheck_after_zero_looks_every_site_up_again_and_a_run_right_after_none(linkgate, world, tmp_path):
    audit(linkgate, world, tmp_path / "first")
    world.pages["river.org"] = HOME.format(title="Best Online Slots 2026", name="Lucky Spin Casino").encode()
    world.server.clear_log()
    second = audit(linkgate, world, tmp_path / "second")  # right after: the facts are minutes old
    assert "changed" not in by_host(second)["river.org"]["problems"]
    assert home_pages(world) == 0  # no site looked up again, nor any link asked again that answered well
    third = audit(linkgate, world, tmp_path / "third", "--recheck-after", "0")
    assert "changed" in by_host(third)["river.org"]["problems"]
    assert home_pages(world) == len(HOSTS) - len(REDIRECTS)  # each site's home page read once


def home_pages(world: World) -> int:
    """How many home pages (``/``) of the partners' sites the server was asked for since its log was
    cleared."""
    return sum(
        1
        for request, _ in world.server.log
        if request.path == "/" and not request.headers.get("Host", "").startswith("www.county.test")
    )


def age(linkgate: Any, host: str, by: timedelta) -> None:
    """Make the site cache's facts of ``host`` older ``by`` this, as time would."""
    from linkgate.store.schema import sites

    store = linkgate.store()
    row = store.sites.get(host)
    assert row is not None and row.checked_at is not None
    with store.db.engine.begin() as conn:
        conn.execute(sa.update(sites).where(sites.c.host == host).values(checked_at=row.checked_at - by))


# ---- the store's side: store.destinations -------------------------------------------------------------


def test_a_health_mark_keeps_when_it_was_first_seen_and_goes_when_it_is_gone(store):
    from datetime import UTC, datetime

    first, later, last = (datetime(2026, 12, day, 12, tzinfo=UTC) for day in (1, 2, 3))
    fingerprint = {"final_domain": "casino.example"}
    destinations = store.destinations
    destinations.record(
        "old.example", fingerprint, first, moved_to="casino.example", parked=None, changed=None
    )
    destinations.record(
        "old.example", fingerprint, later, moved_to="casino.example", parked="Sedo", changed=None
    )
    row = destinations.get("old.example")
    assert (row.moved_since, row.parked_since, row.seen_at) == (first, later, later)
    destinations.record(
        "old.example", {"final_domain": "old.example"}, last, moved_to=None, parked=None, changed=None
    )
    row = destinations.get("old.example")
    assert (row.moved_to, row.moved_since, row.parked, row.parked_since) == (None, None, None, None)
    assert destinations.page().total == 0


def test_a_complete_audit_makes_the_baseline_and_clears_what_had_changed(store):
    from datetime import UTC, datetime

    at = datetime(2026, 12, 1, tzinfo=UTC)
    destinations = store.destinations
    destinations.record("a.example", {"title": "A"}, at, moved_to=None, parked=None, changed="its title")
    assert destinations.counts() == {"moved": 0, "parked": 0, "changed": 1}
    assert destinations.set_baseline(["a.example", "unknown.example"], at) == 1
    row = destinations.get("a.example")
    assert row.baseline == {"title": "A"} and row.baseline_at == at and row.changed is None


def test_the_destinations_are_bounded_least_recently_checked_first(store):
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 12, 1, tzinfo=UTC)
    for number in range(5):
        store.destinations.record(
            f"s{number}.example",
            {},
            start + timedelta(hours=number),
            moved_to="x.example",
            parked=None,
            changed=None,
        )
    assert store.destinations.trim(3) == 2
    assert [row.host for row in store.destinations.page().rows] == ["s2.example", "s3.example", "s4.example"]
    assert store.destinations.page("parked").total == 0


def test_the_audit_keeps_at_most_cache_max_sites_destinations(make_app, world, tmp_path):
    app = make_app(
        {
            "county": {"domains": ["county.test"]},
            "cache": {"max_sites": 5},
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "resolve": [f"{host}=127.0.0.1" for host in ("www.county.test", *HOSTS)],
            },
            "server": {"public_url": "https://links.county.test"},
        },
        start=False,
    )
    """The hosts a run found moved away are kept after the site cache's lookups (which trim to the bound
    as they go): the run trims the table to the same bound."""
    from linkgate.store.schema import destinations

    audit(app, world, tmp_path / "out")
    with app.store().db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(destinations)).scalar() == 5
