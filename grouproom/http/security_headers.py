"""Headers added to every response: no inline script, no framing, no referrer to
other sites."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # No Referer anywhere, not even to this server (an invite token is in the page's
    # address). Browsers then send `Origin: null` on this server's own form posts;
    # the CSRF origin check recognises them by Sec-Fetch-Site (grouproom/http/csrf.py).
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=()",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An on_response_prepare handler (covers static files and error pages too)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
