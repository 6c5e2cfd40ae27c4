"""Archived copies (linkgate/archive.py): the closest snapshot from before a link broke, asked of a local fake
web archive that speaks the Wayback availability API, a Memento TimeGate in the Wayback URL form and an RFC
7089 TimeGate that reads the time from Accept-Datetime alone, through the safe fetcher, checked, and kept in
the database."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from werkzeug import Request, Response

from linkgate.archive import (
    FAILURES_BEFORE_GIVING_UP,
    Archive,
    ArchivedCopies,
    Snapshot,
    archive_kind,
    archive_policy,
    parse_http_date,
    parse_timestamp,
    snapshot_address,
)
from linkgate.config import load_settings
from linkgate.errors import ConfigError
from linkgate.http import Fetcher, FetchPolicy

GONE = "https://gone.example/annual-report"
# What the fake archive holds of GONE: three snapshots, the oldest first.
SNAPSHOTS = ("20190301120000", "20210615083000", "20230101000000")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def moment(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def http_date(stamp: str) -> str:
    return moment(stamp).strftime("%a, %d %b %Y %H:%M:%S GMT")


class FakeArchive:
    """A web archive on a local server: ``/wayback/available`` (the availability API), ``/web/`` (a Memento
    TimeGate in the Wayback URL form, redirecting to the memento), ``/tg/`` (a TimeGate answering 200
    with ``Content-Location``) and ``/timegate/`` (an RFC 7089 TimeGate: ``/timegate/ADDRESS``, the time
    read from ``Accept-Datetime`` alone, its latest memento without one). It holds ``held[address]``
    (timestamps) and names, for a time asked, the latest snapshot at or before it. ``hostile`` replaces an
    answer with ``hostile(request)`` when it gives one."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.held: dict[str, tuple[str, ...]] = {GONE: SNAPSHOTS}
        self.hostile: Callable[[Request], Response | None] = lambda request: None
        server.expect_request(re.compile(".*")).respond_with_handler(self.answer)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def asked(self) -> int:
        return len(self.server.log)

    def closest(self, address: str, stamp: str) -> str | None:
        earlier = [held for held in self.held.get(address, ()) if held <= stamp]
        return earlier[-1] if earlier else None

    def answer(self, request: Request) -> Response:
        hostile = self.hostile(request)
        if hostile is not None:
            return hostile
        if request.path == "/wayback/available":
            address, stamp = request.args["url"], request.args["timestamp"]
            found = self.closest(address, stamp)
            closest = {}
            if found is not None:
                closest = {
                    "closest": {
                        "status": "200",
                        "available": True,
                        "url": f"{self.base}/web/{found}/{address}",
                        "timestamp": found,
                    }
                }
            document = {"url": address, "archived_snapshots": closest}
            return Response(json.dumps(document), content_type="application/json")
        timegate = re.fullmatch(r"/timegate/(.+)", unquote(request.full_path.rstrip("?")))
        if timegate is not None:
            return self.timegate(request, timegate.group(1))
        matched = re.fullmatch(r"/(web|tg)/(\d{14})/(.+)", unquote(request.full_path.rstrip("?")))
        if matched is None:
            return Response("not found", status=404)
        kind, stamp, address = matched.groups()
        found = self.closest(address, stamp)
        if found is None:
            return Response("no memento", status=404)
        memento = f"/web/{found}/{address}"
        if kind == "tg":
            return Response(
                "<p>archived page</p>",
                content_type="text/html",
                headers={"Content-Location": memento, "Memento-Datetime": http_date(found)},
            )
        if stamp != found:
            return Response("", status=302, headers={"Location": memento, "Vary": "accept-datetime"})
        return Response(
            "<p>archived page</p>", content_type="text/html", headers={"Memento-Datetime": http_date(found)}
        )

    def timegate(self, request: Request, address: str) -> Response:
        asked = request.headers.get("Accept-Datetime")
        if asked is None:
            found = self.closest(address, "99999999999999")
        else:
            try:
                stamp = parsedate_to_datetime(asked).strftime("%Y%m%d%H%M%S")
            except (TypeError, ValueError):
                return Response("bad Accept-Datetime", status=400)
            found = self.closest(address, stamp)
        if found is None:
            return Response("no memento", status=404)
        memento = f"/web/{found}/{address}"
        return Response("", status=302, headers={"Location": memento, "Vary": "accept-datetime"})


