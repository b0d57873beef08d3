"""The ICE servers a browser is told to use, with short-lived TURN credentials.

TURN credentials follow coturn's REST API (`use-auth-secret` with
`static-auth-secret`): username "<expiry unix time>:<participant id>",
credential base64(HMAC-SHA1(secret, username)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from grouproom.protocol.server_messages import IceServer
from grouproom.settings import Settings


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def ice_servers_for(
    settings: Settings, participant_id: str, now: float | None = None
) -> tuple[IceServer, ...]:
    servers: list[IceServer] = []
    if settings.stun_urls:
        servers.append(IceServer(urls=settings.stun_urls))
    if settings.turn_urls:
        expiry = int(time.time() if now is None else now) + settings.turn_credential_ttl
        username = f"{expiry}:{participant_id}"
        servers.append(
            IceServer(
                urls=settings.turn_urls,
                username=username,
                credential=turn_credential(settings.turn_secret, username),
            )
        )
    return tuple(servers)
