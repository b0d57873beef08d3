"""LoginWatch: checks until told to stop; a failed check is no verdict; check_now
does not wait for the interval."""

from __future__ import annotations

import asyncio

from grouproom.signaling.login_watch import LoginWatch


async def test_a_failed_check_is_tried_again_and_false_stops_the_watch() -> None:
    answers: list[bool | Exception] = [True, OSError("database unreachable"), True, False]
    asked: list[int] = []

    async def check() -> bool:
        asked.append(1)
        answer = answers.pop(0) if answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer

    watch = LoginWatch(check, 0.01)
    await asyncio.sleep(0.3)
    await watch.stop()
    assert len(asked) == 4 and answers == []  # nothing asked after the False


async def test_check_now_does_not_wait_for_the_interval() -> None:
    checked = asyncio.Event()

    async def check() -> bool:
        checked.set()
        return True

    watch = LoginWatch(check, 3600)
    await asyncio.sleep(0.05)
    assert not checked.is_set()
    watch.check_now()
    async with asyncio.timeout(5):
        await checked.wait()
    await watch.stop()
