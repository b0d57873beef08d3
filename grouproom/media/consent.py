"""ICE consent freshness (RFC 7675) for the server's connections, on slow lines too.

aioice checks consent every 4 to 6 s with one binding request, gives the answer 0.5 s
and closes the connection after six checks in a row without an answer in time. On a
home line whose round trip is above half a second (a queue full of video: the web
client's weak-line hint counts a round trip of a second as weak) every answer came
too late, and the member lost the room after about 30 s although her browser
answered every check (measured with aioice's own connections over loopback and
answers held back 0.7 s: closed after 34 s; 0.3 s: still up after 45 s).

Here consent expires as RFC 7675 says it does: 30 s after the last answer. A check
still goes out every 4 to 6 s on each nominated pair, and each one waits for its
answer up to 3.5 s (sent again after 0.5 and 1.5 s, as STUN retransmits), on a task
of its own so that a slow answer does not hold up the next check.
`UdpMux.attach` gives every connection of the forwarder this in place of aioice's
`query_consent`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import aioice.ice
from aioice import stun

logger = logging.getLogger(__name__)

CONSENT_INTERVAL = 5.0  # seconds between checks, give or take a fifth (as aioice)
CONSENT_TIMEOUT = 30.0  # seconds after the last answer (RFC 7675 section 5.1)
RETRANSMISSIONS = 2  # sent at 0, 0.5 and 1.5 s; given up at 3.5 s


async def keep_consent(connection: aioice.ice.Connection) -> None:
    """Check consent until it expires, then close the connection (aioice's
    `query_consent`, which `connect` starts and `close` cancels)."""
    last_answer = time.monotonic()
    checks: set[asyncio.Task[None]] = set()

    async def check(pair: aioice.ice.CandidatePair) -> None:
        nonlocal last_answer
        assert connection.remote_password is not None
        request = connection.build_request(pair, nominate=False)
        try:
            await pair.protocol.request(
                request,
                pair.remote_addr,
                integrity_key=connection.remote_password.encode("utf8"),
                retransmissions=RETRANSMISSIONS,
            )
        except (stun.TransactionError, OSError) as error:
            # No answer, a refusal, or the connection is closing: not renewed.
            logger.debug("consent check to %s: %r", pair.remote_addr, error)
            return
        last_answer = time.monotonic()

    try:
        while True:
            await asyncio.sleep(CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
            if time.monotonic() - last_answer >= CONSENT_TIMEOUT:
                logger.info("ICE consent expired: no answer for %.0f s", CONSENT_TIMEOUT)
                # As aioice does: close() must not wait for this very task.
                connection._query_consent_task = None
                await connection.close()
                return
            for pair in list(connection._nominated.values()):
                task = asyncio.create_task(check(pair))
                checks.add(task)
                task.add_done_callback(checks.discard)
    finally:
        for task in checks:
            task.cancel()
