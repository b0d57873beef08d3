"""The way in: camera refused by the browser, joining without it, Dutch and English."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

from tests.e2e.conftest import (
    CHROMIUM_ARGS,
    Server,
    close_all,
    launch_chromium,
    open_participant,
    wait_until,
)
from tests.e2e.test_therapy_session import COUNT_TONES

pytestmark = pytest.mark.e2e


@pytest.fixture
def refusing_chromium(playwright: Playwright, netns: str, tmp_path: Path) -> Iterator[Browser]:
    """A Chromium that refuses camera and microphone, as after a member clicked Block."""
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    refusing = launch_chromium(playwright, netns, tmp_path, [*args, "--deny-permission-prompts"])
    try:
        yield refusing
    finally:
        refusing.close()


def test_a_refused_camera_is_explained_and_joining_without_it_works(
    refusing_chromium: Browser, chromium: Browser, server: Server
) -> None:
    url = server.room_url(f"e2e-{uuid.uuid4().hex[:10]}")
    member = open_participant(refusing_chromium, url, "Els", join=False)
    other = open_participant(chromium, url, "Frank")
    try:
        error = member.page.locator("#media-error")
        error.wait_for(state="visible", timeout=10000)
        message = error.text_content() or ""
        assert "does not allow the camera and microphone" in message
        assert "join without" in message
        # No microphone: no bar asking her to say something (the test sound stays).
        assert member.page.is_hidden("#microphone-level")
        assert member.page.is_visible("#test-sound")

        member.page.fill("#name", "Els")
        member.page.click("#join-button")
        member.page.wait_for_selector("#room:not([hidden])", timeout=10000)
        own = next(tile for tile in member.tiles() if tile["self"])
        assert own["initials"] and own["muted"]
        assert member.page.locator("#mute-button").is_disabled()
        wait_until(
            lambda: (
                [t["name"] for t in other.remote_tiles() if t["initials"] and t["muted"]] == ["Els"]
            ),
            10,
            "Frank does not see Els with initials and muted",
        )
        # Els still sees and hears Frank.
        wait_until(
            lambda: any(t["videoWidth"] > 0 for t in member.remote_tiles()),
            20,
            "Els does not see Frank",
        )
    finally:
        close_all(member, other)


def test_the_language_follows_the_browser_and_can_be_switched(
    chromium: Browser, server: Server
) -> None:
    url = server.room_url("demo")
    dutch = open_participant(chromium, url, "Gerda", locale="nl-NL", join=False)
    english = open_participant(chromium, url, "Hank", locale="en-GB", join=False)
    try:
        page = dutch.page
        assert page.text_content("#join-button") == "Deelnemen"
        assert page.get_attribute("html", "lang") == "nl"
        assert page.input_value("#language") == "nl"
        assert english.page.text_content("#join-button") == "Join"
        assert english.page.get_attribute("html", "lang") == "en"

        # The privacy page opens beside the way in, in the page's language.
        assert page.get_attribute(".privacy-link a", "href") == "/privacy?lang=nl"
        with page.expect_popup() as opened:
            page.click(".privacy-link a")
        privacy = opened.value
        privacy.wait_for_load_state()
        assert privacy.title().startswith("Uw privacy in de onlinegroep")
        assert "365 dagen" in privacy.inner_text("#privacy-how-long")
        privacy.close()
        page.select_option("#language", "en")
        assert page.text_content("#join-button") == "Join"
        assert page.text_content("label[for=name]") == "Your name"
        assert page.get_attribute("html", "lang") == "en"
        assert page.get_attribute(".privacy-link a", "href") == "/privacy?lang=en"
        page.reload()
        assert page.text_content("#join-button") == "Join", "the choice is not remembered"

        page.select_option("#language", "nl")
        page.fill("#name", "Gerda")
        page.click("#join-button")
        page.wait_for_selector("#room:not([hidden])")
        assert page.text_content("#leave-button") == "Verlaten"
        assert page.text_content("#mute-button") == "Microfoon uit"
        own = next(tile for tile in dutch.tiles() if tile["self"])
        assert own["name"] == "Gerda (jij)"
        page.select_option("#language", "en")
        assert page.text_content("#leave-button") == "Leave"
        own = next(tile for tile in dutch.tiles() if tile["self"])
        assert own["name"] == "Gerda (you)"
        assert dutch.errors == [] and english.errors == []
    finally:
        close_all(dutch, english)


def test_the_device_check_shows_the_microphone_and_plays_a_test_sound(
    chromium: Browser, server: Server
) -> None:
    """Before joining, a bar moves with the microphone (Chromium's fake one beeps),
    and "Play a test sound" plays three notes on this device and says what to do if
    nothing was heard. Joining stops the bar."""
    member = open_participant(chromium, server.room_url("demo"), "Ida", join=False)
    try:
        page = member.page
        page.evaluate(COUNT_TONES)
        assert page.get_attribute("#microphone-level", "value") in ("0", None)
        assert page.is_visible("#microphone-level")
        highest = wait_until(
            lambda: (v := page.eval_on_selector("#microphone-level", "m => m.value")) > 0.2 and v,
            10,
            "the microphone bar does not move",
        )
        assert highest <= 1.0
        assert page.is_hidden("#test-sound-hint")
        page.click("#test-sound")
        assert page.evaluate("window.__e2eTones") == 3
        assert "three notes" in page.inner_text("#test-sound-hint")
        page.fill("#name", "Ida")
        page.click("#join-button")
        page.wait_for_selector("#room:not([hidden])", timeout=20000)
        page.evaluate("document.getElementById('microphone-level').value = 0")
        page.wait_for_timeout(500)
        assert page.eval_on_selector("#microphone-level", "m => m.value") == 0, "still sampled"
        assert member.errors == []
    finally:
        close_all(member)