@pytest.fixture
def fake_archive(threaded_site: Any) -> FakeArchive:
    return FakeArchive(threaded_site)


def archive_fetcher() -> Fetcher:
    policy = archive_policy(FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),)))
    return Fetcher(policy, resolver=lambda _host: ["127.0.0.1"])


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def make_archive(fake: FakeArchive, path: str, store: Any = None, **options: Any) -> Archive:
    cache = store.archive if store is not None else None
    return Archive(fake.base + path, archive_fetcher(), cache, clock=options.pop("clock", Clock()), **options)


ENDPOINTS = pytest.mark.parametrize(
    "path",
    ["/wayback/available", "/web/", "/tg/", "/timegate/"],
    ids=["availability", "timegate", "timegate-200", "timegate-header"],
)


# ---- the closest snapshot from before the link broke ----------------------------------------------------


@ENDPOINTS
def test_the_snapshot_is_the_closest_one_from_before_the_break(fake_archive: FakeArchive, path: str) -> None:
    archive = make_archive(fake_archive, path)
    broke = datetime(2022, 5, 1, tzinfo=UTC)
    snapshot = archive.closest(GONE, broke)
    assert snapshot == Snapshot(f"{fake_archive.base}/web/20210615083000/{GONE}", moment("20210615083000"))
    earlier = archive.closest(GONE, datetime(2020, 1, 1, tzinfo=UTC))
    assert earlier is not None and earlier.date == moment("20190301120000")
    assert archive.closest(GONE, datetime(2018, 1, 1, tzinfo=UTC)) is None  # nothing that old


def test_the_kind_of_endpoint_is_read_from_its_address_unless_named() -> None:
    assert archive_kind("https://archive.org/wayback/available") == "availability"
    assert archive_kind("https://archive.org/wayback/available/") == "availability"
    assert archive_kind("https://web.archive.org/web/") == "memento"
    assert archive_kind("https://archive.org/wayback/available", "memento") == "memento"


def test_the_availability_api_is_asked_for_the_address_and_the_time(fake_archive: FakeArchive) -> None:
    archive = make_archive(fake_archive, "/wayback/available")
    archive.closest(GONE + "#section", datetime(2022, 5, 1, 6, 7, 8, tzinfo=UTC))
    request = fake_archive.server.log[0][0]
    assert request.args["url"] == GONE  # no fragment: archives keep none
    assert request.args["timestamp"] == "20220501060708"


def test_a_timegate_is_asked_in_the_wayback_url_form(fake_archive: FakeArchive) -> None:
    archive = make_archive(fake_archive, "/web/")
    assert archive.request_url(GONE, datetime(2022, 5, 1, tzinfo=UTC)) == (
        f"{fake_archive.base}/web/20220501000000/{GONE}"
    )


def test_a_timegate_that_reads_the_time_from_accept_datetime_alone_is_asked_so(
    fake_archive: FakeArchive,
) -> None:
    archive = make_archive(fake_archive, "/timegate/")
    broke = datetime(2022, 5, 1, 6, 7, 8, tzinfo=UTC)
    assert archive.request_url(GONE, broke) == f"{fake_archive.base}/timegate/{GONE}"  # no time in it
    snapshot = archive.closest(GONE + "#section", broke)
    assert snapshot == Snapshot(f"{fake_archive.base}/web/20210615083000/{GONE}", moment("20210615083000"))
    asked = fake_archive.server.log[0][0]
    assert asked.path == f"/timegate/{GONE}"
    assert asked.headers["Accept-Datetime"] == "Sun, 01 May 2022 06:07:08 GMT"  # RFC 7089: an HTTP date
    assert "Cookie" not in asked.headers and "Authorization" not in asked.headers


def test_the_wayback_url_form_gets_the_time_in_the_address_and_the_header(fake_archive: FakeArchive) -> None:
    make_archive(fake_archive, "/web/").closest(GONE, datetime(2022, 5, 1, tzinfo=UTC))
    asked = fake_archive.server.log[0][0]
    assert asked.path == f"/web/20220501000000/{GONE}"
    assert asked.headers["Accept-Datetime"] == "Sun, 01 May 2022 00:00:00 GMT"


def test_the_availability_api_gets_no_accept_datetime(fake_archive: FakeArchive) -> None:
    make_archive(fake_archive, "/wayback/available").closest(GONE, datetime(2022, 5, 1, tzinfo=UTC))
    assert "Accept-Datetime" not in fake_archive.server.log[0][0].headers


