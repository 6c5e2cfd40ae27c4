"""Known-bad lists (linkgate/feeds.py): each format read from a real local server and from a file, hostile
and oversized lists refused with the list before kept, swaps that never show part of a list, and what the
gate does with a listed host (rules written by hand win, County addresses never listed)."""

from __future__ import annotations

import hashlib
import ipaddress
import random
import re
import zlib
from array import array
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from linkgate.classify import Classifier, Listed, RuleSet, make_rule
from linkgate.config import DEFAULT_ACTIONS
from linkgate.feeds import (
    FeedBook,
    FeedIndex,
    FeedLimits,
    FeedTable,
    compile_table,
    feed_policy,
    host_keys,
    load_list,
    name_key,
    parse_list,
    table_path,
    update_feed,
    write_stored_table,
    write_table,
)
from linkgate.http import Fetcher, FetchPolicy
from linkgate.store.feeds import FeedError
from linkgate.store.schema import feeds as feed_table
from linkgate.urls import parse_destination

COUNTY = ("missoulacounty.us", "co.missoula.mt.us")
HOSTS = """# a hosts file
127.0.0.1 localhost
::1 ip6-localhost ip6-loopback
0.0.0.0 phish.example.com  # a comment
0.0.0.0 malware.example.net tracker.example.org
0.0.0.0 com
127.0.0.1 missoula-lookalike.example
this line is not a hosts line
"""
DOMAINS = """# one a line
! an adblock-style comment
phish.example.com
*.malware.example.net
tracker.example.org.
two words.example
xn--bcher-kva.example
Bücher2.example
"""
URLHAUS = """################################################################
# abuse.ch URLhaus Database Dump (CSV - recent URLs only)
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"1","2026-12-01 10:00:00","http://phish.example.com/login.php","online","2026-12-01","malware_download","exe","https://urlhaus.abuse.ch/url/1/","someone"
"2","2026-12-01 10:00:00","https://malware.example.net/a.exe","online","2026-12-01","malware_download","exe","https://urlhaus.abuse.ch/url/2/","someone"
"3","2026-12-01 10:00:00","http://203.0.114.9:8080/bins/x86","online","2026-12-01","malware_download","elf","https://urlhaus.abuse.ch/url/3/","someone"
"4","2026-12-01 10:00:00","http://10.1.2.3/x","online","2026-12-01","malware_download","elf","https://urlhaus.abuse.ch/url/4/","someone"
"5","2026-12-01 10:00:00","not a url","online","2026-12-01","malware_download","elf","https://urlhaus.abuse.ch/url/5/","someone"
"6","broken quote
"7","2026-12-01 10:00:00","http://tracker.example.org/x","online","2026-12-01","malware_download","elf","https://urlhaus.abuse.ch/url/7/","someone"
"""
LISTED = {
    "hosts": {
        "phish.example.com",
        "malware.example.net",
        "tracker.example.org",
        "missoula-lookalike.example",
    },
    "domains": {
        "phish.example.com",
        "malware.example.net",
        "tracker.example.org",
        "xn--bcher-kva.example",
        "xn--bcher2-3ya.example",
    },
    "urlhaus": {"phish.example.com", "malware.example.net", "203.0.114.9", "tracker.example.org"},
}
SKIPPED = {"hosts": 5, "domains": 1, "urlhaus": 3}
LISTS = {"hosts": HOSTS, "domains": DOMAINS, "urlhaus": URLHAUS}


def local(server: HTTPServer, path: str) -> str:
    """The address of a page of the local server by its address (the fetcher never reads "localhost")."""
    return f"http://127.0.0.1:{server.port}{path}"


def keys_of(names: set[str]) -> set[int]:
    return {name_key(name) for name in names}


@pytest.mark.parametrize("format", ["hosts", "domains", "urlhaus"])
def test_each_format_gives_its_names_and_counts_the_lines_it_skips(format: str) -> None:
    parsed = parse_list(LISTS[format].encode(), format, 100)
    assert set(parsed.keys) == keys_of(LISTED[format])
    assert parsed.skipped == SKIPPED[format], parsed.skipped_lines
    assert parsed.skipped_lines and all(line.startswith("line ") for line in parsed.skipped_lines)


