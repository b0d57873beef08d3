"""Cross-site request forgery protection for the therapists' forms.

Logged in, every form carries a token derived from the login: HMAC-SHA256 of the
login token under the server's secret, which an attacker's page cannot compute.
Before login, the login form uses a double-submit value: a random value in a
SameSite=Strict cookie that the form must repeat. On top, every POST must come
from this server's own origin, and the login cookie is SameSite=Strict.

Where a POST comes from: the browser's Fetch Metadata header `Sec-Fetch-Site`
when it sends one (every current browser does; it must say `same-origin`), else
the Origin header unless it is `null`, else the Referer. With the pages'
`Referrer-Policy: no-referrer`, browsers send `Origin: null` and no Referer on
this server's own form posts, so `Sec-Fetch-Site` is what recognises them; a
browser too old to send it is refused rather than trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web

from grouproom.constant_time import same_secret


def form_token(secret: bytes, login_token: str) -> str:
    digest = hmac.new(secret, b"csrf:" + login_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def form_token_matches(secret: bytes, login_token: str, submitted: str) -> bool:
    return same_secret(form_token(secret, login_token), submitted)


def same_origin(
    origin: str | None, referer: str | None, host: str, fetch_site: str | None = None
) -> bool:
    """True when the request comes from a page of this server.

    `fetch_site` (the Sec-Fetch-Site header), when present, decides alone: only
    `same-origin` passes (not `same-site`: another subdomain is another site for
    us). Without it, the host of the Origin header, or of the Referer when Origin
    is missing or `null`, must be the Host the request was sent to. Comparing
    hosts, not schemes, keeps this right behind a TLS proxy that passes the Host
    header on."""
    if fetch_site is not None:
        return fetch_site.strip().lower() == "same-origin"
    source = origin if origin is not None and origin.strip().lower() != "null" else referer
    if source is None or not host:
        return False
    return urlsplit(source).netloc.lower() == host.lower()


def request_is_same_origin(request: web.Request) -> bool:
    """same_origin() with the request's own headers."""
    headers = request.headers
    return same_origin(
        headers.get("Origin"), headers.get("Referer"), request.host, headers.get("Sec-Fetch-Site")
    )


class Forbidden(Exception):
    """A form without a valid CSRF token or from another origin."""


def safe_next(target: str) -> str:
    """Only a path on this server: never another site (an open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""
