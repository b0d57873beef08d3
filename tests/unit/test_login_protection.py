"""Login throttling and CSRF tokens."""

from __future__ import annotations

from grouproom.accounts.login_throttle import LoginThrottle
from grouproom.http.csrf import form_token, form_token_matches, same_origin

SECRET = b"s" * 32


def test_five_failures_lock_the_account_for_the_rest_of_the_window() -> None:
    throttle = LoginThrottle(account_limit=5, address_limit=100, window=900)
    for second in range(5):
        assert throttle.retry_after("lea@example.org", "10.0.0.1", second) is None
        throttle.failed("Lea@Example.org ", "10.0.0.1", second)
    # Locked for everyone trying this account, from any address.
    assert throttle.retry_after("lea@example.org", "10.9.9.9", 10) == 890
    assert throttle.retry_after("cor@example.org", "10.0.0.1", 10) is None
    assert throttle.retry_after("lea@example.org", "10.0.0.1", 900) is None  # first one expired


def test_one_address_trying_many_accounts_is_slowed_too() -> None:
    throttle = LoginThrottle(account_limit=5, address_limit=3, window=60)
    for n in range(3):
        throttle.failed(f"user{n}@example.org", "10.0.0.2", 0)
    assert throttle.retry_after("new@example.org", "10.0.0.2", 1) == 59
    assert throttle.retry_after("new@example.org", "10.0.0.3", 1) is None


def test_success_clears_the_account() -> None:
    throttle = LoginThrottle(account_limit=2, address_limit=100, window=60)
    throttle.failed("lea@example.org", "a", 0)
    throttle.succeeded("LEA@example.org")
    throttle.failed("lea@example.org", "a", 1)
    assert throttle.retry_after("lea@example.org", "a", 2) is None


def test_form_tokens_belong_to_one_login() -> None:
    token = form_token(SECRET, "login-1")
    assert form_token_matches(SECRET, "login-1", token)
    assert not form_token_matches(SECRET, "login-2", token)
    assert not form_token_matches(b"t" * 32, "login-1", token)
    assert not form_token_matches(SECRET, "login-1", "")


def test_same_origin() -> None:
    host = "video.example.org"
    assert same_origin("https://video.example.org", None, host)
    assert same_origin("https://VIDEO.example.org", None, host)
    assert not same_origin("https://evil.example", None, host)
    # A null Origin (no-referrer pages) falls back to the Referer, which must match.
    assert same_origin("null", "https://video.example.org/login", host)
    assert not same_origin("null", None, host)
    assert not same_origin("null", "https://evil.example/", host)
    assert not same_origin("https://evil.example", "https://video.example.org/", host)
    # Fetch Metadata decides alone when the browser sends it.
    assert same_origin("null", None, host, fetch_site="same-origin")
    for other in ("same-site", "cross-site", "none"):
        assert not same_origin("https://video.example.org", None, host, fetch_site=other)
    assert same_origin(None, "https://video.example.org/groups", host)
    assert not same_origin(None, "https://video.example.org.evil.example/", host)
    assert not same_origin(None, None, host)
    assert same_origin("http://127.0.0.1:8080", None, "127.0.0.1:8080")
    assert not same_origin("http://127.0.0.1:8081", None, "127.0.0.1:8080")


def test_saved_failures_are_restored_per_account_and_address() -> None:
    throttle = LoginThrottle(account_limit=2, address_limit=3, window=60)
    throttle.restore("account", "LEA@example.org", 0)
    throttle.restore("account", "lea@example.org", 1)
    assert throttle.retry_after("lea@example.org", "b", 2) == 58
    for second in range(3):
        throttle.restore("address", "10.0.0.9", second)
    assert throttle.retry_after("cor@example.org", "10.0.0.9", 3) == 57
    assert throttle.retry_after("cor@example.org", "10.0.0.8", 3) is None
