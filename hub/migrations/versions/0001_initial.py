"""Initial schema.

PROVISIONAL while the first release's models settle: creates the tables from the
metadata. Replaced by explicit operations before the release.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

import hub.models.all  # noqa: F401
from hub.migrations.triggers import create_audit_guard, drop_audit_guard
from hub.models.base import HubModel

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    HubModel.metadata.create_all(op.get_bind())
    create_audit_guard()


def downgrade() -> None:
    drop_audit_guard()
    HubModel.metadata.drop_all(op.get_bind())
