"""`grouproom serve`: start, links, graceful stop, refusals."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport

from grouproom.__main__ import main, two_factor_advice
from grouproom.settings import Settings, SettingsError
from tests.media.test_udp_mux import free_udp_port

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GROUPROOM_")}


async def start_server(data_dir: Path, *flags: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "grouproom",
        "serve",
        "--data-dir",
        str(data_dir),
        # Any free media port unless a test names one (10000 may be taken here).
        *(() if "--media-port" in flags else ("--media-port", "0")),
        *flags,
        cwd=REPO,
        env=clean_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_prints_links_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    server = await start_server(tmp_path, "--port", str(port), "--max-participants", "3")
    try:
        assert server.stdout is not None
        first = await asyncio.wait_for(server.stdout.readline(), 30)
        second = await asyncio.wait_for(server.stdout.readline(), 5)
        assert f"http://127.0.0.1:{port}/" in first.decode()
        assert f"http://127.0.0.1:{port}/r/demo" in second.decode()

        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert await response.text() == "ok"
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                join = {
                    "v": 1,
                    "type": "join",
                    "id": "1",
                    "data": {"room": "demo", "name": "Annabel Jansen"},
                }
                await ws.send_str(json.dumps(join))
                joined = json.loads(await ws.receive_str(timeout=10))
                assert joined["data"]["receive_slots"] == 2

                server.send_signal(signal.SIGTERM)
                closing = json.loads(await ws.receive_str(timeout=10))
                assert closing["type"] == "closing"
                assert closing["data"] == {"cause": "shutdown"}
                close = await ws.receive(timeout=10)
                assert close.type is aiohttp.WSMsgType.CLOSE
                assert close.data == 1001
        assert await asyncio.wait_for(server.wait(), 15) == 0
        assert server.stderr is not None
        log = (await server.stderr.read()).decode()
        assert "joined room" in log  # logged, but pseudonymously:
        assert "Annabel" not in log and "demo" not in log
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-participants", "1"], "max participants"),
        (["--stun", "example.org"], "stun:"),
        (["--turn", "turn:example.org"], "TURN secret"),
        (["--ice-address", "not-an-address"], "not an IP address"),
        (["--port", "70000"], "port"),
        (["--media-port", "-1"], "media port"),
        (["--media-bind-address", "0.0.0.0"], "exactly one ICE address"),
        (["--media-bind-address", "any", "--ice-address", "127.0.0.1"], "not an IP address"),
    ],
)
def test_bad_settings_exit_2_with_a_message(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *flags]) == 2
    assert message in capsys.readouterr().err


def test_bad_environment_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROUPROOM_PORT", "eighty")
    assert main(["serve"]) == 2
    assert "GROUPROOM_PORT" in capsys.readouterr().err


def test_a_missing_aiortc_hook_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delattr(RTCDtlsTransport, "_send_rtp")
    assert main(["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)]) == 3
    assert "RTCDtlsTransport._send_rtp" in capsys.readouterr().err


async def test_the_media_port_is_printed_and_a_taken_one_stops_the_start(
    tmp_path: Path,
) -> None:
    media_port = free_udp_port()
    server = await start_server(
        tmp_path / "free", "--port", str(free_port()), "--media-port", str(media_port)
    )
    try:
        assert server.stdout is not None
        banner = await read_until(server.stdout, "media: UDP port")
        assert f"media: UDP port {media_port}\n" in banner
        # The port is the server's now: a second server cannot have it.
        second = await start_server(
            tmp_path / "taken", "--port", str(free_port()), "--media-port", str(media_port)
        )
        assert await asyncio.wait_for(second.wait(), 30) == 1
        assert second.stderr is not None
        error = (await second.stderr.read()).decode()
        assert f"UDP port {media_port} on 127.0.0.1 for media is in use" in error
        assert "GROUPROOM_MEDIA_PORT" in error and "Traceback" not in error
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 15)


async def test_the_servers_media_socket_takes_srtp_through_the_compiled_step(
    tmp_path: Path,
) -> None:
    """The server opens its media port at start-up, before any room's forwarder
    exists: on its default event loop (uvloop) the socket still takes SRTP through
    the compiled step (it kept Python's when the forwarder's classes were
    registered, and the datagram guard installed, only by the first room)."""
    server = await start_server(tmp_path, "--port", str(free_port()))
    try:
        assert server.stdout is not None
        banner = await read_until(server.stdout, "copies of each packet")
        assert "copies of each packet: compiled" in banner
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 15)
    assert server.stderr is not None
    log = (await server.stderr.read()).decode()
    assert "SRTP through the compiled step" in log
    assert "SRTP through Python's step" not in log


async def read_until(stream: asyncio.StreamReader, marker: str, seconds: float = 30) -> str:
    text = ""
    async with asyncio.timeout(seconds):
        while marker not in text:
            line = await stream.readline()
            if not line:
                break
            text += line.decode()
    return text


async def first_start(server: asyncio.subprocess.Process) -> tuple[str, dict[str, str]]:
    """What a new installation prints: the demo therapist's password and the demo
    members' invite links, by name."""
    assert server.stdout is not None
    printed = await read_until(server.stdout, "invite link for Olga")
    password = printed.split("password (shown only now): ")[1].split()[0]
    return password, dict(re.findall(r"invite link for (.+?): (\S+)", printed))


async def check_the_demo_works(port: int, password: str, links: dict[str, str]) -> None:
    """The demo therapist logs in with `password`, and Anna's invite link is taken."""
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{base}/login") as response:
            nonce = re.search(r'name="login_nonce" value="([^"]+)"', await response.text())
        assert nonce is not None
        form = {
            "email": "demo@grouproom.invalid",
            "password": password,
            "login_nonce": nonce.group(1),
        }
        async with session.post(f"{base}/login", data=form, headers={"Origin": base}) as r:
            assert r.url.path == "/groups" and "Demogroep" in await r.text()
        async with session.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            token = links["Anna"].rsplit("/", 1)[1]
            await ws.send_json(
                {"v": 1, "type": "session_info", "id": "1", "data": {"invite": token}}
            )
            reply = await ws.receive_json(timeout=10)
    assert reply["data"]["you"]["name"] == "Anna" and reply["data"]["session_open"] is True


async def test_a_new_installation_prints_a_working_demo_group(tmp_path: Path) -> None:
    port = free_port()
    server = await start_server(tmp_path, "--port", str(port))
    try:
        password, links = await first_start(server)
        assert set(links) == {"Anna", "Bram", "Olga (stagiair)"}
        await check_the_demo_works(port, password, links)
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 20)

    # A restart finds the same demo; the password is not shown again.
    again = await start_server(tmp_path, "--port", str(port))
    try:
        assert again.stdout is not None
        printed = await read_until(again.stdout, "invite link for Olga")
        assert "shown only now" not in printed and "invite link for Anna" in printed
    finally:
        again.send_signal(signal.SIGTERM)
        await asyncio.wait_for(again.wait(), 20)


def test_a_server_beyond_loopback_is_advised_to_require_two_step_login() -> None:
    # The demo on this machine is not nagged; a server others reach is, until it
    # requires two-step login of its therapists.
    assert two_factor_advice(Settings(host="127.0.0.1")) is None
    advice = two_factor_advice(Settings(host="0.0.0.0"))
    assert advice is not None and "GROUPROOM_TWO_FACTOR=required" in advice
    assert two_factor_advice(Settings(host="0.0.0.0", two_factor="required")) is None
    with pytest.raises(SettingsError, match="optional or required"):
        Settings(two_factor="sometimes")
