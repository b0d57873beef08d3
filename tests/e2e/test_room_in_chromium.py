"""Real Chromium participants in one room: video, audio, names, leaving, mute, camera."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, WebSocketRoute

from tests.e2e.conftest import (
    TEST_OUTPUT,
    Participant,
    Server,
    close_all,
    open_participant,
    playing_remote_videos,
    wait_until,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def unique_room() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def assert_no_page_errors(*participants: Participant) -> None:
    for participant in participants:
        assert participant.errors == [], f"{participant.name}: {participant.errors}"


def assert_everyone_plays(participants: list[Participant], timeout: float = 25) -> None:
    others = len(participants) - 1
    for participant in participants:
        wait_until(
            lambda p=participant: playing_remote_videos(p, others),
            timeout,
            f"{participant.name} does not play {others} remote videos: {participant.tiles()}",
        )


def test_three_participants_see_and_hear_each_other_and_a_fourth_joins_late(
    chromium: Browser, server: Server
) -> None:
    url = server.room_url(unique_room())
    names = ["Anna de Vries", "Bram", "Carla Jansen"]
    participants = [open_participant(chromium, url, name) for name in names]
    try:
        assert_everyone_plays(participants)
        for participant in participants:
            tiles = participant.tiles()
            assert len(tiles) == 3
            own = [tile for tile in tiles if tile["self"]]
            assert [tile["name"] for tile in own] == [f"{participant.name} (you)"]
            assert sorted(t["name"] for t in tiles if not t["self"]) == sorted(
                name for name in names if name != participant.name
            )
            # Audio arrives: the bytes of received audio grow.
            first = participant.audio_bytes_received()
            wait_until(
                lambda p=participant, f=first: p.audio_bytes_received() > f + 2000,
                10,
                f"{participant.name} receives no audio",
            )
        # The fake microphones beep: each page sees another participant speaking at times.
        wait_until(
            lambda: any(tile["speaking"] for tile in participants[0].remote_tiles()),
            10,
            "no speaking indicator on a remote tile",
            interval=0.05,
        )

        late = open_participant(chromium, url, "Dirk")
        participants.append(late)
        assert_everyone_plays(participants)
        TEST_OUTPUT.mkdir(exist_ok=True)
        screenshot = TEST_OUTPUT / "grid-four-participants.png"
        participants[0].page.screenshot(path=str(screenshot))
        if os.environ.get("GROUPROOM_UPDATE_SCREENSHOT") == "1":
            shutil.copy(screenshot, REPO / "docs" / "screenshot-grid.png")
        assert_no_page_errors(*participants)
        # Chromium, its bandwidth probes and all, sends within what a member may
        # send (incoming_budget.py): the server dropped none of it.
        assert "allowance" not in server.log()
    finally:
        close_all(*participants)


def test_leaving_and_dropping_out_remove_the_tile_everywhere(
    chromium: Browser, server: Server
) -> None:
    url = server.room_url(unique_room())
    anna, bram, carla = (
        open_participant(chromium, url, name) for name in ("Anna", "Bram", "Carla")
    )
    try:
        for participant in (anna, bram, carla):
            wait_until(lambda p=participant: len(p.tiles()) == 3, 10, "three tiles expected")

        carla.page.click("#leave-button")
        carla.page.wait_for_selector("#left:not([hidden])", timeout=5000)
        assert "left the room" in (carla.page.text_content("#left-message") or "")
        assert carla.tiles() == []
        for participant in (anna, bram):
            wait_until(
                lambda p=participant: (
                    sorted(t["name"] for t in p.remote_tiles())
                    == sorted({"Anna", "Bram"} - {p.name})
                ),
                5,
                f"Carla's tile stays on {participant.name}'s grid",
            )

        # A member whose browser disappears (tab closed, device off) drops out too.
        bram.context.close()
        wait_until(lambda: anna.remote_tiles() == [], 5, "Bram's tile stays after he dropped out")
        assert len(anna.tiles()) == 1

        # Joining again works.
        carla.page.click("#rejoin-button")
        carla.page.fill("#name", "Carla")
        carla.page.click("#join-button")
        wait_until(lambda: len(anna.tiles()) == 2, 10, "Carla's second join is not shown")
        assert_everyone_plays([anna, carla])
        assert_no_page_errors(anna, carla)
    finally:
        close_all(anna, carla)


def test_a_browser_that_lost_its_socket_comes_back_by_itself_once(
    chromium: Browser, server: Server
) -> None:
    """Anna's socket breaks on her side only (Playwright keeps its server end open).
    Her page reconnects by itself and joins again as a new participant, naming the
    old one by its rejoin token (`replaces`: what removes the old participant at
    once when the old connection cannot tell the server, tests/protocol/
    test_open_room_rejoin.py), and Bram sees one Anna, playing, not two."""
    url = server.room_url(unique_room())
    bram = open_participant(chromium, url, "Bram")
    anna = open_participant(chromium, url, "Anna", join=False)
    page_sides: list[WebSocketRoute] = []
    sent: list[list[dict[str, Any]]] = []  # per socket, what the page sent
    received: list[list[dict[str, Any]]] = []  # per socket, what the server sent

    def route(socket: WebSocketRoute) -> None:
        to_server = socket.connect_to_server()
        mine: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        sent.append(mine)
        received.append(theirs)

        def upward(message: str | bytes) -> None:
            mine.append(json.loads(message))
            to_server.send(message)

        def downward(message: str | bytes) -> None:
            theirs.append(json.loads(message))
            socket.send(message)

        socket.on_message(upward)
        to_server.on_message(downward)
        # Closing one side must not close the other (on_close handlers stop that).
        socket.on_close(lambda code, reason: None)
        to_server.on_close(lambda code, reason: None)
        page_sides.append(socket)

    anna.page.route_web_socket(re.compile(r"/ws$"), route)
    try:
        anna.page.fill("#name", "Anna")
        anna.page.click("#join-button")
        anna.page.wait_for_selector("#room:not([hidden])", timeout=20000)
        assert_everyone_plays([anna, bram])
        (old_anna,) = (tile["id"] for tile in bram.remote_tiles())

        page_sides[0].close()  # the page's end only
        wait_until(
            lambda: (
                [t["id"] for t in bram.remote_tiles() if t["id"] != old_anna]
                and [t["name"] for t in bram.remote_tiles()] == ["Anna"]
            ),
            20,
            f"Bram does not see one new Anna: {bram.remote_tiles()}",
        )
        assert len(page_sides) == 2  # one reconnect
        (first_joined,) = (m for m in received[0] if m["type"] == "joined")
        (second_join,) = (m for m in sent[1] if m["type"] == "join")
        assert second_join["data"]["replaces"] == first_joined["data"]["rejoin_token"]
        assert_everyone_plays([anna, bram])
        assert_no_page_errors(bram)
    finally:
        close_all(anna, bram)


def test_mute_and_camera_are_shown_to_the_others_and_work_from_the_keyboard(
    chromium: Browser, server: Server
) -> None:
    url = server.room_url(unique_room())
    anna = open_participant(chromium, url, "Anna Bakker")
    bram = open_participant(chromium, url, "Bram")
    try:
        assert_everyone_plays([anna, bram])

        def annas_tile_at_bram() -> dict[str, object]:
            return next(tile for tile in bram.remote_tiles() if tile["name"] == "Anna Bakker")

        assert annas_tile_at_bram()["muted"] is False
        mute = anna.page.locator("#mute-button")
        assert mute.get_attribute("aria-pressed") == "false"
        mute.focus()
        anna.page.keyboard.press("Enter")
        wait_until(lambda: annas_tile_at_bram()["muted"], 5, "Bram does not see Anna muted")
        assert mute.get_attribute("aria-pressed") == "true"
        assert mute.text_content() == "Unmute"

        camera = anna.page.locator("#camera-button")
        camera.focus()
        anna.page.keyboard.press("Space")
        wait_until(lambda: annas_tile_at_bram()["initials"], 5, "Bram does not see initials")
        assert annas_tile_at_bram()["initialsText"] == "AB"
        assert camera.get_attribute("aria-pressed") == "true"
        own = next(tile for tile in anna.tiles() if tile["self"])
        assert own["initials"] and own["muted"]

        camera.click()
        wait_until(
            lambda: not annas_tile_at_bram()["initials"], 10, "Anna's video does not come back"
        )
        assert_everyone_plays([anna, bram])
        mute.click()
        wait_until(lambda: not annas_tile_at_bram()["muted"], 5, "Anna stays muted at Bram")
        assert_no_page_errors(anna, bram)
    finally:
        close_all(anna, bram)
