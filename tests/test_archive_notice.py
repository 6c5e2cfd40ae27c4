"""The notice offers the archived copy of a destination the last audit found broken (_archived.html),
in English and Spanish, from the worker's memory: both paths of /go give the same page, a stencilled page is
the page the template renders, and a click asks the database nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template

from linkgate.config import load_settings
from linkgate.sites import SiteFacts
from linkgate.web import create_app
from linkgate.web.app_runtime import WebRuntime
from linkgate.web.gate import ClickPath
from tests.conftest import statements_on_requests

GONE = "https://gone.example/annual-report"
GONE_TOO = "https://also-gone.example/minutes?year=2020"
WORKING = "https://fine.example/"
# A snapshot address as an archive may name it: characters the page must escape.
SNAPSHOT = "https://archive.example/web/20210615083000/https://gone.example/annual-report?a=1&b='x'"
TAKEN = datetime(2021, 6, 15, 8, 30, tzinfo=UTC)
COUNTY = {"Referer": "https://www.missoulacounty.us/"}


@pytest.fixture
def gate(tmp_path: Path, database_url: str) -> Iterator[tuple[Flask, WebRuntime]]:
    app = create_app(
        load_settings(
            {
                "LINKGATE_INSTANCE": str(tmp_path),
                "LINKGATE_DATABASE_URL": database_url,
                "LINKGATE_FETCH_SYSTEM_RESOLVER": "false",
                "LINKGATE_ARCHIVE_URL": "https://archive.org/wayback/available",
            }
        )
    )
    runtime: WebRuntime = app.extensions["linkgate"]
    later = datetime.now(UTC) + timedelta(days=30)
    archive = runtime.store.archive
    archive.save(GONE, SNAPSHOT, TAKEN, later, broken=True, keep=100)
    archive.save(
        GONE_TOO, "https://archive.example/web/20200101000000/x", TAKEN, later, broken=True, keep=100
    )
    archive.save(
        WORKING, "https://archive.example/web/20200101000000/y", TAKEN, later, broken=False, keep=100
    )
    assert runtime.archived.refresh()
    runtime.site_facts_for_host = lambda host, wait_ms: SiteFacts(host=host, status="none")  # type: ignore[method-assign]
    yield app, runtime
    runtime.shutdown()


def notice(app: Flask, url: str, **headers: str) -> str:
    response = app.test_client().get("/go", query_string={"url": url}, headers={**COUNTY, **headers})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_notice_of_a_broken_destination_offers_its_archived_copy(gate: Any) -> None:
    app, _ = gate
    page = notice(app, GONE)
    assert 'id="archived"' in page
    assert (
        'href="https://archive.example/web/20210615083000/https://gone.example/annual-report?a=1&amp;b=&#39;x&#39;"'
        in page
    )
    assert "A web archive kept a copy of it from June 15, 2021." in page
    assert "See the archived copy" in page


def test_the_archived_copy_is_offered_in_spanish(gate: Any) -> None:
    app, _ = gate
    page = notice(app, GONE, **{"Accept-Language": "es"})
    assert "Es posible que esta página ya no funcione" in page
    assert "Un archivo web guardó una copia del 15 de junio de 2021." in page
    assert "Ver la copia archivada" in page


def test_a_working_or_unknown_destination_is_offered_no_copy(gate: Any) -> None:
    app, _ = gate
    for url in (WORKING, "https://never-audited.example/"):
        assert 'id="archived"' not in notice(app, url)


def test_the_county_s_day_is_shown(gate: Any) -> None:
    """A snapshot taken at 03:00 UTC was taken the evening before in Missoula."""
    app, runtime = gate
    runtime.store.archive.save(
        GONE,
        SNAPSHOT,
        datetime(2021, 6, 15, 3, tzinfo=UTC),
        TAKEN + timedelta(days=9999),
        broken=True,
        keep=100,
    )
    runtime.archived.refresh()
    assert "from June 14, 2021." in notice(app, GONE)


def test_both_paths_and_the_template_give_the_same_page(gate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, runtime = gate
    client = app.test_client()
    clicks = [
        ({"url": url, **params}, {**COUNTY, **headers})
        for url in (GONE, GONE_TOO, WORKING)
        for params, headers in (({}, {}), ({"lang": "es"}, {}), ({}, {"Accept-Language": "es"}))
    ]
    for query, headers in clicks:  # every kind stencilled
        client.get("/go", query_string=query, headers=headers)
    fast = [client.get("/go", query_string=query, headers=headers) for query, headers in clicks]
    monkeypatch.setattr(ClickPath, "answer", lambda self, request: None)
    by_view = [client.get("/go", query_string=query, headers=headers) for query, headers in clicks]
    monkeypatch.setattr(
        runtime.pages,
        "page",
        lambda template, kind, values, context: render_template(template, **context(values)),
    )
    rendered = [client.get("/go", query_string=query, headers=headers) for query, headers in clicks]
    for number, (query, _) in enumerate(clicks):
        assert fast[number].get_data() == by_view[number].get_data() == rendered[number].get_data(), query
        assert fast[number].headers == by_view[number].headers, query
    assert sum('id="archived"' in response.get_data(as_text=True) for response in fast) == 6


def test_a_click_asks_the_database_nothing(gate: Any) -> None:
    app, runtime = gate
    client = app.test_client()
    client.get("/go", query_string={"url": GONE}, headers=COUNTY)  # the kind's stencil made
    with statements_on_requests(runtime.store.db.engine) as statements:
        for _ in range(3):
            page = client.get("/go", query_string={"url": GONE}, headers=COUNTY).get_data(as_text=True)
            assert 'id="archived"' in page
    assert statements == []


def test_a_blocked_destination_is_offered_no_copy(gate: Any) -> None:
    app, runtime = gate
    from linkgate.classify import Rule

    runtime.store.rules.add(Rule(name="gone.example", exact=False, kind="block"), "test")
    runtime.rules.refresh()
    response = app.test_client().get("/go", query_string={"url": GONE}, headers=COUNTY)
    assert response.status_code == 403
    assert 'id="archived"' not in response.get_data(as_text=True)


@pytest.mark.sqlite_only
def test_the_copy_is_still_offered_with_the_database_gone(tmp_path: Path) -> None:
    database = tmp_path / "linkgate.db"
    app = create_app(
        load_settings(
            {
                "LINKGATE_INSTANCE": str(tmp_path),
                "LINKGATE_DATABASE_URL": f"sqlite:///{database}",
                "LINKGATE_FETCH_SYSTEM_RESOLVER": "false",
                "LINKGATE_ARCHIVE_URL": "https://archive.org/wayback/available",
            }
        )
    )
    runtime: WebRuntime = app.extensions["linkgate"]
    runtime.store.archive.save(GONE, SNAPSHOT, TAKEN, TAKEN + timedelta(days=9999), broken=True, keep=100)
    runtime.archived.refresh()
    runtime.store.dispose()
    database.unlink()
    assert not runtime.archived.refresh()
    response = app.test_client().get("/go", query_string={"url": GONE}, headers=COUNTY)
    assert response.status_code == 200
    assert "See the archived copy" in response.get_data(as_text=True)
    runtime.shutdown()
