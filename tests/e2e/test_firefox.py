"""A Firefox participant (Debian's firefox-esr, WebDriver BiDi) with two Chromium ones."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import (
    Server,
    close_all,
    end_by_closing_stdin,
    open_participant,
    playing_remote_videos,
    wait_until,
)

pytestmark = pytest.mark.e2e

FIREFOX = "/usr/bin/firefox-esr"
SCRIPT_FOLDER = Path(__file__).with_name("firefox")


def test_a_firefox_member_and_two_chromium_members_see_each_other(
    chromium: Browser, server: Server, netns: str
) -> None:
    node = shutil.which("node")
    if node is None or not Path(FIREFOX).exists():
        pytest.fail("node and firefox-esr are needed: run ./scripts/test", pytrace=False)
    if not (SCRIPT_FOLDER / "node_modules" / "puppeteer-core").is_dir():
        pytest.fail("puppeteer-core is missing: run ./scripts/test (npm ci)", pytrace=False)

    url = server.room_url(f"e2e-{uuid.uuid4().hex[:10]}")
    anna = open_participant(chromium, url, "Anna")
    bram = open_participant(chromium, url, "Bram")
    firefox = subprocess.Popen(
        ["ip", "netns", "exec", netns, node, "participant.mjs", url, "Fenna", "2"],
        cwd=SCRIPT_FOLDER,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert firefox.stdout is not None
        line = firefox.stdout.readline()  # the script gives up by itself after 45 s
        assert line, f"Firefox reported nothing: {firefox.stderr.read() if firefox.stderr else ''}"
        seen = json.loads(line)
        assert seen["ok"], f"Firefox does not play both remote videos: {seen}"
        assert seen["tiles"] == 3
        assert sorted(video["name"] for video in seen["playing"]) == ["Anna", "Bram"]
        assert seen["consoleErrors"] == []
        for participant in (anna, bram):
            wait_until(
                lambda p=participant: playing_remote_videos(p, 2),
                20,
                f"{participant.name} does not play Firefox's video: {participant.tiles()}",
            )
            names = sorted(tile["name"] for tile in participant.remote_tiles())
            assert "Fenna" in names
        assert anna.errors == [] and bram.errors == []
    finally:
        end_by_closing_stdin(firefox, timeout=15)
        close_all(anna, bram)
