"""Privacy in the store, on SQLite and PostgreSQL alike: retention (a run, and the
server's task at start-up and periodically), one member's data exported and
erased, the audit log made pseudonymous by migration 0003, and the `grouproom
member` commands as real processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from grouproom.app import create_app
from grouproom.data_dir import ensure_data_dir
from grouproom.rooms.roles import Role
from grouproom.settings import MAX_RETENTION_DAYS, Settings, SettingsError, settings_from_env
from grouproom.store import store as store_module
from grouproom.store.records import AttendanceEntry, AuditEntry
from grouproom.store.retention import apply_retention
from grouproom.store.store import MIGRATIONS, Store, StoreError
from tests.store.test_accounts_cli import grouproom

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=400)
NAME = "Wilhelmina Oudejans"

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def group_with_history(store: Store) -> tuple[str, str, str, str]:
    """A group with a member who came to an old and a recent session.
    Returns the group, member, lead and the recent session's ids."""
    lead = await store.add_therapist("lea@example.org", "Lea", "hash", OLD)
    group = await store.create_group("Dinsdag", "nl", lead.id, "Regels.", OLD)
    member = await store.add_to_roster(group.id, NAME, Role.MEMBER, OLD)
    sessions = []
    for when in (OLD, NOW - timedelta(days=2)):
        record = await store.open_session(group.id, lead.id, when)
        await store.record_acceptance(member.id, group.id, 1, record.id, when)
        for joined in (True, False):
            await store.record_attendance(
                AttendanceEntry(record.id, member.id, NAME, Role.MEMBER, joined, when, None)
            )
        await store.record_attendance(
            AttendanceEntry(record.id, lead.id, "Lea", Role.LEAD_THERAPIST, True, when, None)
        )
        await store.close_session(record.id, lead.id, when + timedelta(hours=2))
        sessions.append(record.id)
    await store.append_audit(
        AuditEntry(NOW, lead.id, "therapist", "add_to_roster", member.id, group.id, "member")
    )
    return group.id, member.id, lead.id, sessions[1]


async def count(store: Store, table: str) -> int:
    async with store.engine.connect() as connection:
        return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


# -- retention -----------------------------------------------------------------------


async def test_retention_deletes_only_what_is_older_and_audits_the_counts(store: Store) -> None:
    group_id, member_id, _, recent = await group_with_history(store)
    audit_before = await count(store, "audit_log")

    counts = await apply_retention(store, 365, NOW)
    assert (counts.attendance, counts.acceptances) == (3, 1)
    remaining = await store.attendance_of_group(group_id)
    assert len(remaining) == 3 and {entry.session_id for entry in remaining} == {recent}
    assert await store.has_accepted(member_id, group_id, 1)  # the recent acceptance
    assert await count(store, "rule_acceptances") == 1

    # Exactly one audit entry for the run, with counts and no names; the rest kept.
    assert await count(store, "audit_log") == audit_before + 1
    async with store.engine.connect() as connection:
        row = (
            await connection.execute(text("SELECT * FROM audit_log ORDER BY id DESC LIMIT 1"))
        ).one()
    assert (row.actor_kind, row.action, row.subject) == ("system", "retention", None)
    assert "3 attendance rows" in row.detail and "1 rule acceptances" in row.detail

    # A run with nothing to delete writes nothing.
    assert (await apply_retention(store, 365, NOW)).total == 0
    assert await count(store, "audit_log") == audit_before + 1
    # A shorter period reaches the recent session too.
    assert (await apply_retention(store, 1, NOW)).total == 4
    assert await store.attendance_of_group(group_id) == []


