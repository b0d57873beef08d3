"""`grouproom therapist add`, password hashing and the data folder, for real: the
command runs as a process against an SQLite file, and against PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from grouproom.accounts.passwords import (
    PasswordError,
    hash_password,
    needs_rehash,
    verify_password,
)
from grouproom.data_dir import ensure_data_dir, load_or_create_secret
from grouproom.settings import Settings
from grouproom.store.records import AuditEntry
from grouproom.store.store import Store

PASSWORD = "correct horse battery"


def grouproom(*arguments: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GROUPROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "grouproom", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=60,
        check=False,
    )


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    """The store at `url`, closed again after use, so that the command under test
    opens it by itself."""
    store = await Store.open(url)
    try:
        yield store
    finally:
        await store.close()


async def lea_logged_in(url: str, now: datetime, two_factor: bool = False) -> tuple[str, str]:
    """Lea's account in the store at `url` with a login of an hour (and two-step login
    on, if asked): her id and the login's token."""
    async with opened(url) as store:
        lea = await store.add_therapist("lea@example.org", "Lea", hash_password(PASSWORD), now)
        if two_factor:
            await store.set_two_factor_pending(lea.id, "v1:sealed")
            await store.enable_two_factor(lea.id, "v1:sealed", 1, ["a" * 64, "b" * 64])
        token = await store.create_web_session(lea.id, now, timedelta(hours=1))
    return lea.id, token


def storage_of(database_url: str, tmp_path: Path) -> tuple[list[str], str]:
    """The command's storage arguments for this test's database, and its URL (an
    SQLite database's data folder is made, as the server would)."""
    if database_url.startswith("sqlite"):
        ensure_data_dir(str(tmp_path / "data"))
        return ["--data-dir", str(tmp_path / "data")], Settings(
            data_dir=str(tmp_path / "data")
        ).effective_database_url
    return ["--database-url", database_url], database_url


async def test_therapist_add_creates_an_account_that_logs_in(
    database_url: str, tmp_path: Path
) -> None:
    add = ["therapist", "add", "Lea@Example.org", "--name", "Lea", "--password-stdin"]
    if database_url.startswith("sqlite"):
        location = ["--data-dir", str(tmp_path / "data")]
        url = Settings(data_dir=str(tmp_path / "data")).effective_database_url
    else:
        location = ["--database-url", database_url]
        url = database_url
    done = await asyncio.to_thread(grouproom, *add, *location, stdin=PASSWORD + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "lea@example.org created" in done.stdout
    async with opened(url) as store:
        therapist = await store.therapist_by_email("lea@example.org")
    assert therapist is not None and therapist.display_name == "Lea"
    assert therapist.password_hash.startswith("$argon2id$")
    assert verify_password(therapist.password_hash, PASSWORD)
    assert not verify_password(therapist.password_hash, PASSWORD + "!")

    again = await asyncio.to_thread(grouproom, *add, *location, stdin=PASSWORD + "\n", cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (["nobody", "--name", "X"], PASSWORD, "email address"),
        (["x@example.org", "--name", " "], PASSWORD, "name"),
        (["x@example.org", "--name", "X"], "short", "at least 12"),
    ],
)
def test_therapist_add_refuses_bad_input(
    arguments: list[str], stdin: str, message: str, tmp_path: Path
) -> None:
    done = grouproom(
        "therapist",
        "add",
        *arguments,
        "--password-stdin",
        "--data-dir",
        str(tmp_path),
        stdin=stdin + "\n",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "grouproom.db").exists()


def test_passwords() -> None:
    hashed = hash_password(PASSWORD)
    assert verify_password(hashed, PASSWORD) and not needs_rehash(hashed)
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(hashed, "x" * 2000)
    for bad in ("short", " leading space x", "x" * 1025):
        with pytest.raises(PasswordError):
            hash_password(bad)


