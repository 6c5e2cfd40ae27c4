"""A bounded site cache that keeps no click times: ``sites.checks``, ``sites.used_on``, checks to the second.

``checks`` counts the lookups saved for a host: a worker tells another worker's fresh answer from the one
it saw by this number (it compared check times, which are now kept to the second only, so two checks in
one second looked alike). ``used_on`` is the last day a notice used the site; the table is trimmed least
recently used first, and indexed for it. Existing rows count as used on the day of the upgrade and as
checked once when they have been; their check times are rounded up to the second, as new ones are.
``sites.host`` holds a site key, a host name of up to 253 characters and a port that is not the default
(``:8443``): 259 characters, where 253 refused every lookup of such a host on PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("checks", sa.Integer, nullable=False, server_default="0"))
    op.add_column("sites", sa.Column("used_on", sa.Date, nullable=True))
    sites = sa.table(
        "sites",
        sa.column("host", sa.String),
        sa.column("checked_at", sa.DateTime(timezone=True)),
        sa.column("checks", sa.Integer),
        sa.column("used_on", sa.Date),
    )
    connection = op.get_bind()
    connection.execute(sa.update(sites).values(used_on=datetime.now(UTC).date()))
    checked = connection.execute(
        sa.select(sites.c.host, sites.c.checked_at).where(sites.c.checked_at.is_not(None))
    ).all()
    if checked:
        connection.execute(
            sa.update(sites)
            .where(sites.c.host == sa.bindparam("key"))
            .values(checked_at=sa.bindparam("stamp"), checks=1),
            [{"key": host, "stamp": _to_the_second(stamp)} for host, stamp in checked],
        )
    with op.batch_alter_table("sites") as batch:
        batch.alter_column("used_on", existing_type=sa.Date, nullable=False)
        batch.alter_column(
            "host", existing_type=sa.String(253), type_=sa.String(259), existing_nullable=False
        )
    op.create_index("ix_sites_used_on", "sites", ["used_on", "checked_at"])


def _to_the_second(stamp: datetime) -> datetime:
    return stamp.replace(microsecond=0) + timedelta(seconds=1) if stamp.microsecond else stamp


def downgrade() -> None:
    op.drop_index("ix_sites_used_on", "sites")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("used_on")
        batch.drop_column("checks")
        batch.alter_column(
            "host", existing_type=sa.String(259), type_=sa.String(253), existing_nullable=False
        )
