"""Privacy: an attendance row's name can be erased (a member's data deleted on
request), lookups by person and by age for export and retention, and the audit
log made pseudonymous.

Earlier versions wrote a roster member's display name (roster and moderation
entries) or the email address typed into a failed login as an audit entry's
subject. The audit log must outlive a member's deletion, so it may hold
pseudonymous ids only: this migration replaces such a name by the roster id it
belongs to (or by nothing when the name is not unique in its group) and such an
email address by the therapist's id (or nothing when no account has it). The
append-only triggers are lifted for this one statement and put back; the change
itself is written to the audit log (a count, no names).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Subjects that are names of roster members (the actions the pages and the
# session hub wrote with a name), and failed logins' typed email addresses.
_NAMED = (
    "(action IN ('add_to_roster', 'revoke_invite', 'take_off_roster') "
    "OR action LIKE 'session:%') AND subject IS NOT NULL "
    "AND subject NOT IN (SELECT id FROM roster) "
    "AND subject NOT IN (SELECT id FROM therapists)"
)
# The roster entry of that name in the entry's group, when exactly one has it;
# else a therapist of the group with that name (moderation of a therapist).
_PERSON_ID = (
    "COALESCE("
    "(SELECT CASE WHEN count(*) = 1 THEN min(r.id) END FROM roster r "
    "WHERE r.group_id = audit_log.group_id AND r.display_name = audit_log.subject), "
    "(SELECT CASE WHEN count(*) = 1 THEN min(t.id) END FROM therapists t JOIN groups g "
    "ON t.id IN (g.lead_therapist_id, g.cotherapist_id) "
    "WHERE g.id = audit_log.group_id AND t.display_name = audit_log.subject))"
)
_EMAILS = (
    "action = 'login_failed' AND subject IS NOT NULL AND subject NOT IN (SELECT id FROM therapists)"
)
_THERAPIST_ID = "(SELECT t.id FROM therapists t WHERE t.email = lower(audit_log.subject))"


def upgrade() -> None:
    with op.batch_alter_table("attendance") as batch:
        batch.alter_column("display_name", existing_type=sa.String(80), nullable=True)
    op.create_index("ix_attendance_person_id", "attendance", ["person_id"])
    op.create_index("ix_attendance_at", "attendance", ["at"])
    op.create_index("ix_rule_acceptances_accepted_at", "rule_acceptances", ["accepted_at"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    _pseudonymise_audit_log()


def _pseudonymise_audit_log() -> None:
    bind = op.get_bind()
    count = bind.execute(
        sa.text(f"SELECT count(*) FROM audit_log WHERE ({_NAMED}) OR ({_EMAILS})")
    ).scalar_one()
    if not count:
        return
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER audit_log_no_update")
    else:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    op.execute(f"UPDATE audit_log SET subject = {_PERSON_ID} WHERE {_NAMED}")
    op.execute(f"UPDATE audit_log SET subject = {_THERAPIST_ID} WHERE {_EMAILS}")
    if sqlite:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
    else:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    log = sa.table(
        "audit_log",
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor_id", sa.String),
        sa.column("actor_kind", sa.String),
        sa.column("action", sa.String),
        sa.column("detail", sa.Text),
    )
    bind.execute(
        sa.insert(log).values(
            at=_now(sqlite),
            actor_id="migration-0003",
            actor_kind="system",
            action="pseudonymise_audit",
            detail=f"{count} entries: names and typed email addresses replaced by ids",
        )
    )


def _now(sqlite: bool) -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if sqlite else now


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_index("ix_rule_acceptances_accepted_at", "rule_acceptances")
    op.drop_index("ix_attendance_at", "attendance")
    op.drop_index("ix_attendance_person_id", "attendance")
    op.execute("UPDATE attendance SET display_name = '-' WHERE display_name IS NULL")
    with op.batch_alter_table("attendance") as batch:
        batch.alter_column("display_name", existing_type=sa.String(80), nullable=False)
