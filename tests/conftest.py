"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grouproom.settings import Settings
from tests.event_loops import LoopFactories, loops_for

# Servers the tests start as processes take any free media port, unless a test
# asks for the default (the e2e servers, each in a network namespace of its own).
os.environ.setdefault("GROUPROOM_MEDIA_PORT", "0")


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    """A small stand-in for web/: the three pages and one static file."""
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>index page</title>")
    (root / "room.html").write_text("<!doctype html><title>room page</title>")
    (root / "session.html").write_text("<!doctype html><title>session page</title>")
    (root / "app.js").write_text("export const ready = true;\n")
    return root


@pytest.fixture
def settings(web_root: Path, tmp_path: Path) -> Settings:
    # Media in the test's own process (the default), where tests can look into the
    # forwarder; tests/media/test_room_worker.py and tests/protocol/test_metrics.py
    # run room workers.
    # Media port 0: any free port, so that tests never compete for the default one.
    return Settings(
        web_root=str(web_root),
        data_dir=str(tmp_path / "data"),
        room_workers=False,
        media_port=0,
    )


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> LoopFactories:
    """The event loops an async test runs on (tests/event_loops.py)."""
    return loops_for(item.path)
