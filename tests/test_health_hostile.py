"""What a destination's own page puts in its health (title, site name, the reasons it looks parked or
changed hands) is shown as text wherever linkgate shows it: the console's Sites page and a site's page,
never markup; and a fingerprint keeps only so much of it, on one line.

Through the console in this process (Flask's client) on a real database of the run's kind.
"""

from __future__ import annotations

from datetime import UTC, datetime

from linkgate.health import MAX_NAME, fingerprint, read_page
from tests.conftest import signed_in_client

MARKUP = '<script>alert(1)</script><img src=x onerror="alert(2)">'
SEEN = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _hostile_page() -> str:
    return (
        f"<html><head><title>{MARKUP.replace('<', '&lt;')} River Trust</title>"
        f'<meta property="og:site_name" content="{MARKUP.replace(chr(34), "&quot;")}"></head>'
        "<body><p>This domain is for sale</p></body></html>"
    )


def test_a_page_s_title_and_site_name_are_text_in_the_console(console_app):
    made = fingerprint(read_page(_hostile_page(), ["https://partner.test/"]), None, SEEN)
    assert "<script>" in made.title and "<script>" in made.site_name  # kept as the page wrote them
    assert len(made.title) <= MAX_NAME and "\n" not in made.title
    store = console_app.extensions["linkgate"].store
    store.destinations.record(
        "partner.test",
        made.as_json(),
        SEEN,
        moved_to=None,
        parked=made.parked,
        changed=f'its title and name have nothing in common with before: "{MARKUP}"',
    )
    client = signed_in_client(console_app)
    for address in ("/admin/sites/?health=any", "/admin/sites/partner.test"):
        page = client.get(address).get_data(as_text=True)
        assert "partner.test" in page
        assert "<script>alert(1)" not in page and "<img src=x" not in page, address
        assert "&lt;script&gt;alert(1)" in page, address
