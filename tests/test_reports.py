"""Visitors' reports of a link (``POST /report``, linkgate/web/reports.py; issue 19 §5), in process.

What is checked: the notice and the block page carry the form in both languages; a report counts once
per visitor, site, choice and County day; the rate limits answer 429; a report from another origin, or
without the page's own token, is refused with a 400 page and counts nothing; no cookie; nothing that
identifies a visitor in the table or the log; the dashboard lists the most reported sites; and a
database that is away costs no 500 (the report waits in memory).
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from linkgate.classify import make_rule
from linkgate.config import load_settings
from linkgate.errors import ConfigError
from linkgate.store import OTHER_DOMAIN, Store
from linkgate.store.schema import destination_reports
from linkgate.web.reports import EXTENSION, ReportDesk, form_token
from tests.conftest import signed_in_client

NOTICE_URL = "https://forms.example.org/apply?case=8842&name=Private+Person"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
VISITOR = "203.0.113.77"


@pytest.fixture
def gate(make_app: Any) -> Any:
    server = make_app(start=False)
    server.cli("block", "blocked.example")
    return server.start()


def client(server: Any, address: str = VISITOR) -> httpx.Client:
    """A browser at ``address`` talking to the in-process ``server``."""
    return httpx.Client(
        transport=httpx.WSGITransport(app=server.app, remote_addr=address), base_url=server.url
    )


def form_of(page: httpx.Response) -> dict[str, str]:
    """The report form of a notice or block page: its action and hidden fields."""
    form = re.search(
        r'<form class="report-form" method="post" action="([^"]+)">(.*?)</form>', page.text, re.S
    )
    assert form, "the page has no report form"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2)))
    return {"action": html.unescape(form.group(1)), **{k: html.unescape(v) for k, v in fields.items()}}


def shown(server: Any, url: str = NOTICE_URL, **params: str) -> dict[str, str]:
    page = server.get("/go", params={"url": url, **params})
    assert page.status_code in (200, 403)
    return form_of(page)


def send(
    browser: httpx.Client | Any,
    form: dict[str, str],
    choice: str = "broken",
    headers: dict[str, str] | None = None,
    **changed: str,
) -> httpx.Response:
    fields = {"site": form["site"], "token": form["token"], "back": form["back"], "choice": choice, **changed}
    fields = {name: value for name, value in fields.items() if value is not None}
    sent = browser.post(form["action"], data=fields, headers=SAME_ORIGIN if headers is None else headers)
    assert sent.status_code != 500
    return sent


def stored(server: Any) -> dict[tuple[str, str], int]:
    with server.store().db.engine.connect() as conn:
        rows = conn.execute(sa.select(destination_reports)).all()
    found: dict[tuple[str, str], int] = {}
    for row in rows:
        found[(row.host, row.choice)] = found.get((row.host, row.choice), 0) + row.count
    return found


def desk(server: Any) -> ReportDesk:
    found: ReportDesk = server.app.extensions[EXTENSION]
    return found


def heading(response: httpx.Response) -> str:
    return html.unescape(re.search(r"<h1>(.*?)</h1>", response.text, re.S).group(1).strip())


# ---- the form on the notice and the block page ------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "summary", "broken"),
    [
        ("en", "Report a problem with this link", "The link is broken"),
        ("es", "Informar de un problema con este enlace", "El enlace no funciona"),
    ],
)
@pytest.mark.parametrize(("url", "status"), [(NOTICE_URL, 200), ("https://www.blocked.example/x", 403)])
def test_the_notice_and_the_block_page_offer_the_report_form_in_both_languages(
    gate, lang, summary, broken, url, status
):
    page = gate.get("/go", params={"url": url, "lang": lang})
    assert page.status_code == status
    assert f"<summary>{summary}</summary>" in page.text
    assert f'value="broken" id="report-broken">{broken}</button>' in page.text
    for choice in ("broken", "unsafe", "wrong_site"):
        assert f'type="submit" name="choice" value="{choice}"' in page.text
    assert "<fieldset>" in page.text and "<legend>" in page.text
    form = form_of(page)
    assert form["action"] == f"/report?lang={lang}"
    assert form["site"] == urlsplit(url).hostname  # the site alone, never the path or query
    assert form["back"] == "https://www.missoulacounty.us/"  # where "Go back" leads: no Referer, home
    assert re.fullmatch(r"\d+\.[0-9a-f]{8}\.[A-Za-z0-9_-]+", form["token"])
    thanks = send(client(gate), form)
    assert thanks.status_code == 200
    assert f'<html lang="{lang}">' in thanks.text
    assert 'id="back" class="button" href="https://www.missoulacounty.us/"' in thanks.text


def test_the_form_names_the_site_alone_and_go_back_leads_only_to_a_county_page(gate):
    page = gate.get(
        "/go", params={"url": NOTICE_URL}, headers={"Referer": "https://www.missoulacounty.us/parks/"}
    )
    form = form_of(page)
    assert form["site"] == "forms.example.org"
    assert form["back"] == "https://www.missoulacounty.us/parks/"
    form_html = page.text[page.text.index('<form class="report-form"') :]
    assert "8842" not in form_html.split("</form>")[0] and "Private" not in form_html.split("</form>")[0]
    thanks = send(client(gate), form)
    assert 'id="back" class="button" href="https://www.missoulacounty.us/parks/"' in thanks.text
    elsewhere = send(client(gate, "198.51.100.9"), form, back="https://evil.example/")
    assert elsewhere.status_code == 200
    assert "evil.example" not in elsewhere.text
    assert 'id="back" class="button" href="https://www.missoulacounty.us/"' in elsewhere.text


# ---- counted once per visitor, site, choice and day ---------------------------------------------------


def test_a_report_counts_once_per_visitor_site_choice_and_day(gate):
    form = shown(gate)
    visitor, another = client(gate), client(gate, "198.51.100.4")
    for _ in range(3):
        answer = send(visitor, form)
        assert answer.status_code == 200
        assert heading(answer) == "Thank you for your report"  # a repeat is thanked alike
    assert stored(gate) == {("forms.example.org", "broken"): 1}

    assert send(visitor, form, "unsafe").status_code == 200  # another choice counts apart
    assert send(another, form).status_code == 200  # another visitor counts too
    assert send(another, shown(gate, "https://www.example.org/other")).status_code == 200  # and another site
    assert stored(gate) == {
        ("forms.example.org", "broken"): 2,
        ("forms.example.org", "unsafe"): 1,
        ("www.example.org", "broken"): 1,
    }


def test_one_ipv6_visitor_is_one_64_and_the_next_county_day_counts_again(gate):
    form = shown(gate)
    assert send(client(gate, "2001:db8:1:2::10"), form).status_code == 200
    assert send(client(gate, "2001:db8:1:2:ffff::1"), form).status_code == 200  # the same /64
    assert stored(gate) == {("forms.example.org", "broken"): 1}

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    desk(gate).now = lambda: tomorrow
    assert send(client(gate, "2001:db8:1:2::10"), form).status_code == 200  # yesterday's token still good
    with gate.store().db.engine.connect() as conn:
        days = conn.execute(sa.select(destination_reports.c.day, destination_reports.c.count)).all()
    assert sorted(count for _day, count in days) == [1, 1] and len({day for day, _ in days}) == 2


def test_behind_a_trusted_proxy_each_visitor_is_the_address_it_names(make_app):
    server = make_app({"reports": {"address_header": "X-Real-IP", "trusted_proxies": ["127.0.0.1/32"]}})
    form = shown(server)
    proxy = client(server, "127.0.0.1")
    for visitor in ("198.51.100.1", "198.51.100.2", "198.51.100.2", "10.0.0.1, 198.51.100.1"):
        assert send(proxy, form, headers={**SAME_ORIGIN, "X-Real-IP": visitor}).status_code == 200
    assert stored(server) == {("forms.example.org", "broken"): 2}  # the last address is the proxy's own
    # A server listening on IPv6 sees the proxy's 127.0.0.1 as ::ffff:127.0.0.1: the same trusted proxy,
    # so this is a visitor's repeat.
    mapped = client(server, "::ffff:127.0.0.1")
    assert send(mapped, form, headers={**SAME_ORIGIN, "X-Real-IP": "198.51.100.1"}).status_code == 200
    assert stored(server) == {("forms.example.org", "broken"): 2}
    # From a peer that is not a trusted proxy the header means nothing: that peer is one visitor.
    for peer in ("192.0.2.9", "::ffff:192.0.2.9"):
        elsewhere = client(server, peer)
        for visitor in ("203.0.113.1", "203.0.113.2"):
            assert send(elsewhere, form, headers={**SAME_ORIGIN, "X-Real-IP": visitor}).status_code == 200
    assert stored(server) == {("forms.example.org", "broken"): 3}


def test_an_address_header_without_trusted_proxies_is_a_configuration_error(tmp_path):
    environ = {"LINKGATE_INSTANCE": str(tmp_path), "LINKGATE_REPORTS_ADDRESS_HEADER": "X-Real-IP"}
    with pytest.raises(
        ConfigError, match=re.escape("reports.address_header: also set reports.trusted_proxies")
    ):
        load_settings(environ)


# ---- rate limits --------------------------------------------------------------------------------------


def test_too_many_reports_from_one_visitor_or_from_everyone_answer_429_until_the_next_hour(make_app):
    server = make_app({"reports": {"per_client_per_hour": 2, "per_hour": 4}})
    moment = datetime.now(UTC).replace(minute=5, second=0, microsecond=0)
    desk(server).now = lambda: moment
    forms = [shown(server, f"https://site{n}.example/") for n in range(6)]
    visitor = client(server)
    assert [send(visitor, form).status_code for form in forms[:3]] == [200, 200, 429]
    spanish = send(visitor, {**forms[3], "action": "/report?lang=es"})
    assert spanish.status_code == 429
    assert heading(spanish) == "Demasiados avisos"
    assert "Vuelva a intentarlo más tarde" in spanish.text
    # Everyone: two more from others fill the hour's four.
    assert send(client(server, "198.51.100.1"), forms[4]).status_code == 200
    assert send(client(server, "198.51.100.2"), forms[4]).status_code == 200
    assert send(client(server, "198.51.100.3"), forms[5]).status_code == 429
    assert sum(stored(server).values()) == 4

    moment += timedelta(hours=1)
    assert send(visitor, forms[5]).status_code == 200
    assert stored(server)[("site5.example", "broken")] == 1


# ---- forged, foreign and malformed reports ------------------------------------------------------------


def refusals(gate: Any) -> list[tuple[str, dict[str, str], dict[str, str | None], str]]:
    """(what, headers, changed fields, the page's words) of each report that must be refused."""
    form = shown(gate)
    other = shown(gate, "https://www.example.org/")
    expired = form_token(gate.app.extensions["linkgate"].settings, form["site"], time.time() - 3 * 86400)
    kid, mac = form["token"].rsplit(".", 1)
    forged = kid + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    foreign = "did not come from a page of this service"
    token = "out of date or not one of ours"
    return [
        ("a foreign Origin", {"Origin": "https://evil.example"}, {}, foreign),
        ("Sec-Fetch-Site cross-site", {"Sec-Fetch-Site": "cross-site", "Origin": "null"}, {}, foreign),
        ("Sec-Fetch-Site same-site", {"Sec-Fetch-Site": "same-site"}, {}, foreign),
        ("same-origin with a foreign Origin", {**SAME_ORIGIN, "Origin": "https://evil.example"}, {}, foreign),
        ("no browser's word at all", {}, {}, foreign),
        # A browser without Sec-Fetch-Site sends a form's origin as null under the gate's no-referrer
        # policy, and so does a sandboxed frame on any site: only the gate's own origin will do.
        ("an old browser's null Origin", {"Origin": "null"}, {}, foreign),
        (
            "the gate's host by another scheme",
            {"Origin": gate.url.replace("http://", "https://")},
            {},
            foreign,
        ),
        ("Sec-Fetch-Site none (typed, a bookmark)", {"Sec-Fetch-Site": "none"}, {}, foreign),
        ("a missing token", SAME_ORIGIN, {"token": None}, token),
        ("a forged token", SAME_ORIGIN, {"token": forged}, token),
        ("another destination's token", SAME_ORIGIN, {"token": other["token"]}, token),
        ("an expired token", SAME_ORIGIN, {"token": expired}, token),
        ("a token of no shape", SAME_ORIGIN, {"token": "９９.x.y"}, token),
        ("a choice not offered", SAME_ORIGIN, {"choice": "spam"}, "did not say what is wrong"),
        ("no choice", SAME_ORIGIN, {"choice": None}, "did not say what is wrong"),
        ("a site that is no host", SAME_ORIGIN, {"site": "forms.example.org/apply"}, "web address"),
        ("no site", SAME_ORIGIN, {"site": None}, token),
        ("a body too large", SAME_ORIGIN, {"padding": "x" * 20_000}, "too large"),
    ]


def test_forged_foreign_and_malformed_reports_are_refused_with_a_page_and_count_nothing(gate):
    form = shown(gate)
    visitor = client(gate)
    for what, headers, changed, words in refusals(gate):
        answer = send(visitor, form, headers=headers, **changed)
        assert answer.status_code == 400, what
        assert heading(answer) == "This report could not be accepted", what
        assert words in answer.text, what
        assert "set-cookie" not in answer.headers
    # Two choices at once, and a body that is not a form.
    fields = [("site", form["site"]), ("token", form["token"]), ("choice", "broken"), ("choice", "unsafe")]
    twice = visitor.post(
        form["action"],
        content=urlencode(fields),
        headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    json = visitor.post(form["action"], json={"site": form["site"], "choice": "broken"}, headers=SAME_ORIGIN)
    assert json.status_code == 400
    assert stored(gate) == {}
    assert desk(gate).waiting == 0
    # And the same form, sent as the page sends it, still counts: the refusals used none of its allowance.
    assert send(visitor, form).status_code == 200
    assert stored(gate) == {("forms.example.org", "broken"): 1}


def test_a_browser_without_sec_fetch_site_is_accepted_from_the_gate_s_own_origin(gate):
    form = shown(gate)
    assert send(client(gate), form, headers={"Origin": gate.url}).status_code == 200
    assert stored(gate) == {("forms.example.org", "broken"): 1}


def test_a_token_made_with_the_previous_secret_key_is_still_good(make_app):
    old = make_app({"": {"secret_key": "the-old-secret-key-0123456789"}})
    form = shown(old)
    rotated = make_app(
        {"": {"secret_key": "the-new-secret-key-9876543210", "previous_secret_keys": [old_key(old)]}}
    )
    assert send(client(rotated), form).status_code == 200
    assert stored(rotated) == {("forms.example.org", "broken"): 1}


def old_key(server: Any) -> str:
    key: str = server.app.extensions["linkgate"].settings.secret_key
    return key


# ---- no cookie, nothing personal ----------------------------------------------------------------------


def test_no_cookie_and_nothing_that_identifies_a_visitor_is_stored_or_logged(gate, caplog):
    caplog.set_level(logging.DEBUG)
    page = gate.get("/go", params={"url": NOTICE_URL}, headers={"User-Agent": "Visitor-Agent/1.0"})
    assert "set-cookie" not in page.headers
    visitor = client(gate)
    answers = [send(visitor, form_of(page), choice) for choice in ("broken", "unsafe", "broken")]
    answers.append(send(visitor, form_of(page), headers={"Origin": "https://evil.example"}))
    assert [answer.status_code for answer in answers] == [200, 200, 200, 400]
    assert all("set-cookie" not in answer.headers for answer in answers)
    with gate.store().db.engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(sa.select(destination_reports))]
    assert {row[1:] for row in rows} == {
        ("forms.example.org", "broken", 1),
        ("forms.example.org", "unsafe", 1),
    }
    assert [column.name for column in destination_reports.columns] == ["day", "host", "choice", "count"]
    # What linkgate logged (the test's own HTTP client logs its requests, destination and all).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("linkgate")) + gate.log()
    for personal in (VISITOR, "Private", "8842", "/apply", "Visitor-Agent"):
        assert personal not in logged
        assert personal not in repr(rows)


def test_every_answer_is_never_cached_or_indexed_and_sets_no_cookie(make_app, caplog):
    """Thanks (in both languages, a repeat too), refused, limited and failed: no-store, noindex, the
    security headers, no cookie; a failure answers 503 with a page, never a 500, and logs no address."""
    server = make_app({"reports": {"per_client_per_hour": 3}})
    form, visitor = shown(server), client(server)
    answers = {
        "thanks": send(visitor, form),
        "thanks, Spanish": send(visitor, {**form, "action": "/report?lang=es"}, "unsafe"),
        "a repeat": send(visitor, form),
        "refused": send(visitor, form, headers={"Origin": "https://evil.example"}),
        "limited": send(visitor, form, "wrong_site"),
    }
    caplog.set_level(logging.DEBUG)

    def broken_clock() -> datetime:
        raise RuntimeError("the clock broke")

    desk(server).now = broken_clock
    answers["failed"] = send(client(server, "198.51.100.8"), form)
    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert statuses == {
        "thanks": 200,
        "thanks, Spanish": 200,
        "a repeat": 200,
        "refused": 400,
        "limited": 429,
        "failed": 503,
    }
    for what, answer in answers.items():
        assert answer.headers["cache-control"] == "no-store", what
        assert answer.headers["x-robots-tag"] == "noindex, nofollow", what
        assert "set-cookie" not in answer.headers, what
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], what
        assert answer.headers["referrer-policy"] == "no-referrer", what
    assert heading(answers["failed"]) == "Your report could not be recorded"
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("linkgate"))
    assert "RuntimeError" in logged and "198.51.100.8" not in logged and "forms.example.org" not in logged


# ---- the dashboard ------------------------------------------------------------------------------------


def test_the_dashboard_lists_the_most_reported_sites_by_choice_linking_to_the_sites_page(console_app):
    gate = console_app.test_client()
    runtime = console_app.extensions["linkgate"]
    runtime.store.rules.add(make_rule("blocked-by-rule.example", "block"), "test")
    runtime.rules.refresh()
    reports = {
        ("https://forms.example.org/a", "broken"): 3,
        ("https://forms.example.org/b", "unsafe"): 1,
        ("https://www.blocked-by-rule.example/", "wrong_site"): 1,  # no site lookup for a blocked one
    }
    for (url, choice), visitors in reports.items():
        page = gate.get("/go", query_string={"url": url, "lang": "en"})
        form = form_of(httpx.Response(page.status_code, text=page.get_data(as_text=True)))
        for n in range(visitors):
            sent = console_app.test_client().post(
                form["action"],
                data={"site": form["site"], "token": form["token"], "choice": choice},
                headers=SAME_ORIGIN,
                environ_base={"REMOTE_ADDR": f"192.0.2.{n + 1}"},
            )
            assert sent.status_code == 200
    dashboard = signed_in_client(console_app).get("/admin/").get_data(as_text=True)
    table = re.search(r'<table class="data" id="reported">(.*?)</table>', dashboard, re.S)
    assert table, "the dashboard has no table of reported links"
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", table.group(1), re.S)
    cells = [(name, re.findall(r'<td class="number"[^>]*>(\d+)</td>', rest)) for name, rest in rows]
    assert cells == [
        ('<a href="/admin/sites/forms.example.org">forms.example.org</a>', ["3", "1", "0", "4"]),
        ("www.blocked-by-rule.example", ["0", "0", "1", "1"]),
    ]


def test_linkgate_stats_reports_lists_every_reported_site_by_choice(gate):
    assert gate.cli("stats", "--reports").stdout.startswith("No reports from ")
    form, other = shown(gate), shown(gate, "https://www.example.org/")
    for address in ("192.0.2.1", "192.0.2.2"):
        assert send(client(gate, address), form, "wrong_site").status_code == 200
    assert send(client(gate), other, "broken").status_code == 200
    answer = json.loads(gate.cli("stats", "--reports", "--format", "json").stdout)
    assert answer["rows"] == [
        {"site": "forms.example.org", "broken": 0, "unsafe": 0, "wrong_site": 2, "total": 2},
        {"site": "www.example.org", "broken": 1, "unsafe": 0, "wrong_site": 0, "total": 1},
    ]
    lines = gate.cli("stats", "--reports").stdout.splitlines()
    assert lines == [
        "site\tbroken\tunsafe\twrong_site\ttotal",
        "forms.example.org\t0\t0\t2\t2",
        "www.example.org\t1\t0\t0\t1",
    ]
    refused = gate.cli("stats", "--reports", "--domain", "example.org", check=False)
    assert refused.returncode == 2 and "leave out --domain" in refused.stderr


# ---- the database away --------------------------------------------------------------------------------


@pytest.fixture
def away(gate: Any) -> Iterator[Any]:
    """The reports' table gone (renamed) while the test runs, then back."""
    with gate.store().db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE destination_reports RENAME TO destination_reports_away")
    yield gate
    with gate.store().db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE destination_reports_away RENAME TO destination_reports")


def test_a_report_while_the_database_is_away_is_thanked_kept_and_written_later(gate, away):
    form = shown(gate)
    answer = send(client(gate), form)
    assert answer.status_code == 200
    assert heading(answer) == "Thank you for your report"
    assert desk(gate).waiting == 1
    with gate.store().db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE destination_reports_away RENAME TO destination_reports")
    assert send(client(gate), form, "unsafe").status_code == 200  # the next report writes both
    assert desk(gate).waiting == 0
    assert stored(gate) == {("forms.example.org", "broken"): 1, ("forms.example.org", "unsafe"): 1}
    with gate.store().db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE destination_reports RENAME TO destination_reports_away")


# ---- the table's bounds -------------------------------------------------------------------------------


def test_a_day_keeps_at_most_its_sites_and_old_days_are_trimmed(store: Store):
    today = date(2026, 12, 7)
    first = {(today, f"site{n:02}.example", "broken"): 1 for n in range(8)}
    assert store.reports.add(first, max_hosts_per_day=10) == 0
    batch = {(today, f"new{n}.example", "unsafe"): n + 1 for n in range(4)}
    batch[(today, "site00.example", "unsafe")] = 1  # a site the day holds already always has room
    assert store.reports.add(batch, max_hosts_per_day=10) == 1 + 2  # new0 and new1 go under (other)
    top = {site.host: site for site in store.reports.top(today, today, limit=20)}
    assert set(top) == {
        *(f"site{n:02}.example" for n in range(8)),
        "new3.example",
        "new2.example",
        OTHER_DOMAIN,
    }
    assert top[OTHER_DOMAIN].by_choice == {"broken": 0, "unsafe": 3, "wrong_site": 0}
    assert top["site00.example"].total == 2

    store.reports.add({(today - timedelta(days=100), "old.example", "broken"): 1}, 10)
    assert store.reports.trim(today - timedelta(days=90)) == 1
    assert store.reports.top(today - timedelta(days=365), today - timedelta(days=1)) == []
