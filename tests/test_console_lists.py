"""Long lists in the console, in process on the run's database: Rules, Sites and the change log sort by a
column (header links with aria-sort, either way, kept while filtering and paging, never by anything but a
named column) and filter on the server; the dashboard's domains lead to their statistics, which show one
domain alone; searching Sites for a domain finds its hosts without saying that nothing is stored.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from linkgate.classify import make_rule
from linkgate.cli import main
from linkgate.store.schema import change_log, rules, sites
from linkgate.web.admin.listing import Sort
from linkgate.web.app_runtime import WebRuntime
from tests.conftest import signed_in_client


def test_sort_reads_a_named_column_either_way_and_nothing_else():
    keys = ("name", "kind", "updated")
    assert Sort.read({}, keys, "name") == Sort("name", False, ("name", False))
    assert Sort.read({"sort": "-kind"}, keys, "name").descending
    assert Sort.read({"sort": "-kind"}, keys, "name").key == "kind"
    for bad in ("bogus", "--name", "name;drop", "-", "", "x" * 5000):
        assert Sort.read({"sort": bad}, keys, "name").key == "name"
    newest = Sort.read({}, keys, "name", newest_first=("updated",))
    assert (newest.link("name"), newest.link("kind"), newest.link("updated")) == ("-name", "kind", "-updated")
    assert newest.param is None and newest.aria("name") == "ascending" and newest.aria("kind") is None
    log = Sort.read({}, ("when", "who"), "when", descending=True, newest_first=("when",))
    assert log.param is None and log.link("when") == "when" and log.aria("when") == "descending"


@pytest.fixture
def app(console_app: Flask) -> Flask:
    return console_app


def admin(app: Flask) -> FlaskClient:
    return signed_in_client(app)  # type: ignore[no-any-return]


def store_of(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["linkgate"].store


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def rows(text: str, attribute: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', text)


def headers(text: str) -> dict[str, tuple[str | None, dict[str, list[str]]]]:
    """Each sortable header: its aria-sort and the query of its link."""
    found = {}
    for aria, key, href in re.findall(
        r'<th scope="col"(?: aria-sort="(\w+)")? data-sort-key="(\w+)"><a class="sort-link" href="([^"]+)"',
        text,
    ):
        found[key] = (aria or None, parse_qs(urlsplit(href).query))
    return found


T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def some_rules(app: Flask) -> None:
    store = store_of(app)
    for number, (name, kind, action) in enumerate(
        [
            ("beta.example", "block", None),
            ("alpha.example", "allow", "notice"),
            ("gamma.example", "allow", None),
            ("delta.example", "allow", "redirect"),
        ]
    ):
        store.rules.add(make_rule(name, kind, action=action, note="listed"), "test")
        with store.db.begin() as conn:
            conn.execute(
                sa.update(rules).where(rules.c.name == name).values(updated_at=T0 + timedelta(days=number))
            )


def test_rules_sort_by_each_column_either_way_from_header_links(app):
    some_rules(app)
    client = admin(app)
    text = page(client, "/admin/rules/")
    assert rows(text, "data-rule") == [
        "*.alpha.example",
        "*.beta.example",
        "*.delta.example",
        "*.gamma.example",
    ]
    links = headers(text)
    assert links["name"] == ("ascending", {"sort": ["-name"]})
    assert links["kind"] == (None, {"sort": ["kind"]})
    assert links["updated"] == (None, {"sort": ["-updated"]})  # newest first when first chosen
    assert rows(page(client, "/admin/rules/?sort=-name"), "data-rule")[0] == "*.gamma.example"
    by_kind = page(client, "/admin/rules/?sort=-kind")
    assert rows(by_kind, "data-rule")[0] == "*.beta.example"
    assert headers(by_kind)["kind"] == ("descending", {"sort": ["kind"]})
    assert rows(page(client, "/admin/rules/?sort=-updated"), "data-rule")[0] == "*.delta.example"
    assert rows(page(client, "/admin/rules/?sort=updated"), "data-rule")[0] == "*.beta.example"
    assert rows(page(client, "/admin/rules/?sort=action"), "data-rule")[:2] == [
        "*.beta.example",
        "*.gamma.example",
    ]


def test_rules_filters_and_the_order_travel_together(app):
    some_rules(app)
    client = admin(app)
    text = page(client, "/admin/rules/?kind=allow&q=a&sort=-name")
    assert rows(text, "data-rule") == ["*.gamma.example", "*.delta.example", "*.alpha.example"]
    assert headers(text)["kind"][1] == {"kind": ["allow"], "q": ["a"], "sort": ["kind"]}
    assert '<input type="hidden" name="sort" value="-name">' in text  # filtering again keeps the order


def test_a_sort_that_names_no_column_is_the_usual_order(app):
    some_rules(app)
    client = admin(app)
    for bad in ("note", "id;drop%20table%20rules", "-created_by", "%00"):
        assert rows(page(client, f"/admin/rules/?sort={bad}"), "data-rule")[0] == "*.alpha.example"
        assert rows(page(client, f"/admin/sites/?sort={bad}"), "data-site") == []
        assert page(client, f"/admin/log/?sort={bad}")


def some_sites(app: Flask) -> None:
    store = store_of(app)
    for number, (host, status) in enumerate(
        [
            ("www.umt.edu", "found"),
            ("umt.edu.example", "none"),
            ("b.example", "error"),
            ("a.example", "unknown"),
        ]
    ):
        store.sites.set_override(host, None, "test")
        with store.db.begin() as conn:
            checked = None if status == "unknown" else T0 + timedelta(hours=number)
            conn.execute(
                sa.update(sites).where(sites.c.host == host).values(status=status, checked_at=checked)
            )


def test_sites_sort_by_host_lookup_and_check_never_checked_last(app):
    some_sites(app)
    client = admin(app)
    assert rows(page(client, "/admin/sites/"), "data-site") == [
        "a.example",
        "b.example",
        "umt.edu.example",
        "www.umt.edu",
    ]
    newest = page(client, "/admin/sites/?sort=-checked")
    assert rows(newest, "data-site") == ["b.example", "umt.edu.example", "www.umt.edu", "a.example"]
    assert headers(newest)["checked"] == ("descending", {"sort": ["checked"]})
    oldest = rows(page(client, "/admin/sites/?sort=checked"), "data-site")
    assert oldest == ["www.umt.edu", "umt.edu.example", "b.example", "a.example"]
    assert rows(page(client, "/admin/sites/?sort=status"), "data-site")[0] == "b.example"  # error < found


def test_searching_sites_for_a_domain_finds_its_hosts_without_saying_nothing_is_stored(app):
    some_sites(app)
    client = admin(app)
    text = page(client, "/admin/sites/?q=umt.edu")
    assert rows(text, "data-site") == ["umt.edu.example", "www.umt.edu"]
    assert 'id="unknown-host"' not in text and "has nothing stored under the name" not in text
    assert '<p id="site-itself"><a href="/admin/sites/umt.edu">Open the page of umt.edu itself</a>' in text
    nothing = page(client, "/admin/sites/?q=nowhere.example")
    assert "linkgate has nothing stored under the name nowhere.example." in nothing
    assert 'id="site-itself"' not in nothing


def test_the_change_log_sorts_by_when_who_and_target(app):
    store = store_of(app)
    for number, name in enumerate(["b.example", "c.example", "a.example"]):
        store.rules.add(make_rule(name, "allow"), f"user{number}")
    client = admin(app)
    default = page(client, "/admin/log/?area=rule")
    assert rows(default, "data-action") == ["rule.add"] * 3
    targets = re.findall(r'data-target="([^"]+)"', default)
    assert targets == ["*.a.example", "*.c.example", "*.b.example"]  # newest first
    assert headers(default)["when"] == ("descending", {"area": ["rule"], "sort": ["when"]})
    assert re.findall(r'data-target="([^"]+)"', page(client, "/admin/log/?area=rule&sort=when")) == [
        "*.b.example",
        "*.c.example",
        "*.a.example",
    ]
    assert (
        re.findall(r'data-target="([^"]+)"', page(client, "/admin/log/?area=rule&sort=target"))[0]
        == "*.a.example"
    )
    assert (
        re.findall(r'data-target="([^"]+)"', page(client, "/admin/log/?area=rule&sort=-who"))[0]
        == "*.a.example"
    )


def test_the_change_log_pages_keep_the_order(app):
    store = store_of(app)
    with store.db.begin() as conn:
        conn.execute(
            sa.insert(change_log),
            [
                {"at": T0, "actor": "bulk", "action": "rule.add", "target": f"*.p{n:03d}.example"}
                for n in range(60)
            ],
        )
    text = page(admin(app), "/admin/log/?who=bulk&sort=target")
    assert re.findall(r'data-target="([^"]+)"', text)[0] == "*.p000.example"
    following = re.search(r'rel="next" href="([^"]+)"', text)
    assert following and parse_qs(urlsplit(following.group(1)).query) == {
        "page": ["2"],
        "who": ["bulk"],
        "sort": ["target"],
    }


def test_dashboard_domains_lead_to_their_statistics_and_statistics_show_one_domain(app):
    runtime: WebRuntime = app.extensions["linkgate"]
    today = runtime.counts.today()
    store_of(app).counts.add(
        {
            (today, "umt.edu", "notice"): 5,
            (today, "umt.edu", "redirect"): 2,
            (today, "visitmontana.com", "notice"): 40,
        },
        {},
    )
    client = admin(app)
    dashboard = page(client, "/admin/")
    link = re.search(r'<th scope="row"><a href="([^"]+)">umt.edu</a></th>', dashboard)
    assert link, "the dashboard's domain is not a link"
    query = parse_qs(urlsplit(link.group(1)).query)
    assert query["domain"] == ["umt.edu"] and query["to"] == [today.isoformat()]
    one = page(client, link.group(1))
    assert "Only the clicks to umt.edu." in one
    assert "Clicks per day to umt.edu from" in one
    day_row = re.search(rf'<tr data-day="{today.isoformat()}">(.*?)</tr>', one, re.S)
    assert day_row and re.findall(r'class="number"[^>]*>(\d+)<', day_row.group(1))[-1] == "7"
    assert 'id="top-destinations"' not in one
    every = page(client, f"/admin/stats/?from={today.isoformat()}&to={today.isoformat()}")
    every_row = re.search(rf'<tr data-day="{today.isoformat()}">(.*?)</tr>', every, re.S)
    assert every_row and re.findall(r'class="number"[^>]*>(\d+)<', every_row.group(1))[-1] == "47"
    assert re.search(
        r'<th scope="row"><a href="[^"]*domain=visitmontana.com[^"]*">visitmontana.com</a>', every
    )
    csv = client.get(
        f"/admin/stats/clicks.csv?from={today.isoformat()}&to={today.isoformat()}&domain=umt.edu"
    )
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[1:] == [f"{today.isoformat()},umt.edu,notice,5", f"{today.isoformat()},umt.edu,redirect,2"]
    assert "linkgate-clicks-umt.edu-" in csv.headers["Content-Disposition"]


def test_linkgate_stats_gives_one_domain_as_the_console_does(app, tmp_path):
    runtime: WebRuntime = app.extensions["linkgate"]
    today = runtime.counts.today()
    store_of(app).counts.add(
        {(today, "umt.edu", "notice"): 5, (today, "umt.edu", "redirect"): 2, (today, "mt.gov", "block"): 9},
        {},
    )
    env = {
        "LINKGATE_INSTANCE": str(tmp_path / "instance"),
        "LINKGATE_DATABASE_URL": runtime.settings.database_url,
        "LINKGATE_CONFIG": "",
    }
    day = today.isoformat()
    args = ["stats", "--from", day, "--to", day, "--format", "json", "--domain", "UMT.edu"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["domain"] == "umt.edu"
    assert answer["totals"] == {"redirect": 2, "notice": 5, "block": 0, "total": 7}
    by_domain = CliRunner().invoke(main, [*args[:-2], "--by", "domain"], env=env)
    assert [row["domain"] for row in json.loads(by_domain.output)["rows"]] == ["mt.gov", "umt.edu"]
    text = page(admin(app), f"/admin/stats/?from={day}&to={day}&domain=umt.edu")
    assert f"linkgate stats --from {day} --to {day} --domain umt.edu." in text
