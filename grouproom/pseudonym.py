"""Pseudonyms for log lines: stable within one server (its main process and its
room workers), unlinkable to the real id without the server's random key, which
is never stored. A room worker gets the key from its parent in its environment
(`KEY_VARIABLE`) and takes it out again at start-up."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

KEY_VARIABLE = "GROUPROOM_PSEUDONYM_KEY"

_key = secrets.token_bytes(32)


def pseudonym(value: str) -> str:
    digest = hmac.new(_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hexdigest()[:10]


def environment_for_child() -> dict[str, str]:
    """The environment of a room worker: this process's, with the key."""
    return {**os.environ, KEY_VARIABLE: _key.hex()}


def adopt_parent_key() -> None:
    """In a room worker: use the parent's key (if it gave one), so that its log
    lines name people as the parent's do, and remove it from the environment."""
    global _key
    given = os.environ.pop(KEY_VARIABLE, "")
    try:
        key = bytes.fromhex(given)
    except ValueError:
        return
    if len(key) == 32:
        _key = key
