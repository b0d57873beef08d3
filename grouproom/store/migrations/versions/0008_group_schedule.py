"""When a group meets, as free text its lead therapist writes ("Tuesdays
19:00-20:30"): members see it on the way in and in their invitations.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("schedule", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("schedule")
