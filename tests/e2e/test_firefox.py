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
from tests.e2e.test_therapy_session import (
    RULES,
    add_therapist,
    go_in,
    log_in,
    open_page,
    set_up_group,
)

pytestmark = pytest.mark.e2e

FIREFOX = "/usr/bin/firefox-esr"
SCRIPT_FOLDER = Path(__file__).with_name("firefox")


def start_firefox(netns: str, url: str, name: str, remote_tiles: int) -> subprocess.Popen[str]:
    """participant.mjs in the test's namespace: it prints one line of what it saw."""
    node = shutil.which("node")
    if node is None or not Path(FIREFOX).exists():
        pytest.fail("node and firefox-esr are needed: run ./scripts/test", pytrace=False)
    if not (SCRIPT_FOLDER / "node_modules" / "puppeteer-core").is_dir():
        pytest.fail("puppeteer-core is missing: run ./scripts/test (npm ci)", pytrace=False)
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, node, "participant.mjs", url, name, str(remote_tiles)],
        cwd=SCRIPT_FOLDER,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_firefox_member_and_two_chromium_members_see_each_other(
    chromium: Browser, server: Server, netns: str
) -> None:
    url = server.room_url(f"e2e-{uuid.uuid4().hex[:10]}")
    anna = open_participant(chromium, url, "Anna")
    bram = open_participant(chromium, url, "Bram")
    firefox = start_firefox(netns, url, "Fenna", 2)
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
        # Firefox too sends within what a member may send (incoming_budget.py).
        assert "allowance" not in server.log()
    finally:
        end_by_closing_stdin(firefox, timeout=15)
        close_all(anna, bram)


def test_a_firefox_member_agrees_to_the_rules_and_is_let_in(
    chromium: Browser, server: Server, netns: str
) -> None:
    # The therapy session's path in Firefox: invite link, devices, ground rules (no
    # way in before agreeing), the waiting room; a therapist in Chromium lets her in.
    suffix = uuid.uuid4().hex[:6]
    email = f"lea-{suffix}@example.org"
    add_therapist(server, email, "Lea")
    lea = open_page(chromium, f"{server.base_url}/login", "Lea")
    firefox: subprocess.Popen[str] | None = None
    try:
        log_in(lea.page, email)
        _group_url, (link,) = set_up_group(lea.page, f"Thursday group {suffix}", ["Fenna"])
        lea.page.click("#open-session")
        lea.page.click("#enter-room")
        go_in(lea.page)
        firefox = start_firefox(netns, link, "Fenna", 1)
        lea.page.wait_for_selector("#waiting-list .admit-button", timeout=45000)
        assert "Fenna" in lea.page.inner_text("#waiting-list")
        lea.page.click("#waiting-list .admit-button")
        assert firefox.stdout is not None
        line = firefox.stdout.readline()
        assert line, f"Firefox reported nothing: {firefox.stderr.read() if firefox.stderr else ''}"
        seen = json.loads(line)
        assert seen["ok"], f"Firefox does not play Lea's video: {seen}"
        assert [video["name"] for video in seen["playing"]] == ["Lea"]
        assert RULES.splitlines()[0] in seen["rules"]
        assert seen["enterLockedUntilAgreed"] is True
        assert seen["consoleErrors"] == []
        wait_until(
            lambda: playing_remote_videos(lea, 1), 20, f"Lea does not play Fenna: {lea.tiles()}"
        )
        assert [tile["name"] for tile in lea.remote_tiles()] == ["Fenna"]
        assert lea.errors == []
    finally:
        if firefox is not None:
            end_by_closing_stdin(firefox, timeout=15)
        close_all(lea)
