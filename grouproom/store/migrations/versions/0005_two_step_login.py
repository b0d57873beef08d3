"""Two-step login for therapists: the authenticator app's sealed secret, the last
time step used, and single-use recovery codes (hashes only).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("therapists") as batch:
        batch.add_column(sa.Column("two_factor_secret", sa.String(200), nullable=True))
        batch.add_column(sa.Column("two_factor_pending", sa.String(200), nullable=True))
        batch.add_column(sa.Column("two_factor_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column(
            "therapist_id",
            sa.String(32),
            sa.ForeignKey("therapists.id", name="fk_recovery_codes_therapist_id_therapists"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("therapist_id", "code_hash", name="pk_recovery_codes"),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    with op.batch_alter_table("therapists") as batch:
        batch.drop_column("two_factor_last_step")
        batch.drop_column("two_factor_pending")
        batch.drop_column("two_factor_secret")