def test_a_public_suffix_or_a_local_name_is_never_listed() -> None:
    parsed = parse_list(b"com\nco.uk\ngithub.io\nlocalhost\nprinter.lan\nok.example.org\n", "domains", 100)
    assert set(parsed.keys) == {name_key("ok.example.org")}
    assert parsed.skipped == 5


@pytest.mark.parametrize(
    "hostile",
    [
        b"x" * 20_000 + b"\nok.example.org\n",  # one line too long
        b"\xff\xfe\x00garbage\x00\nok.example.org\n\x00\x00\n",  # binary
        b'"1","2","http://ok.example.org/\n' + b'"' * 5000 + b"\nok.example.org\n",  # quotes never closed
        b"\n" * 50_000 + b"ok.example.org\n",  # blank lines
        b"a." * 3000 + b"example.org\nok.example.org\n",  # a name far too long
    ],
)
def test_a_hostile_line_is_skipped_and_the_rest_is_read(hostile: bytes) -> None:
    parsed = parse_list(hostile, "domains", 100)
    assert set(parsed.keys) == {name_key("ok.example.org")}


def test_a_list_with_no_name_or_too_many_is_refused() -> None:
    with pytest.raises(FeedError, match="names no host"):
        parse_list(b"# nothing\n127.0.0.1 localhost\n", "hosts", 100)
    with pytest.raises(FeedError, match="more than 3 names"):
        parse_list(b"a.example\nb.example\nc.example\nd.example\n", "domains", 3)


# What https://urlhaus.abuse.ch/downloads/csv_online/ and csv_recent/ send, written here in their shape: a
# banner of comment lines, the header as a comment, every field quoted, tags holding commas, CRLF endings.
URLHAUS_DUMP = (
    "################################################################\r\n"
    "# abuse.ch URLhaus Database Dump (CSV - recent URLs)           #\r\n"
    "# Last updated: 2026-12-07 12:00:05 (UTC)                      #\r\n"
    "#                                                              #\r\n"
    "# Terms Of Use: https://urlhaus.abuse.ch/api/                  #\r\n"
    "# For questions please contact urlhaus [at] abuse.ch           #\r\n"
    "################################################################\r\n"
    "#\r\n"
    "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\r\n"
    '"3301004","2026-12-07 11:58:02","http://203.0.114.23:40123/i","online","2026-12-07 11:58:02",'
    '"malware_download","32-bit,elf,mips,Mozi","https://urlhaus.abuse.ch/url/3301004/","geenensp"\r\n'
    '"3301003","2026-12-07 11:41:17","https://cdn.files-share.example/d/Invoice_2026.zip","online",'
    '"2026-12-07 11:52:40","malware_download","zip","https://urlhaus.abuse.ch/url/3301003/","abuse_ch"\r\n'
    '"3301002","2026-12-07 10:12:55","http://www.bakery-cleaned.example/wp-content/uploads/x.exe",'
    '"offline","2026-12-07 10:30:00","malware_download","exe,AsyncRAT",'
    '"https://urlhaus.abuse.ch/url/3301002/","anonymous"\r\n'
    '"3301001","2026-12-07 09:03:44","http://files-share.example/other.exe","offline","",'
    '"malware_download","exe","https://urlhaus.abuse.ch/url/3301001/","anonymous"\r\n'
    '"3301000","2026-12-07 08:00:00","http://Mixed-Case.Example:8080/bins/sora.arm7","online",'
    '"2026-12-07 08:00:00","malware_download","elf,""quoted"" tag","https://urlhaus.abuse.ch/url/3301000/",'
    '"r3dbU7z"\r\n'
)


def test_urlhaus_s_own_csv_gives_the_hosts_of_its_online_addresses() -> None:
    parsed = parse_list(URLHAUS_DUMP.encode(), "urlhaus", 100)
    # An offline address is left out (counted, not skipped): files-share.example and the bakery are not
    # listed, cdn.files-share.example is; the banner and header are comments, quoted commas stay in a field.
    listed = {"203.0.114.23", "cdn.files-share.example", "mixed-case.example"}
    assert set(parsed.keys) == keys_of(listed)
    assert (parsed.skipped, parsed.offline) == (0, 2)
    every_one_offline = URLHAUS_DUMP.replace('"online"', '"offline"').encode()
    refusal = re.escape("names no host (0 lines skipped, 5 offline rows left out)")
    with pytest.raises(FeedError, match=refusal):
        parse_list(every_one_offline, "urlhaus", 100)
    # A list without the status column (a URLhaus-like CSV of another source) is read whole.
    short = '# id,dateadded,url\r\n"1","2026-12-07","http://bad.example.org/x"\r\n'
    assert set(parse_list(short.encode(), "urlhaus", 100).keys) == keys_of({"bad.example.org"})


