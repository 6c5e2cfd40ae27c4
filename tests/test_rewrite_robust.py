"""``linkgate rewrite --robust-links``: each rewritten link gains the Robust Links attributes
(``data-versionurl``, ``data-versiondate`` as YYYY-MM-DD) of its closest snapshot in the web archive, asked of
a local fake archive; nothing else of the page changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Response

from linkgate.rewrite import GateLinks, Outcome, rewrite_html
from linkgate.signing import Signer
from linkgate.urls import parse_destination
from tests.test_archive import FakeArchive

GATE = GateLinks("https://links.missoulacounty.us/", Signer("k" * 32), ("missoulacounty.us",))
VERSION = ("https://web.archive.org/web/20230101000000/https://partner.example/forms", "2023-01-01")
PARTNER = "https://partner.example/forms"


def rewritten(page: str, versions: dict[str, tuple[str, str]]) -> tuple[str, Any]:
    result = rewrite_html(page.encode(), GATE, versions=versions)
    return result.data.decode(), result


@pytest.mark.parametrize(
    ("written", "quote"),
    [
        ('href="https://partner.example/forms"', '"'),
        ("href='https://partner.example/forms'", "'"),
        ("href=https://partner.example/forms", '"'),
    ],
    ids=["double", "single", "unquoted"],
)
def test_a_rewritten_link_gains_the_version_attributes_after_its_href(written: str, quote: str) -> None:
    page = f'<p>Before</p><a class="x" {written} title="Forms">Forms</a><p>After</p>'
    text, result = rewritten(page, {PARTNER: VERSION})
    gate_link = GATE.link(parse_destination(PARTNER)).replace("&", "&amp;")
    expected = (
        f'<p>Before</p><a class="x" href={quote}{gate_link}{quote}'
        f' data-versionurl="{VERSION[0]}" data-versiondate="2023-01-01" title="Forms">Forms</a><p>After</p>'
    )
    assert text == expected
    assert [link.robust for link in result.links] == [True]


def test_links_without_a_version_and_links_not_rewritten_are_left_alone() -> None:
    page = (
        '<a href="https://other.example/">Other</a>\n'
        '<a href="https://www.missoulacounty.us/parks">Parks</a>\n'
        '<a href="https://partner.example/forms" data-versionurl="https://kept.example/v">Forms</a>\n'
    )
    text, result = rewritten(page, {PARTNER: VERSION, "https://www.missoulacounty.us/parks": VERSION})
    assert (
        "data-versiondate" not in text
    )  # none for other.example, the County's link, or one that has its own
    assert text.count("data-versionurl") == 1
    assert [link.outcome for link in result.links] == [Outcome.REWRITTEN, Outcome.COUNTY, Outcome.REWRITTEN]
    assert not any(link.robust for link in result.links)
    assert rewrite_html(page.encode(), GATE).data.decode() == text


def test_a_version_address_is_escaped_for_its_attribute() -> None:
    text, _ = rewritten(
        '<a href="https://partner.example/forms">F</a>',
        {PARTNER: ('https://a.example/?x=1&y="', "2023-01-01")},
    )
    assert 'data-versionurl="https://a.example/?x=1&amp;y=&quot;"' in text


# ---- the command ----------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><title>Forms</title></head><body>
<a href="https://partner.example/forms">Partner forms</a>
<a href="https://never-archived.example/page">Another page</a>
<a href="/parks/">Parks</a>
</body></html>
"""


@pytest.fixture
def fake_archive(threaded_site: Any) -> FakeArchive:
    archive = FakeArchive(threaded_site)
    archive.held[PARTNER] = ("20190301120000", "20230101000000")
    return archive


def linkgate_with(make_app: Any, archive: dict[str, Any] | None) -> Any:
    config: dict[str, dict[str, Any]] = {
        "fetch": {"allow_networks": ["127.0.0.0/8"]},
        "server": {"public_url": "https://links.missoulacounty.us"},
    }
    if archive is not None:
        config["archive"] = archive
    return make_app(config, start=False)


@pytest.mark.parametrize("path", ["/web/", "/wayback/available"], ids=["timegate", "availability"])
def test_rewrite_robust_links_decorates_each_rewritten_link_from_the_archive(
    make_app: Any, fake_archive: FakeArchive, tmp_path: Path, path: str
) -> None:
    linkgate = linkgate_with(make_app, {"url": fake_archive.base + path})
    page = tmp_path / "forms.html"
    page.write_text(PAGE, encoding="utf-8")
    result = linkgate.cli("rewrite", "--robust-links", str(page))
    assert result.returncode == 0, result.stderr
    assert "robust links            1" in result.stdout
    text = page.read_text(encoding="utf-8")
    snapshot = f"{fake_archive.base}/web/20230101000000/{PARTNER}"
    assert f'data-versionurl="{snapshot}" data-versiondate="2023-01-01">Partner forms</a>' in text
    assert (
        text.count("data-versionurl") == 1
    )  # never-archived.example has none; the County link is not rewritten
    assert '<a href="/parks/">Parks</a>' in text
    asked = fake_archive.asked
    # Running it again changes nothing, and a fresh copy's lookups come from the database.
    assert linkgate.cli("rewrite", "--robust-links", str(page)).returncode == 0
    assert page.read_text(encoding="utf-8") == text
    fresh = tmp_path / "fresh.html"
    fresh.write_text(PAGE, encoding="utf-8")
    assert linkgate.cli("rewrite", "--robust-links", str(fresh)).returncode == 0
    assert fresh.read_text(encoding="utf-8") == text
    assert fake_archive.asked == asked


def test_a_hostile_archive_gives_no_attributes(
    make_app: Any, fake_archive: FakeArchive, tmp_path: Path
) -> None:
    body = json.dumps(
        {
            "archived_snapshots": {
                "closest": {
                    "available": True,
                    "status": "200",
                    "url": "javascript:alert(1)",
                    "timestamp": "20230101000000",
                }
            }
        }
    )
    fake_archive.hostile = lambda request: Response(body, content_type="application/json")
    linkgate = linkgate_with(make_app, {"url": fake_archive.base + "/wayback/available"})
    page = tmp_path / "forms.html"
    page.write_text(PAGE, encoding="utf-8")
    result = linkgate.cli("rewrite", "--robust-links", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert "data-version" not in text and "javascript" not in text
    assert "links rewritten         2" in result.stdout


def test_robust_links_without_an_archive_is_a_clear_error(make_app: Any, tmp_path: Path) -> None:
    linkgate = linkgate_with(make_app, None)
    page = tmp_path / "forms.html"
    page.write_text(PAGE, encoding="utf-8")
    result = linkgate.cli("rewrite", "--robust-links", str(page), check=False)
    assert result.returncode == 2
    assert result.stderr == (
        "linkgate: error: --robust-links needs a web archive: set url in the [archive] section of the "
        "configuration\n"
    )
    assert page.read_text(encoding="utf-8") == PAGE
    checked = linkgate.cli("rewrite", "--robust-links", "--check", str(page), check=False)
    assert checked.returncode == 2 and "takes no --robust-links" in checked.stderr