async def test_the_server_applies_retention_at_start_and_then_periodically(
    store: Store, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    group_id, member_id, lead_id, recent = await group_with_history(store)
    app = create_app(settings, store=store, secret=b"k" * 32, retention_interval=0.2)
    client = await aiohttp_client(app)
    # At start-up, before the first request is served.
    assert {entry.session_id for entry in await store.attendance_of_group(group_id)} == {recent}

    # A row that grows old while the server runs goes at a later run.
    await store.record_attendance(
        AttendanceEntry(recent, lead_id, "Lea", Role.LEAD_THERAPIST, False, OLD, None)
    )

    async def retention_runs() -> int:
        entries = await store.audit_about("retention")
        return len([entry for entry in entries if entry.action == "retention"])

    # The run deletes, then writes its audit entry: wait for both.
    for _ in range(200):
        if len(await store.attendance_of_group(group_id)) == 3 and await retention_runs() == 2:
            break
        await asyncio.sleep(0.05)
    assert len(await store.attendance_of_group(group_id)) == 3
    assert await retention_runs() == 2
    await client.close()  # the task stops with the app (no pending-task warning)
    assert await store.has_accepted(member_id, group_id, 1)


def test_the_retention_setting() -> None:
    assert Settings().retention_days == 365
    assert settings_from_env({"GROUPROOM_RETENTION_DAYS": "30"}).retention_days == 30
    assert settings_from_env({}, retention_days=90).retention_days == 90
    for bad in (0, -1, MAX_RETENTION_DAYS + 1):
        with pytest.raises(SettingsError, match="retention days must be between 1 and"):
            Settings(retention_days=bad)
    with pytest.raises(SettingsError, match="must be a number"):
        settings_from_env({"GROUPROOM_RETENTION_DAYS": "a year"})


def test_serve_refuses_a_bad_retention_flag(tmp_path: Path) -> None:
    done = grouproom(
        "serve", "--retention-days", "0", "--data-dir", str(tmp_path / "d"), cwd=tmp_path
    )
    assert done.returncode == 2 and "retention days must be between 1 and" in done.stderr


# -- one member's data ---------------------------------------------------------------


async def test_a_members_data_is_exported_whole(store: Store) -> None:
    group_id, member_id, lead_id, _ = await group_with_history(store)
    document = await store.member_data(member_id)
    json.dumps(document)  # JSON-ready as it is
    entry = document["roster_entry"]
    assert (entry["id"], entry["display_name"], entry["role"]) == (member_id, NAME, "member")
    assert entry["group"] == {"id": group_id, "name": "Dinsdag"}
    assert len(document["rule_acceptances"]) == 2
    assert [row["event"] for row in document["attendance"]] == ["joined", "left"] * 2
    assert all(row["display_name"] == NAME for row in document["attendance"])
    assert [row["action"] for row in document["audit_log"]] == ["add_to_roster"]
    assert document["audit_log"][0]["actor_id"] == lead_id
    with pytest.raises(StoreError, match="unknown roster entry nobody"):
        await store.member_data("nobody")


async def test_erasing_a_member_leaves_ids_only(store: Store) -> None:
    group_id, member_id, lead_id, recent = await group_with_history(store)
    other = await store.add_to_roster(group_id, "Bram", Role.MEMBER, NOW)
    await store.archive_roster_entry(member_id, NOW)  # archived members can be erased too
    audit_before = await count(store, "audit_log")

    counts = await store.erase_member(member_id)
    assert (counts.group_id, counts.acceptances_deleted, counts.attendance_anonymised) == (
        group_id,
        2,
        4,
    )
    assert await store.roster_entry(member_id, include_archived=True) is None  # invite dead
    assert [entry.id for entry in await store.roster_of(group_id)] == [other.id]
    assert not await store.has_accepted(member_id, group_id, 1)
    attendance = await store.attendance_of_group(group_id)
    assert len(attendance) == 6  # the rows stay, for the group's counts
    names = {entry.person_id: entry.display_name for entry in attendance}
    assert names == {member_id: None, lead_id: "Lea"}
    assert await count(store, "audit_log") == audit_before  # untouched, ids only
    async with store.engine.connect() as connection:
        for table in ("roster", "attendance", "audit_log", "rule_acceptances"):
            rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()
            assert NAME not in repr(rows), table

    # Someone erased while in a session leaves later: that row has no name either.
    await store.record_attendance(
        AttendanceEntry(recent, member_id, NAME, Role.MEMBER, False, NOW, "left")
    )
    assert (await store.attendance_of_session(recent))[-1].display_name is None
    # Nor can they accept rules again.
    with pytest.raises(StoreError):
        await store.record_acceptance(member_id, group_id, 1, recent, NOW)
    with pytest.raises(StoreError, match="unknown roster entry"):
        await store.erase_member(member_id)


# -- migration 0003 ------------------------------------------------------------------


def _migrate(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_migration_0003_replaces_names_in_the_audit_log_by_ids(database_url: str) -> None:
    engine = create_async_engine(database_url)
    sqlite = database_url.startswith("sqlite")
    # As SQLAlchemy writes a datetime into SQLite (text), or a real timestamp.
    when: Any = NOW.replace(tzinfo=None).isoformat(sep=" ") if sqlite else NOW

    def legacy(connection: Connection) -> None:
        _migrate(connection, "0002")
        insert = "INSERT INTO {table} ({columns}) VALUES ({values})"  # the tables of revision 0002
        rows: list[tuple[str, dict[str, Any]]] = [
            ("therapists", {"id": "t1", "email": "lea@example.org", "display_name": "Lea"}),
            ("groups", {"id": "g1", "name": "Dinsdag", "lead_therapist_id": "t1"}),
            ("roster", {"id": "r1", "group_id": "g1", "display_name": NAME}),
            ("roster", {"id": "r2", "group_id": "g1", "display_name": "Jan"}),
            ("roster", {"id": "r3", "group_id": "g1", "display_name": "Jan"}),
        ]
        defaults: dict[str, dict[str, Any]] = {
            "therapists": {"password_hash": "h", "created_at": when},
            "groups": {
                "language": "nl",
                "auto_admit": False,
                "round_mutes_others": False,
                "created_at": when,
            },
            "roster": {"role": "member", "invite_serial": 1, "created_at": when},
        }
        for table, values in rows:
            values = {**defaults[table], **values}
            connection.execute(
                text(
                    insert.format(
                        table=table,
                        columns=", ".join(values),
                        values=", ".join(f":{key}" for key in values),
                    )
                ),
                values,
            )
        for action, subject in (
            ("add_to_roster", NAME),
            ("take_off_roster", "Jan"),  # two people of that name: no id can be chosen
            ("session:mute", NAME),
            ("session:remove", "Lea"),  # a therapist of the group
            ("login_failed", "LEA@example.org"),
            ("login_failed", "someone typed this"),
            ("create_group", "Dinsdag"),  # not a person: kept
            ("add_to_roster", "r2"),  # already an id: kept
        ):
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor_id, actor_kind, action, subject, "
                    "group_id, detail) VALUES (:at, 't1', 'therapist', :action, :subject, "
                    "'g1', '')"
                ),
                {"at": when, "action": action, "subject": subject},
            )

    try:
        async with engine.begin() as connection:
            await connection.run_sync(legacy)
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, "head")
        async with engine.connect() as connection:
            rows = (
                await connection.execute(text("SELECT action, subject FROM audit_log ORDER BY id"))
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("add_to_roster", "r1"),
        ("take_off_roster", None),
        ("session:mute", "r1"),
        ("session:remove", "t1"),
        ("login_failed", "t1"),
        ("login_failed", None),
        ("create_group", "Dinsdag"),
        ("add_to_roster", "r2"),
        ("pseudonymise_audit", None),
    ]
    store = await Store.open(database_url)  # the triggers are back
    try:
        async with store.engine.begin() as connection:
            with pytest.raises(Exception, match="append-only"):
                await connection.execute(text("UPDATE audit_log SET subject = 'x'"))
    finally:
        await store.close()


