"""Comparing a secret with what a client sent, in constant time, whatever it sent.

`hmac.compare_digest` refuses str arguments with characters beyond ASCII
(TypeError), so a form field, cookie or message carrying one would end the
request with a server error instead of a refusal. Compared as UTF-8 bytes, such
a value is simply not equal.
"""

from __future__ import annotations

import hmac


def same_secret(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
