"""The address a request comes from, also behind a reverse proxy.

Behind nginx every request comes from the proxy; the client's address is the last
entry the proxy appended to X-Forwarded-For. That header is only believed when the
request comes from one of the configured trusted proxies (GROUPROOM_TRUSTED_PROXIES):
anybody else could write anything into it.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web


def client_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    peer = request.remote or "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer
