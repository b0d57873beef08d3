"""Personal invite links: a signed token bound to one group and one member.

A token is `<payload>.<signature>`, both base64url without padding. The payload is
compact JSON: group id, member id, the member's invite serial, and the expiry (Unix
seconds). The signature is HMAC-SHA256 over the payload with the server's secret.

Revoking a member's link raises the member's serial: a token carrying an older
serial is refused, so revocation needs no list of revoked tokens. Checking the
serial against the roster is the caller's part (`InviteClaims.serial`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum

TOKEN_MAX_LENGTH = 512
SECRET_MIN_BYTES = 32


class InviteProblem(StrEnum):
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


class InviteError(ValueError):
    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(f"invite link refused: {problem}")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class InviteClaims:
    group_id: str
    member_id: str
    serial: int
    expires_at: int


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _sign(secret: bytes, payload: str) -> str:
    return _encode(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def _check_secret(secret: bytes) -> None:
    if len(secret) < SECRET_MIN_BYTES:
        raise ValueError(f"the invite secret needs at least {SECRET_MIN_BYTES} bytes")


def make_invite(secret: bytes, claims: InviteClaims) -> str:
    _check_secret(secret)
    body = {"g": claims.group_id, "m": claims.member_id, "s": claims.serial, "e": claims.expires_at}
    payload = _encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read_invite(secret: bytes, token: str, now: float) -> InviteClaims:
    """The claims of a genuine, unexpired token; InviteError otherwise."""
    _check_secret(secret)
    if len(token) > TOKEN_MAX_LENGTH or token.count(".") != 1 or not token.isascii():
        raise InviteError(InviteProblem.MALFORMED)
    payload, signature = token.split(".")
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise InviteError(InviteProblem.BAD_SIGNATURE)
    try:
        body = json.loads(_decode(payload))
    except (binascii.Error, ValueError):
        raise InviteError(InviteProblem.MALFORMED) from None
    if not isinstance(body, dict):
        raise InviteError(InviteProblem.MALFORMED)
    group_id, member_id = body.get("g"), body.get("m")
    serial, expires_at = body.get("s"), body.get("e")
    if not (
        isinstance(group_id, str)
        and isinstance(member_id, str)
        and type(serial) is int
        and type(expires_at) is int
    ):
        raise InviteError(InviteProblem.MALFORMED)
    if now >= expires_at:
        raise InviteError(InviteProblem.EXPIRED)
    return InviteClaims(group_id, member_id, serial, expires_at)