@ENDPOINTS
def test_no_snapshot_is_none(fake_archive: FakeArchive, path: str) -> None:
    archive = make_archive(fake_archive, path)
    assert archive.closest("https://never-archived.example/", NOW) is None


def test_a_snapshot_from_after_the_break_is_not_offered(fake_archive: FakeArchive) -> None:
    """An archive may name its closest snapshot on either side of the time asked (the Wayback Machine
    does): one taken after the link broke is likely the broken page itself."""
    fake_archive.hostile = lambda request: Response(
        json.dumps(
            {
                "archived_snapshots": {
                    "closest": {
                        "available": True,
                        "status": "200",
                        "url": f"{fake_archive.base}/web/20250101000000/{GONE}",
                        "timestamp": "20250101000000",
                    }
                }
            }
        ),
        content_type="application/json",
    )
    archive = make_archive(fake_archive, "/wayback/available")
    assert archive.closest(GONE, datetime(2022, 1, 1, tzinfo=UTC)) is None
    assert archive.closest(GONE, NOW) is not None  # the same answer, kept, serves a later break


# ---- hostile answers ------------------------------------------------------------------------------------


def availability(closest: dict[str, Any]) -> Callable[[Request], Response]:
    body = json.dumps({"archived_snapshots": {"closest": closest}})
    return lambda request: Response(body, content_type="application/json")


def good(**changes: Any) -> dict[str, Any]:
    entry = {
        "available": True,
        "status": "200",
        "url": "/web/20210615083000/x",
        "timestamp": "20210615083000",
    }
    entry.update(changes)
    return entry


HOSTILE_AVAILABILITY = {
    "javascript url": availability(good(url="javascript:alert(1)")),
    "data url": availability(good(url="data:text/html,<script>alert(1)</script>")),
    "another site": availability(good(url="https://evil.example/web/20210615083000/x")),
    "credentials": availability(good(url="http://user:pw@127.0.0.1/web/1/x")),
    "url not text": availability(good(url=["/web/1/x"])),
    "huge url": availability(good(url="/web/" + "a" * 5000)),
    "date with dashes": availability(good(timestamp="2021-06-15")),
    "month 13": availability(good(timestamp="20211315083000")),
    "date in the future": availability(good(timestamp="29990101000000")),
    "date before the web": availability(good(timestamp="19500101000000")),
    "date as a number": availability(good(timestamp=20210615083000)),
    "not available": availability(good(available="true")),
    "archived error page": availability(good(status="404")),
    "not json": lambda request: Response("<html>", content_type="application/json"),
    "json list": lambda request: Response("[1, 2]", content_type="application/json"),
    "deep json": lambda request: Response("[" * 50_000 + "]" * 50_000, content_type="application/json"),
    "huge body": lambda request: Response(
        json.dumps({"archived_snapshots": {"closest": good()}, "padding": "x" * 3_000_000}),
        content_type="application/json",
    ),
    "redirect loop": lambda request: Response("", status=302, headers={"Location": request.full_path}),
    "redirect to a private address": lambda request: Response(
        "", status=302, headers={"Location": "http://10.0.0.1/"}
    ),
}


@pytest.mark.parametrize("hostile", HOSTILE_AVAILABILITY.values(), ids=HOSTILE_AVAILABILITY.keys())
def test_a_hostile_availability_answer_gives_no_snapshot(
    fake_archive: FakeArchive, hostile: Callable[[Request], Response], store: Any
) -> None:
    fake_archive.hostile = hostile
    archive = make_archive(fake_archive, "/wayback/available", store)
    assert archive.closest(GONE, NOW) is None
    entry = store.archive.get(GONE)
    assert entry is not None and entry.snapshot_url is None  # kept as a miss: not asked again at once
    asked = fake_archive.asked
    assert archive.closest(GONE, NOW) is None
    assert fake_archive.asked == asked


def memento(headers: dict[str, str]) -> Callable[[Request], Response]:
    return lambda request: Response("<p>archived</p>", content_type="text/html", headers=headers)


