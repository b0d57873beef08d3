"""The store: therapy groups and their records in SQLite (default) or PostgreSQL.

One `Store` per process, over an SQLAlchemy async engine. Every method is one
transaction. The store checks integrity (unknown ids, one open session per group)
and leaves authorisation and the audit trail to its callers, which know who acts.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, Connection, event, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from grouproom.rooms.ground_rules import GroundRules
from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import Phase, PhaseKind, SessionPlan, default_plan
from grouproom.settings import SQLITE_URL_PREFIX
from grouproom.store import schema
from grouproom.store.records import (
    AttendanceEntry,
    AuditEntry,
    Group,
    RosterEntry,
    RulesVersion,
    SessionRecord,
    Therapist,
    TwoFactorState,
)

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")
LANGUAGES = ("nl", "en")


class StoreError(ValueError):
    """A request the store refuses: an unknown id, a duplicate, a broken rule."""


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    """What one retention run deleted."""

    attendance: int
    acceptances: int

    @property
    def total(self) -> int:
        return self.attendance + self.acceptances


@dataclass(frozen=True, slots=True)
class ErasureCounts:
    """What deleting one member's data changed."""

    group_id: str
    acceptances_deleted: int
    attendance_anonymised: int


class LoginState(Enum):
    VALID = "valid"
    LAPSED = "lapsed"  # its time is over, or it was idle too long
    ENDED = "ended"  # logged out, the account's logins ended, or the account disabled


# How long a lapsed login is kept before it is removed (see Store.login_state).
LAPSED_LOGINS_KEPT = timedelta(days=1)


def new_id() -> str:
    """24 characters, 144 bits (a few fewer: never beginning with "-", which a command
    line would take for an option)."""
    while True:
        candidate = secrets.token_urlsafe(18)
        if not candidate.startswith("-"):
            return candidate


