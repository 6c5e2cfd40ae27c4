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
    # -- link results (§2) --
    # -- archive (§3) --
    # -- feeds (§4) --
    # -- reports (§5) --
    pass


def downgrade() -> None:
    # -- drop reports (§5) --
    # -- drop feeds (§4) --
    # -- drop archive (§3) --
    # -- drop link results (§2) --
    # -- drop fingerprints (§1) --
    pass