HOSTILE_MEMENTO = {
    "no memento-datetime": memento({}),
    "memento-datetime in another form": memento({"Memento-Datetime": "2021-06-15T08:30:00Z"}),
    "memento-datetime not gmt": memento({"Memento-Datetime": "Tue, 15 Jun 2021 08:30:00 +0200"}),
    "memento-datetime a bad day": memento({"Memento-Datetime": "Tue, 35 Jun 2021 08:30:00 GMT"}),
    "content-location javascript": memento(
        {"Memento-Datetime": http_date("20210615083000"), "Content-Location": "javascript:alert(1)"}
    ),
    "content-location elsewhere": memento(
        {"Memento-Datetime": http_date("20210615083000"), "Content-Location": "https://evil.example/m"}
    ),
}


@pytest.mark.parametrize("hostile", HOSTILE_MEMENTO.values(), ids=HOSTILE_MEMENTO.keys())
def test_a_hostile_timegate_answer_gives_no_snapshot(
    fake_archive: FakeArchive, hostile: Callable[[Request], Response]
) -> None:
    fake_archive.hostile = hostile
    assert make_archive(fake_archive, "/web/").closest(GONE, NOW) is None


def test_a_memento_page_is_read_only_to_the_archive_s_limit(fake_archive: FakeArchive) -> None:
    """A huge memento page is cut at the limit, and its headers still date it."""
    fake_archive.hostile = lambda request: Response(
        "x" * 5_000_000, content_type="text/html", headers={"Memento-Datetime": http_date("20210615083000")}
    )
    snapshot = make_archive(fake_archive, "/web/").closest(GONE, NOW)
    assert snapshot is not None and snapshot.date == moment("20210615083000")


def test_snapshot_addresses_are_checked_and_an_http_one_of_an_https_archive_made_https() -> None:
    endpoint = "https://archive.org/wayback/available"
    raw = "http://web.archive.org/web/20210615083000/https://gone.example/"
    assert snapshot_address(raw, endpoint, endpoint) == "https" + raw[4:]
    assert snapshot_address(raw, endpoint, "http://archive.org/wayback/available") == raw
    assert snapshot_address("vbscript:x", endpoint, endpoint) is None
    assert snapshot_address(" javascript:alert(1)", endpoint, endpoint) is None
    assert snapshot_address("https://web.archive.org.evil.example/x", endpoint, endpoint) is None


def test_dates_are_read_strictly() -> None:
    latest = NOW
    assert parse_timestamp("20210615083000", latest) == moment("20210615083000")
    for bad in ("2021061508300", "202106150830000", "2021061508300x", " 20210615083000", "20210230000000"):
        assert parse_timestamp(bad, latest) is None, bad
    assert parse_http_date("Tue, 15 Jun 2021 08:30:00 GMT", latest) == moment("20210615083000")
    for bad in ("Tue, 15 Jun 2021 08:30:00", "15 Jun 2021 08:30:00 GMT", "Tue, 15 June 2021 08:30:00 GMT"):
        assert parse_http_date(bad, latest) is None, bad


# ---- remembered answers ---------------------------------------------------------------------------------


@ENDPOINTS
def test_a_second_lookup_asks_the_archive_nothing(fake_archive: FakeArchive, path: str, store: Any) -> None:
    archive = make_archive(fake_archive, path, store)
    first = archive.closest(GONE, NOW)
    asked = fake_archive.asked
    assert asked >= 1
    again = make_archive(fake_archive, path, store)  # another run: the answer comes from the database
    assert again.closest(GONE, NOW) == first
    assert fake_archive.asked == asked
    assert again.requests == 0


def test_a_miss_is_kept_for_less_time_than_a_snapshot(fake_archive: FakeArchive, store: Any) -> None:
    clock = Clock()
    archive = make_archive(
        fake_archive,
        "/wayback/available",
        store,
        clock=clock,
        found_ttl=timedelta(days=30),
        miss_ttl=timedelta(days=1),
    )
    archive.closest(GONE, NOW)
    archive.closest("https://never-archived.example/", NOW)
    assert fake_archive.asked == 2
    clock.now += timedelta(days=2)
    archive.closest(GONE, NOW)
    assert fake_archive.asked == 2  # the snapshot is still fresh
    archive.closest("https://never-archived.example/", NOW)
    assert fake_archive.asked == 3  # the miss was asked again
    clock.now += timedelta(days=31)
    archive.closest(GONE, NOW)
    assert fake_archive.asked == 4