def test_the_table_holds_each_name_once_and_finds_only_them(tmp_path: Path) -> None:
    names = [f"host{number}.example.org" for number in range(1000)]
    parsed = parse_list(("\n".join(names + names[:10]) + "\n").encode(), "domains", 10_000)
    table, count = compile_table(parsed.keys)
    assert count == 1000
    loaded, same = load_list(("\n".join(names) + "\n").encode(), "domains", FeedLimits())
    assert same == table  # the same names, the same table: the digest names a list by its content
    opened = FeedTable(write_table(tmp_path, loaded.digest, table), Listed("test", "block"))
    assert all(name_key(name) in opened for name in names)
    assert not any(name_key(f"other{number}.example.org") in opened for number in range(1000))


def test_a_host_is_looked_up_with_each_parent_domain() -> None:
    assert host_keys("a.b.example.co.uk") == tuple(
        name_key(name) for name in ("a.b.example.co.uk", "b.example.co.uk", "example.co.uk", "co.uk")
    )
    assert host_keys("localhost") == ()


# ---- the lists in a process, and the gate's judgement -------------------------------------------------


def add_file_feed(
    store: Any,
    tmp_path: Path,
    name: str,
    text: str,
    format: str = "domains",
    action: str = "block",
    **limits: Any,
) -> Any:
    path = tmp_path / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    store.feeds.add(name, str(path), format, action, "test")
    return update_feed(store, name, FeedLimits(**limits), None, "test", tmp_path / "instance-feeds")


def classifier(book: FeedBook, *rules: Any) -> Classifier:
    return Classifier(COUNTY, DEFAULT_ACTIONS, RuleSet(rules)).with_feeds(book.refresh())


def outcome(classifier: Classifier, url: str, trusted: bool = True) -> tuple[str, str, str | None]:
    found = classifier.classify(parse_destination(url), trusted=trusted)
    return found.category, found.action, None if found.listed is None else found.listed.feed


def test_a_listed_host_or_a_host_under_a_listed_domain_is_blocked_or_noticed(
    store: Any, tmp_path: Path
) -> None:
    add_file_feed(store, tmp_path, "bad", "bad.example.org\n203.0.114.9\n")
    add_file_feed(store, tmp_path, "dubious", "dubious.example.org\nbad.example.org\n", action="notice")
    book = FeedBook(store, tmp_path / "worker")
    gate = classifier(book)
    assert outcome(gate, "https://bad.example.org/") == ("blocked", "block", "bad")
    assert outcome(gate, "https://www.bad.example.org/x") == ("blocked", "block", "bad")  # block beats notice
    assert outcome(gate, "http://203.0.114.9/") == ("blocked", "block", "bad")
    assert outcome(gate, "https://dubious.example.org/") == ("external", "notice", "dubious")
    assert outcome(gate, "https://a.dubious.example.org/") == ("external", "notice", "dubious")
    assert outcome(gate, "https://example.org/") == ("external", "notice", None)
    assert outcome(gate, "https://notbad.example.org/") == ("external", "notice", None)


def test_rules_written_by_hand_win_and_county_addresses_are_never_listed(store: Any, tmp_path: Path) -> None:
    listed = "partner.example.org\nblocked-by-rule.example.org\nmissoulacounty.us\nco.missoula.mt.us\n"
    add_file_feed(store, tmp_path, "everything", listed)
    add_file_feed(store, tmp_path, "gov", "state.mt.gov\n", action="notice")
    book = FeedBook(store, tmp_path / "worker")
    gate = classifier(
        book,
        make_rule("partner.example.org", "allow"),
        make_rule("blocked-by-rule.example.org", "block"),
    )
    assert outcome(gate, "https://www.partner.example.org/") == ("partner", "redirect", None)
    assert outcome(gate, "https://blocked-by-rule.example.org/") == ("blocked", "block", None)
    assert outcome(gate, "https://www.missoulacounty.us/") == ("county", "redirect", None)
    assert outcome(gate, "https://co.missoula.mt.us/") == ("county", "redirect", None)
    # A list that notices sends no one straight on, trusted or not, whatever the category's action.
    lenient = Classifier(COUNTY, {**DEFAULT_ACTIONS, "government": "redirect"}).with_feeds(book.refresh())
    assert outcome(lenient, "https://www.state.mt.gov/", trusted=True) == ("government", "notice", "gov")
    assert outcome(lenient, "https://www.other.mt.gov/", trusted=True) == ("government", "redirect", None)


