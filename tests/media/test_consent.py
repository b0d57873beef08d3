"""ICE consent freshness on a slow line (consent.py), with two real aioice
connections over loopback: the server's with `keep_consent`, a client's as aioice
makes it, whose answers to the server's checks are held back or dropped."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aioice.ice
import pytest
from aioice import stun

from grouproom.media import consent
from grouproom.media.consent import keep_consent
from tests.media.test_forwarding import eventually


class Answers:
    """The client's answers to checks: on time, `delay` seconds late, or never."""

    def __init__(self) -> None:
        self.delay: float | None = 0.0

    def wrap(self, send_stun: Callable[[stun.Message, tuple[str, int]], None]) -> Any:
        loop = asyncio.get_running_loop()

        def send(message: stun.Message, addr: tuple[str, int]) -> None:
            if message.message_class != stun.Class.RESPONSE or self.delay == 0.0:
                send_stun(message, addr)
            elif self.delay is not None:
                loop.call_later(self.delay, send_stun, message, addr)

        return send


@pytest.fixture
async def pair(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[aioice.ice.Connection, Answers]]:
    # Faster than the real 5 s and 30 s, so that the test takes seconds.
    monkeypatch.setattr(consent, "CONSENT_INTERVAL", 0.5)
    monkeypatch.setattr(consent, "CONSENT_TIMEOUT", 4.0)
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda **_: ["127.0.0.1"])
    server = aioice.ice.Connection(ice_controlling=False, components=1)
    server.query_consent = functools.partial(  # type: ignore[method-assign]
        keep_consent, server
    )
    client = aioice.ice.Connection(ice_controlling=True, components=1)
    answers = await connect_over_loopback(server, client)
    yield server, answers
    await client.close()
    await server.close()


async def connect_over_loopback(
    server: aioice.ice.Connection, client: aioice.ice.Connection
) -> Answers:
    """Connect the two (with host candidates on loopback only: monkeypatch
    aioice.ice.get_host_addresses first); the client's answers to the server's
    checks are then held back or dropped as the returned `Answers` says."""
    for connection in (server, client):
        await connection.gather_candidates()
    server.remote_username, server.remote_password = client.local_username, client.local_password
    client.remote_username, client.remote_password = server.local_username, server.local_password
    for local, remote in ((server, client), (client, server)):
        for candidate in remote.local_candidates:
            await local.add_remote_candidate(candidate)
        await local.add_remote_candidate(None)
    await asyncio.wait_for(asyncio.gather(server.connect(), client.connect()), 10)
    answers = Answers()
    for protocol in client._protocols:
        protocol.send_stun = answers.wrap(protocol.send_stun)  # type: ignore[method-assign]
    return answers


async def test_late_answers_keep_consent_and_none_end_it(
    pair: tuple[aioice.ice.Connection, Answers],
) -> None:
    server, answers = pair
    # A round trip of 0.8 s: aioice's own checks gave every answer 0.5 s, failed
    # them all and closed the connection. Twice the consent timeout passes.
    answers.delay = 0.8
    await asyncio.sleep(2 * consent.CONSENT_TIMEOUT)
    assert not server._closing, "consent expired although every check was answered"
    # The client stops answering: consent expires a timeout after the last answer.
    answers.delay = None
    stopped = time.monotonic()
    within = consent.CONSENT_TIMEOUT + 3 * consent.CONSENT_INTERVAL
    assert await eventually(lambda: server._closing, within), "consent never expired"
    assert time.monotonic() - stopped >= consent.CONSENT_TIMEOUT - 1.0
