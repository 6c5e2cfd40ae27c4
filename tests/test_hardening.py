"""Hardening checks from the outside review of issue 14's work: new cases of each class the issue named
(hostile pages, over-long values, floods, what anonymous answers reveal, remote privacy links, sessions,
small input tricks), each of which failed before its fix."""

from __future__ import annotations

import time

from linkgate.audit.extract import read_page


def _attribute_flood(count: int) -> bytes:
    names = " ".join(f"d{i}" for i in range(count))
    return (
        "<html><head><title>Flood</title></head><body>\n"
        '<a href="/first" target="_blank">First page</a>\n'
        f'<a href="/flooded" rel="noopener" {names}>Flooded</a>\n'
        "<!-- a comment -->\n"
        '<p><a href="/last" aria-label="Last page">x</a></p></body></html>'
    ).encode()


def test_the_audit_reads_one_element_of_a_hundred_thousand_attributes_in_linear_time():
    # libxml2's tree adds each attribute by walking its element's attributes to the end: 2 MB of them took
    # 323 s in read_page, a County page (up to 5 MB) or a checked page could hold a crawl that long.
    page = _attribute_flood(100_000)
    started = time.process_time()
    reading = read_page(page, "https://site.test/dir/page")
    assert time.process_time() - started < 2.0
    assert [(link.url, link.line, link.text, link.target_blank_unsafe) for link in reading.links] == [
        ("https://site.test/first", 2, "First page", True),
        ("https://site.test/flooded", 3, "Flooded", False),
        ("https://site.test/last", 5, "Last page", False),
    ]
    assert reading.title == "Flood"
    assert reading == read_page(_attribute_flood(0), "https://site.test/dir/page")
