"""`grouproom backup`, for real: the command runs as a process beside a running
server and a process writing to the same SQLite database; the copy is started as a
server of its own. Against PostgreSQL, only the key is copied."""

from __future__ import annotations

import asyncio
import signal
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grouproom.data_dir import SECRET_FILE, ensure_data_dir, load_or_create_secret
from grouproom.settings import Settings
from grouproom.store.store import Store
from tests.protocol.test_cli import (
    REPO,
    check_the_demo_works,
    first_start,
    free_port,
    read_until,
    start_server,
)
from tests.store.conftest import PostgresServer, create_database
from tests.store.test_accounts_cli import grouproom, opened


async def stop(server: asyncio.subprocess.Process) -> None:
    server.send_signal(signal.SIGTERM)
    await asyncio.wait_for(server.wait(), 20)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_backup_made_while_the_server_runs_restores_it(tmp_path: Path) -> None:
    data, copy = tmp_path / "data", tmp_path / "backups" / "monday"
    url = Settings(data_dir=str(data)).effective_database_url
    port = free_port()
    server = await start_server(data, "--port", str(port))
    try:
        password, links = await first_start(server)
        # Someone keeps writing while the copy is taken.
        writes: list[int] = []
        stop_writing = asyncio.Event()

        async def keep_writing(store: Store) -> None:
            while not stop_writing.is_set():
                number = len(writes)
                await store.add_therapist(f"t{number}@example.org", "T", "h", datetime.now(UTC))
                writes.append(number)

        async with opened(url) as store:
            writer = asyncio.ensure_future(keep_writing(store))
            await asyncio.sleep(0.3)
            before = len(writes)
            done = await asyncio.to_thread(
                grouproom, "backup", str(copy), "--data-dir", str(data), cwd=REPO
            )
            after = len(writes)
            stop_writing.set()
            await writer
    finally:
        await stop(server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"backup in {copy}: grouproom.db, {SECRET_FILE}"
    assert sorted(p.name for p in copy.iterdir()) == ["grouproom.db", SECRET_FILE]
    assert mode(copy) == 0o700 and mode(copy / "grouproom.db") == mode(copy / SECRET_FILE) == 0o600
    assert (copy / SECRET_FILE).read_bytes() == (data / SECRET_FILE).read_bytes()
    assert before > 0 and after > before, "nothing was written while the copy was taken"

    # The copy is one moment: every therapist written before the command, none torn.
    copy_url = Settings(data_dir=str(copy)).effective_database_url
    async with opened(copy_url) as restored:
        kept = [t.email for t in await restored.therapists() if t.email.startswith("t")]
        audit = await restored.audit_after(0, 1000)
    numbers = sorted(int(email[1:].split("@")[0]) for email in kept)
    assert numbers == list(range(len(numbers))) and before <= len(numbers) <= after
    backups = [entry for entry in audit if entry.action == "backup"]
    assert [(e.actor_id, e.detail) for e in backups] == [("command-line", "database and key")]

    # Started on the copy: the demo therapist's password and the members' links work.
    restored_port = free_port()
    again = await start_server(copy, "--port", str(restored_port))
    try:
        assert again.stdout is not None
        printed = await read_until(again.stdout, "invite link for Olga")
        assert "shown only now" not in printed  # the same demo, not a new one
        await check_the_demo_works(restored_port, password, links)
    finally:
        await stop(again)


async def test_a_backup_refuses_a_folder_in_use_and_a_wrong_data_folder(tmp_path: Path) -> None:
    data = ensure_data_dir(str(tmp_path / "data"))
    async with opened(Settings(data_dir=str(data)).effective_database_url):
        pass  # the database, as the server makes it
    load_or_create_secret(data)
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    refused = await asyncio.to_thread(
        grouproom, "backup", str(used), "--data-dir", str(data), cwd=tmp_path
    )
    assert refused.returncode == 2 and "exists and is not an empty folder" in refused.stderr
    assert [p.name for p in used.iterdir()] == ["notes.txt"]

    wrong = await asyncio.to_thread(
        grouproom,
        "backup",
        str(tmp_path / "new"),
        "--data-dir",
        str(tmp_path / "typo"),
        cwd=tmp_path,
    )
    assert wrong.returncode == 2 and "no database at" in wrong.stderr
    assert not (tmp_path / "new").exists() and not (tmp_path / "typo").exists()


@pytest.mark.postgres
async def test_with_postgresql_the_key_is_copied_and_pg_dump_named(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    database_url = postgres_server.url(await create_database(postgres_server))
    data = ensure_data_dir(str(tmp_path / "data"))
    load_or_create_secret(data)
    copy = tmp_path / "copy"
    done = await asyncio.to_thread(
        grouproom,
        "backup",
        str(copy),
        "--data-dir",
        str(data),
        "--database-url",
        database_url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in copy.iterdir()] == [SECRET_FILE] and "pg_dump" in done.stderr
    async with opened(database_url) as store:
        audit = await store.audit_after(0, 100)
    assert [(e.action, e.detail) for e in audit] == [("backup", "key")]
