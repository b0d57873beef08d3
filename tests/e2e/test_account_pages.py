"""A therapist's account page in real Chromium, in Dutch: she sets up two-step login
with an authenticator app (the QR code is drawn and read back), keeps her recovery
codes, logs in with her password and a code, and once with a recovery code; then
she changes her password."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from grouproom.accounts.two_factor import code_at, step_at
from tests.e2e.conftest import TEST_OUTPUT, Server
from tests.e2e.test_therapy_session import PASSWORD, add_therapist, set_up_group

pytestmark = pytest.mark.e2e


def log_in_with_password(page: Page, server: Server, email: str) -> None:
    page.goto(f"{server.base_url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login-button")


def test_a_therapist_sets_up_an_app_and_logs_in_with_its_code(
    chromium: Browser, server: Server, netns: str
) -> None:
    email = f"lea-{uuid.uuid4().hex[:8]}@example.org"
    add_therapist(server, email, "Lea")
    contexts = [chromium.new_context(locale="nl-NL") for _ in range(3)]
    try:
        page = contexts[0].new_page()
        log_in_with_password(page, server, email)
        page.wait_for_url(f"{server.base_url}/groups")
        page.click("#account-link")
        page.wait_for_url(f"{server.base_url}/account")
        assert page.get_attribute("#two-factor-state", "data-state") == "off"
        assert "gezondheidsgegevens" in page.inner_text("main")
        page.click("#setup-link")
        qr = page.locator("#setup-qr svg")
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 150 and abs(box["width"] - box["height"]) < 2
        secret = page.get_attribute("#setup-secret", "data-secret")
        assert secret and page.inner_text("#setup-secret").replace(" ", "") == secret
        TEST_OUTPUT.mkdir(exist_ok=True)
        shot = TEST_OUTPUT / "two-step-login-setup.png"
        page.screenshot(path=str(shot), full_page=True)
        # The QR code as Chromium drew it is what an app reads: her account and secret.
        read = subprocess.run(
            ["zbarimg", "--quiet", "--raw", str(shot)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert read.returncode == 0, read.stderr
        address = urlsplit(read.stdout.strip())
        assert unquote(address.path) == f"/grouproom:{email}"
        assert parse_qs(address.query)["secret"] == [secret]

        page.fill("#code", "000000" if code_at(secret, step_at(time.time())) != "000000" else "1")
        page.click("#setup-button")
        assert "klopt niet" in page.inner_text("#message")
        page.fill("#code", code_at(secret, step_at(time.time())))
        page.click("#setup-button")
        codes = page.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10 and len(set(codes)) == 10
        page.click("#codes-continue")
        page.wait_for_url(f"{server.base_url}/account")
        assert page.get_attribute("#two-factor-state", "data-state") == "on"
        assert "Herstelcodes over: 10" in page.inner_text("#codes-left")

        # Another browser: the password leads to the code, and the code logs her in.
        other = contexts[1].new_page()
        log_in_with_password(other, server, email)
        other.wait_for_url(f"{server.base_url}/login/code**")
        assert other.get_attribute("#code", "autocomplete") == "one-time-code"
        other.fill("#code", code_at(secret, step_at(time.time()) + 1))
        other.click("#code-button")
        other.wait_for_url(f"{server.base_url}/groups")

        # A third, without her phone: a recovery code, once.
        third = contexts[2].new_page()
        log_in_with_password(third, server, email)
        third.wait_for_url(f"{server.base_url}/login/code**")
        third.fill("#code", codes[0])
        third.click("#code-button")
        third.wait_for_url(f"{server.base_url}/account**")
        assert "herstelcode" in third.inner_text("#message")
        assert "Herstelcodes over: 9" in third.inner_text("#codes-left")

        # She changes her password there; her other logins end, this one goes on.
        third.fill("#current-password", PASSWORD)
        third.fill("#new-password", "een nieuw en lang wachtwoord")
        third.fill("#repeat-password", "een nieuw en lang wachtwoord")
        third.click("#password-button")
        assert "Uw wachtwoord is gewijzigd" in third.inner_text("#message")
        other.goto(f"{server.base_url}/groups")
        other.wait_for_url(f"{server.base_url}/login**")
    finally:
        for context in contexts:
            context.close()


def test_her_pages_leave_the_screen_once_her_login_has_ended(
    chromium: Browser, server: Server, netns: str
) -> None:
    """Logged out in another tab: within a minute her group page (names, invite
    links) gives way to the login page, which says why and leads back to it; a page
    with something typed in it stays, and says so. The clock is Playwright's, so the
    minute passes at once."""
    email = f"lea-{uuid.uuid4().hex[:8]}@example.org"
    add_therapist(server, email, "Lea")
    context = chromium.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.clock.install()
        log_in_with_password(page, server, email)
        page.wait_for_url(f"{server.base_url}/groups")
        group_url, _ = set_up_group(page, f"Ended group {uuid.uuid4().hex[:6]}", ["Ann"])
        page.goto(group_url)
        typing = context.new_page()
        typing.clock.install()
        typing.goto(f"{server.base_url}/groups")
        typing.fill("#group-name", "Half a name")
        # A minute with the login in use: both stay.
        for each in (page, typing):
            each.clock.run_for(61_000)
        page.wait_for_timeout(500)
        assert page.url == group_url and typing.url == f"{server.base_url}/groups"

        other = context.new_page()
        other.goto(f"{server.base_url}/groups")
        other.click("#logout-button")
        other.wait_for_url(re.compile(r".*/login$"))
        other.close()
        assert page.is_visible("#roster"), "left before its next check"
        page.clock.run_for(61_000)
        page.wait_for_url(re.compile(r".*/login\?ended=1&next="), timeout=10000)
        assert "Your login has ended" in page.inner_text("#message")
        assert "Ann" not in page.inner_text("body")
        typing.clock.run_for(61_000)
        typing.wait_for_selector("#login-ended", timeout=10000)
        assert "Copy what you typed" in typing.inner_text("#login-ended")
        assert typing.input_value("#group-name") == "Half a name"

        # Logging in again leads back to the group page.
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_url(group_url)
        assert page.is_visible("#roster")
    finally:
        context.close()
