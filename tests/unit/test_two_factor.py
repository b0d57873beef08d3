"""Two-step login codes: RFC 6238's test vectors, the accepted window, replays,
recovery codes and the sealing of secrets for the database."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouproom.accounts.two_factor import (
    PERIOD,
    SecretBox,
    TwoFactorError,
    code_at,
    grouped_secret,
    looks_like_app_code,
    looks_like_recovery_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    qr_code_svg,
    recovery_code_hash,
    setup_uri,
    step_at,
)

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_codes_are_those_of_rfc_6238(moment: int, expected: str) -> None:
    # RFC 6238, appendix B (SHA-1, eight digits); six digits are the last six.
    assert code_at(RFC_SECRET, step_at(moment), digits=8) == expected
    assert code_at(RFC_SECRET, step_at(moment)) == expected[-6:]


def test_a_code_is_accepted_one_step_either_side_and_no_further() -> None:
    secret = new_secret()
    now = 1_800_000_015.0
    current = step_at(now)
    for offset in (-1, 0, 1):
        assert matching_step(secret, code_at(secret, current + offset), now, None) == (
            current + offset
        )
    for offset in (-3, -2, 2, 3):
        code = code_at(secret, current + offset)
        if all(code != code_at(secret, current + near) for near in (-1, 0, 1)):
            assert matching_step(secret, code, now, None) is None


def test_a_code_of_a_used_step_or_an_earlier_one_is_refused() -> None:
    secret = new_secret()
    now = 1_800_000_015.0
    current = step_at(now)
    code = code_at(secret, current)
    assert matching_step(secret, code, now, current - 1) == current
    assert matching_step(secret, code, now, current) is None
    assert matching_step(secret, code_at(secret, current - 1), now, current) is None
    # Still refused half a minute later, within the window.
    assert matching_step(secret, code, now + PERIOD, current) is None


def test_typed_codes_may_carry_spaces_but_nothing_else() -> None:
    secret = new_secret()
    now = 1_800_000_015.0
    code = code_at(secret, step_at(now))
    assert matching_step(secret, f" {code[:3]} {code[3:]} ", now, None) == step_at(now)
    assert matching_step(secret, code + "0", now, None) is None
    assert matching_step(secret, "", now, None) is None
    assert matching_step(secret, "abcdef", now, None) is None
    assert not looks_like_app_code("12345a")
    # Digits of other scripts are digits to Python, not to a code.
    assert not looks_like_app_code("١٢٣٤٥٦") and not looks_like_app_code("²³⁴⁵⁶⁷")
    assert matching_step(secret, "²³⁴⁵⁶⁷", now, None) is None


def test_recovery_codes_are_distinct_readable_and_matched_however_typed() -> None:
    codes = new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        assert looks_like_recovery_code(code)
        assert not looks_like_app_code(code)
        assert recovery_code_hash(code.upper().replace("-", " ")) == recovery_code_hash(code)
    assert recovery_code_hash(codes[0]) != recovery_code_hash(codes[1])
    assert not looks_like_recovery_code("0000000000")  # 0 is not in the alphabet


@given(st.text(max_size=40))
def test_no_typed_text_is_both_kinds_of_code(typed: str) -> None:
    assert not (looks_like_app_code(typed) and looks_like_recovery_code(typed))


def test_secrets_are_sealed_per_account_and_per_server_key() -> None:
    box = SecretBox(b"k" * 32)
    secret = new_secret()
    sealed = box.seal(secret, "account-a")
    assert secret not in sealed and sealed != box.seal(secret, "account-a")
    assert box.open(sealed, "account-a") == secret
    with pytest.raises(TwoFactorError):
        box.open(sealed, "account-b")  # moved to another account's row
    with pytest.raises(TwoFactorError):
        SecretBox(b"x" * 32).open(sealed, "account-a")  # another server's key
    with pytest.raises(TwoFactorError):
        box.open(sealed[:-4], "account-a")
    with pytest.raises(TwoFactorError):
        box.open("plain", "account-a")


def test_the_setup_address_is_what_authenticator_apps_read() -> None:
    secret = new_secret()
    assert len(secret) == 32 and base64.b32decode(secret)  # 160 bits, no padding
    uri = setup_uri(secret, "lea@example.org")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == "/grouproom:lea@example.org"
    query = parse_qs(parts.query)
    assert query == {
        "secret": [secret],
        "issuer": ["grouproom"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    svg = qr_code_svg(uri, "QR")
    assert svg.startswith("<svg") and "<title>QR</title>" in svg
    assert grouped_secret("ABCDEFGHIJ") == "ABCD EFGH IJ"
