"""Therapy groups: therapists, groups, roster, ground rules, plans, sessions,
rule acceptances, attendance and the append-only audit log.

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

ID = 32


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", references: str | None = None, nullable: bool = False) -> sa.Column[str]:
    if references is None:
        return sa.Column(name, sa.String(ID), primary_key=True)
    return sa.Column(name, sa.String(ID), sa.ForeignKey(references), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "therapists",
        _id(),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "groups",
        _id(),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        _id("lead_therapist_id", "therapists.id"),
        _id("cotherapist_id", "therapists.id", nullable=True),
        sa.Column("auto_admit", sa.Boolean, nullable=False),
        sa.Column("round_mutes_others", sa.Boolean, nullable=False),
        _when("created_at"),
        sa.CheckConstraint("language IN ('nl', 'en')", name="language"),
    )
    op.create_table(
        "roster",
        _id(),
        _id("group_id", "groups.id"),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("invite_serial", sa.Integer, nullable=False),
        _when("created_at"),
        _when("archived_at", nullable=True),
        sa.CheckConstraint("role IN ('member', 'observer')", name="role"),
    )
    op.create_index("ix_roster_group_id", "roster", ["group_id"])
    op.create_table(
        "ground_rules",
        sa.Column("group_id", sa.String(ID), sa.ForeignKey("groups.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("chat_enabled", sa.Boolean, nullable=False),
        _when("created_at"),
        _id("created_by", "therapists.id"),
    )
    op.create_table(
        "plan_phases",
        sa.Column("group_id", sa.String(ID), sa.ForeignKey("groups.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
    )
    op.create_table(
        "sessions",
        _id(),
        _id("group_id", "groups.id"),
        _when("opened_at"),
        _id("opened_by", "therapists.id"),
        _when("closed_at", nullable=True),
        _id("closed_by", "therapists.id", nullable=True),
        sa.Column("rules_version", sa.Integer, nullable=False),
        sa.Column("phase_index", sa.Integer, nullable=True),
        _when("phase_started_at", nullable=True),
        sa.Column("locked", sa.Boolean, nullable=False),
    )
    op.create_index("ix_sessions_group_id", "sessions", ["group_id"])
    op.create_index(
        "one_open_session_per_group",
        "sessions",
        ["group_id"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_table(
        "rule_acceptances",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _id("member_id", "roster.id"),
        _id("group_id", "groups.id"),
        sa.Column("rules_version", sa.Integer, nullable=False),
        _id("session_id", "sessions.id"),
        _when("accepted_at"),
        sa.UniqueConstraint("member_id", "session_id", "rules_version", name="once_per_session"),
    )
    op.create_index("ix_rule_acceptances_member_id", "rule_acceptances", ["member_id"])
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _id("session_id", "sessions.id"),
        sa.Column("person_id", sa.String(ID), nullable=False),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("joined", sa.Boolean, nullable=False),
        _when("at"),
        sa.Column("cause", sa.String(32), nullable=True),
    )
    op.create_index("ix_attendance_session_id", "attendance", ["session_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _when("at"),
        sa.Column("actor_id", sa.String(ID), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(120), nullable=True),
        sa.Column("group_id", sa.String(ID), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_group_id", "audit_log", ["group_id"])
    _make_audit_log_append_only()


def _make_audit_log_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{statement.lower()} BEFORE {statement} "
                "ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    for table in (
        "audit_log",
        "attendance",
        "rule_acceptances",
        "sessions",
        "plan_phases",
        "ground_rules",
        "roster",
        "groups",
        "therapists",
    ):
        op.drop_table(table)