def test_an_archive_that_fails_is_not_remembered_and_is_given_up_on(
    fake_archive: FakeArchive, store: Any
) -> None:
    fake_archive.hostile = lambda request: Response("busy", status=503)
    archive = make_archive(fake_archive, "/wayback/available", store)
    for number in range(FAILURES_BEFORE_GIVING_UP + 3):
        assert archive.closest(f"https://site{number}.example/", NOW) is None
    assert fake_archive.asked == FAILURES_BEFORE_GIVING_UP
    assert archive.gave_up
    assert store.archive.count() == 0
    fake_archive.hostile = lambda request: None
    assert make_archive(fake_archive, "/wayback/available", store).closest(GONE, NOW) is not None


def test_the_kept_answers_are_bounded_oldest_first(store: Any) -> None:
    later = NOW + timedelta(days=1)
    for number in range(5):
        store.archive.save(f"https://site{number}.example/", None, None, later, broken=False, keep=3)
    assert store.archive.count() == 3
    assert store.archive.get("https://site0.example/") is None
    assert store.archive.get("https://site4.example/") is not None


def test_many_lookups_run_a_few_at_a_time_and_give_the_snapshots_found(
    fake_archive: FakeArchive, store: Any
) -> None:
    archive = make_archive(fake_archive, "/web/", store)
    found = archive.look_up_many([(GONE, NOW), ("https://never-archived.example/", NOW)], broken=True)
    assert list(found) == [GONE]
    assert store.archive.get(GONE).broken
    # A lookup that does not say (linkgate rewrite's) leaves the audit's "broken" as it is.
    archive.look_up_many([(GONE, NOW)])
    assert store.archive.get(GONE).broken


def test_a_long_address_is_kept(fake_archive: FakeArchive, store: Any) -> None:
    long_address = "https://gone.example/" + "a" * 3000  # longer than a key may be
    fake_archive.held[long_address] = ("20200101000000",)
    archive = make_archive(fake_archive, "/wayback/available", store)
    assert archive.closest(long_address, NOW) is not None
    assert store.archive.get(long_address).url == long_address


# ---- what the notice reads ------------------------------------------------------------------------------


def test_the_notice_s_copies_are_those_of_broken_destinations(store: Any) -> None:
    later = NOW + timedelta(days=30)
    at = moment("20210615083000")
    store.archive.save(GONE, "https://archive.example/web/1/gone", at, later, broken=True, keep=100)
    store.archive.save(
        "https://fine.example/", "https://archive.example/web/2/fine", at, later, broken=False, keep=100
    )
    copies = ArchivedCopies(store, "America/Denver")
    assert copies.refresh()
    assert len(copies) == 1
    copy = copies.get(GONE)
    assert copy is not None and copy.url == "https://archive.example/web/1/gone"
    assert str(copy.day) == "2021-06-15"
    # Broken no more: gone after the next refresh.
    store.archive.mark_working([GONE])
    assert copies.refresh() and copies.get(GONE) is None
    # A later save that does not say whether it is broken keeps what the audit recorded.
    store.archive.save(GONE, "https://archive.example/web/1/gone", at, later, broken=True, keep=100)
    store.archive.save(GONE, "https://archive.example/web/1/gone", at, later, broken=None, keep=100)
    assert store.archive.get(GONE).broken


@pytest.mark.sqlite_only
def test_the_notice_s_copies_stay_when_the_database_is_gone(tmp_path: Path) -> None:
    from linkgate.store import Store

    path = tmp_path / "linkgate.db"
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    store.archive.save(GONE, "https://archive.example/web/1/gone", NOW, NOW, broken=True, keep=100)
    copies = ArchivedCopies(store, "UTC")
    assert copies.refresh()
    store.dispose()
    path.unlink()
    assert not copies.refresh()
    assert copies.get(GONE) is not None


def test_archive_settings_are_checked(tmp_path: Path) -> None:
    environ = {"LINKGATE_INSTANCE": str(tmp_path), "LINKGATE_SECRET_KEY": "k"}
    settings = load_settings({**environ, "LINKGATE_ARCHIVE_URL": "https://archive.org/wayback/available"})
    assert settings.archive_url == "https://archive.org/wayback/available"
    assert load_settings(environ).archive_url == ""
    for name, value in (("URL", "javascript:alert(1)"), ("KIND", "guess"), ("MISS_TTL", "0")):
        with pytest.raises(ConfigError, match=f"archive.{name.lower()}"):
            load_settings({**environ, f"LINKGATE_ARCHIVE_{name}": value})
