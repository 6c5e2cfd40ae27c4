"""Destination health (issue #19): what the audit and the site cache saw of each destination host (its
fingerprint, and whether it moved away, is parked or changed hands), link results kept between audits,
archived copies of broken links, subscribed blocklist feeds, and visitors' reports of a link.

Each part creates its own tables here; every table is bounded by the code that writes it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # -- fingerprints (§1) --
    op.create_table(
        "destinations",
        sa.Column("host", sa.String(259), primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("baseline", sa.Text, nullable=True),
        sa.Column("baseline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moved_to", sa.String(253), nullable=True),
        sa.Column("moved_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked", sa.String(300), nullable=True),
        sa.Column("parked_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed", sa.String(500), nullable=True),
        sa.Column("changed_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_destinations_seen_at", "destinations", ["seen_at"])
    # -- link results (§2) --
    op.create_table(
        "link_results",
        sa.Column("url_key", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("final_url", sa.Text, nullable=False),
        sa.Column("redirects", sa.Text, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("soft_404", sa.Boolean, nullable=False),
        sa.Column("problems", sa.String(255), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_link_results_checked_at", "link_results", ["checked_at"])
    # -- archive (§3) --
    op.create_table(
        "archive_copies",
        sa.Column("url_key", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("snapshot_url", sa.Text, nullable=True),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("broken", sa.Boolean, nullable=False),
    )
    op.create_index("ix_archive_copies_checked_at", "archive_copies", ["checked_at"])
    # -- feeds (§4) --
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("names", sa.Integer, nullable=True),
        sa.Column("skipped", sa.Integer, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("skipped_lines", sa.Text, nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("name", name="uq_feeds_name"),
    )
    # -- reports (§5) --
    op.create_table(
        "destination_reports",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("host", sa.String(259), primary_key=True),
        sa.Column("choice", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    pass


def downgrade() -> None:
    # -- drop reports (§5) --
    op.drop_table("destination_reports")
    # -- drop feeds (§4) --
    op.drop_table("feeds")
    # -- drop archive (§3) --
    op.drop_index("ix_archive_copies_checked_at", table_name="archive_copies")
    op.drop_table("archive_copies")
    # -- drop link results (§2) --
    op.drop_index("ix_link_results_checked_at", "link_results")
    op.drop_table("link_results")
    # -- drop fingerprints (§1) --
    op.drop_index("ix_destinations_seen_at", table_name="destinations")
    op.drop_table("destinations")
    pass
