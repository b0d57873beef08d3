"""Real Chromium: video a page does not show (a tile out of view, a hidden page) is
not forwarded to it, and comes back when it is shown again; audio goes on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import (
    Participant,
    Server,
    close_all,
    open_participant,
    playing_remote_videos,
    wait_until,
)

pytestmark = pytest.mark.e2e

VIDEO_PACKETS_SCRIPT = """async () => {
  let total = 0;
  for (const pc of window.__e2ePeerConnections || []) {
    if (pc.connectionState === 'closed') continue;
    const stats = await pc.getStats();
    stats.forEach((report) => {
      if (report.type === 'inbound-rtp' && report.kind === 'video') total += report.packetsReceived;
    });
  }
  return total;
}"""

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


def video_packets(participant: Participant) -> int:
    result: int = participant.page.evaluate(VIDEO_PACKETS_SCRIPT)
    return result


def grows(measure: Callable[[], int], by: int, timeout: float, message: str) -> None:
    start = measure()
    wait_until(lambda: measure() > start + by, timeout, message)


def stays_still(participant: Participant, message: str) -> None:
    """No more video packets arrive (after what was under way)."""
    time.sleep(1.0)
    before = video_packets(participant)
    time.sleep(2.0)
    assert video_packets(participant) == before, message


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
