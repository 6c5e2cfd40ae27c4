"""linkgate.store.destinations under two writers: the audit and the gate's site cache both keep a host's
fingerprint, each in its own process, with no lease in common. More of the repository's behaviour is in
tests/test_audit_health.py (its store section)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from linkgate.store.schema import destinations
from tests.conftest import ON_POSTGRES

FIRST, LATER = datetime(2026, 12, 1, 12, tzinfo=UTC), datetime(2026, 12, 2, 12, tzinfo=UTC)


@pytest.mark.skipif(
    not ON_POSTGRES, reason="SQLite lets no other writer in between a transaction's read and write"
)
def test_a_row_another_writer_made_since_it_was_read_is_replaced_not_an_error(store: Any) -> None:
    engine = store.db.engine
    done: list[bool] = []

    def other_writer(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Right after record() read no row for the host, another process keeps one.
        if done or not statement.lstrip().upper().startswith("SELECT") or "destinations" not in statement:
            return
        done.append(True)
        with engine.connect() as other, other.begin():
            other.execute(
                sa.insert(destinations).values(host="partner.example", fingerprint="{}", seen_at=FIRST)
            )

    sa.event.listen(engine, "after_cursor_execute", other_writer)
    try:
        store.destinations.record(
            "partner.example",
            {"final_domain": "casino.example"},
            LATER,
            moved_to="casino.example",
            parked=None,
            changed=None,
        )
    finally:
        sa.event.remove(engine, "after_cursor_execute", other_writer)
    assert done
    row = store.destinations.get("partner.example")
    assert (row.seen_at, row.moved_to, row.moved_since) == (LATER, "casino.example", LATER)
    assert row.fingerprint == {"final_domain": "casino.example"}


def test_a_fingerprint_too_long_to_keep_whole_keeps_its_texts_cut_never_its_json(store: Any) -> None:
    long = {"final_domain": "partner.example", "title": "River Trust " * 300, "https": True}
    store.destinations.record("partner.example", long, FIRST, moved_to=None, parked=None, changed=None)
    kept = store.destinations.get("partner.example").fingerprint
    assert kept == {"final_domain": "partner.example", "title": long["title"][:200], "https": True}
    many = {f"field{number}": "x" * 200 for number in range(20)}  # too long even cut: kept as nothing
    store.destinations.record("other.example", many, FIRST, moved_to=None, parked=None, changed=None)
    assert store.destinations.get("other.example").fingerprint == {}
