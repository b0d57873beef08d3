"""`grouproom backup FOLDER`: a copy of the server's data that can be restored, made
while the server runs.

The embedded database is written ahead (SQLite's WAL): the file `grouproom.db` alone
can lack what was written in the last minutes, and a copy of it taken while the
server writes can be torn. Here SQLite's own backup copies the database as one
consistent moment (a reader in WAL mode holds up no writer, so sessions go on), the
copy is checked (`PRAGMA integrity_check`) before it gets its name, and the secret
key comes along: without it, invite links, logins and the sealed two-step login
secrets of a restored database are worthless.

The new folder is itself a data folder, private to the server's user: restoring is
starting the server with `--data-dir FOLDER`, or copying its two files into the data
folder while the server is stopped. With PostgreSQL the records are not in the data
folder; the command copies the key and says that `pg_dump` keeps the records.

The backup is written to the audit log (NEN 7513: a copy of every record is made)
before the copy is taken, so the copy shows it too; an attempt that then fails is
in the log as well.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
from pathlib import Path

from grouproom.data_dir import SECRET_FILE
from grouproom.exit_codes import EXIT_SETTINGS
from grouproom.operator_commands import operator_action
from grouproom.settings import DATABASE_FILE, Settings
from grouproom.store.store import Store


class BackupError(Exception):
    """Why no backup was made (nothing of it is left behind)."""


def backup(settings: Settings, destination: str) -> int:
    """Copy the database (if embedded) and the secret key into the new or empty
    folder `destination`."""
    try:
        copied = _back_up(settings, Path(destination))
    except BackupError as exc:
        print(f"grouproom: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"backup in {destination}: {', '.join(copied)}", flush=True)
    if SECRET_FILE not in copied:
        print(
            "grouproom: the data folder has no secret key yet (the server makes it at its"
            " first start): back up again after that",
            file=sys.stderr,
        )
    if DATABASE_FILE not in copied:
        print(
            "grouproom: the records are in PostgreSQL, not in the data folder: "
            "back them up with pg_dump (the key above belongs with them)",
            file=sys.stderr,
        )
    return 0


def _back_up(settings: Settings, target: Path) -> list[str]:
    key = Path(settings.data_dir) / SECRET_FILE
    embedded = settings.embedded_database
    database = Path(embedded) if embedded is not None else None
    if database is not None and not database.is_file():
        raise BackupError(f"no database at {database}: is {settings.data_dir} the data folder?")
    if database is None and not key.is_file():
        raise BackupError(f"no secret key in {settings.data_dir}: is it the data folder?")
    created = not target.exists()
    if not created and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} exists and is not an empty folder")
    # What is copied, not where to: the log holds no text an operator typed.
    asyncio.run(_audit(settings, "database and key" if database is not None else "key"))
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.chmod(0o700)
        copied = []
        if database is not None:
            _copy_database(database, target / DATABASE_FILE)
            copied.append(DATABASE_FILE)
        if key.is_file():  # made at the server's first start
            _write_private(target / SECRET_FILE, key.read_bytes())
            copied.append(SECRET_FILE)
    except BaseException as exc:
        _remove_what_was_made(target, created)
        if isinstance(exc, (OSError, sqlite3.Error)):
            raise BackupError(f"no backup made: {exc}") from exc
        raise
    return copied


async def _audit(settings: Settings, what: str) -> None:
    store = await Store.open(settings.effective_database_url)
    try:
        await store.append_audit(operator_action("backup", detail=what))
    finally:
        await store.close()


def _copy_database(database: Path, target: Path) -> None:
    """SQLite's backup of `database` (one consistent moment), checked, then named
    `target`; a failed copy leaves nothing under that name."""
    partial = target.with_name(target.name + ".partial")
    _write_private(partial, b"")  # private before the first page is in it
    source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # all pages in one step: one snapshot of the source
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"the copy failed its integrity check: {verdict}")
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(target)


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def _remove_what_was_made(target: Path, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
        return
    for name in (DATABASE_FILE, DATABASE_FILE + ".partial", SECRET_FILE):
        (target / name).unlink(missing_ok=True)
