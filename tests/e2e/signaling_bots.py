"""Participants that join a room over the signalling WebSocket without media.

Run inside the test's network namespace:

    python signaling_bots.py WS_URL ROOM COUNT

Each bot joins with its camera off when a line arrives on standard input (the script
answers `joined N`), and all stay until standard input closes. In the grid they are
real participants whose tiles show initials, which is what a layout test needs
without starting 12 browsers.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp


async def bot(session: aiohttp.ClientSession, url: str, room: str, number: int) -> None:
    socket = await session.ws_connect(url)
    join = {"room": room, "name": f"Bot {number}", "audio_muted": True, "video_muted": True}
    await socket.send_json({"v": 1, "type": "join", "id": "1", "data": join})
    while True:
        reply = json.loads((await socket.receive(timeout=10)).data)
        if reply["id"] == "1":
            if reply["type"] != "joined":
                raise RuntimeError(f"bot {number} could not join: {reply}")
            break
    asyncio.get_running_loop().create_task(keep_alive(socket))


async def keep_alive(socket: aiohttp.ClientWebSocketResponse) -> None:
    number = 1
    while not socket.closed:
        await asyncio.sleep(20)
        number += 1
        await socket.send_json({"v": 1, "type": "ping", "id": str(number), "data": {}})


async def main(url: str, room: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        for number in range(1, count + 1):
            if not await loop.run_in_executor(None, sys.stdin.readline):
                return
            await bot(session, url, room, number)
            print("joined", number, flush=True)
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
