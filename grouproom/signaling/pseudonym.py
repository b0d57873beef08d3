"""Pseudonyms for log lines: stable within one server process, unlinkable to the
real id without the process's random key, which is never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_KEY = secrets.token_bytes(32)


def pseudonym(value: str) -> str:
    digest = hmac.new(_KEY, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hexdigest()[:10]
