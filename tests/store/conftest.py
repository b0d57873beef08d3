"""The store's tests run on SQLite and on a real PostgreSQL server.

The PostgreSQL server is started once per test run in a temporary folder,
listening on 127.0.0.1 at a free port (and a socket in that folder); each test
gets a fresh database. ./scripts/test installs Debian's postgresql when missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from grouproom.store.store import Store, sqlite_url

SUPERUSER = "grouproom"


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL is missing (Debian package postgresql): run ./scripts/test, "
            "which installs it",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = _binaries()
    # Not under pytest's temporary folder: that one is private to the user running
    # the tests, and the server runs as `postgres` when that user is root.
    folder = Path(tempfile.mkdtemp(prefix="grouproom-postgres-"))
    data = folder / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run([*run_as, *command], check=True, capture_output=True, timeout=120)

    run(
        str(binaries / "initdb"),
        "-D",
        str(data),
        "--auth=trust",
        f"--username={SUPERUSER}",
        "--encoding=UTF8",
        "--no-sync",
    )
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    run(
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        yield PostgresServer(port)
    finally:
        subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


async def create_database(server: PostgresServer) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server.url("postgres", driver="postgresql"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "grouproom.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url(await create_database(server))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()
