"""What the store hands out: plain, immutable records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from grouproom.rooms.roles import Role


@dataclass(frozen=True, slots=True)
class Therapist:
    id: str
    email: str
    display_name: str
    password_hash: str
    # Logs in with a code from an authenticator app after the password.
    two_factor: bool = False
    # Disabled by an operator: cannot log in (kept for the records).
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class TwoFactorState:
    """A therapist's two-step login as stored: the sealed secrets
    (grouproom/accounts/two_factor.py), the last time step used and how many
    recovery codes are left."""

    secret: str | None
    pending: str | None
    last_step: int | None
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    language: str
    lead_therapist_id: str
    cotherapist_id: str | None
    auto_admit: bool
    round_mutes_others: bool
    # When the group meets, as its lead wrote it ("Tuesdays 19:00-20:30"): shown to
    # members on the way in and in their invitations; "" when not given.
    schedule: str = ""

    def therapist_role(self, therapist_id: str) -> Role | None:
        if therapist_id == self.lead_therapist_id:
            return Role.LEAD_THERAPIST
        if therapist_id == self.cotherapist_id:
            return Role.COTHERAPIST
        return None


@dataclass(frozen=True, slots=True)
class RosterEntry:
    id: str
    group_id: str
    display_name: str
    role: Role  # MEMBER or OBSERVER
    invite_serial: int


@dataclass(frozen=True, slots=True)
class RulesVersion:
    version: int
    text: str
    chat_enabled: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    group_id: str
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    rules_version: int
    phase_index: int | None
    phase_started_at: datetime | None
    locked: bool
    live_state: str | None = None  # JSON, see TherapySession.live_state

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class AttendanceEntry:
    session_id: str
    person_id: str
    display_name: str | None  # None: erased when the member's data was deleted
    role: Role
    joined: bool
    at: datetime
    cause: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor_id: str
    actor_kind: str  # "therapist", "member", "system"
    action: str
    subject: str | None
    group_id: str | None
    detail: str = ""
    id: int | None = None  # given by the store
