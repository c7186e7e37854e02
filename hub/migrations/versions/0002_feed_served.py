"""edge_sync_state.feed_served: the order-feed cursor the hub last handed each edge, so an
edge that is further along than this database knows (a restored hub) starts over.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("edge_sync_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_served", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("edge_sync_state", schema=None) as batch_op:
        batch_op.drop_column("feed_served")