def sqlite_url(path: Path) -> str:
    return f"{SQLITE_URL_PREFIX}{path}"


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date (Alembic, to the newest revision)."""
        engine = create_async_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_upgrade)
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    # -- therapists ----------------------------------------------------------------

    async def add_therapist(
        self, email: str, display_name: str, password_hash: str, now: datetime
    ) -> Therapist:
        therapist = Therapist(new_id(), email.strip().lower(), display_name, password_hash)
        async with self.engine.begin() as connection:
            if await self._therapist_by_email(connection, therapist.email) is not None:
                raise StoreError(f"a therapist with email {therapist.email} exists")
            await connection.execute(
                insert(schema.therapists).values(
                    id=therapist.id,
                    email=therapist.email,
                    display_name=display_name,
                    password_hash=password_hash,
                    created_at=now,
                )
            )
        return therapist

    async def set_therapist_disabled(self, therapist_id: str, at: datetime | None) -> None:
        """Disable an account (`at`: since when) or enable it again (None)."""
        async with self.engine.begin() as connection:
            await self._update_therapist(connection, therapist_id, disabled_at=at)

    async def therapists(self) -> list[Therapist]:
        """Every therapist account, by email address."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(schema.therapists).order_by(schema.therapists.c.email)
            )
            return [_therapist(row) for row in rows]

    async def therapist_count(self) -> int:
        async with self.engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(schema.therapists))
        return int(count or 0)

    async def therapist_by_email(self, email: str) -> Therapist | None:
        async with self.engine.connect() as connection:
            return await self._therapist_by_email(connection, email.strip().lower())

    async def therapist(self, therapist_id: str) -> Therapist | None:
        therapists = schema.therapists
        return await self._first(
            select(therapists).where(therapists.c.id == therapist_id), _therapist
        )

    async def set_password_hash(self, therapist_id: str, password_hash: str) -> None:
        async with self.engine.begin() as connection:
            await self._update_therapist(connection, therapist_id, password_hash=password_hash)

    @staticmethod
    async def _therapist_by_email(connection: AsyncConnection, email: str) -> Therapist | None:
        row = (
            await connection.execute(
                select(schema.therapists).where(schema.therapists.c.email == email)
            )
        ).first()
        return None if row is None else _therapist(row)

    # -- login sessions --------------------------------------------------------------

    async def create_web_session(
        self, therapist_id: str, now: datetime, lifetime: timedelta
    ) -> str:
        """A new login; returns the token for the cookie (only its hash is stored).
        Logins lapsed more than LAPSED_LOGINS_KEPT ago are removed on the way."""
        token = secrets.token_urlsafe(32)
        async with self.engine.begin() as connection:
            await connection.execute(
                schema.web_sessions.delete().where(
                    schema.web_sessions.c.expires_at <= now - LAPSED_LOGINS_KEPT
                )
            )
            await self._insert(
                connection,
                insert(schema.web_sessions).values(
                    token_hash=_token_hash(token),
                    therapist_id=therapist_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                ),
                "unknown therapist",
            )
        return token

    async def web_session(
        self, token: str, now: datetime, idle_limit: timedelta, note_use: bool = True
    ) -> Therapist | None:
        """The therapist logged in with this token, if the login is still valid;
        it lapses after `idle_limit` without use, and at its expiry."""
        state, therapist = await self.login_state(token, now, idle_limit, note_use)
        return therapist if state is LoginState.VALID else None

    async def login_state(
        self, token: str, now: datetime, idle_limit: timedelta, note_use: bool = True
    ) -> tuple[LoginState, Therapist | None]:
        """How a login stands, and its therapist. A valid login's use is noted (so that
        it does not idle out) unless `note_use` is false (a page's script asking by
        itself, not the therapist); one found idle has its expiry set to now, so that
        it stays lapsed. A lapsed login is kept a while (create_web_session) so that a
        connection opened with it can tell a lapse from an end."""
        sessions, therapists = schema.web_sessions, schema.therapists
        mine = sessions.c.token_hash == _token_hash(token)
        async with self.engine.begin() as connection:
            # The login's times and its therapist's row, in one query.
            row = (
                await connection.execute(
                    select(sessions.c.expires_at, sessions.c.last_seen_at, therapists)
                    .join(therapists, therapists.c.id == sessions.c.therapist_id)
                    .where(mine)
                )
            ).first()
            if row is None or row.disabled_at is not None:
                return LoginState.ENDED, None
            if row.expires_at <= now:
                state = LoginState.LAPSED
            elif row.last_seen_at + idle_limit <= now:
                state = LoginState.LAPSED
                await connection.execute(update(sessions).where(mine).values(expires_at=now))
            else:
                state = LoginState.VALID
                if note_use:
                    await connection.execute(update(sessions).where(mine).values(last_seen_at=now))
        return state, _therapist(row)

    async def end_web_session(self, token: str) -> None:
        sessions = schema.web_sessions
        async with self.engine.begin() as connection:
            await connection.execute(
                sessions.delete().where(sessions.c.token_hash == _token_hash(token))
            )

    async def end_web_sessions_of(self, therapist_id: str, keep_token: str | None = None) -> None:
        """Log the therapist out everywhere (after a password change), or everywhere
        but the login with `keep_token` (after turning two-step login on)."""
        sessions = schema.web_sessions
        condition = sessions.c.therapist_id == therapist_id
        if keep_token is not None:
            condition = condition & (sessions.c.token_hash != _token_hash(keep_token))
        async with self.engine.begin() as connection:
            await connection.execute(sessions.delete().where(condition))

    # -- the login throttle's failures -------------------------------------------------

    async def record_login_failure(
        self, keys: Sequence[tuple[str, str]], at: datetime, forget_before: datetime
    ) -> None:
        """A failed login under each (kind, key hash); failures from before
        `forget_before` are deleted meanwhile."""
        failures = schema.login_failures
        async with self.engine.begin() as connection:
            await connection.execute(failures.delete().where(failures.c.at < forget_before))
            await connection.execute(
                insert(failures), [{"kind": k, "key_hash": h, "at": at} for k, h in keys]
            )

    async def login_failures_since(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(kind, key hash, when) of each failure from `since` on, oldest first; older
        ones are deleted."""
        failures = schema.login_failures
        async with self.engine.begin() as connection:
            await connection.execute(failures.delete().where(failures.c.at < since))
            rows = await connection.execute(
                select(failures.c.kind, failures.c.key_hash, failures.c.at)
                .where(failures.c.at >= since)
                .order_by(failures.c.at, failures.c.id)
            )
            return [(row.kind, row.key_hash, row.at) for row in rows]

    async def clear_login_failures(self, kind: str, key_hash: str) -> None:
        failures = schema.login_failures
        async with self.engine.begin() as connection:
            await connection.execute(
                failures.delete().where(failures.c.kind == kind, failures.c.key_hash == key_hash)
            )

    # -- two-step login ----------------------------------------------------------------

    async def two_factor_state(self, therapist_id: str) -> TwoFactorState:
        therapists, codes = schema.therapists, schema.recovery_codes
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        therapists.c.two_factor_secret,
                        therapists.c.two_factor_pending,
                        therapists.c.two_factor_last_step,
                    ).where(therapists.c.id == therapist_id)
                )
            ).first()
            if row is None:
                raise StoreError(f"unknown therapist {therapist_id}")
            left = await connection.scalar(
                select(func.count())
                .select_from(codes)
                .where(codes.c.therapist_id == therapist_id, codes.c.used_at.is_(None))
            )
        return TwoFactorState(
            row.two_factor_secret, row.two_factor_pending, row.two_factor_last_step, int(left or 0)
        )

    async def set_two_factor_pending(self, therapist_id: str, sealed_secret: str | None) -> None:
        """A secret being set up (shown as a QR code, not yet confirmed), or none."""
        async with self.engine.begin() as connection:
            await self._update_therapist(connection, therapist_id, two_factor_pending=sealed_secret)

    async def enable_two_factor(
        self, therapist_id: str, sealed_secret: str, used_step: int, code_hashes: Sequence[str]
    ) -> None:
        """Two-step login on, with the confirmed secret (its code of `used_step` was
        just typed) and a new set of recovery codes."""
        async with self.engine.begin() as connection:
            await self._update_therapist(
                connection,
                therapist_id,
                two_factor_secret=sealed_secret,
                two_factor_pending=None,
                two_factor_last_step=used_step,
            )
            await self._store_recovery_codes(connection, therapist_id, code_hashes)

    async def disable_two_factor(self, therapist_id: str) -> None:
        async with self.engine.begin() as connection:
            await self._update_therapist(
                connection,
                therapist_id,
                two_factor_secret=None,
                two_factor_pending=None,
                two_factor_last_step=None,
            )
            await self._store_recovery_codes(connection, therapist_id, ())

    async def replace_recovery_codes(self, therapist_id: str, code_hashes: Sequence[str]) -> None:
        async with self.engine.begin() as connection:
            await self._store_recovery_codes(connection, therapist_id, code_hashes)

    @staticmethod
    async def _store_recovery_codes(
        connection: AsyncConnection, therapist_id: str, code_hashes: Sequence[str]
    ) -> None:
        codes = schema.recovery_codes
        await connection.execute(codes.delete().where(codes.c.therapist_id == therapist_id))
        if code_hashes:
            await connection.execute(
                insert(codes),
                [{"therapist_id": therapist_id, "code_hash": h} for h in code_hashes],
            )

    async def use_two_factor_step(self, therapist_id: str, step: int) -> bool:
        """Records that the code of `step` was used; False when that step or a later
        one was used already (a code replayed), so the caller refuses it."""
        therapists = schema.therapists
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(therapists)
                .where(
                    therapists.c.id == therapist_id,
                    therapists.c.two_factor_secret.is_not(None),
                    (therapists.c.two_factor_last_step.is_(None))
                    | (therapists.c.two_factor_last_step < step),
                )
                .values(two_factor_last_step=step)
            )
        return result.rowcount == 1

    async def use_recovery_code(self, therapist_id: str, code_hash: str, now: datetime) -> bool:
        """Marks an unused recovery code used; False when there is no such code."""
        codes = schema.recovery_codes
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(codes)
                .where(
                    codes.c.therapist_id == therapist_id,
                    codes.c.code_hash == code_hash,
                    codes.c.used_at.is_(None),
                )
                .values(used_at=now)
            )
        return result.rowcount == 1

    # -- groups ----------------------------------------------------------------------

    async def create_group(
        self,
        name: str,
        language: str,
        lead_therapist_id: str,
        rules_text: str,
        now: datetime,
        cotherapist_id: str | None = None,
    ) -> Group:
        """A new group with version 1 of its ground rules and the default plan."""
        if language not in LANGUAGES:
            raise StoreError("a group's language is nl or en")
        name = name.strip()
        if not 1 <= len(name) <= 120:
            raise StoreError("a group name has 1 to 120 characters")
        if cotherapist_id == lead_therapist_id:
            raise StoreError("the cotherapist is someone other than the lead therapist")
        rules = GroundRules(1, rules_text)
        group = Group(new_id(), name, language, lead_therapist_id, cotherapist_id, False, True)
        async with self.engine.begin() as connection:
            await self._insert(
                connection,
                insert(schema.groups).values(
                    id=group.id,
                    name=group.name,
                    language=language,
                    lead_therapist_id=lead_therapist_id,
                    cotherapist_id=cotherapist_id,
                    auto_admit=group.auto_admit,
                    round_mutes_others=group.round_mutes_others,
                    created_at=now,
                ),
                "unknown therapist",
            )
            await self._insert_rules(connection, group.id, rules, lead_therapist_id, now)
            await self._replace_plan(connection, group.id, default_plan(language))
        return group

    async def group(self, group_id: str) -> Group | None:
        return await self._first(
            select(schema.groups).where(schema.groups.c.id == group_id), _group
        )

    async def groups_of(self, therapist_id: str) -> list[Group]:
        """The groups the therapist leads or co-leads, by name."""
        groups = schema.groups
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(groups)
                .where(
                    (groups.c.lead_therapist_id == therapist_id)
                    | (groups.c.cotherapist_id == therapist_id)
                )
                .order_by(groups.c.name, groups.c.id)
            )
            return [_group(row) for row in rows]

    async def all_groups(self) -> list[Group]:
        """Every group, by name (for an operator)."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(schema.groups).order_by(schema.groups.c.name, schema.groups.c.id)
            )
            return [_group(row) for row in rows]

    async def hand_over_group(self, group_id: str, lead_therapist_id: str) -> Group:
        """Another lead therapist for the group (the one before left); if the new one
        was its cotherapist, the group has none until the new lead chooses one."""
        groups = schema.groups
        async with self.engine.begin() as connection:
            current = await self._group_or_fail(connection, group_id)
            cotherapist_id = (
                None if current.cotherapist_id == lead_therapist_id else current.cotherapist_id
            )
            try:
                await connection.execute(
                    update(groups)
                    .where(groups.c.id == group_id)
                    .values(lead_therapist_id=lead_therapist_id, cotherapist_id=cotherapist_id)
                )
            except IntegrityError as exc:
                raise StoreError(f"unknown therapist {lead_therapist_id}") from exc
            row = (await connection.execute(select(groups).where(groups.c.id == group_id))).one()
        return _group(row)

    async def update_group(
        self,
        group_id: str,
        *,
        cotherapist_id: str | None,
        auto_admit: bool,
        round_mutes_others: bool,
        schedule: str | None = None,
    ) -> Group:
        """The group's settings; `schedule` None leaves when it meets as it was."""
        values: dict[str, object] = {
            "cotherapist_id": cotherapist_id,
            "auto_admit": auto_admit,
            "round_mutes_others": round_mutes_others,
        }
        if schedule is not None:
            values["schedule"] = checked_schedule(schedule)
        async with self.engine.begin() as connection:
            current = await self._group_or_fail(connection, group_id)
            if cotherapist_id == current.lead_therapist_id:
                raise StoreError("the cotherapist is someone other than the lead therapist")
            try:
                await connection.execute(
                    update(schema.groups).where(schema.groups.c.id == group_id).values(**values)
                )
            except IntegrityError:
                raise StoreError("unknown therapist") from None
        updated = await self.group(group_id)
        assert updated is not None
        return updated

    async def _group_or_fail(self, connection: AsyncConnection, group_id: str) -> Group:
        row = (
            await connection.execute(select(schema.groups).where(schema.groups.c.id == group_id))
        ).first()
        if row is None:
            raise StoreError("unknown group")
        return _group(row)

    # -- roster ----------------------------------------------------------------------

    async def add_to_roster(
        self, group_id: str, display_name: str, role: Role, now: datetime
    ) -> RosterEntry:
        if role not in (Role.MEMBER, Role.OBSERVER):
            raise StoreError("the roster holds members and observers")
        display_name = display_name.strip()
        if not 1 <= len(display_name) <= 80:
            raise StoreError("a display name has 1 to 80 characters")
        entry = RosterEntry(new_id(), group_id, display_name, role, 1)
        async with self.engine.begin() as connection:
            await self._insert(
                connection,
                insert(schema.roster).values(
                    id=entry.id,
                    group_id=group_id,
                    display_name=display_name,
                    role=str(role),
                    invite_serial=entry.invite_serial,
                    created_at=now,
                ),
                "unknown group",
            )
        return entry

    async def roster_of(self, group_id: str, include_archived: bool = False) -> list[RosterEntry]:
        """The current roster (archived entries left out unless asked for), in the
        order added."""
        roster = schema.roster
        query = select(roster).where(roster.c.group_id == group_id)
        if not include_archived:
            query = query.where(roster.c.archived_at.is_(None))
        async with self.engine.connect() as connection:
            rows = await connection.execute(query.order_by(roster.c.created_at, roster.c.id))
            return [_roster_entry(row) for row in rows]

    async def archived_of(self, group_id: str) -> list[RosterEntry]:
        """The people taken off the group's roster whose data is still kept."""
        roster = schema.roster
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(roster)
                .where(roster.c.group_id == group_id, roster.c.archived_at.is_not(None))
                .order_by(roster.c.created_at, roster.c.id)
            )
            return [_roster_entry(row) for row in rows]

    async def roster_entry(
        self, entry_id: str, include_archived: bool = False
    ) -> RosterEntry | None:
        roster = schema.roster
        query = select(roster).where(roster.c.id == entry_id)
        if not include_archived:
            query = query.where(roster.c.archived_at.is_(None))
        return await self._first(query, _roster_entry)

    async def revoke_invite(self, entry_id: str) -> int:
        """Invalidate the member's invite links; returns the new serial."""
        roster = schema.roster
        async with self.engine.begin() as connection:
            await self._must_update(
                connection,
                update(roster)
                .where(roster.c.id == entry_id)
                .values(invite_serial=roster.c.invite_serial + 1),
                "roster entry",
            )
            serial = await connection.scalar(
                select(roster.c.invite_serial).where(roster.c.id == entry_id)
            )
        assert isinstance(serial, int)
        return serial

    async def archive_roster_entry(self, entry_id: str, now: datetime) -> None:
        """Take someone off the roster; their records stay."""
        async with self.engine.begin() as connection:
            await self._must_update(
                connection,
                update(schema.roster)
                .where(schema.roster.c.id == entry_id, schema.roster.c.archived_at.is_(None))
                .values(archived_at=now, invite_serial=schema.roster.c.invite_serial + 1),
                "roster entry",
            )

    # -- ground rules and plans ------------------------------------------------------

    async def current_rules(self, group_id: str) -> GroundRules:
        history = await self.rules_history(group_id)
        if not history:
            raise StoreError("unknown group")
        newest = history[0]
        return GroundRules(newest.version, newest.text, newest.chat_enabled)

    async def rules_history(self, group_id: str) -> list[RulesVersion]:
        """Every version, newest first."""
        rules = schema.ground_rules
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(rules).where(rules.c.group_id == group_id).order_by(rules.c.version.desc())
            )
            return [
                RulesVersion(
                    row.version, row.text, row.chat_enabled, row.created_at, row.created_by
                )
                for row in rows
            ]

    async def revise_rules(
        self, group_id: str, text: str, chat_enabled: bool, therapist_id: str, now: datetime
    ) -> GroundRules:
        """Store a new version; the old ones stay."""
        rules = schema.ground_rules
        async with self.engine.begin() as connection:
            newest = await connection.scalar(
                select(func.max(rules.c.version)).where(rules.c.group_id == group_id)
            )
            if newest is None:
                raise StoreError("unknown group")
            revised = GroundRules(int(newest) + 1, text, chat_enabled)
            await self._insert_rules(connection, group_id, revised, therapist_id, now)
        return revised

    async def _insert_rules(
        self,
        connection: AsyncConnection,
        group_id: str,
        rules: GroundRules,
        therapist_id: str,
        now: datetime,
    ) -> None:
        await self._insert(
            connection,
            insert(schema.ground_rules).values(
                group_id=group_id,
                version=rules.version,
                text=rules.text,
                chat_enabled=rules.chat_enabled,
                created_at=now,
                created_by=therapist_id,
            ),
            "unknown group or therapist, or a version written twice",
        )

    async def plan_of(self, group_id: str) -> SessionPlan:
        phases = schema.plan_phases
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(phases).where(phases.c.group_id == group_id).order_by(phases.c.position)
                )
            ).all()
        if not rows:
            raise StoreError("unknown group")
        return SessionPlan(tuple(Phase(row.name, PhaseKind(row.kind), row.minutes) for row in rows))

    async def set_plan(self, group_id: str, plan: SessionPlan) -> None:
        async with self.engine.begin() as connection:
            await self._group_or_fail(connection, group_id)
            await self._replace_plan(connection, group_id, plan)

    @staticmethod
    async def _replace_plan(connection: AsyncConnection, group_id: str, plan: SessionPlan) -> None:
        phases = schema.plan_phases
        await connection.execute(phases.delete().where(phases.c.group_id == group_id))
        await connection.execute(
            insert(phases),
            [
                {
                    "group_id": group_id,
                    "position": position,
                    "name": phase.name,
                    "kind": str(phase.kind),
                    "minutes": phase.minutes,
                }
                for position, phase in enumerate(plan.phases)
            ],
        )

    # -- sessions --------------------------------------------------------------------

    async def open_session(self, group_id: str, therapist_id: str, now: datetime) -> SessionRecord:
        """Open a meeting of the group; a group has at most one open session."""
        rules = await self.current_rules(group_id)
        record = SessionRecord(
            new_id(), group_id, now, therapist_id, None, rules.version, None, None, False
        )
        async with self.engine.begin() as connection:
            if await self._open_session_of(connection, group_id) is not None:
                raise StoreError("this group already has an open session")
            await self._insert(
                connection,
                insert(schema.sessions).values(
                    id=record.id,
                    group_id=group_id,
                    opened_at=now,
                    opened_by=therapist_id,
                    rules_version=record.rules_version,
                    locked=False,
                ),
                "unknown group or therapist, or a session already open",
            )
        return record

    async def open_session_of(self, group_id: str) -> SessionRecord | None:
        async with self.engine.connect() as connection:
            return await self._open_session_of(connection, group_id)

    async def open_sessions(self) -> list[SessionRecord]:
        """Every session still open: after a restart, these are resumed."""
        sessions = schema.sessions
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(sessions)
                .where(sessions.c.closed_at.is_(None))
                .order_by(sessions.c.opened_at)
            )
            return [_session(row) for row in rows]

    async def session(self, session_id: str) -> SessionRecord | None:
        sessions = schema.sessions
        return await self._first(select(sessions).where(sessions.c.id == session_id), _session)

    async def sessions_of(self, group_id: str) -> list[SessionRecord]:
        """All sessions of a group, newest first."""
        sessions = schema.sessions
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(sessions)
                .where(sessions.c.group_id == group_id)
                .order_by(sessions.c.opened_at.desc())
            )
            return [_session(row) for row in rows]

    async def save_session_progress(
        self,
        session_id: str,
        *,
        phase_index: int | None,
        phase_started_at: datetime | None,
        locked: bool,
        live_state: str | None = None,
    ) -> None:
        """What a resumed session needs: the phase it was in, since when, the lock,
        and what the therapists decided (JSON)."""
        sessions = schema.sessions
        async with self.engine.begin() as connection:
            await self._must_update(
                connection,
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.closed_at.is_(None))
                .values(
                    phase_index=phase_index,
                    phase_started_at=phase_started_at,
                    locked=locked,
                    live_state=live_state,
                ),
                "open session",
            )

    async def close_session(self, session_id: str, therapist_id: str, now: datetime) -> None:
        sessions = schema.sessions
        async with self.engine.begin() as connection:
            await self._must_update(
                connection,
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.closed_at.is_(None))
                .values(closed_at=now, closed_by=therapist_id),
                "open session",
            )

    @staticmethod
    async def _open_session_of(connection: AsyncConnection, group_id: str) -> SessionRecord | None:
        sessions = schema.sessions
        row = (
            await connection.execute(
                select(sessions).where(
                    sessions.c.group_id == group_id, sessions.c.closed_at.is_(None)
                )
            )
        ).first()
        return None if row is None else _session(row)

    # -- ground-rule acceptances -----------------------------------------------------

    async def record_acceptance(
        self, member_id: str, group_id: str, rules_version: int, session_id: str, now: datetime
    ) -> None:
        """A member accepted a version of the rules in a session (stored once)."""
        acceptances = schema.rule_acceptances
        async with self.engine.begin() as connection:
            in_session = acceptances.c.session_id == session_id
            if await self._accepted(connection, member_id, in_session, rules_version):
                return
            await self._insert(
                connection,
                insert(acceptances).values(
                    member_id=member_id,
                    group_id=group_id,
                    rules_version=rules_version,
                    session_id=session_id,
                    accepted_at=now,
                ),
                "unknown member, group or session",
            )

    async def has_accepted(self, member_id: str, group_id: str, rules_version: int) -> bool:
        """Whether the member accepted this version before (in any session)."""
        in_group = schema.rule_acceptances.c.group_id == group_id
        async with self.engine.connect() as connection:
            return await self._accepted(connection, member_id, in_group, rules_version)

    @staticmethod
    async def _accepted(
        connection: AsyncConnection,
        member_id: str,
        scope: ColumnElement[bool],
        rules_version: int,
    ) -> bool:
        """Whether the member accepted this version of the rules within `scope` (a
        condition on rule_acceptances: one session, or a whole group)."""
        acceptances = schema.rule_acceptances
        count = await connection.scalar(
            select(func.count())
            .select_from(acceptances)
            .where(
                acceptances.c.member_id == member_id,
                scope,
                acceptances.c.rules_version == rules_version,
            )
        )
        return bool(count)

    # -- attendance ------------------------------------------------------------------

    async def record_attendance(self, entry: AttendanceEntry) -> None:
        """One arrival or departure. A member or observer who is not (or no longer)
        on any roster, whose data was deleted while they were in a session, is
        recorded without a name."""
        async with self.engine.begin() as connection:
            display_name = entry.display_name
            if entry.role in (Role.MEMBER, Role.OBSERVER):
                known = await connection.scalar(
                    select(func.count())
                    .select_from(schema.roster)
                    .where(schema.roster.c.id == entry.person_id)
                )
                if not known:
                    display_name = None
            await self._insert(
                connection,
                insert(schema.attendance).values(
                    session_id=entry.session_id,
                    person_id=entry.person_id,
                    display_name=display_name,
                    role=str(entry.role),
                    joined=entry.joined,
                    at=entry.at,
                    cause=entry.cause,
                ),
                "unknown session",
            )

    async def attendance_of_session(self, session_id: str) -> list[AttendanceEntry]:
        attendance = schema.attendance
        return await self._attendance(attendance.c.session_id == session_id)

    async def attendance_of_group(self, group_id: str) -> list[AttendanceEntry]:
        """Every session's attendance, oldest first."""
        sessions = schema.sessions
        ids = select(sessions.c.id).where(sessions.c.group_id == group_id)
        return await self._attendance(schema.attendance.c.session_id.in_(ids))

    async def _attendance(self, condition: Any) -> list[AttendanceEntry]:
        attendance = schema.attendance
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(attendance).where(condition).order_by(attendance.c.at, attendance.c.id)
            )
            return [
                AttendanceEntry(
                    row.session_id,
                    row.person_id,
                    row.display_name,
                    Role(row.role),
                    row.joined,
                    row.at,
                    row.cause,
                )
                for row in rows
            ]

    # -- audit log -------------------------------------------------------------------

    async def append_audit(self, entry: AuditEntry) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                insert(schema.audit_log)
                .values(
                    at=entry.at,
                    actor_id=entry.actor_id,
                    actor_kind=entry.actor_kind,
                    action=entry.action,
                    subject=entry.subject,
                    group_id=entry.group_id,
                    detail=entry.detail,
                )
                .returning(schema.audit_log.c.id)
            )
            return int(result.scalar_one())

    async def audit_of_group(
        self, group_id: str, limit: int = 200, before_id: int | None = None
    ) -> list[AuditEntry]:
        """The group's audit entries, newest first, a page at a time."""
        log = schema.audit_log
        query = select(log).where(log.c.group_id == group_id)
        if before_id is not None:
            query = query.where(log.c.id < before_id)
        async with self.engine.connect() as connection:
            rows = await connection.execute(query.order_by(log.c.id.desc()).limit(limit))
            return [_audit_entry(row) for row in rows]

    async def audit_after(
        self,
        after_id: int,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
        group_id: str | None = None,
        actor_id: str | None = None,
    ) -> list[AuditEntry]:
        """Audit entries with an id above `after_id`, oldest first, at most `limit`:
        the whole log a page at a time, for an operator's export. `since` is
        inclusive, `until` exclusive."""
        log = schema.audit_log
        query = select(log).where(log.c.id > after_id)
        if since is not None:
            query = query.where(log.c.at >= since)
        if until is not None:
            query = query.where(log.c.at < until)
        if group_id is not None:
            query = query.where(log.c.group_id == group_id)
        if actor_id is not None:
            query = query.where(log.c.actor_id == actor_id)
        async with self.engine.connect() as connection:
            rows = await connection.execute(query.order_by(log.c.id).limit(limit))
            return [_audit_entry(row) for row in rows]

    # -- retention and a member's own data (GDPR) -------------------------------------

    async def delete_expired(self, before: datetime) -> RetentionCounts:
        """Delete attendance rows and rule acceptances older than `before` (the
        retention period). The audit log is kept (append-only, ids only)."""
        async with self.engine.begin() as connection:
            attendance = await connection.execute(
                schema.attendance.delete().where(schema.attendance.c.at < before)
            )
            acceptances = await connection.execute(
                schema.rule_acceptances.delete().where(
                    schema.rule_acceptances.c.accepted_at < before
                )
            )
        return RetentionCounts(attendance.rowcount, acceptances.rowcount)

    async def member_data(self, entry_id: str) -> dict[str, Any]:
        """Everything stored about one roster entry (archived or not), as a
        JSON-ready document: the entry, its rule acceptances, its attendance and the
        audit entries about or by it."""
        roster, acceptances = schema.roster, schema.rule_acceptances
        attendance, log = schema.attendance, schema.audit_log
        async with self.engine.connect() as connection:
            entry = (
                await connection.execute(select(roster).where(roster.c.id == entry_id))
            ).first()
            if entry is None:
                raise StoreError(f"unknown roster entry {entry_id}")
            group = await self._group_or_fail(connection, entry.group_id)
            accepted = await connection.execute(
                select(acceptances)
                .where(acceptances.c.member_id == entry_id)
                .order_by(acceptances.c.accepted_at, acceptances.c.id)
            )
            present = await connection.execute(
                select(attendance)
                .where(attendance.c.person_id == entry_id)
                .order_by(attendance.c.at, attendance.c.id)
            )
            audited = await connection.execute(
                select(log)
                .where((log.c.subject == entry_id) | (log.c.actor_id == entry_id))
                .order_by(log.c.id)
            )
            return {
                "format": "grouproom member data 1",
                "roster_entry": {
                    "id": entry.id,
                    "group": {"id": group.id, "name": group.name},
                    "display_name": entry.display_name,
                    "role": entry.role,
                    "invite_serial": entry.invite_serial,
                    "created_at": _iso(entry.created_at),
                    "archived_at": _iso(entry.archived_at),
                },
                "rule_acceptances": [
                    {
                        "session_id": row.session_id,
                        "rules_version": row.rules_version,
                        "accepted_at": _iso(row.accepted_at),
                    }
                    for row in accepted
                ],
                "attendance": [
                    {
                        "session_id": row.session_id,
                        "display_name": row.display_name,
                        "role": row.role,
                        "event": "joined" if row.joined else "left",
                        "at": _iso(row.at),
                        "cause": row.cause,
                    }
                    for row in present
                ],
                "audit_log": [
                    {
                        "id": row.id,
                        "at": _iso(row.at),
                        "actor_id": row.actor_id,
                        "actor_kind": row.actor_kind,
                        "action": row.action,
                        "subject": row.subject,
                        "group_id": row.group_id,
                        "detail": row.detail,
                    }
                    for row in audited
                ],
            }

    async def erase_member(self, entry_id: str) -> ErasureCounts:
        """Delete one roster entry's personal data, in one transaction: the entry
        itself (so its invite links stop working), its rule acceptances, and its name
        in attendance rows (which stay, under the bare id). The audit log keeps the
        id only."""
        roster, acceptances = schema.roster, schema.rule_acceptances
        attendance = schema.attendance
        async with self.engine.begin() as connection:
            group_id = await connection.scalar(
                select(roster.c.group_id).where(roster.c.id == entry_id)
            )
            if group_id is None:
                raise StoreError(f"unknown roster entry {entry_id}")
            deleted = await connection.execute(
                acceptances.delete().where(acceptances.c.member_id == entry_id)
            )
            anonymised = await connection.execute(
                update(attendance)
                .where(attendance.c.person_id == entry_id)
                .values(display_name=None)
            )
            await connection.execute(roster.delete().where(roster.c.id == entry_id))
        return ErasureCounts(str(group_id), deleted.rowcount, anonymised.rowcount)

    async def account_events(
        self, therapist_id: str, actions: Sequence[str], limit: int
    ) -> list[AuditEntry]:
        """The newest audit entries by or about a therapist among `actions` (her
        logins, failed ones, password and two-step login changes), newest first."""
        log = schema.audit_log
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(log)
                .where(
                    (log.c.subject == therapist_id) | (log.c.actor_id == therapist_id),
                    log.c.action.in_(actions),
                )
                .order_by(log.c.id.desc())
                .limit(limit)
            )
            return [_audit_entry(row) for row in rows]

    async def audit_about(self, person_id: str) -> list[AuditEntry]:
        """The audit entries about (subject) or by (actor) one person, oldest first."""
        log = schema.audit_log
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(log)
                .where((log.c.subject == person_id) | (log.c.actor_id == person_id))
                .order_by(log.c.id)
            )
            return [_audit_entry(row) for row in rows]

    # -- helpers ---------------------------------------------------------------------

    async def _first(self, statement: Any, convert: Callable[[Row[Any]], T]) -> T | None:
        """The first row of a query, converted; None when there is none."""
        async with self.engine.connect() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else convert(row)

    @staticmethod
    async def _insert(connection: AsyncConnection, statement: Any, problem: str) -> None:
        try:
            await connection.execute(statement)
        except IntegrityError:
            raise StoreError(problem) from None

    @classmethod
    async def _update_therapist(
        cls, connection: AsyncConnection, therapist_id: str, **values: Any
    ) -> None:
        """Set columns of one therapist's row; StoreError if there is no such therapist."""
        therapists = schema.therapists
        statement = update(therapists).where(therapists.c.id == therapist_id).values(**values)
        await cls._must_update(connection, statement, "therapist")

    @staticmethod
    async def _must_update(connection: AsyncConnection, statement: Any, what: str) -> None:
        result = await connection.execute(statement)
        if result.rowcount != 1:
            raise StoreError(f"unknown {what}")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _therapist(row: Row[Any]) -> Therapist:
    return Therapist(
        row.id,
        row.email,
        row.display_name,
        row.password_hash,
        row.two_factor_secret is not None,
        row.disabled_at is not None,
    )


