"""The performance bench still works: a short run of `scripts/bench --quick` with
grouproom and Janus, checked for what the figures are made of (every bot joined,
every packet delivered, a first frame for every subscriber). The bench reports
speed; this test asserts none."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import aioice.ice
import pytest

from benchmarks.bot_media import PACING_RATE, PACING_STEP, paced_wait, speaks
from benchmarks.bot_process import use_rfc7675_consent
from benchmarks.bots import keep_grouproom_socket_alive
from grouproom.app import create_app
from grouproom.media import consent
from grouproom.settings import Settings
from tests.media.test_consent import connect_over_loopback
from tests.protocol.conftest import AiohttpClient

ROOT = Path(__file__).resolve().parents[2]

needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="the bench makes a network namespace: root and unshare are needed",
)


@needs_namespaces
def test_a_quick_bench_measures_grouproom_and_janus() -> None:
    servers = ["grouproom"] + (["janus"] if shutil.which("janus") else [])
    run = subprocess.run(
        [str(ROOT / "scripts/bench"), "--quick", "--pairs", "1", "--servers", *servers],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    records = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [record["server"] for record in records if not record["pair"]] == servers
    # Then the grid once more, grouproom and Janus back to back (a pair).
    paired = [(record["server"], record["pair"]) for record in records if record["pair"]]
    assert paired == ([("grouproom", 1), ("janus", 1)] if "janus" in servers else [])
    for record in records:
        assert record["joined"] == 3, record
        assert record["delivery_ratio"] >= 0.99, record
        assert record["packets_per_second"] > 0, record
        assert record["us_per_packet"] > 0, record
        assert record["first_frame_ms"] is not None, record
        assert record["delay_p50_ms"] is not None, record
        # Audio's own tail, within the whole one's range of buckets.
        assert record["audio_delay_p99_ms"] is not None, record
        assert record["note"] == "", record
        # The server on cores of its own, the bots on the others (as the kernel had
        # them), where the machine has two cores or more.
        if len(os.sched_getaffinity(0)) >= 2:
            assert record["server_cpus"] and record["bot_cpus"], record
            assert not set(record["server_cpus"]) & set(record["bot_cpus"]), record


def test_talking_bots_speak_one_at_a_time_and_all_in_turn() -> None:
    members, seconds = 12, 5.0
    turns: dict[int, int] = {}
    for step in range(2 * members * 10):  # two rounds, ten looks per turn
        now = 1_000.0 + step * seconds / 10
        speaking = [bot for bot in range(1, members + 1) if speaks(bot, now, seconds, members)]
        assert len(speaking) == 1, (now, speaking)
        turns[speaking[0]] = turns.get(speaking[0], 0) + 1
    assert turns == {bot: 20 for bot in range(1, members + 1)}


def test_paced_bots_spread_a_keyframe_at_the_pacing_rate() -> None:
    """A keyframe of 40 packets leaves over about 40 x 1,104 / PACING_RATE seconds
    (0.28 s), the first packet at once; after a pause the next packet goes at once,
    without a burst saved up."""
    free_at, now, sent_at = 0.0, 100.0, []
    for _ in range(40):
        wait, free_at = paced_wait(free_at, now, 1104)
        now += wait
        sent_at.append(now)
    assert sent_at[0] == 100.0
    span = sent_at[-1] - sent_at[0]
    assert 39 * 1104 / PACING_RATE - PACING_STEP <= span <= 39 * 1104 / PACING_RATE + 1e-9
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent_at)]
    assert all(gap < 2 * 1104 / PACING_RATE for gap in gaps)
    now += 5.0  # a pause: nothing is saved up for a burst
    wait, free_at = paced_wait(free_at, now, 1104)
    assert wait == 0.0
    wait, free_at = paced_wait(free_at, now, 1104)
    assert wait == pytest.approx(1104 / PACING_RATE)


async def test_a_bots_socket_outlives_the_servers_idle_timeout(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    """grouproom closes a socket silent for its idle timeout; a bot's keeps pinging
    (with the server's 60 s and the bots' 20 s scaled down here), where one that
    only joined is closed."""
    http = await aiohttp_client(create_app(settings, idle_timeout=0.6))
    alive, silent = await http.ws_connect("/ws"), await http.ws_connect("/ws")
    keeping = asyncio.ensure_future(keep_grouproom_socket_alive(alive, interval=0.2))
    replies: list[str] = []

    async def drain() -> None:
        async for message in alive:
            replies.append(json.loads(message.data)["type"])

    draining = asyncio.ensure_future(drain())
    try:
        closing = json.loads((await silent.receive(timeout=5)).data)
        assert closing["data"] == {"cause": "idle"}
        await asyncio.sleep(1.5)  # two and a half idle timeouts
        assert not alive.closed
        assert replies.count("pong") >= 5
    finally:
        keeping.cancel()
        draining.cancel()
        await alive.close()
        await silent.close()


async def test_a_bots_ice_connection_outlives_late_consent_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bot keeps consent as RFC 7675 says (30 s after the last answer), not as
    aioice does (six checks in a row unanswered within 0.5 s): answers held back
    0.7 s, as on a machine busy with other work, do not end its connection. Both
    consent intervals and the timeout are scaled down, so that aioice's own check
    would close it within about 4 s."""
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.5)
    monkeypatch.setattr(consent, "CONSENT_INTERVAL", 0.5)
    monkeypatch.setattr(consent, "CONSENT_TIMEOUT", 4.0)
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: ["127.0.0.1"])
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", aioice.ice.Connection.query_consent)
    use_rfc7675_consent()
    bot = aioice.ice.Connection(ice_controlling=True, components=1)
    server = aioice.ice.Connection(ice_controlling=False, components=1)
    answers = await connect_over_loopback(bot, server)
    try:
        answers.delay = 0.7
        await asyncio.sleep(8.0)
        assert not bot._closing, "the bot's connection ended although every check was answered"
    finally:
        await server.close()
        await bot.close()