def test_a_failed_update_keeps_the_list_before_it_and_says_why(
    store: Any, tmp_path: Path, httpserver: HTTPServer
) -> None:
    good = add_file_feed(store, tmp_path, "list", "one.example.org\ntwo.example.org\n")
    assert good.error is None and good.feed.names == 2
    book = FeedBook(store, tmp_path / "worker")
    before = book.refresh()
    path = tmp_path / "list.txt"
    refusals = {
        "x" * 2000: "larger than 1,000 bytes",
        "a.example.org\nb.example.org\nc.example.org\n": "more than 2 names",
        "# emptied by a broken server\n": "names no host",
    }
    for text, why in refusals.items():
        path.write_text(text, encoding="utf-8")
        result = update_feed(store, "list", FeedLimits(max_bytes=1000, max_names=2), None, "test")
        assert result.error is not None and why in result.error
        feed = store.feeds.get("list")
        assert feed.error == result.error and feed.names == 2 and feed.digest == good.feed.digest
        assert book.refresh() is before  # nothing changed for the gate
    path.unlink()
    assert "Could not read" in update_feed(store, "list", FeedLimits(), None, "test").error
    assert before.match("one.example.org") == Listed("list", "block")


def test_the_gate_sees_the_old_list_or_the_new_one_never_part(store: Any, tmp_path: Path) -> None:
    old_names = [f"old{number}.example.org" for number in range(500)]
    new_names = [f"new{number}.example.org" for number in range(500)]
    add_file_feed(store, tmp_path, "swap", "\n".join(old_names) + "\n")
    book = FeedBook(store, tmp_path / "worker")
    old = book.refresh()
    (tmp_path / "swap.txt").write_text("\n".join(new_names) + "\n", encoding="utf-8")
    update_feed(store, "swap", FeedLimits(), None, "test")
    new = book.refresh()
    assert new is not old
    # An index is immutable: what a click holds answers wholly from one version.
    assert all(old.match(name) for name in old_names) and not any(old.match(name) for name in new_names)
    assert all(new.match(name) for name in new_names) and not any(new.match(name) for name in old_names)
    assert book.refresh() is new  # nothing changed since: the same object, no work
    # Each table file is written under a temporary name and renamed: only whole tables carry a table's name.
    files = sorted(path.name for path in (tmp_path / "worker").iterdir())
    assert all(name.endswith(".lgfeed") for name in files) and len(files) == 2
    with pytest.raises(FeedError, match="does not match"):
        write_table(tmp_path / "worker", "0" * 64, b"not the table")
    assert not table_path(tmp_path / "worker", "0" * 64).exists()
    assert sorted(path.name for path in (tmp_path / "worker").iterdir()) == files


def test_a_removed_feed_stops_counting_and_a_store_that_is_away_keeps_the_lists(
    store: Any, tmp_path: Path
) -> None:
    add_file_feed(store, tmp_path, "gone", "gone.example.org\n")
    book = FeedBook(store, tmp_path / "worker")
    assert book.refresh().match("gone.example.org") is not None
    store.feeds.remove("gone", "test")
    assert book.refresh().match("gone.example.org") is None
    entries = [entry.action for entry in store.changes.page().entries]
    assert {"feed.add", "feed.update", "feed.remove"} <= set(entries)


