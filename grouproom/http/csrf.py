"""Cross-site request forgery protection for the therapists' forms.

Logged in, every form carries a token derived from the login: HMAC-SHA256 of the
login token under the server's secret, which an attacker's page cannot compute.
Before login, the login form uses a double-submit value: a random value in a
SameSite=Strict cookie that the form must repeat. On top, every POST must come
from this server's own origin (Origin or Referer header), and the login cookie is
SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit


def form_token(secret: bytes, login_token: str) -> str:
    digest = hmac.new(secret, b"csrf:" + login_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def form_token_matches(secret: bytes, login_token: str, submitted: str) -> bool:
    return hmac.compare_digest(form_token(secret, login_token), submitted)


def same_origin(origin: str | None, referer: str | None, host: str) -> bool:
    """True when the request comes from a page of this server: the host of its
    Origin header (or, for old browsers, its Referer) is the Host it was sent to.
    Browsers send Origin on every form POST. Comparing hosts, not schemes, keeps
    this right behind a TLS proxy that passes the Host header on."""
    source = origin if origin is not None else referer
    if source is None or not host:
        return False
    return urlsplit(source).netloc.lower() == host.lower()
