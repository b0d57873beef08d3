"""End-to-end fixtures: a private network namespace, the server and real browsers in it.

Everything runs inside a network namespace the test session creates, so WebRTC
traffic never leaves it: the server listens on 127.0.0.1 there with its default ICE
setting (it offers only 127.0.0.1, as on a laptop), and the browsers get one more
address, 10.203.0.1 on a veth pair whose both ends are inside the namespace (Chromium
gathers no candidates when only loopback exists). Playwright's driver stays outside
and talks to Chromium over a pipe; Chromium is started through `ip netns exec`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
NAMESPACE_PREFIX = "grouproom-e2e-"
SERVER_PORT = 18080
BROWSER_ADDRESS = "10.203.0.1/24"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# Screenshots the tests take, for a person to look at (not compared by any test).
TEST_OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
# Console messages that are not faults of the page.
HARMLESS_CONSOLE = ("favicon.ico",)


def _ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *arguments], capture_output=True, text=True, check=check)


def _require_tools() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("the e2e tests need root (network namespaces)")
    if shutil.which("ip") is None:
        problems.append("`ip` (iproute2) is missing")
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} is missing (Debian package chromium)")
    if problems:
        message = "; ".join(problems) + ": run ./scripts/test, which installs them"
        pytest.fail(message, pytrace=False)


def _remove_stale_namespaces() -> None:
    listing = _ip("netns", "list", check=False).stdout.split()
    for name in listing:
        if not name.startswith(NAMESPACE_PREFIX):
            continue
        pid = name.removeprefix(NAMESPACE_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _ip("netns", "del", name, check=False)


@pytest.fixture(scope="session")
def netns() -> Iterator[str]:
    _require_tools()
    _remove_stale_namespaces()
    name = f"{NAMESPACE_PREFIX}{os.getpid()}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "d0", "type", "veth", "peer", "name", "d0p")
        _ip("-n", name, "addr", "add", BROWSER_ADDRESS, "dev", "d0")
        _ip("-n", name, "link", "set", "d0p", "up")
        _ip("-n", name, "link", "set", "d0", "up")
        _ip("-n", name, "route", "add", "default", "dev", "d0")
        yield name
    finally:
        _ip("netns", "del", name, check=False)


@dataclass
class Server:
    base_url: str
    log_path: Path
    data_dir: Path

    def room_url(self, room: str) -> str:
        return f"{self.base_url}/r/{room}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def server(netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = ["ip", "netns", "exec", netns, sys.executable, "-m", "grouproom", "serve"]
    data_dir = tmp_path_factory.mktemp("server-data")
    command += ["--host", "127.0.0.1", "--port", str(SERVER_PORT), "--data-dir", str(data_dir)]
    # The browsers meet a server with a worker process per room: the protocol and
    # media tests cover media in the server's own process (the default).
    # The namespace is the server's own: the default media port (10000 here, the
    # workers 10001 and up), not the any-port of the other tests.
    environment = {**os.environ, "GROUPROOM_ROOM_WORKERS": "true"}
    environment.pop("GROUPROOM_MEDIA_PORT", None)
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    try:
        deadline = time.monotonic() + 20
        while "grouproom listens on" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log_path.read_text()}", pytrace=False)
            time.sleep(0.1)
        time.sleep(0.3)  # from printing the address to listening
        yield Server(f"http://127.0.0.1:{SERVER_PORT}", log_path, data_dir)
    finally:
        _stop(process)


# Module scope, not session: Playwright's sync API keeps an asyncio event loop
# running in this thread while it is open, and the async tests of other folders
# (pytest-asyncio) cannot start theirs until it is closed.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def launch_chromium(
    playwright: Playwright, netns: str, folder: Path, args: list[str] = CHROMIUM_ARGS
) -> Browser:
    """Chromium inside the namespace: Playwright starts this wrapper instead of the binary."""
    wrapper = folder / "chromium-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return playwright.chromium.launch(executable_path=str(wrapper), args=args, timeout=30000)


@pytest.fixture(scope="module")
def chromium(
    playwright: Playwright, netns: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    browser = launch_chromium(playwright, netns, tmp_path_factory.mktemp("chromium"))
    try:
        yield browser
    finally:
        browser.close()


# Scripts the tests run in pages (shared with the Firefox driver, firefox/).
PAGE_SCRIPTS = Path(__file__).with_name("page_scripts")
# Remembers every peer connection, so that a test can read its statistics.
RECORD_PEER_CONNECTIONS = (PAGE_SCRIPTS / "record-peer-connections.js").read_text()


@dataclass
class Participant:
    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def tiles(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate(TILES_SCRIPT)
        return result

    def remote_tiles(self) -> list[dict[str, Any]]:
        return [tile for tile in self.tiles() if not tile["self"]]

    def audio_bytes_received(self) -> int:
        result: int = self.page.evaluate(INBOUND_TOTAL_SCRIPT, ["audio", "bytesReceived"])
        return result


TILES_SCRIPT = """() => [...document.querySelectorAll('#grid .tile')].map((tile) => {
  const video = tile.querySelector('video');
  const box = tile.getBoundingClientRect();
  return {
    id: tile.dataset.participantId,
    self: tile.dataset.self === 'true',
    name: tile.querySelector('.tile-name').textContent,
    muted: !tile.querySelector('.tile-muted').hidden,
    initials: !tile.querySelector('.tile-initials').hidden,
    initialsText: tile.querySelector('.tile-initials').textContent,
    speaking: tile.dataset.speaking === 'true',
    videoWidth: video.videoWidth,
    currentTime: video.currentTime,
    left: box.left, top: box.top, width: box.width, height: box.height,
  };
})"""

INBOUND_TOTAL_SCRIPT = """async ([kind, field]) => {
  let total = 0;
  for (const pc of window.__e2ePeerConnections || []) {
    if (pc.connectionState === 'closed') continue;
    const stats = await pc.getStats();
    stats.forEach((report) => {
      if (report.type === 'inbound-rtp' && report.kind === kind) total += report[field];
    });
  }
  return total;
}"""


CLIPPED_CONTROLS_SCRIPT = """() => [...document.querySelectorAll('#controls button')]
  .filter((button) => button.offsetParent !== null)
  .filter((button) => button.scrollWidth > button.clientWidth + 1
    || button.scrollHeight > button.clientHeight + 1
    || button.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map((button) => button.textContent)"""


def clipped_controls(page: Page) -> list[str]:
    """The texts of the visible control buttons whose words do not fit them (or the window)."""
    result: list[str] = page.evaluate(CLIPPED_CONTROLS_SCRIPT)
    return result


CONTROLS_OUT_OF_VIEW_SCRIPT = """() => {
  const bar = document.getElementById('controls').getBoundingClientRect();
  const top = Math.max(0, bar.top) - 0.5, bottom = Math.min(window.innerHeight, bar.bottom) + 0.5;
  return [...document.querySelectorAll('#controls button')]
    .filter((button) => button.offsetParent !== null)
    .filter((button) => {
      const box = button.getBoundingClientRect();
      return box.top < top || box.bottom > bottom || box.left < -0.5
        || box.right > window.innerWidth + 0.5;
    })
    .map((button) => button.textContent);
}"""


def controls_out_of_view(page: Page) -> list[str]:
    """The texts of the visible control buttons that are not wholly in view: outside
    the window, or scrolled out of the controls' own box."""
    result: list[str] = page.evaluate(CONTROLS_OUT_OF_VIEW_SCRIPT)
    return result


def set_text_size(page: Page, pixels: int) -> None:
    """The browser's default text size, as a reader sets it in her browser (16 px
    unless raised); a page with <meta name="text-scale" content="scale"> gets the
    system's text size (a tablet's accessibility setting) the same way."""
    session = page.context.new_cdp_session(page)
    session.send("Page.setFontSizes", {"fontSizes": {"standard": pixels, "fixed": 13}})


def open_participant(
    browser: Browser,
    url: str,
    name: str,
    *,
    locale: str = "en-US",
    viewport: tuple[int, int] = (1280, 720),
    join: bool = True,
) -> Participant:
    context = browser.new_context(
        locale=locale, viewport={"width": viewport[0], "height": viewport[1]}
    )
    context.add_init_script(RECORD_PEER_CONNECTIONS)
    page = context.new_page()
    participant = Participant(name, context, page)

    def on_console(message: Any) -> None:
        if message.type == "error" and not any(h in message.text for h in HARMLESS_CONSOLE):
            participant.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: participant.errors.append(str(error)))
    page.goto(url)
    if join:
        page.fill("#name", name)
        page.click("#join-button")
        try:
            page.wait_for_selector("#room:not([hidden])", timeout=20000)
        except PlaywrightTimeout:
            step = page.evaluate(PAGE_STEP_SCRIPT)
            raise AssertionError(
                f"{name} is not in the room after 20 s; the page: {step};"
                f" its errors: {participant.errors}"
            ) from None
    return participant