@pytest.mark.parametrize("format", ["hosts", "domains", "urlhaus"])
def test_each_format_is_read_from_a_real_local_server_through_the_safe_fetcher(
    store: Any, tmp_path: Path, httpserver: HTTPServer, format: str
) -> None:
    httpserver.expect_request(f"/{format}.txt").respond_with_data(LISTS[format], content_type="text/plain")
    policy = FetchPolicy(
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        allowed_ports=frozenset({80, 443, httpserver.port}),
    )
    limits = FeedLimits()
    store.feeds.add(format, local(httpserver, f"/{format}.txt"), format, "block", "test")
    with Fetcher(feed_policy(policy, limits)) as fetcher:
        result = update_feed(store, format, limits, fetcher, "test", tmp_path / "feeds")
    assert result.error is None
    assert result.feed.names == len(LISTED[format]) and result.feed.skipped == SKIPPED[format]
    index = FeedBook(store, tmp_path / "feeds").refresh()
    host = "203.0.114.9" if format == "urlhaus" else "phish.example.com"
    assert index.match(host, is_ip=format == "urlhaus") == Listed(format, "block")


def test_a_list_the_fetcher_refuses_or_the_server_fails_keeps_the_one_before(
    store: Any, tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/list").respond_with_data("ok.example.org\n")
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    httpserver.expect_request("/huge").respond_with_data("a.example.org\n" * 10_000)
    store.feeds.add("web", local(httpserver, "/list"), "domains", "block", "test")
    nearby = FetchPolicy(
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        allowed_ports=frozenset({80, 443, httpserver.port}),
    )
    limits = FeedLimits(max_bytes=50_000)
    with Fetcher(feed_policy(nearby, limits)) as fetcher:
        assert update_feed(store, "web", limits, fetcher, "test").error is None
    refused = []
    ports_only = FetchPolicy(allowed_ports=frozenset({80, 443, httpserver.port}))
    with Fetcher(feed_policy(ports_only, limits), on_refused=refused.append) as fetcher:
        result = update_feed(store, "web", limits, fetcher, "test")  # 127.0.0.1 without the allowance
    assert result.error is not None and refused == ["ssrf_refused"]
    for path, why in (("/broken", "answered 500"), ("/huge", "larger than 50,000 bytes")):
        with store.db.begin() as conn:  # the feed's list moves to another address
            conn.execute(
                feed_table.update().where(feed_table.c.name == "web").values(source=local(httpserver, path))
            )
        with Fetcher(feed_policy(nearby, limits)) as fetcher:
            result = update_feed(store, "web", limits, fetcher, "test")
        assert result.error is not None and why in result.error, result.error
        assert result.feed.names == 1


def test_no_feeds_cost_no_lookup() -> None:
    assert FeedIndex().match("anything.example.org") is None


def test_a_list_that_cannot_be_written_here_leaves_the_gate_on_the_one_before(
    store: Any, tmp_path: Path
) -> None:
    add_file_feed(store, tmp_path, "kept", "first.example.org\n")
    folder = tmp_path / "worker"
    book = FeedBook(store, folder)
    before = book.refresh()
    (tmp_path / "kept.txt").write_text("second.example.org\n", encoding="utf-8")
    update_feed(store, "kept", FeedLimits(), None, "test")  # no folder: this worker writes the table itself
    folder.rename(tmp_path / "elsewhere")
    folder.write_text("a file where the folder was: no table can be written", encoding="utf-8")
    assert book.refresh() is before and book.last_error is not None
    assert before.match("first.example.org") == Listed("kept", "block")
    folder.unlink()
    (tmp_path / "elsewhere").rename(folder)
    after = book.refresh()
    assert after.match("second.example.org") and not after.match("first.example.org")
    assert book.last_error is None


def test_a_table_is_written_from_the_database_s_copy_a_piece_at_a_time(tmp_path: Path) -> None:
    keys = array("Q", (random.Random(3).getrandbits(64) | 1 for _ in range(200_000)))
    table, names = compile_table(keys)  # 4 MB: several pieces
    digest = hashlib.sha256(table).hexdigest()
    path = write_stored_table(tmp_path, digest, zlib.compress(table, 1))
    assert path.read_bytes() == table
    opened = FeedTable(path, Listed("big", "notice"))
    assert opened.names == names and all(key in opened for key in keys[:1000])
    with pytest.raises(FeedError, match="does not match"):
        write_stored_table(tmp_path / "other", digest, zlib.compress(table[:-8] + b"\x01" * 8, 1))
    assert not list((tmp_path / "other").iterdir())  # no table, and no half-written file left behind
