"""The grid for 1 to 12 participants: equal tiles, as large as possible, no scrolling."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import (
    SERVER_PORT,
    Participant,
    Server,
    clipped_controls,
    close_all,
    controls_out_of_view,
    end_by_closing_stdin,
    open_participant,
    set_text_size,
)

pytestmark = pytest.mark.e2e

BOTS = Path(__file__).with_name("signaling_bots.py")
VIEWPORTS = [(1280, 720), (768, 1024), (390, 844)]  # laptop, iPad portrait, phone
GAP = 8


def best_tile_width(count: int, width: float, height: float) -> float:
    """The widest 16:9 tile that fits `count` equal tiles in the box (an independent oracle)."""
    best = 0.0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        cell_width = (width - GAP * (columns - 1)) / columns
        cell_height = (height - GAP * (rows - 1)) / rows
        best = max(best, min(cell_width, cell_height * 16 / 9))
    return best


def check_layout(member: Participant, count: int, viewport: tuple[int, int]) -> None:
    page = member.page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    page.wait_for_function(
        "([count, width]) => document.querySelectorAll('#grid .tile').length === count"
        " && window.innerWidth === width",
        arg=[count, viewport[0]],
    )
    page.wait_for_timeout(100)  # the ResizeObserver runs after layout
    tiles = member.tiles()
    where = f"{count} tiles at {viewport[0]}x{viewport[1]}"
    assert len(tiles) == count, where
    sizes = {(round(t["width"]), round(t["height"])) for t in tiles}
    assert len(sizes) == 1, f"{where}: tiles differ in size: {sizes}"
    grid = page.evaluate(
        "() => { const box = document.getElementById('grid').getBoundingClientRect();"
        " const style = getComputedStyle(document.getElementById('grid'));"
        " return {left: box.left, top: box.top, right: box.right, bottom: box.bottom,"
        " padding: parseFloat(style.paddingLeft),"
        " scroll: document.scrollingElement.scrollHeight - window.innerHeight,"
        " scrollX: document.scrollingElement.scrollWidth - window.innerWidth} }"
    )
    assert grid["scroll"] <= 0 and grid["scrollX"] <= 0, f"{where}: the page scrolls: {grid}"
    assert clipped_controls(page) == [], f"{where}: controls too narrow for their words"
    for tile in tiles:
        assert tile["left"] >= grid["left"] - 0.5 and tile["top"] >= grid["top"] - 0.5, where
        assert tile["left"] + tile["width"] <= grid["right"] + 0.5, where
        assert tile["top"] + tile["height"] <= grid["bottom"] + 0.5, where
    inner_width = grid["right"] - grid["left"] - 2 * grid["padding"]
    inner_height = grid["bottom"] - grid["top"] - 2 * grid["padding"]
    optimum = best_tile_width(count, inner_width, inner_height)
    width = tiles[0]["width"]
    assert width >= optimum - 2, f"{where}: tiles {width:.0f} px wide, {optimum:.0f} px fit"
    assert width / tiles[0]["height"] == pytest.approx(16 / 9, abs=0.03), where


def test_the_grid_uses_the_window_for_1_to_12_participants(
    chromium: Browser, server: Server, netns: str
) -> None:
    room = f"e2e-{uuid.uuid4().hex[:10]}"
    member = open_participant(chromium, server.room_url(room), "Ina")
    bots = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            str(BOTS),
            f"ws://127.0.0.1:{SERVER_PORT}/ws",
            room,
            "11",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for viewport in VIEWPORTS:
            check_layout(member, 1, viewport)
        assert bots.stdin is not None and bots.stdout is not None
        for count in range(2, 13):
            bots.stdin.write("next\n")
            bots.stdin.flush()
            line = bots.stdout.readline().strip()
            assert line == f"joined {count - 1}", f"the bots stopped: {line!r}"
            for viewport in VIEWPORTS:
                check_layout(member, count, viewport)
        # Every bot shows initials: their cameras are off.
        assert all(tile["initials"] for tile in member.remote_tiles())
        # A reader who has raised her text size to 150%: the page's text follows it
        # (it was fixed at 18 px). On a tablet held sideways the controls then stand
        # beside the faces (in rows under them the twelve tiles had 56% of the height);
        # a phone held upright keeps its bars small enough to leave the faces room.
        set_text_size(member.page, 24)
        for viewport in [(1024, 768), (390, 844), (1280, 720)]:
            check_layout(member, 12, viewport)
            page = member.page
            assert page.evaluate("getComputedStyle(document.body).fontSize") == "27px"
            assert controls_out_of_view(page) == [], viewport
            grid = page.locator("#grid").bounding_box()
            controls = page.locator("#controls").bounding_box()
            assert grid is not None and controls is not None
            share = grid["height"] / viewport[1]
            if viewport == (390, 844):
                assert controls["y"] >= grid["y"] + grid["height"] - 1, (grid, controls)
                assert share >= 0.5, f"the faces have {share:.0%} of the height"
            else:
                assert controls["x"] >= grid["x"] + grid["width"] - 1, (grid, controls)
                assert share >= 0.8, f"the faces have {share:.0%} of the height"
        assert member.errors == []
    finally:
        end_by_closing_stdin(bots, timeout=10)
        close_all(member)
