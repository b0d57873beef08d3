"""Real Chromium: video a page does not show (a tile out of view, a hidden page) is
not forwarded to it, and comes back when it is shown again; audio goes on."""

from __future__ import annotations

import math
import struct
import time
import uuid
import wave
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

from tests.e2e.conftest import (
    CHROMIUM_ARGS,
    TEST_OUTPUT,
    Participant,
    Server,
    close_all,
    grows,
    launch_chromium,
    open_participant,
    packets_from,
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
        # On again for a moment: Anna's tile keeps its initials until a new frame
        # comes, rather than show her picture from before the pause.
        initials_at_once = bram.page.evaluate(
            """() => {
              document.getElementById('others-video-button').click();
              const tile = document.querySelector('#grid .tile:not([data-self])');
              return !tile.querySelector('.tile-initials').hidden;
            }"""
        )
        assert initials_at_once
        wait_until(lambda: playing_remote_videos(bram, 1), 20, "Anna's video does not return")
        button.click()  # off again
        stays_still(bram, "video kept arriving after Bram turned the others' video off again")

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


def write_tone(path: Path, seconds: float = 2.0, rate: int = 48000) -> None:
    """A steady 440 Hz tone (Chromium loops the file): a microphone that speaks all the
    time, where Chromium's own fake microphone beeps for 20 ms twice a second."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate))
        )
        out.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))


def test_only_who_speaks(
    playwright: Playwright, netns: str, tmp_path: Path, server: Server
) -> None:
    """Bram (on this device he chose "only who speaks" before) sees Anna, who speaks,
    and not Carla, whose microphone is off: Carla's video does not reach him at all
    while Anna's does. When Carla speaks, her video comes. "Show everyone" brings every
    picture back, and the choice is remembered."""
    tone = tmp_path / "tone.wav"
    write_tone(tone)
    browser = launch_chromium(
        playwright, netns, tmp_path, [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}"]
    )
    url = server.room_url(f"e2e-{uuid.uuid4().hex[:10]}")
    people: list[Participant] = []
    try:
        carla = open_participant(browser, url, "Carla")
        people.append(carla)
        carla.page.click("#mute-button")
        anna = open_participant(browser, url, "Anna")
        people.append(anna)
        bram = open_participant(browser, url, "Bram", join=False)
        people.append(bram)
        bram.page.evaluate("() => localStorage.setItem('grouproom.othersVideo', 'speakers')")
        bram.page.reload()
        bram.page.fill("#name", "Bram")
        bram.page.click("#join-button")
        bram.page.wait_for_selector("#room:not([hidden])", timeout=20000)
        bram.page.wait_for_selector(
            "#weak-line-text:text-is('To spare your connection you see only the video of"
            " whoever speaks.')"
        )
        assert bram.page.inner_text("#video-mode-button") == "Show everyone"
        wait_until(lambda: len(bram.remote_tiles()) == 2, 15, "Bram does not see two tiles")
        ids = {tile["name"]: tile["id"] for tile in bram.remote_tiles()}

        def video_from(name: str) -> int:
            return packets_from(bram, ids[name], "video")

        # Anna speaks: her picture comes. Carla is silent: initials, and her video is
        # not forwarded to Bram at all, while her audio is.
        wait_until(lambda: video_from("Anna") > 100, 20, "Anna's video does not reach Bram")
        wait_until(
            lambda: any(
                t["name"] == "Anna" and not t["initials"] and t["videoWidth"] > 0
                for t in bram.remote_tiles()
            ),
            10,
            "Anna's tile shows no picture",
        )
        carla_tile = next(t for t in bram.remote_tiles() if t["name"] == "Carla")
        assert carla_tile["initials"]
        before = video_from("Carla")
        grows(lambda: video_from("Anna"), 50, 10, "Anna's video stopped")
        assert video_from("Carla") == before, "Carla's video reached Bram though she is silent"
        TEST_OUTPUT.mkdir(exist_ok=True)
        bram.page.screenshot(path=str(TEST_OUTPUT / "room-only-who-speaks.png"))

        # Carla speaks: after a moment of speech her video comes too.
        carla.page.click("#mute-button")
        started = time.monotonic()
        grows(lambda: video_from("Carla"), 50, 20, "Carla's video does not come when she speaks")
        print(f"Carla's video after {time.monotonic() - started:.1f} s of speaking")

        # Everyone's video again, on this device from now on.
        bram.page.click("#video-mode-button")
        bram.page.wait_for_selector("#weak-line-hint", state="hidden")
        assert bram.page.evaluate("() => localStorage.getItem('grouproom.othersVideo')") is None
        wait_until(lambda: playing_remote_videos(bram, 2), 20, "the pictures do not come back")
        for participant in people:
            assert participant.errors == [], f"{participant.name}: {participant.errors}"
    finally:
        close_all(*people)
        browser.close()