# Which step a page is at, for a failure's message: the sections shown, the status
# line, the error messages shown, and whether the join button is waiting.
PAGE_STEP_SCRIPT = """() => ({
  shown: [...document.querySelectorAll('main > section')].filter((s) => !s.hidden).map((s) => s.id),
  status: (document.getElementById('status') || {}).textContent,
  errors: [...document.querySelectorAll('.error:not([hidden])')].map((e) => e.textContent),
  joinButtonDisabled: (document.getElementById('join-button') || {}).disabled,
  peerConnections: (window.__e2ePeerConnections || []).map(
    (pc) => `${pc.signalingState}/${pc.iceConnectionState}/${pc.connectionState}`),
})"""


def wait_until(condition: Any, timeout: float, message: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


def playing_remote_videos(participant: Participant, expected: int) -> list[dict[str, Any]]:
    """Remote tiles whose video has a size and whose time advances over 0.6 s."""
    before = {tile["id"]: tile for tile in participant.remote_tiles()}
    time.sleep(0.6)
    after = participant.remote_tiles()
    playing = [
        tile
        for tile in after
        if tile["videoWidth"] > 0
        and tile["id"] in before
        and tile["currentTime"] > before[tile["id"]]["currentTime"]
    ]
    return playing if len(after) == expected and len(playing) == expected else []


def video_packets(participant: Participant) -> int:
    result: int = participant.page.evaluate(INBOUND_TOTAL_SCRIPT, ["video", "packetsReceived"])
    return result


PACKETS_FROM_SCRIPT = """async ([id, kind]) => {
  const video = document.querySelector(`.tile[data-participant-id="${id}"] video`);
  const stream = video && video.srcObject;
  const track = stream && (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
  if (!track) return -1;
  for (const pc of window.__e2ePeerConnections || []) {
    for (const receiver of pc.getReceivers()) {
      if (receiver.track !== track) continue;
      let packets = 0;
      (await receiver.getStats()).forEach((report) => {
        if (report.type === 'inbound-rtp') packets += report.packetsReceived;
      });
      return packets;
    }
  }
  return -1;
}"""


def packets_from(participant: Participant, publisher_id: str, kind: str) -> int:
    """The RTP packets of one kind ("audio", "video") that reached the participant's
    page from one publisher (by the tile's track); -1 without such a track."""
    result: int = participant.page.evaluate(PACKETS_FROM_SCRIPT, [publisher_id, kind])
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


def close_all(*participants: Participant) -> None:
    for participant in participants:
        participant.context.close()


def end_by_closing_stdin(process: subprocess.Popen[str], timeout: float) -> None:
    """End a helper process that stops when its standard input closes (the Firefox
    participant, the signalling bots): close it, wait, kill if it hangs, and close
    its pipes."""
    if process.stdin:
        process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()