def test_the_secret_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    folder = ensure_data_dir(str(tmp_path / "data"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = load_or_create_secret(folder)
    assert len(first) == 32 and load_or_create_secret(folder) == first
    assert stat.S_IMODE((folder / "secret-key").stat().st_mode) == 0o600
    (folder / "secret-key").write_text("not hex\n")
    with pytest.raises(ValueError, match="hex"):
        load_or_create_secret(folder)


def test_the_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/grouproom.db"
    url = "postgresql+asyncpg://u@db/grouproom"
    assert Settings(database_url=url).effective_database_url == url
    with pytest.raises(ValueError, match="database URL"):
        Settings(database_url="mysql://u@db/grouproom")


async def test_therapist_reset_two_factor_turns_it_off_and_logs_out(
    database_url: str, tmp_path: Path
) -> None:
    # A therapist who lost her phone and her recovery codes: an operator turns her
    # two-step login off; her logins end, and the reset is in the audit log.
    location, url = storage_of(database_url, tmp_path)
    now = datetime.now(UTC)
    lea_id, token = await lea_logged_in(url, now, two_factor=True)
    reset = ["therapist", "reset-two-factor", "LEA@example.org", *location]
    done = await asyncio.to_thread(grouproom, *reset, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "two-step login of lea@example.org is off" in done.stdout
    unknown = await asyncio.to_thread(
        grouproom, "therapist", "reset-two-factor", "nobody@example.org", *location, cwd=tmp_path
    )
    assert unknown.returncode != 0 and "no therapist" in unknown.stderr
    async with opened(url) as store:
        found = await store.therapist_by_email("lea@example.org")
        state = await store.two_factor_state(lea_id)
        login = await store.web_session(token, now, timedelta(hours=1))
        audit = await store.audit_about(lea_id)
    assert found is not None and not found.two_factor
    assert state.secret is None and state.recovery_codes_left == 0
    assert login is None
    assert [(entry.action, entry.subject) for entry in audit][-1:] == [("two_factor_reset", lea_id)]


async def test_therapist_set_password_gives_a_new_one_and_logs_out(
    database_url: str, tmp_path: Path
) -> None:
    location, url = storage_of(database_url, tmp_path)
    now = datetime.now(UTC)
    lea_id, token = await lea_logged_in(url, now)
    command = ["therapist", "set-password", "lea@example.org", "--password-stdin", *location]
    short = await asyncio.to_thread(grouproom, *command, stdin="short\n", cwd=tmp_path)
    assert short.returncode != 0 and "at least 12 characters" in short.stderr
    done = await asyncio.to_thread(
        grouproom, *command, stdin="a forgotten one, replaced\n", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "lea@example.org has a new password" in done.stdout
    async with opened(url) as store:
        found = await store.therapist_by_email("lea@example.org")
        login = await store.web_session(token, now, timedelta(hours=1))
        audit = await store.audit_about(lea_id)
    assert found is not None
    assert verify_password(found.password_hash, "a forgotten one, replaced")
    assert not verify_password(found.password_hash, PASSWORD)
    assert login is None
    assert [(entry.action, entry.actor_kind) for entry in audit] == [("password_set", "operator")]


async def test_therapist_list_and_audit_export_for_an_operator(
    database_url: str, tmp_path: Path
) -> None:
    # The security officer's view (NEN 7513): every account with its two-step login,
    # and the whole audit log, or a stretch of it, as JSON lines; the export itself
    # shows in the log.
    location, url = storage_of(database_url, tmp_path)
    now = datetime.now(UTC)
    async with opened(url) as store:
        lea = await store.add_therapist("lea@example.org", "Lea", hash_password(PASSWORD), now)
        cor = await store.add_therapist("cor@example.org", "Cor", hash_password(PASSWORD), now)
        await store.set_two_factor_pending(cor.id, "v1:sealed")
        await store.enable_two_factor(cor.id, "v1:sealed", 1, [])
        long_ago = now - timedelta(days=400)
        for at, actor, action in (
            (long_ago, lea.id, "login"),
            (now, lea.id, "view_group"),
            (now, cor.id, "login"),
        ):
            await store.append_audit(AuditEntry(at, actor, "therapist", action, None, "g1"))
        # More entries than one page of the export.
        for _ in range(1005):
            await store.append_audit(AuditEntry(now, cor.id, "therapist", "view_audit", None, "g2"))

    listed = await asyncio.to_thread(grouproom, "therapist", "list", *location, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "id\temail\tname\ttwo-step login\taccount",
        f"{cor.id}\tcor@example.org\tCor\ton\tactive",
        f"{lea.id}\tlea@example.org\tLea\toff\tactive",
    ]

    def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    everything = lines(await asyncio.to_thread(grouproom, "audit", *location, cwd=tmp_path))
    assert len(everything) == 3 + 1005 + 1  # the export first, then what it exports
    assert [e["action"] for e in everything[:3]] == ["login", "view_group", "login"]
    assert everything[-1]["action"] == "export_audit_log"
    assert everything[-1]["actor_kind"] == "operator" and everything[-1]["detail"] == "everything"
    ids = [int(str(e["id"])) for e in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    since = (now - timedelta(days=1)).date().isoformat()
    recent = lines(
        await asyncio.to_thread(
            grouproom, "audit", "--since", since, "--group", "g1", *location, cwd=tmp_path
        )
    )
    assert [(e["actor_id"], e["action"]) for e in recent] == [
        (lea.id, "view_group"),
        (cor.id, "login"),
    ]
    until = (now - timedelta(days=399)).date().isoformat()
    old = lines(
        await asyncio.to_thread(
            grouproom, "audit", "--until", until, "--actor", lea.id, *location, cwd=tmp_path
        )
    )
    assert [e["action"] for e in old] == ["login"]

    bad = await asyncio.to_thread(grouproom, "audit", "--since", "4 May", *location, cwd=tmp_path)
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stderr
    into = tmp_path / "audit.jsonl"
    written = await asyncio.to_thread(
        grouproom, "audit", "--actor", cor.id, "--output", str(into), *location, cwd=tmp_path
    )
    assert written.returncode == 0 and "1006 audit entries" in written.stdout
    assert len(into.read_text().splitlines()) == 1006


async def test_therapist_disable_and_enable_for_someone_who_left(
    database_url: str, tmp_path: Path
) -> None:
    location, url = storage_of(database_url, tmp_path)
    now = datetime.now(UTC)
    lea_id, token = await lea_logged_in(url, now)
    disabled = await asyncio.to_thread(
        grouproom, "therapist", "disable", "lea@example.org", *location, cwd=tmp_path
    )
    assert disabled.returncode == 0, disabled.stderr
    assert "lea@example.org is disabled" in disabled.stdout
    listed = await asyncio.to_thread(grouproom, "therapist", "list", *location, cwd=tmp_path)
    assert listed.stdout.splitlines()[1].endswith("\tdisabled")
    async with opened(url) as store:
        record = await store.therapist_by_email("lea@example.org")
        assert record is not None and record.disabled
        assert await store.web_session(token, now, timedelta(hours=1)) is None
    enabled = await asyncio.to_thread(
        grouproom, "therapist", "enable", "lea@example.org", *location, cwd=tmp_path
    )
    assert enabled.returncode == 0 and "enabled again" in enabled.stdout
    async with opened(url) as store:
        record = await store.therapist_by_email("lea@example.org")
        audit = await store.audit_about(lea_id)
    assert record is not None and not record.disabled
    assert [entry.action for entry in audit] == ["therapist_disabled", "therapist_enabled"]


async def test_group_list_and_hand_over_when_the_lead_leaves(
    database_url: str, tmp_path: Path
) -> None:
    location, url = storage_of(database_url, tmp_path)
    now = datetime.now(UTC)
    async with opened(url) as store:
        lea = await store.add_therapist("lea@example.org", "Lea", hash_password(PASSWORD), now)
        cor = await store.add_therapist("cor@example.org", "Cor", hash_password(PASSWORD), now)
        made = await store.create_group("Dinsdag", "nl", lea.id, "Regels.", now, cor.id)
    listed = await asyncio.to_thread(grouproom, "group", "list", *location, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "id\tname\tlead therapist\tcotherapist",
        f"{made.id}\tDinsdag\tlea@example.org\tcor@example.org",
    ]
    unknown = await asyncio.to_thread(
        grouproom, "group", "hand-over", "nogroup", "cor@example.org", *location, cwd=tmp_path
    )
    assert unknown.returncode != 0 and "unknown group" in unknown.stderr
    handed = await asyncio.to_thread(
        grouproom, "group", "hand-over", made.id, "cor@example.org", *location, cwd=tmp_path
    )
    assert handed.returncode == 0, handed.stderr
    async with opened(url) as store:
        group = await store.group(made.id)
        audit = await store.audit_about(cor.id)
    # Cor leads now; the group has no cotherapist until Cor chooses one.
    assert group is not None and group.lead_therapist_id == cor.id
    assert group.cotherapist_id is None
    assert [(e.action, e.group_id, e.detail) for e in audit] == [
        ("hand_over_group", made.id, f"lead before: {lea.id}")
    ]
