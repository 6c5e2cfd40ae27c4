"""The first schema: rules, counts, security events, the site cache, the change log, accounts, audits.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(meta, [{"key": "rules_version", "value": "1"}])
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("exact", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("action", sa.String(8), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.UniqueConstraint("name", "exact", name="uq_rules_name_exact"),
    )
    op.create_table(
        "click_counts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("outcome", sa.String(8), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "security_events",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sites",
        sa.Column("host", sa.String(253), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("privacy_url", sa.Text, nullable=True),
        sa.Column("found_by", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("final_url", sa.Text, nullable=True),
        sa.Column("https", sa.Boolean, nullable=True),
        sa.Column("gpc", sa.Boolean, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("checked_at", STAMP, nullable=True),
        sa.Column("elapsed_ms", sa.Integer, nullable=True),
        sa.Column("override_url", sa.Text, nullable=True),
        sa.Column("override_none", sa.Boolean, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", STAMP, nullable=True),
    )
    op.create_table(
        "change_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("last_failed_at", STAMP, nullable=True),
        sa.Column("locked_until", STAMP, nullable=True),
    )
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("start_url", sa.Text, nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("finished_at", STAMP, nullable=False),
        sa.Column("partial", sa.Boolean, nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("links", sa.Integer, nullable=False),
        sa.Column("problems", sa.Text, nullable=False),
        sa.Column("report_dir", sa.Text, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_table(
        "audit_problems",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("audit_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("problem", sa.String(32), primary_key=True),
        sa.Column("page", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "audit_problems",
        "audit_runs",
        "accounts",
        "change_log",
        "sites",
        "security_events",
        "click_counts",
        "rules",
        "meta",
    ):
        op.drop_table(table)
