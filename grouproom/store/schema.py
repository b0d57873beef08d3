"""The tables, in SQLAlchemy Core. Alembic migrations create and change them
(grouproom/store/migrations); this module is what the code reads and writes by.

Times are UTC datetimes. Ids are random URL-safe strings, except the append-only
logs, which number their rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ID = 32  # length of id columns
SCHEDULE_LENGTH = 200  # a group's "when we meet", one line

therapists = Table(
    "therapists",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("display_name", String(80), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Two-step login (grouproom/accounts/two_factor.py): the authenticator app's
    # secret, sealed with the server's key; one being set up and not yet confirmed;
    # the last time step whose code was used (a code is never accepted twice).
    Column("two_factor_secret", String(200), nullable=True),
    Column("two_factor_pending", String(200), nullable=True),
    Column("two_factor_last_step", BigInteger(), nullable=True),
    # Set when an operator disabled the account (a therapist who left): no login.
    Column("disabled_at", UtcDateTime(), nullable=True),
)

# Single-use recovery codes for a therapist's two-step login: SHA-256 hashes only.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("therapist_id", String(ID), ForeignKey("therapists.id"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("used_at", UtcDateTime(), nullable=True),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("language", String(2), nullable=False),
    Column("lead_therapist_id", String(ID), ForeignKey("therapists.id"), nullable=False),
    Column("cotherapist_id", String(ID), ForeignKey("therapists.id"), nullable=True),
    Column("auto_admit", Boolean, nullable=False),
    Column("round_mutes_others", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("schedule", String(SCHEDULE_LENGTH), nullable=False, server_default=""),
    CheckConstraint("language IN ('nl', 'en')", name="language"),
)

roster = Table(
    "roster",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("group_id", String(ID), ForeignKey("groups.id"), nullable=False, index=True),
    Column("display_name", String(80), nullable=False),
    Column("role", String(16), nullable=False),
    # Raised to revoke the member's invite link: tokens carry the serial they were
    # made with, and only the current one is accepted.
    Column("invite_serial", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("archived_at", UtcDateTime(), nullable=True),
    CheckConstraint("role IN ('member', 'observer')", name="role"),
)

ground_rules = Table(
    "ground_rules",
    metadata,
    Column("group_id", String(ID), ForeignKey("groups.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("chat_enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(ID), ForeignKey("therapists.id"), nullable=False),
)

plan_phases = Table(
    "plan_phases",
    metadata,
    Column("group_id", String(ID), ForeignKey("groups.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(60), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("minutes", Integer, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("group_id", String(ID), ForeignKey("groups.id"), nullable=False, index=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("opened_by", String(ID), ForeignKey("therapists.id"), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("closed_by", String(ID), ForeignKey("therapists.id"), nullable=True),
    Column("rules_version", Integer, nullable=False),
    # What a resumed session needs after a server restart.
    Column("phase_index", Integer, nullable=True),
    Column("phase_started_at", UtcDateTime(), nullable=True),
    Column("locked", Boolean, nullable=False),
    # JSON: moderation per person, everyone muted, hands raised, the round.
    Column("live_state", Text, nullable=True),
)
# A group has at most one open session.
Index(
    "one_open_session_per_group",
    sessions.c.group_id,
    unique=True,
    sqlite_where=sessions.c.closed_at.is_(None),
    postgresql_where=sessions.c.closed_at.is_(None),
)

rule_acceptances = Table(
    "rule_acceptances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(ID), ForeignKey("roster.id"), nullable=False, index=True),
    Column("group_id", String(ID), ForeignKey("groups.id"), nullable=False),
    Column("rules_version", Integer, nullable=False),
    Column("session_id", String(ID), ForeignKey("sessions.id"), nullable=False),
    Column("accepted_at", UtcDateTime(), nullable=False, index=True),
    UniqueConstraint("member_id", "session_id", "rules_version", name="once_per_session"),
)

attendance = Table(
    "attendance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(ID), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("person_id", String(ID), nullable=False, index=True),
    # NULL once the member's data was deleted on request (the row stays, anonymous).
    Column("display_name", String(80), nullable=True),
    Column("role", String(16), nullable=False),
    Column("joined", Boolean, nullable=False),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("cause", String(32), nullable=True),
)

# Append-only (NEN 7513): the migration adds triggers that refuse UPDATE and DELETE.
# It outlives retention and a member's deletion, so it holds ids, never names or
# free text about people: `subject` is a roster, therapist, group or session id.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor_id", String(ID), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(120), nullable=True, index=True),
    Column("group_id", String(ID), nullable=True, index=True),
    Column("detail", Text, nullable=False),
)

# Failed logins (and wrong codes) of the last minutes, so that the login throttle
# outlasts a restart: per account and per client address, each as an HMAC under the
# server's secret key (no email address or IP address in the table).
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("key_hash", String(64), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
)

# A therapist's login: the cookie holds a random token, the table only its SHA-256.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("therapist_id", String(ID), ForeignKey("therapists.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
