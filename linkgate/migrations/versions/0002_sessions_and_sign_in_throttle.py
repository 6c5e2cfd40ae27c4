"""Console sessions that can be ended, and the same sign-in throttle for names that have no account.

``accounts.session_stamp``: a random value copied into each session cookie at sign-in and compared on
every request; a new one (signing out, a new password or role, an unlock) ends every session of the
account on every server. Existing accounts get a stamp of their own; their old cookies carry none and
are signed out.

``sign_in_throttle``: failed sign-ins for names with no account, keyed by a keyed hash of the name (never
the name itself: people type passwords into the name field), so that an unknown name is slowed and
locked exactly as an account is and the answers cannot tell the two apart.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("accounts", sa.Column("session_stamp", sa.String(32), nullable=True))
    accounts = sa.table("accounts", sa.column("id", sa.Integer), sa.column("session_stamp", sa.String))
    connection = op.get_bind()
    for (account_id,) in connection.execute(sa.select(accounts.c.id)).all():
        connection.execute(
            sa.update(accounts).where(accounts.c.id == account_id).values(session_stamp=secrets.token_hex(16))
        )
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("session_stamp", existing_type=sa.String(32), nullable=False)
    op.create_table(
        "sign_in_throttle",
        sa.Column("name_key", sa.String(64), primary_key=True),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("last_failed_at", STAMP, nullable=False),
        sa.Column("locked_until", STAMP, nullable=True),
    )
    op.create_index("ix_sign_in_throttle_last_failed_at", "sign_in_throttle", ["last_failed_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_throttle_last_failed_at", "sign_in_throttle")
    op.drop_table("sign_in_throttle")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("session_stamp")
