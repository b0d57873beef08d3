"""LoginWatch: a failed check is no verdict; an ended login is told once."""

from __future__ import annotations

import asyncio

from grouproom.signaling.login_watch import LoginWatch


async def test_a_failed_check_is_tried_again_and_an_ended_login_told_once() -> None:
    answers: list[bool | Exception] = [True, OSError("database unreachable"), True, False]
    asked: list[int] = []
    ended = asyncio.Event()
    told: list[int] = []

    async def still_valid() -> bool:
        asked.append(1)
        answer = answers.pop(0) if answers else False
        if isinstance(answer, Exception):
            raise answer
        return answer

    def on_ended() -> None:
        told.append(len(asked))
        ended.set()

    watch = LoginWatch(still_valid, 0.01, on_ended)
    async with asyncio.timeout(5):
        await ended.wait()
    await asyncio.sleep(0.05)  # no further checks, no second call
    await watch.stop()
    assert told == [4] and len(asked) == 4


async def test_stopping_ends_the_checks() -> None:
    asked: list[int] = []

    async def still_valid() -> bool:
        asked.append(1)
        return True

    watch = LoginWatch(still_valid, 0.01, lambda: None)
    await asyncio.sleep(0.05)
    await watch.stop()
    count = len(asked)
    await asyncio.sleep(0.05)
    assert count > 0 and len(asked) == count