# -- the `grouproom member` commands ---------------------------------------------------


def _location(database_url: str, tmp_path: Path) -> tuple[list[str], str]:
    if database_url.startswith("sqlite"):
        folder = ensure_data_dir(str(tmp_path / "data"))
        return ["--data-dir", str(folder)], Settings(data_dir=str(folder)).effective_database_url
    return ["--database-url", database_url], database_url


async def test_member_export_and_delete_on_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    location, url = _location(database_url, tmp_path)
    store = await Store.open(url)
    try:
        group_id, member_id, _, _ = await group_with_history(store)
    finally:
        await store.close()

    def run(*arguments: str, stdin: str = "") -> Any:
        return asyncio.to_thread(grouproom, *arguments, *location, stdin=stdin, cwd=tmp_path)

    exported = await run("member", "export", member_id)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["roster_entry"]["display_name"] == NAME
    target = tmp_path / "export.json"
    written = await run("member", "export", member_id, "--output", str(target))
    assert written.returncode == 0
    second = json.loads(target.read_text())
    assert second["attendance"] == document["attendance"]
    # The first export is in the audit log (and so in the second export).
    assert second["audit_log"][:-1] == document["audit_log"]
    assert second["audit_log"][-1]["action"] == "export_member_data"
    again = await run("member", "export", member_id, "--output", str(target))
    assert again.returncode == 2 and "cannot write" in again.stderr  # never overwritten

    for arguments in (("export", "nobody"), ("delete", "nobody", "--yes")):
        unknown = await run("member", *arguments)
        assert unknown.returncode == 2 and "unknown roster entry nobody" in unknown.stderr
    unconfirmed = await run("member", "delete", member_id)  # no terminal, no --yes
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr

    deleted = await run("member", "delete", member_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"roster entry {member_id} is deleted" in deleted.stdout

    store = await Store.open(url)
    try:
        assert await store.roster_entry(member_id, include_archived=True) is None
        actions = [(e.actor_kind, e.action) for e in await store.audit_about(member_id)]
        assert ("operator", "export_member_data") in actions
        assert actions[-1] == ("operator", "erase_member_data")
        assert all(e.group_id == group_id for e in await store.audit_about(member_id))
    finally:
        await store.close()


async def test_an_id_that_begins_with_a_dash_on_the_command_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids made before new_id ruled out a leading "-" are still reachable: after
    "--", and a command line without it says so instead of "id is required"."""
    location, url = _location(database_url, tmp_path)
    made = iter(f"-{n}" + "x" * 22 for n in range(10))
    monkeypatch.setattr(store_module, "new_id", lambda: next(made))
    store = await Store.open(url)
    try:
        group_id, member_id, _, _ = await group_with_history(store)
    finally:
        await store.close()
    assert member_id.startswith("-") and group_id.startswith("-")

    def run(*arguments: str) -> Any:
        return asyncio.to_thread(grouproom, *arguments, cwd=tmp_path)

    bare = await run("member", "export", *location, member_id)
    assert bare.returncode == 2
    assert f"grouproom member export [options] -- {member_id}" in bare.stderr
    exported = await run("member", "export", *location, "--", member_id)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["roster_entry"]["display_name"] == NAME
    audit = await run("audit", *location, f"--group={group_id}")
    assert audit.returncode == 0, audit.stderr
    assert '"export_member_data"' in audit.stdout
    spaced = await run("audit", *location, "--group", group_id)
    assert spaced.returncode == 2 and f"--group={group_id}" in spaced.stderr
