"""The store, on SQLite and on PostgreSQL alike (the `store` fixture runs each test
on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import Phase, PhaseKind, SessionPlan
from grouproom.store.records import AttendanceEntry, AuditEntry, Group
from grouproom.store.schema import metadata
from grouproom.store.store import LoginState, Store, StoreError

NOW = datetime(2026, 11, 25, 18, 30, tzinfo=UTC)


async def lead_and_group(store: Store) -> tuple[str, str, str]:
    lead = await store.add_therapist("Lea@Example.org ", "Lea", "hash-1", NOW)
    co = await store.add_therapist("cor@example.org", "Cor", "hash-2", NOW)
    group = await store.create_group(
        "Schema therapy Tuesday", "nl", lead.id, "We keep it here.", NOW, cotherapist_id=co.id
    )
    return lead.id, co.id, group.id


async def test_the_migrations_build_exactly_the_schema_the_code_uses(store: Store) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return [
            diff
            for diff in compare_metadata(context, metadata)
            if not (isinstance(diff, tuple) and diff[0] == "remove_table")
            or diff[1].name != "alembic_version"
        ]

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_therapists_are_found_by_email_in_any_case(store: Store) -> None:
    lead_id, _, _ = await lead_and_group(store)
    found = await store.therapist_by_email("LEA@example.ORG")
    assert found is not None and found.id == lead_id and found.email == "lea@example.org"
    with pytest.raises(StoreError, match="exists"):
        await store.add_therapist("lea@example.org", "Other Lea", "hash", NOW)
    await store.set_password_hash(lead_id, "hash-new")
    again = await store.therapist(lead_id)
    assert again is not None and again.password_hash == "hash-new"


async def test_a_new_group_has_rules_version_one_and_the_default_plan(store: Store) -> None:
    lead_id, co_id, group_id = await lead_and_group(store)
    group = await store.group(group_id)
    assert group is not None
    assert group.therapist_role(lead_id) is Role.LEAD_THERAPIST
    assert group.therapist_role(co_id) is Role.COTHERAPIST
    assert [g.id for g in await store.groups_of(co_id)] == [group_id]
    rules = await store.current_rules(group_id)
    assert (rules.version, rules.text) == (1, "We keep it here.")
    plan = await store.plan_of(group_id)
    assert [p.minutes for p in plan.phases] == [5, 15, 50, 15, 5]
    assert plan.phases[0].name == "Aankomst"  # the group's language


async def test_bad_group_input_is_refused(store: Store) -> None:
    lead_id, _, group_id = await lead_and_group(store)
    with pytest.raises(StoreError, match="nl or en"):
        await store.create_group("G", "de", lead_id, "Rules.", NOW)
    with pytest.raises(StoreError, match="unknown therapist"):
        await store.create_group("G", "en", "nobody", "Rules.", NOW)
    with pytest.raises(StoreError, match="someone other"):
        await store.create_group("G", "en", lead_id, "Rules.", NOW, cotherapist_id=lead_id)
    with pytest.raises(StoreError, match="unknown therapist"):
        await store.update_group(
            group_id, cotherapist_id="nobody", auto_admit=True, round_mutes_others=False
        )
    updated = await store.update_group(
        group_id, cotherapist_id=None, auto_admit=True, round_mutes_others=False
    )
    assert (updated.cotherapist_id, updated.auto_admit, updated.round_mutes_others) == (
        None,
        True,
        False,
    )


async def test_when_a_group_meets_is_one_line_kept_until_changed(store: Store) -> None:
    _, _, group_id = await lead_and_group(store)
    group = await store.group(group_id)
    assert group is not None and group.schedule == ""

    async def set_schedule(schedule: str | None) -> Group:
        return await store.update_group(
            group_id,
            cotherapist_id=None,
            auto_admit=False,
            round_mutes_others=True,
            schedule=schedule,
        )

    updated = await set_schedule("  Tuesdays\n19:00-20:30,\tfrom 12 January  ")
    assert updated.schedule == "Tuesdays 19:00-20:30, from 12 January"
    assert (await set_schedule(None)).schedule == updated.schedule
    with pytest.raises(StoreError, match="at most 200 characters"):
        await set_schedule("x" * 201)
    kept = await store.group(group_id)
    assert kept is not None and kept.schedule == updated.schedule
    assert (await set_schedule(" ")).schedule == ""


async def test_rules_keep_every_version(store: Store) -> None:
    lead_id, co_id, group_id = await lead_and_group(store)
    await store.revise_rules(group_id, "Second text.", False, co_id, NOW + timedelta(days=1))
    third = await store.revise_rules(group_id, "Third text.", True, lead_id, NOW)
    assert third.version == 3
    history = await store.rules_history(group_id)
    assert [(r.version, r.text, r.chat_enabled) for r in history] == [
        (3, "Third text.", True),
        (2, "Second text.", False),
        (1, "We keep it here.", True),
    ]
    assert history[1].created_by == co_id
    assert history[1].created_at == NOW + timedelta(days=1)
    with pytest.raises(StoreError):
        await store.revise_rules("no-group", "Text.", True, lead_id, NOW)


async def test_a_plan_is_replaced_whole(store: Store) -> None:
    _, _, group_id = await lead_and_group(store)
    plan = SessionPlan((Phase("Open", PhaseKind.THEME, 80), Phase("Rondje", PhaseKind.ROUND, 10)))
    await store.set_plan(group_id, plan)
    assert await store.plan_of(group_id) == plan
    with pytest.raises(StoreError):
        await store.set_plan("no-group", plan)


async def test_roster_and_revoking_an_invite(store: Store) -> None:
    _, _, group_id = await lead_and_group(store)
    ann = await store.add_to_roster(group_id, " Ann ", Role.MEMBER, NOW)
    olga = await store.add_to_roster(group_id, "Olga", Role.OBSERVER, NOW + timedelta(seconds=1))
    assert [(e.display_name, e.role) for e in await store.roster_of(group_id)] == [
        ("Ann", Role.MEMBER),
        ("Olga", Role.OBSERVER),
    ]
    assert await store.revoke_invite(ann.id) == 2
    assert await store.revoke_invite(ann.id) == 3
    await store.archive_roster_entry(olga.id, NOW)
    assert [e.id for e in await store.roster_of(group_id)] == [ann.id]
    assert await store.roster_entry(olga.id) is None
    with pytest.raises(StoreError):
        await store.add_to_roster(group_id, "Lea", Role.LEAD_THERAPIST, NOW)
    with pytest.raises(StoreError):
        await store.add_to_roster("no-group", "Bob", Role.MEMBER, NOW)
    with pytest.raises(StoreError):
        await store.revoke_invite("nobody")


async def test_one_open_session_per_group_and_its_progress_survives(
    store: Store, database_url: str
) -> None:
    lead_id, co_id, group_id = await lead_and_group(store)
    opened = await store.open_session(group_id, lead_id, NOW)
    with pytest.raises(StoreError, match="already"):
        await store.open_session(group_id, co_id, NOW)
    started = NOW + timedelta(minutes=5)
    await store.save_session_progress(
        opened.id, phase_index=1, phase_started_at=started, locked=True
    )
    # A server restart: a new Store on the same database finds the session as it was.
    await store.close()
    reopened = await Store.open(database_url)
    try:
        [resumed] = await reopened.open_sessions()
        assert resumed.id == opened.id and resumed.is_open
        assert (resumed.phase_index, resumed.phase_started_at, resumed.locked) == (1, started, True)
        await reopened.close_session(opened.id, co_id, NOW + timedelta(minutes=90))
        with pytest.raises(StoreError):
            await reopened.close_session(opened.id, co_id, NOW)
        assert await reopened.open_sessions() == []
        later = await reopened.open_session(group_id, co_id, NOW + timedelta(days=7))
        assert [s.id for s in await reopened.sessions_of(group_id)] == [later.id, opened.id]
    finally:
        await reopened.close()


async def test_rule_acceptances_are_stored_once_and_remembered(store: Store) -> None:
    lead_id, _, group_id = await lead_and_group(store)
    ann = await store.add_to_roster(group_id, "Ann", Role.MEMBER, NOW)
    session = await store.open_session(group_id, lead_id, NOW)
    assert not await store.has_accepted(ann.id, group_id, 1)
    await store.record_acceptance(ann.id, group_id, 1, session.id, NOW)
    await store.record_acceptance(ann.id, group_id, 1, session.id, NOW)  # twice: one row
    assert await store.has_accepted(ann.id, group_id, 1)
    assert not await store.has_accepted(ann.id, group_id, 2)
    async with store.engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM rule_acceptances"))
    assert count == 1
    with pytest.raises(StoreError):
        await store.record_acceptance("nobody", group_id, 1, session.id, NOW)


async def test_attendance_per_session_and_over_all_sessions(store: Store) -> None:
    lead_id, _, group_id = await lead_and_group(store)
    first = await store.open_session(group_id, lead_id, NOW)
    await store.close_session(first.id, lead_id, NOW + timedelta(hours=2))
    second = await store.open_session(group_id, lead_id, NOW + timedelta(days=7))
    for session_id, offset in ((first.id, 0), (second.id, 7)):
        at = NOW + timedelta(days=offset)
        await store.record_attendance(
            AttendanceEntry(session_id, "ann", "Ann", Role.MEMBER, True, at, None)
        )
        await store.record_attendance(
            AttendanceEntry(
                session_id, "ann", "Ann", Role.MEMBER, False, at + timedelta(minutes=3), "left"
            )
        )
    of_second = await store.attendance_of_session(second.id)
    assert [(e.joined, e.cause) for e in of_second] == [(True, None), (False, "left")]
    everything = await store.attendance_of_group(group_id)
    assert [e.session_id for e in everything] == [first.id, first.id, second.id, second.id]
    with pytest.raises(StoreError):
        await store.record_attendance(
            AttendanceEntry("no-session", "ann", "Ann", Role.MEMBER, True, NOW, None)
        )


async def test_the_audit_log_is_append_only(store: Store) -> None:
    lead_id, _, group_id = await lead_and_group(store)
    ids = [
        await store.append_audit(
            AuditEntry(NOW, lead_id, "therapist", f"action-{n}", "ann", group_id, "")
        )
        for n in range(5)
    ]
    page = await store.audit_of_group(group_id, limit=2)
    assert [e.action for e in page] == ["action-4", "action-3"]
    older = await store.audit_of_group(group_id, limit=10, before_id=page[-1].id)
    assert [e.id for e in older] == ids[:3][::-1]
    assert older[0].at == NOW
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with store.engine.begin() as connection:
                await connection.execute(text(statement))
    assert len(await store.audit_of_group(group_id)) == 5


async def test_a_login_asked_about_without_noting_use_still_idles_out(store: Store) -> None:
    lead_id, _, _ = await lead_and_group(store)
    hour = timedelta(hours=1)
    token = await store.create_web_session(lead_id, NOW, lifetime=12 * hour)
    assert (await store.login_state(token, NOW + hour, 3 * hour))[0] is LoginState.VALID
    quiet = await store.login_state(token, NOW + 3 * hour, 3 * hour, note_use=False)
    assert quiet[0] is LoginState.VALID
    # Idle since the use at one hour, not since the question at three.
    assert (await store.login_state(token, NOW + 4.5 * hour, 3 * hour))[0] is LoginState.LAPSED


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="aware"):
        await store.add_therapist("x@example.org", "X", "hash", datetime(2026, 1, 1))


async def test_a_login_lapses_or_ends_and_a_lapsed_one_is_kept_a_day(store: Store) -> None:
    lead_id, co_id, _ = await lead_and_group(store)
    hour = timedelta(hours=1)
    token = await store.create_web_session(lead_id, NOW, lifetime=12 * hour)
    state, therapist = await store.login_state(token, NOW + hour, idle_limit=3 * hour)
    assert state is LoginState.VALID and therapist is not None and therapist.id == lead_id
    # Idle too long: lapsed, and it stays lapsed even asked with a longer idle limit.
    assert (await store.login_state(token, NOW + 5 * hour, 3 * hour))[0] is LoginState.LAPSED
    assert (await store.login_state(token, NOW + 5 * hour, 9 * hour))[0] is LoginState.LAPSED
    # Kept for a day after it lapsed; removed by the next login after that.
    await store.create_web_session(co_id, NOW + 20 * hour, lifetime=hour)
    assert (await store.login_state(token, NOW + 20 * hour, 3 * hour))[0] is LoginState.LAPSED
    await store.create_web_session(co_id, NOW + 30 * hour, lifetime=hour)
    assert (await store.login_state(token, NOW + 30 * hour, 3 * hour))[0] is LoginState.ENDED
    # Ended: logged out, or the account disabled.
    other = await store.create_web_session(co_id, NOW, lifetime=hour)
    assert (await store.login_state(other, NOW, hour))[0] is LoginState.VALID
    await store.set_therapist_disabled(co_id, NOW)
    assert await store.login_state(other, NOW, hour) == (LoginState.ENDED, None)
    await store.end_web_session(other)
    assert await store.login_state(other, NOW, hour) == (LoginState.ENDED, None)


async def test_login_sessions_expire_idle_and_end(store: Store) -> None:
    lead_id, co_id, _ = await lead_and_group(store)
    hour = timedelta(hours=1)
    token = await store.create_web_session(lead_id, NOW, lifetime=12 * hour)
    other = await store.create_web_session(co_id, NOW, lifetime=12 * hour)
    seen = await store.web_session(token, NOW + hour, idle_limit=2 * hour)
    assert seen is not None and seen.id == lead_id
    # Used an hour ago, so still valid 1.5 hours later; not after 2 idle hours.
    assert await store.web_session(token, NOW + 2.5 * hour, idle_limit=2 * hour) is not None
    assert await store.web_session(token, NOW + 5 * hour, idle_limit=2 * hour) is None
    assert await store.web_session(token, NOW + 5 * hour, idle_limit=9 * hour) is None  # gone
    assert await store.web_session("forged", NOW, idle_limit=hour) is None
    assert await store.web_session(other, NOW + 13 * hour, idle_limit=24 * hour) is None
    again = await store.create_web_session(co_id, NOW, lifetime=hour)
    await store.end_web_session(again)
    assert await store.web_session(again, NOW, idle_limit=hour) is None
    first = await store.create_web_session(lead_id, NOW, lifetime=hour)
    second = await store.create_web_session(lead_id, NOW, lifetime=hour)
    await store.end_web_sessions_of(lead_id)
    for ended in (first, second):
        assert await store.web_session(ended, NOW, idle_limit=hour) is None
    async with store.engine.connect() as connection:
        stored = await connection.scalar(text("SELECT token_hash FROM web_sessions LIMIT 1"))
    assert stored is None or len(stored) == 64  # only hashes are kept
