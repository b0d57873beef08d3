"""Two-step login for therapists: a time-based code from an authenticator app
(TOTP, RFC 6238: HMAC-SHA1, six digits, 30-second steps, as every common app
expects) and single-use recovery codes for a lost phone.

A code is accepted for the current step and one step either side (a phone's clock
a little off), and never twice: the store keeps the last step used per account,
and a code of that step or an earlier one is refused (RFC 6238, section 5.2).

The app's secret must be read back to check a code, so it cannot be hashed as a
password is. It is kept encrypted (AES-GCM) under a key derived from the server's
secret key in the data folder, bound to the account's id: a copy of the database
alone (a PostgreSQL backup, say) does not give the secrets. Recovery codes are
random enough (50 bits) to be kept as plain SHA-256 hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from urllib.parse import quote, urlencode

import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from grouproom.constant_time import same_secret

DIGITS = 6
PERIOD = 30  # seconds per step
ALLOWED_DRIFT = 1  # steps either side of now
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends
RECOVERY_CODE_COUNT = 10
# Lower-case letters and digits without the ones easily mixed up (0/o, 1/l/i).
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUP = 5  # characters per group; two groups: 10 characters, about 50 bits
ISSUER = "grouproom"
_SEALED_PREFIX = "v1:"
_KEY_LABEL = b"grouproom two-step login secrets v1"


class TwoFactorError(ValueError):
    """A sealed secret that cannot be opened: another server key, or damaged."""


def new_secret() -> str:
    """A new secret for an authenticator app, in base32 as apps take it."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _secret_bytes(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def code_at(secret: str, step: int, digits: int = DIGITS) -> str:
    """The code of one time step (RFC 4226's HOTP with the step as counter)."""
    digest = hmac.new(_secret_bytes(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(now: float) -> int:
    return int(now // PERIOD)


def normalised_code(typed: str) -> str:
    """What was typed, without the spaces and dashes people add."""
    return re.sub(r"[\s-]", "", typed).lower()


def looks_like_app_code(typed: str) -> bool:
    code = normalised_code(typed)
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def matching_step(secret: str, typed: str, now: float, last_used_step: int | None) -> int | None:
    """The time step whose code was typed, or None: wrong, too old, or used already."""
    code = normalised_code(typed)
    if not looks_like_app_code(code):
        return None
    current = step_at(now)
    found: int | None = None
    for step in range(current - ALLOWED_DRIFT, current + ALLOWED_DRIFT + 1):
        # Every candidate is compared, so the time taken does not tell which matched.
        if same_secret(code_at(secret, step), code) and found is None:
            found = step
    if found is None or (last_used_step is not None and found <= last_used_step):
        return None
    return found


def setup_uri(secret: str, account: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    label = quote(f"{ISSUER}:{account}", safe="")
    query = urlencode(
        {
            "secret": secret,
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def qr_code_svg(uri: str, title: str) -> str:
    """The setup address as an inline SVG QR code (no image request, no script)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title=title, border=4))


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    def group() -> str:
        return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP))

    return [f"{group()}-{group()}" for _ in range(count)]


def recovery_code_hash(typed: str) -> str:
    return hashlib.sha256(normalised_code(typed).encode("utf-8")).hexdigest()


def looks_like_recovery_code(typed: str) -> bool:
    code = normalised_code(typed)
    return len(code) == 2 * RECOVERY_GROUP and all(c in RECOVERY_ALPHABET for c in code)


class SecretBox:
    """Seals authenticator secrets for the database with a key derived from the
    server's secret key; each sealed secret is bound to its account's id."""

    def __init__(self, server_secret: bytes) -> None:
        key = hmac.new(server_secret, _KEY_LABEL, hashlib.sha256).digest()
        self._cipher = AESGCM(key)

    def seal(self, secret: str, account_id: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._cipher.encrypt(nonce, secret.encode("ascii"), account_id.encode("utf-8"))
        return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, account_id: str) -> str:
        if not sealed.startswith(_SEALED_PREFIX):
            raise TwoFactorError("not a sealed two-step login secret")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_SEALED_PREFIX) :])
            opened = self._cipher.decrypt(raw[:12], raw[12:], account_id.encode("utf-8"))
        except (InvalidTag, ValueError) as exc:
            raise TwoFactorError(
                "the two-step login secret cannot be opened with this server's key"
            ) from exc
        return opened.decode("ascii")
