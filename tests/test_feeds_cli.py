"""``linkgate feeds`` and what the gate does with the lists it loads: exit codes, a list served by a real
local server, the block page and the notice naming the list (in English and Spanish, the same from both of
/go's paths), the security event counted, and the change log."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from pytest_httpserver import HTTPServer

from linkgate.web.language import TRANSLATIONS
from tests.conftest import AppServer

LIST = "# known bad\nphish.example.com\nmalware.example.net\n"
HOSTS = "0.0.0.0 notice-me.example.org\n"
HEADING = "This address is on a list of harmful websites"


@pytest.fixture
def gate(make_app: Any, httpserver: HTTPServer) -> AppServer:
    server: AppServer = make_app(
        {
            "fetch": {
                "allow_networks": ["127.0.0.0/8"],
                "allowed_ports": [80, 443, httpserver.port],
                "privacy_wait_ms": 0,
            }
        }
    )
    return server


def local(server: HTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def refresh(server: AppServer) -> Any:
    runtime = server.app.extensions["linkgate"]
    runtime.rules.refresh()
    return runtime


def test_feeds_commands_and_their_exit_codes(gate: AppServer, httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/list.txt").respond_with_data(LIST, content_type="text/plain")
    added = gate.cli("feeds", "add", "phishing", local(httpserver, "/list.txt"))
    assert "added feed phishing (domains, block)" in added.stdout
    assert "phishing: 2 name(s) (block)" in added.stdout
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(HOSTS, encoding="utf-8")
    gate.cli("feeds", "add", "local", str(hosts), "--format", "hosts", "--action", "notice")
    listed = json.loads(gate.cli("feeds", "list", "--json").stdout)["feeds"]
    assert [(feed["name"], feed["names"], feed["error"]) for feed in listed] == [
        ("local", 1, None),
        ("phishing", 2, None),
    ]
    assert gate.cli("feeds", "update").returncode == 0
    assert "No feeds to update." in gate.cli("feeds", "update", "--due").stdout  # both checked just now
    for args, why in [
        (("feeds", "add", "phishing", str(hosts)), "already a feed named phishing"),
        (("feeds", "add", "Bad Name", str(hosts)), "cannot name a feed"),
        (("feeds", "add", "missing", str(tmp_path / "nothing.txt")), "not a file"),
        (("feeds", "add", "ftp", "ftp://example.org/list"), "neither an http(s) address nor a file"),
        (("feeds", "update", "nobody"), "no feed named nobody"),
        (("feeds", "remove", "nobody"), "no feed named nobody"),
    ]:
        result = gate.cli(*args, check=False)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("linkgate: error: ") and why in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert gate.cli("feeds", "add", "x", str(hosts), "--format", "csv", check=False).returncode == 2
    # A list that stops loading: exit 1, the list before it kept and the reason shown.
    hosts.write_text("# the server emptied it\n", encoding="utf-8")
    failed = gate.cli("feeds", "update", "local", check=False)
    assert (
        failed.returncode == 1
        and "local was not updated" in failed.stderr
        and "keeping 1 name" in failed.stderr
    )
    shown = gate.cli("feeds", "list").stdout
    assert "last update failed: The list names no host" in shown
    assert gate.cli("feeds", "remove", "local").stdout == "removed feed local\n"
    actions = set(re.findall(r"\bfeed\.[a-z]+", gate.cli("log").stdout))
    assert actions == {"feed.add", "feed.update", "feed.remove"}


def spanish(msgid: str) -> str:
    with (TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        message = read_po(handle, locale="es").get(msgid)
    assert message is not None and message.string
    return str(message.string)


def text(response: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def test_the_gate_blocks_or_warns_naming_the_list_and_counts_the_event(
    gate: AppServer, tmp_path: Path
) -> None:
    blocklist = tmp_path / "block.txt"
    blocklist.write_text(LIST, encoding="utf-8")
    warnlist = tmp_path / "warn.txt"
    warnlist.write_text(HOSTS + "0.0.0.0 <b>.example.org\n", encoding="utf-8")
    gate.cli("feeds", "add", "phishing", str(blocklist))
    gate.cli("feeds", "add", "warn-list", str(warnlist), "--format", "hosts", "--action", "notice")
    gate.cli("allow", "malware.example.net", "--note", "a partner the list is wrong about")
    gate.cli("site", "set-privacy", "notice-me.example.org", "none")  # no lookup: the same page each time
    runtime = refresh(gate)

    blocked = [gate.get("/go", params={"url": "https://www.phish.example.com/login"}) for _ in range(2)]
    assert [response.status_code for response in blocked] == [403, 403]
    assert blocked[0].text == blocked[1].text  # Flask's view, then ClickPath's stencil: the same page
    assert 'data-feed="phishing"' in blocked[0].text and HEADING in blocked[0].text
    assert "“phishing”" in text(blocked[0])

    noticed = [gate.get("/go", params={"url": "https://notice-me.example.org/"}) for _ in range(2)]
    assert [response.status_code for response in noticed] == [200, 200]
    assert noticed[0].text == noticed[1].text
    assert "“warn-list”" in text(noticed[0]) and 'id="continue"' in noticed[0].text
    # With a list's warning, going back is the emphasised choice and comes first.
    assert noticed[0].text.index('id="back"') < noticed[0].text.index('id="continue"')

    spanish_page = gate.get("/go", params={"url": "https://notice-me.example.org/", "lang": "es"})
    assert 'lang="es"' in spanish_page.text and spanish(HEADING) in spanish_page.text
    assert "«warn-list»" in text(spanish_page)

    # A rule written by hand wins; a host on no list is not warned about.
    assert gate.get("/go", params={"url": "https://malware.example.net/"}).status_code == 200
    for url in ("https://malware.example.net/", "https://example.org/"):
        assert HEADING not in gate.get("/go", params={"url": url}).text
    runtime.counts.flush()
    events = runtime.store.counts.events_by_kind(date.min, date.max)
    assert events["feed_listed"] == 5  # 2 blocked + 3 noticed; the allowed and the unlisted not
    assert events["blocked_destination"] == 2


def test_a_list_naming_markup_is_only_ever_text(gate: AppServer, tmp_path: Path) -> None:
    hostile = tmp_path / "list.txt"
    hostile.write_text('<script>.example.org\nok.example.org\n"onload=x".example.org\n', encoding="utf-8")
    loaded = gate.cli("feeds", "add", "odd", str(hostile))
    assert "1 name(s)" in loaded.stdout and "2 line(s) skipped" in loaded.stdout
    refresh(gate)
    page = gate.get("/go", params={"url": "https://ok.example.org/"}).text
    assert "<script>" not in page


def test_linkgate_test_link_answers_as_the_gate_does_with_the_lists(gate: AppServer, tmp_path: Path) -> None:
    blocklist = tmp_path / "block.txt"
    blocklist.write_text(LIST, encoding="utf-8")
    warnlist = tmp_path / "warn.txt"
    warnlist.write_text(HOSTS, encoding="utf-8")
    gate.cli("feeds", "add", "phishing", str(blocklist))
    gate.cli("feeds", "add", "warn-list", str(warnlist), "--format", "hosts", "--action", "notice")
    gate.cli("allow", "malware.example.net")  # a rule written by hand wins
    for file in (gate.directory / "instance" / "feeds").iterdir():
        file.unlink()  # this process reads the lists from the database's copy, as a new worker does
    refresh(gate)

    def tested(url: str, *more: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(gate.cli("test-link", url, "--json", *more).stdout)
        return answer

    blocked = tested("https://www.phish.example.com/login")
    assert (blocked["category"], blocked["action"], blocked["listed"]) == ("blocked", "block", "phishing")
    assert gate.get("/go", params={"url": "https://www.phish.example.com/login"}).status_code == 403
    noticed = tested("https://notice-me.example.org/")
    assert (noticed["action"], noticed["listed"]) == ("notice", "warn-list")
    for url in ("https://malware.example.net/", "https://example.org/"):
        assert tested(url)["listed"] is None
    shown = gate.cli("test-link", "https://www.phish.example.com/").stdout
    assert re.search(r"(?m)^listed +phishing$", shown) and re.search(r"(?m)^action +block$", shown)
    # Lists it cannot open: an error, not an answer that leaves them out.
    folder = gate.directory / "instance" / "feeds"
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    folder.write_text("not a folder", encoding="utf-8")
    unread = gate.cli("test-link", "https://www.phish.example.com/", check=False)
    assert unread.returncode == 2 and unread.stdout == ""
    assert unread.stderr.splitlines()[-1].startswith("linkgate: error: the known-bad lists could not be read")
