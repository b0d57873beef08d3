"""One load-generator process: runs the bots it is given and reports their counts.

    python -m benchmarks.bot_process PLAN_JSON

The plan names the clip file, the server kind and address, and the bots (number,
room, when to join in seconds after `start`, phase of their sending). Commands
arrive as lines on standard input:

- `start`: the bots join on their schedule; each joined bot prints
  `{"joined": N}` (or `{"failed": N, "error": ...}`).
- `snapshot`: prints one JSON line with every count so far.
- `window START_NS END_NS`: the measuring window (CLOCK_MONOTONIC): only packets
  sent inside it are counted for the delivery ratio and the delays.
- `stop`: closes every bot and exits. End of input and a deadline do the same.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aioice.ice

from benchmarks.bot_media import WINDOW, DelayHistogram
from benchmarks.bots import Bot
from benchmarks.clip import Clip
from grouproom.media.consent import keep_consent
from grouproom.media.hooks import install_datagram_guard


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def snapshot(bots: list[Bot], delays: DelayHistogram) -> dict[str, Any]:
    return {
        "bots": {
            str(bot.number): {
                "room": bot.room,
                "joined": bot.joined_ns is not None,
                "error": bot.error,
                "sent": vars(bot.sent).copy(),
                "received": {str(p): vars(c).copy() for p, c in bot.received.items()},
                "started_ns": bot.started_ns,
                "present_at_join": sorted(bot.present_at_join),
            }
            for bot in bots
        },
        "delays": delays.sparse(),
        "audio_delays": delays.sparse_audio(),
    }


async def join_later(bot: Bot, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        await asyncio.wait_for(bot.join(), 30)
    except Exception as exc:  # reported to the orchestrator, which decides
        bot.error = f"{type(exc).__name__}: {exc}"
        say({"failed": bot.number, "error": bot.error})
        return
    say({"joined": bot.number})


def use_rfc7675_consent() -> None:
    """The bots' ICE connections keep consent for 30 s after the last answer, as
    the server and browsers do. aioice's own check ends a connection after six
    checks without an answer within 0.5 s: on a machine busy enough to delay a
    bot's answers (a long run beside other work) a bot then left the room in the
    middle of the window, and the bench measured a room that was emptying."""
    aioice.ice.Connection.query_consent = keep_consent  # type: ignore[method-assign,assignment]


async def main(plan: dict[str, Any]) -> None:
    install_datagram_guard()  # and with it the direct receive of CountingReceiver
    use_rfc7675_consent()
    clip = Clip.load(Path(plan["clip"]))
    delays = DelayHistogram()
    bots = [
        Bot(
            number=spec["number"],
            room=spec["room"],
            server=plan["server"],
            url=plan["url"],
            clip=clip,
            delays=delays,
            phase=spec["phase"],
            show_video=spec.get("show_video", True),
            speaking_turn=spec.get("speaking_turn"),
            members=spec.get("members", 1),
            pace=spec.get("pace", False),
        )
        for spec in plan["bots"]
    ]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    joining: list[asyncio.Task[None]] = []
    deadline = loop.time() + float(plan.get("deadline", 600))
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            command = line.decode().strip()
            if command in ("", "stop"):
                break
            if command == "start":
                joining = [
                    asyncio.ensure_future(join_later(bot, spec["join_at"]))
                    for bot, spec in zip(bots, plan["bots"], strict=True)
                ]
            elif command == "snapshot":
                say(snapshot(bots, delays))
            elif command.startswith("window "):
                WINDOW.start_ns, WINDOW.end_ns = map(int, command.split()[1:])
    finally:
        for task in joining:
            task.cancel()
        await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
