"""Real Chromium: video a page does not show (a tile out of view, a hidden page) is
not forwarded to it, and comes back when it is shown again; audio goes on."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import (
    TEST_OUTPUT,
    Participant,
    Server,
    close_all,
    grows,
    open_participant,
    playing_remote_videos,
    stays_still,
    video_packets,
    wait_until,
)

pytestmark = pytest.mark.e2e

# Headless Chromium keeps every page visible; this is what a browser does when the
# tab goes to the background or the window is minimised.
SET_PAGE_HIDDEN = """(hidden) => {
  Object.defineProperty(document, 'visibilityState', {
    configurable: true, get: () => (hidden ? 'hidden' : 'visible'),
  });
  document.dispatchEvent(new Event('visibilitychange'));
}"""

MOVE_TILE = """([id, away]) => {
  const tile = document.querySelector(`#grid .tile[data-participant-id="${id}"]`);
  tile.style.transform = away ? 'translateY(-5000px)' : '';
}"""


def test_video_that_is_not_shown_is_not_sent(chromium: Browser, server: Server) -> None:
    url = server.room_url(f"e2e-{uuid.uuid4().hex[:10]}")
    anna = open_participant(chromium, url, "Anna")
    bram = open_participant(chromium, url, "Bram")
    try:
        for participant in (anna, bram):
            wait_until(
                lambda p=participant: playing_remote_videos(p, 1),
                25,
                f"{participant.name} does not play the other's video",
            )
        (anna_tile,) = bram.remote_tiles()

        # Anna's tile scrolled out of Bram's view: her video stops reaching him.
        bram.page.evaluate(MOVE_TILE, [anna_tile["id"], True])
        stays_still(bram, "video kept arriving for a tile out of view")
        grows(bram.audio_bytes_received, 2000, 10, "audio stopped with the video")
        grows(lambda: video_packets(anna), 50, 10, "Anna stopped receiving Bram's video")

        bram.page.evaluate(MOVE_TILE, [anna_tile["id"], False])
        wait_until(lambda: playing_remote_videos(bram, 1), 15, "video does not come back")

        # Bram's page is hidden: nothing is sent; shown again, the picture returns.
        bram.page.evaluate(SET_PAGE_HIDDEN, True)
        stays_still(bram, "video kept arriving for a hidden page")
        grows(bram.audio_bytes_received, 2000, 10, "audio stopped while the page was hidden")
        bram.page.evaluate(SET_PAGE_HIDDEN, False)
        wait_until(lambda: playing_remote_videos(bram, 1), 15, "video does not come back")
        for participant in (anna, bram):
            assert participant.errors == [], f"{participant.name}: {participant.errors}"
    finally:
        close_all(anna, bram)


def test_a_member_on_a_weak_line_turns_the_others_video_off(
    chromium: Browser, server: Server
) -> None:
    """Bram (Dutch page) turns the others' video off: his tiles show initials, no video
    reaches him, also from Carla who joins afterwards, while he hears everyone and the
    others still see him. The choice holds when he joins again on this device, and
    turning it on brings the pictures back."""
    url = server.room_url(f"e2e-{uuid.uuid4().hex[:10]}")
    anna = open_participant(chromium, url, "Anna")
    bram = open_participant(chromium, url, "Bram", locale="nl-NL")
    carla: Participant | None = None
    button = bram.page.locator("#others-video-button")
    try:
        wait_until(lambda: playing_remote_videos(bram, 1), 25, "Bram does not see Anna")
        assert button.text_content() == "Video van anderen uit"
        assert button.get_attribute("aria-pressed") == "false"

        button.click()
        assert button.text_content() == "Video van anderen aan"
        assert button.get_attribute("aria-pressed") == "true"
        assert "spaart uw verbinding" in (bram.page.text_content("#status") or "")
        assert all(tile["initials"] for tile in bram.remote_tiles())
        TEST_OUTPUT.mkdir(exist_ok=True)
        bram.page.screenshot(path=str(TEST_OUTPUT / "room-others-video-off.png"))
        stays_still(bram, "video kept arriving after Bram turned the others' video off")
        grows(bram.audio_bytes_received, 2000, 10, "audio stopped with the video")
        grows(lambda: video_packets(anna), 50, 10, "Anna stopped receiving Bram's video")

        carla = open_participant(chromium, url, "Carla")
        wait_until(lambda: len(bram.remote_tiles()) == 2, 15, "Carla's tile does not appear")
        wait_until(lambda: playing_remote_videos(carla, 2), 25, "Carla does not see the others")
        assert all(tile["initials"] for tile in bram.remote_tiles())
        stays_still(bram, "a newcomer's video reached Bram although he turned video off")

        # Remembered on this device: after leaving and joining again it is still off.
        bram.page.click("#leave-button")
        bram.page.click("#rejoin-button")
        bram.page.wait_for_selector("#join-button:not([disabled])")
        bram.page.fill("#name", "Bram")
        bram.page.click("#join-button")
        bram.page.wait_for_selector("#room:not([hidden])", timeout=20000)
        wait_until(lambda: len(bram.remote_tiles()) == 2, 15, "Bram does not see two tiles")
        assert button.get_attribute("aria-pressed") == "true"
        assert all(tile["initials"] for tile in bram.remote_tiles())
        stays_still(bram, "video reached Bram after he joined again with video off")
        grows(bram.audio_bytes_received, 2000, 10, "Bram hears nobody after joining again")

        button.click()
        assert button.get_attribute("aria-pressed") == "false"
        wait_until(lambda: playing_remote_videos(bram, 2), 20, "the others' video does not return")
        assert not any(tile["initials"] for tile in bram.remote_tiles())
        for participant in (anna, bram, carla):
            assert participant.errors == [], f"{participant.name}: {participant.errors}"
    finally:
        close_all(anna, bram, *([carla] if carla else []))