def checked_schedule(text: str) -> str:
    """When a group meets, as one line of at most SCHEDULE_LENGTH characters."""
    schedule = " ".join(text.split())
    if len(schedule) > schema.SCHEDULE_LENGTH:
        raise StoreError(f"when the group meets: at most {schema.SCHEDULE_LENGTH} characters")
    return schedule


def _group(row: Row[Any]) -> Group:
    return Group(
        row.id,
        row.name,
        row.language,
        row.lead_therapist_id,
        row.cotherapist_id,
        row.auto_admit,
        row.round_mutes_others,
        row.schedule,
    )


def _roster_entry(row: Row[Any]) -> RosterEntry:
    return RosterEntry(row.id, row.group_id, row.display_name, Role(row.role), row.invite_serial)


def _audit_entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        row.at,
        row.actor_id,
        row.actor_kind,
        row.action,
        row.subject,
        row.group_id,
        row.detail,
        row.id,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _session(row: Row[Any]) -> SessionRecord:
    return SessionRecord(
        row.id,
        row.group_id,
        row.opened_at,
        row.opened_by,
        row.closed_at,
        row.rules_version,
        row.phase_index,
        row.phase_started_at,
        row.locked,
        row.live_state,
    )


__all__: Sequence[str] = (
    "ErasureCounts",
    "LoginState",
    "RetentionCounts",
    "Store",
    "StoreError",
    "new_id",
    "sqlite_url",
)
