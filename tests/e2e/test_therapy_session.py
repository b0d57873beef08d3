"""A therapy session in real Chromium, from the therapist's login to the attendance:
two therapists and two members, invite links, ground rules, the waiting room,
the page on a phone and an upright tablet (the side panel closed, a message counted),
a member asking for help, a server-side mute, a raised hand, a member turning the
others' video off, a check-in round, the therapists' private channel, the end."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from functools import partial
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, FloatRect, Page

from tests.e2e.conftest import (
    TEST_OUTPUT,
    Participant,
    Server,
    clipped_controls,
    close_all,
    controls_out_of_view,
    grows,
    open_participant,
    packets_from,
    playing_remote_videos,
    set_text_size,
    stays_still,
    wait_until,
)

pytestmark = pytest.mark.e2e


PASSWORD = "a long enough password"
RULES = "What is said here stays here.\nWe let each other finish."
PRIVATE = "Ann seems tired today"

# Test-only: every frame the page's WebSockets receive, to prove what never arrived.
RECORD_SOCKET_FRAMES = """
(() => {
  const Original = window.WebSocket;
  window.__e2eFrames = [];
  window.WebSocket = function (...args) {
    const socket = new Original(...args);
    socket.addEventListener('message', (event) => window.__e2eFrames.push(String(event.data)));
    return socket;
  };
  window.WebSocket.prototype = Original.prototype;
  Object.assign(window.WebSocket, Original);
})();
"""

# Test-only: counts the page's Web Audio oscillators, which only the chime makes.
COUNT_TONES = """
(() => {
  window.__e2eTones = 0;
  const original = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function (...args) {
    window.__e2eTones += 1;
    return original.apply(this, args);
  };
})();
"""


def add_therapist(server: Server, email: str, name: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grouproom",
            "therapist",
            "add",
            email,
            "--name",
            name,
            "--password-stdin",
            "--data-dir",
            str(server.data_dir),
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def open_page(chromium: Browser, url: str, name: str) -> Participant:
    participant = open_participant(chromium, url, name, join=False)
    participant.context.add_init_script(RECORD_SOCKET_FRAMES)
    participant.page.reload()

    # The pages ask in dialogs of their own: a browser dialog is noted as an error.
    def refuse(dialog: Dialog) -> None:
        participant.errors.append(f"a browser dialog: {dialog.message}")
        dialog.dismiss()

    participant.page.on("dialog", refuse)
    return participant


def log_in(page: Page, email: str) -> None:
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_url(re.compile(r".*/groups$"))


def set_up_group(
    page: Page, name: str, members: list[str], cotherapist_email: str = ""
) -> tuple[str, list[str]]:
    """A new English-speaking group with RULES and these members, from the groups
    page; its address and the members' invite links."""
    page.fill("#group-name", name)
    page.select_option("#group-language", "en")
    page.fill("#cotherapist-email", cotherapist_email)
    page.fill("#group-rules", RULES)
    page.click("#create-group-button")
    page.wait_for_selector("#group-title")
    group_url = page.url
    for member in members:
        page.fill("#member-name", member)
        page.click("#add-member-button")
        page.wait_for_selector(f"#roster td.member-name:text-is('{member}')")
    links: list[str] = page.eval_on_selector_all(
        ".invite-link", "(inputs) => inputs.map((i) => i.value)"
    )
    assert len(links) == len(members)
    return group_url, links


def go_in(page: Page) -> None:
    """Through the devices and the rules, as a therapist (no agreement needed)."""
    page.click("#devices-next")
    page.click("#rules-enter")
    page.wait_for_selector("#room:not([hidden])", timeout=20000)


def tile_action(page: Page, participant_id: str, action: str) -> None:
    """A therapist's action on a member's tile: open the tile's menu, choose."""
    tile = f'.tile[data-participant-id="{participant_id}"]'
    assert page.is_hidden(f'{tile} [data-action="{action}"]')  # not over the face
    page.click(f"{tile} .tile-actions summary")
    page.click(f'{tile} [data-action="{action}"]')
    assert page.is_hidden(f'{tile} [data-action="{action}"]')  # the menu closed


def person_id(page: Page, name: str) -> str:
    locator = page.locator("#participants li", has_text=name).first
    value = locator.get_attribute("data-person-id")
    assert value
    return value


def settled_tile_width(page: Page) -> float:
    """The width of the first tile once the grid's layout has followed a resize."""
    last = -1.0
    for _ in range(20):
        page.wait_for_timeout(150)
        width: float = page.eval_on_selector(".tile", "(t) => t.getBoundingClientRect().width")
        if width == last:
            return width
        last = width
    raise AssertionError("the grid's layout does not settle")


def in_view(page: Page, selector: str) -> bool:
    """Whether the element can be seen: inside the viewport, and neither clipped by a
    scrolling box nor covered at its centre."""
    result: bool = page.eval_on_selector(
        selector,
        """(e) => {
          const r = e.getBoundingClientRect();
          if (r.width === 0 || r.top < 0 || r.left < 0
            || r.bottom > window.innerHeight || r.right > window.innerWidth) return false;
          const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return top !== null && e.contains(top);
        }""",
    )
    return result


def audio_packets(member: Participant, publisher_id: str) -> int:
    return packets_from(member, publisher_id, "audio")


def test_a_session_from_login_to_attendance(chromium: Browser, server: Server) -> None:
    suffix = uuid.uuid4().hex[:6]
    lea_email, cor_email = f"lea-{suffix}@example.org", f"cor-{suffix}@example.org"
    add_therapist(server, lea_email, "Lea")
    add_therapist(server, cor_email, "Cor")
    lea = open_page(chromium, f"{server.base_url}/login", "Lea")
    people: list[Participant] = [lea]
    try:
        # Lea sets up the group and opens a session.
        log_in(lea.page, lea_email)
        group_url, links = set_up_group(
            lea.page, f"Tuesday group {suffix}", ["Ann", "Bob"], cor_email
        )
        lea.page.click("#open-session")
        lea.page.click("#enter-room")
        go_in(lea.page)

        cor = open_page(chromium, f"{server.base_url}/login", "Cor")
        people.append(cor)
        log_in(cor.page, cor_email)
        cor.page.goto(group_url + "/room")
        go_in(cor.page)

        # The members: ground rules first, no way in without agreeing, then the wait.
        members: dict[str, Participant] = {}
        for name, link in zip(("Ann", "Bob"), links, strict=True):
            member = open_page(chromium, link, name)
            people.append(member)
            members[name] = member
            page = member.page
            page.click("#devices-next")
            assert RULES.splitlines()[0] in page.inner_text("#rules-text")
            assert page.is_disabled("#rules-enter")
            page.check("#rules-agree")
            page.click("#rules-enter")
            page.wait_for_selector("#step-waiting:not([hidden])", timeout=10000)
        ann, bob = members["Ann"], members["Bob"]

        # Lea lets them in from the waiting room. Its buttons stay the same elements
        # while nothing in the list changes (replaced by an unrelated change, a button
        # would get no click from a finger lifted after it).
        lea.page.wait_for_selector("#waiting-list .admit-button >> nth=1", timeout=10000)
        lea.page.eval_on_selector(
            "#waiting-list .admit-button", "(button) => { button.dataset.kept = 'yes'; }"
        )
        cor.page.fill("#chat-text", "They are waiting")
        cor.page.click("#chat-send")
        lea.page.wait_for_selector(
            "#chat-log :text('They are waiting')", state="attached", timeout=10000
        )
        kept = "(button) => button.dataset.kept"
        assert lea.page.eval_on_selector("#waiting-list .admit-button", kept) == "yes"
        for _ in range(2):
            lea.page.wait_for_selector("#waiting-list .admit-button", timeout=10000)
            lea.page.click("#waiting-list .admit-button >> nth=0")
            lea.page.wait_for_timeout(300)
        for participant in (ann, bob):
            participant.page.wait_for_selector("#room:not([hidden])", timeout=20000)
        for participant in people:
            wait_until(
                lambda p=participant: playing_remote_videos(p, 3),
                30,
                f"{participant.name} does not play three videos: {participant.tiles()}",
            )

        # On a phone or an upright tablet every control still shows its words (nine
        # buttons for a member) and nothing pushes the page sideways. The side panel is
        # closed there, so that the grid has the whole width: the tiles are larger than
        # beside it (at 768x1024, 376 against 290 px wide with it open) and a message
        # that arrives meanwhile is counted on the panel's button.
        for number, (width, height) in enumerate(((390, 844), (768, 1024)), start=1):
            ann.page.set_viewport_size({"width": width, "height": height})
            wait_until(
                lambda w=width: ann.page.evaluate("() => window.innerWidth") == w, 5, "no resize"
            )
            assert clipped_controls(ann.page) == [], f"controls clipped at {width}x{height}"
            ann.page.select_option("#language", "nl")  # Dutch words are longer
            ann.page.wait_for_selector("#side-button:text-is('Chat en personen')")
            assert clipped_controls(ann.page) == [], f"Dutch controls clipped at {width}"
            ann.page.select_option("#language", "en")
            overflow = ann.page.evaluate(
                "() => document.scrollingElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"the page scrolls sideways at {width}x{height}"
            assert ann.page.is_hidden("#side"), f"the side panel is open at {width}x{height}"
            assert ann.page.get_attribute("#side-button", "aria-expanded") == "false"
            closed_width = settled_tile_width(ann.page)
            welcome = f"Welcome, message {number}"
            lea.page.fill("#chat-text", welcome)
            lea.page.click("#chat-send")
            ann.page.wait_for_selector("#side-button:has-text('(1 new)')", timeout=10000)
            ann.page.click("#side-button")
            ann.page.wait_for_selector(f"#chat-log :text('{welcome}')")
            assert ann.page.inner_text("#side-button") == "Chat and people"
            assert in_view(ann.page, "#chat-text"), f"no chat input in view at {width}"
            if width < 760:  # on a phone the open panel takes the grid's place
                assert ann.page.is_hidden("#grid")
            else:
                open_width = settled_tile_width(ann.page)
                assert closed_width >= 1.25 * open_width, (closed_width, open_width, width)
            ann.page.click("#side-button")
            assert ann.page.is_hidden("#side")
        # A phone on its side: the bars and the controls leave the faces room (the
        # grid had 52 of its 390 px before short screens got a tighter layout).
        ann.page.set_viewport_size({"width": 844, "height": 390})
        wait_until(lambda: ann.page.evaluate("() => window.innerHeight") == 390, 5, "no resize")
        assert clipped_controls(ann.page) == [], "controls clipped at 844x390"
        grid_box = ann.page.locator("#grid").bounding_box()
        assert grid_box is not None and grid_box["height"] >= 0.4 * 390, grid_box
        # Ann's own choice holds at any width: open it again for what follows.
        ann.page.click("#side-button")
        ann.page.set_viewport_size({"width": 1280, "height": 720})

        # Lea's tablet is upright. Her panel stayed open, as it opened to show the
        # waiting room; she closes it. When Ann asks for help, it opens again and shows
        # Ann's signal (only the therapists get it).
        lea.page.set_viewport_size({"width": 768, "height": 1024})
        assert lea.page.is_visible("#side")
        lea.page.click("#side-button")
        assert lea.page.is_hidden("#side")
        ann.page.click("#signal-help")
        lea.page.wait_for_selector("#signals:has-text('Ann: I need help')", timeout=10000)
        assert lea.page.get_attribute("#side-button", "aria-expanded") == "true"
        assert in_view(lea.page, "#signals")
        for member in (ann, bob):
            assert member.page.is_hidden("#signals")
        lea.page.set_viewport_size({"width": 1280, "height": 720})

        # The signal stays until a therapist marks it as seen: on the therapists'
        # tiles, in their lists, and in Ann's notice. Cor marks it; Ann is told.
        ann_id = person_id(lea.page, "Ann")
        ann_badge = f'.tile[data-participant-id="{ann_id}"] .tile-signal'
        for therapist in (lea, cor):
            therapist.page.wait_for_selector(f"{ann_badge}:text-is('Needs help')")
        lea.page.screenshot(path=str(TEST_OUTPUT / "session-signal.png"))
        assert ann.page.inner_text("#signal-notice") == (
            "Your signal went to the therapists only. They have not seen it yet."
        )
        for member in (ann, bob):
            assert member.page.is_hidden(".tile-signal")
        cor.page.click(f'#signals [data-person-id="{ann_id}"] [data-action="acknowledge_signal"]')
        ann.page.wait_for_selector("#signal-notice:text-is('A therapist has seen your signal.')")
        for therapist in (lea, cor):
            therapist.page.wait_for_selector("#signals", state="hidden")
            therapist.page.wait_for_selector(ann_badge, state="hidden")

        # Lea mutes Ann: Bob (and Cor) stop receiving Ann's audio at all.
        bob_id = person_id(lea.page, "Bob")
        wait_until(lambda: audio_packets(bob, ann_id) > 50, 15, "Bob gets no audio from Ann")
        assert ann.page.is_hidden("#silenced-notice")
        tile_action(lea.page, ann_id, "mute")
        for participant in (bob, ann):  # Ann's own page says it too, in the list and above
            participant.page.wait_for_selector(
                f'#participants li[data-person-id="{ann_id}"]:has-text("muted by the therapist")'
            )
        assert ann.page.inner_text("#silenced-notice") == (
            "The therapist has muted you: the others do not hear you."
        )
        lea.page.wait_for_timeout(1000)  # what was under way arrives
        before = audio_packets(bob, ann_id)
        lea.page.wait_for_timeout(2000)
        assert audio_packets(bob, ann_id) - before <= 5, "Ann's muted audio still reaches Bob"
        tile_action(lea.page, ann_id, "allow_speak")
        wait_until(
            lambda: audio_packets(bob, ann_id) > before + 50, 15, "Ann's audio did not come back"
        )
        ann.page.wait_for_selector("#silenced-notice", state="hidden")
        tile_action(lea.page, ann_id, "stop_video")
        ann.page.wait_for_selector(
            "#silenced-notice:text-is('The therapist has stopped your video: the others do not"
            " see you.')"
        )
        tile_action(lea.page, ann_id, "allow_video")
        ann.page.wait_for_selector("#silenced-notice", state="hidden")

        # Bob raises his hand: everyone sees a hand on his tile (Lea without opening her
        # participant list), and the list gives Lea a button to let him speak. Lowered,
        # it goes.
        bob_hand = f'.tile[data-participant-id="{bob_id}"] .tile-hand'
        assert lea.page.is_hidden(bob_hand)
        bob.page.click("#hand-button")
        for participant in (lea, ann, bob):
            participant.page.wait_for_selector(bob_hand, state="visible", timeout=10000)
        assert lea.page.get_attribute(bob_hand, "aria-label") == "Hand raised"
        lea.page.wait_for_selector(
            f'#participants li[data-person-id="{bob_id}"] [data-action="allow_speak"]'
        )
        bob.page.click("#hand-button")
        for participant in (lea, ann, bob):
            participant.page.wait_for_selector(bob_hand, state="hidden", timeout=10000)

        # Bob's line is weak: he turns the others' video off and keeps hearing them.
        bob.page.click("#others-video-button")
        assert all(tile["initials"] for tile in bob.remote_tiles())
        stays_still(bob, "video kept reaching Bob after he turned the others' video off")
        grows(lambda: audio_packets(bob, ann_id), 50, 10, "Bob stopped hearing Ann")
        bob.page.click("#others-video-button")
        wait_until(lambda: playing_remote_videos(bob, 3), 20, "Bob's videos do not come back")
        # "Only who speaks" (his page offers it in the hint on a weak line): the
        # therapists' video always stays, also while they are silent and Ann speaks
        # (the fake microphones beep: the last two speakers would be Ann and one of
        # them at most).
        for therapist in (lea, cor):
            therapist.page.click("#mute-button")
        bob.page.evaluate("() => document.getElementById('video-mode-button').click()")
        time.sleep(4)  # Ann's beeps make her the latest speaker
        bob.page.wait_for_selector(
            "#weak-line-text:text-is('To spare your connection you see only the video of the"
            " therapists and whoever speaks.')"
        )
        for name in ("Lea", "Cor"):
            therapist_id = person_id(bob.page, name)
            grows(partial(packets_from, bob, therapist_id, "video"), 50, 10, f"no {name}")
            assert not next(t for t in bob.remote_tiles() if t["id"] == therapist_id)["initials"]
        bob.page.click("#video-mode-button")  # "Show everyone"
        for therapist in (lea, cor):
            therapist.page.click("#mute-button")
        wait_until(lambda: playing_remote_videos(bob, 3), 20, "Bob's videos do not come back")

        # The check-in round: arrival, then the round in roster order.
        lea.page.click("#advance-phase")
        lea.page.wait_for_selector("#phase-name:text-is('Arrival')")
        lea.page.click("#advance-phase")
        for participant in people:
            participant.page.wait_for_selector(
                f'#round-order li[data-person-id="{ann_id}"][data-current="true"]', timeout=10000
            )
        assert bob.page.is_hidden("#turn-done")
        # Bob waits for his turn, and his page says why the others do not hear him.
        bob.page.wait_for_selector(
            "#silenced-notice:text-is('During the round the others hear you only when it is"
            " your turn.')"
        )
        assert ann.page.is_hidden("#silenced-notice")
        TEST_OUTPUT.mkdir(exist_ok=True)
        lea.page.screenshot(path=str(TEST_OUTPUT / "session-therapist.png"))
        ann.page.screenshot(path=str(TEST_OUTPUT / "session-member.png"))
        # With the phase bar and a notice above the controls, the panel is short: the
        # chat's input stays in view (it was half under the notice on Ann's page, below
        # a row of tabs a member has no use for: she has one channel).
        assert ann.page.is_hidden("#chat-tabs") and lea.page.is_visible("#chat-tabs")
        for participant in (ann, lea):
            assert in_view(participant.page, "#chat-text"), participant.name
        # On a lower window the participant list scrolls (a session has up to sixteen
        # seats), not the chat's input out of view.
        lea.page.set_viewport_size({"width": 1280, "height": 600})
        wait_until(lambda: in_view(lea.page, "#chat-text"), 5, "no chat input in view at 600")
        assert lea.page.eval_on_selector("#participants", "(e) => e.scrollHeight > e.clientHeight")
        lea.page.set_viewport_size({"width": 1280, "height": 720})
        ann.page.click("#turn-done")
        for participant in people:
            participant.page.wait_for_selector(
                f'#round-order li[data-person-id="{bob_id}"][data-current="true"]', timeout=10000
            )
        bob.page.click("#turn-pass")
        lea.page.wait_for_selector('#round-order li[data-current="true"]', state="detached")

        # The therapists' private channel reaches Cor and no member page at all.
        lea.page.click("#chat-tab-therapists")
        lea.page.fill("#chat-text", PRIVATE)
        lea.page.click("#chat-send")
        cor.page.click("#chat-tab-therapists")
        cor.page.wait_for_selector(f"#chat-log :text('{PRIVATE}')", timeout=10000)
        for member in (ann, bob):
            assert member.page.is_hidden("#chat-tab-therapists")
            frames: list[str] = member.page.evaluate("window.__e2eFrames")
            assert frames and not any(PRIVATE in frame for frame in frames)
        # Cor reloads his page: the chat comes back with his seat, both channels.
        cor.page.reload()
        go_in(cor.page)
        if cor.page.is_hidden("#side"):
            cor.page.click("#side-button")
        cor.page.click("#chat-tab-therapists")
        cor.page.wait_for_selector(f"#chat-log :text('{PRIVATE}')", timeout=10000)
        cor.page.click("#chat-tab-group")
        cor.page.wait_for_selector("#chat-log :text('Welcome, message 1')", timeout=10000)
        # The chat log is a live region: new lines are added to it, never the whole log
        # rebuilt (a screen reader would read it all again at every change on the
        # page), and a reader who scrolled up to an earlier line stays there.
        cor.page.eval_on_selector("#chat-log p", "(line) => { line.dataset.kept = 'yes'; }")
        lea.page.click("#chat-tab-group")
        for n in range(12):
            lea.page.fill("#chat-text", f"Line {n} of the theme's introduction")
            lea.page.click("#chat-send")
        cor.page.wait_for_selector("#chat-log :text('Line 11 of')", timeout=10000)
        assert cor.page.eval_on_selector("#chat-log p", "(line) => line.dataset.kept") == "yes"
        at_end = "(log) => log.scrollHeight - log.scrollTop - log.clientHeight < 2"
        assert cor.page.eval_on_selector("#chat-log", at_end)  # followed the new lines
        cor.page.eval_on_selector("#chat-log", "(log) => { log.scrollTop = 0; }")
        ann.page.click("#hand-button")  # renders Cor's page (a raised hand)
        ann_hand = f'.tile[data-participant-id="{ann_id}"] .tile-hand'
        cor.page.wait_for_selector(ann_hand, state="visible", timeout=10000)
        lea.page.fill("#chat-text", "One more line")
        lea.page.click("#chat-send")
        cor.page.wait_for_selector("#chat-log :text('One more line')", timeout=10000)
        assert cor.page.eval_on_selector("#chat-log", "(log) => log.scrollTop") == 0
        ann.page.click("#hand-button")
        cor.page.wait_for_selector(ann_hand, state="hidden", timeout=10000)

        # Lea removes Bob, in the page's own dialog: cancelled first, nothing happens;
        # then with a reason, which Bob reads.
        # A tile's menu keeps its buttons while they stay the same.
        bob_tile = f'.tile[data-participant-id="{bob_id}"]'
        lea.page.click(f"{bob_tile} .tile-actions summary")
        remove_button = f'{bob_tile} [data-action="remove"]'
        lea.page.eval_on_selector(remove_button, "(button) => { button.dataset.kept = 'yes'; }")
        ann.page.fill("#chat-text", "Thank you")
        ann.page.click("#chat-send")
        lea.page.wait_for_selector("#chat-log :text('Thank you')", state="attached", timeout=10000)
        assert lea.page.eval_on_selector(remove_button, kept) == "yes"
        lea.page.click(f"{bob_tile} .tile-actions summary")  # closed again
        tile_action(lea.page, bob_id, "remove")
        assert "Remove Bob from the session?" in lea.page.inner_text("#remove-dialog")
        lea.page.click("#remove-dialog button[value=cancel]")
        lea.page.wait_for_timeout(500)
        assert bob.page.is_visible("#room")
        tile_action(lea.page, bob_id, "remove")
        lea.page.fill("#remove-reason", "We spreken elkaar apart.")
        lea.page.click("#remove-confirm")
        bob.page.wait_for_selector("#left:not([hidden])", timeout=10000)
        assert "removed you" in bob.page.inner_text("#left-message")
        assert "We spreken elkaar apart." in bob.page.inner_text("#left-message")

        # Lea ends the session (confirmed in a dialog); Ann is told; the attendance
        # has both members.
        lea.page.click("#end-button")
        lea.page.click("#end-dialog button[value=cancel]")
        lea.page.wait_for_timeout(500)
        assert ann.page.is_visible("#room")
        lea.page.click("#end-button")
        lea.page.click("#end-confirm")
        ann.page.wait_for_selector("#left:not([hidden])", timeout=10000)
        assert "session has ended" in ann.page.inner_text("#left-message")
        lea.page.goto(group_url + "/attendance")
        table = lea.page.inner_text("#attendance")
        for name in ("Ann", "Bob"):
            assert table.count(name) >= 2  # joined and left
        errors: list[Any] = [e for p in people for e in p.errors]
        assert errors == []
    finally:
        close_all(*people)


def test_a_logout_elsewhere_ends_her_session_page_and_she_comes_back(
    chromium: Browser, server: Server
) -> None:
    """Logged out in another tab (as after a password change, or an account disabled):
    the session page ends with the reason and a way to log in again that leads back."""
    email = f"lea-{uuid.uuid4().hex[:6]}@example.org"
    add_therapist(server, email, "Lea")
    lea = open_page(chromium, f"{server.base_url}/login", "Lea")
    try:
        log_in(lea.page, email)
        group_name = f"Logout group {uuid.uuid4().hex[:6]}"
        group_url, _ = set_up_group(lea.page, group_name, [])
        lea.page.click("#open-session")
        lea.page.click("#enter-room")
        go_in(lea.page)
        session_url = lea.page.url

        other_tab = lea.context.new_page()
        other_tab.goto(f"{server.base_url}/groups")
        other_tab.click("#logout-button")
        other_tab.wait_for_url(re.compile(r".*/login$"))
        other_tab.close()

        lea.page.wait_for_selector("#left:not([hidden])", timeout=10000)
        assert "Your login has ended" in lea.page.inner_text("#left-message")
        assert lea.page.is_hidden("#room")
        lea.page.click("#login-again")
        lea.page.wait_for_url(re.compile(r".*/login\?next="))
        lea.page.fill("#email", email)
        lea.page.fill("#password", PASSWORD)
        lea.page.click("#login-button")
        lea.page.wait_for_url(session_url)
        go_in(lea.page)  # her seat, held while she logged in, is hers again
        assert lea.page.inner_text("#group-name") == group_name
        assert session_url.startswith(group_url)
        assert lea.page.locator("#participants li").count() == 1
        assert lea.errors == []
    finally:
        close_all(lea)


def test_a_member_who_comes_early_goes_in_by_herself_once_the_session_opens(
    chromium: Browser, server: Server
) -> None:
    """She opens her link before the therapist opens the session: she checks her
    devices, reads the rules, and her page waits and goes on by itself. After the
    session has ended, the link says so rather than waiting."""
    email = f"lea-{uuid.uuid4().hex[:6]}@example.org"
    add_therapist(server, email, "Lea")
    lea = open_page(chromium, f"{server.base_url}/login", "Lea")
    lea.context.add_init_script(COUNT_TONES)
    people = [lea]
    try:
        log_in(lea.page, email)
        _, links = set_up_group(lea.page, f"Early group {uuid.uuid4().hex[:6]}", ["Ann", "Bob"])
        # Her invitation to Ann, for an email: copied whole, with Ann's own link.
        lea.context.grant_permissions(["clipboard-read", "clipboard-write"])
        lea.page.click(".copy-invitation >> nth=0")
        lea.page.wait_for_selector(".copy-invitation:text-is('Copied')")
        invitation = lea.page.evaluate("navigator.clipboard.readText()")
        assert invitation.startswith("Hello Ann,") and f"\n{links[0]}\n" in invitation
        assert links[1] not in invitation and invitation.endswith("Kind regards,\nLea")
        # When the group meets: members who come early see it.
        lea.page.fill("#group-schedule", "Tuesdays 19:00-20:30")
        lea.page.click("#save-settings")
        lea.page.wait_for_selector("#group-schedule[value='Tuesdays 19:00-20:30']")
        ann = open_page(chromium, links[0], "Ann")
        people.append(ann)
        ann.context.add_init_script(COUNT_TONES)
        ann.page.reload()
        ann.page.wait_for_selector("#step-devices:not([hidden])", timeout=10000)
        assert "has not started yet" in ann.page.inner_text("#not-open-notice")
        meets = "The group meets: Tuesdays 19:00-20:30"
        assert ann.page.inner_text("#schedule-notice") == meets
        ann.page.click("#devices-next")
        ann.page.check("#rules-agree")
        ann.page.click("#rules-enter")
        ann.page.wait_for_selector("#step-waiting:not([hidden])", timeout=10000)
        assert "goes on by itself" in ann.page.inner_text("#waiting-text")
        assert ann.page.inner_text("#waiting-schedule") == meets
        assert ann.page.is_hidden("#enter-error")
        assert ann.page.title().startswith("Please wait · Early group")
        # Lea's group page, open since before Ann came, shows that she is already there
        # (its script asks every 10 s; Ann's page tries every 10 s or so).
        assert lea.page.is_hidden("#early-arrivals")
        lea.page.wait_for_selector(
            "#early-arrivals:has-text('Already waiting for the session to open: Ann (since ')",
            timeout=30000,
        )

        # She opens the session in another tab: this one shows it by itself.
        other_tab = lea.context.new_page()
        other_tab.goto(lea.page.url)
        other_tab.click("#open-session")
        other_tab.wait_for_selector("#enter-room")
        other_tab.close()
        lea.page.wait_for_selector("#enter-room", timeout=30000)
        lea.page.click("#enter-room")
        go_in(lea.page)
        # Within the page's next try (every 10 s or so) she is in the waiting room.
        lea.page.wait_for_selector("#waiting-list .admit-button", timeout=30000)
        assert "will let you in" in ann.page.inner_text("#waiting-text")
        assert ann.page.is_hidden("#waiting-schedule")  # it has begun
        assert lea.page.title().startswith("(1) Early group")  # who waits, seen from any tab
        assert ann.page.evaluate("window.__e2eTones") == 0
        lea.page.click("#waiting-list .admit-button")
        ann.page.wait_for_selector("#room:not([hidden])", timeout=20000)
        # Let in: a chime on Ann's page, which she may not have been looking at.
        assert ann.page.evaluate("window.__e2eTones") == 2
        assert ann.page.title().startswith("Early group")

        # Leave asks first, "Stay" first in line; once she has left, one tap takes her
        # back to her seat (no invite link, no waiting room).
        ann.page.click("#leave-button")
        ann.page.wait_for_selector("#leave-dialog[open]")
        assert ann.page.evaluate("document.activeElement.id") == "leave-stay"
        ann.page.click("#leave-stay")
        assert ann.page.is_visible("#room") and ann.page.is_hidden("#leave-dialog")
        ann.page.click("#leave-button")
        ann.page.click("#leave-confirm")
        ann.page.wait_for_selector("#left:not([hidden])", timeout=10000)
        ann.page.click("#back-in")
        go_in(ann.page)
        lea.page.wait_for_selector("#participants li:has-text('Ann')", timeout=10000)
        assert lea.page.is_hidden("#waiting-list .admit-button")

        # Bob comes once Lea is in the room: she hears him knock (two notes).
        tones = lea.page.evaluate("window.__e2eTones")
        bob = open_page(chromium, links[1], "Bob")
        people.append(bob)
        bob.page.click("#devices-next")
        bob.page.check("#rules-agree")
        bob.page.click("#rules-enter")
        lea.page.wait_for_selector("#waiting-list .admit-button", timeout=10000)
        assert lea.page.evaluate("window.__e2eTones") == tones + 2

        lea.page.click("#end-button")
        lea.page.click("#end-confirm")
        ann.page.wait_for_selector("#left:not([hidden])", timeout=10000)
        assert ann.page.is_hidden("#back-in")  # the session has ended
        ann.page.reload()
        ann.page.wait_for_selector("#way-in-error:not([hidden])", timeout=10000)
        assert "session has ended" in ann.page.inner_text("#way-in-message")
        assert [e for p in people for e in p.errors] == []
    finally:
        close_all(*people)


def test_a_member_with_large_text_keeps_the_faces_and_every_control_in_view(
    chromium: Browser, server: Server
) -> None:
    """Ann reads with her tablet's text size raised. The pages' text follows it; in
    the session, on the tablet held sideways, the nine controls stand in a column
    beside the faces (at 150% text they had taken rows under a grid of 393 of 768 px),
    all in view at 200% too; held upright, and on a phone, the bars leave the faces
    room."""
    email = f"lea-{uuid.uuid4().hex[:6]}@example.org"
    add_therapist(server, email, "Lea")
    lea = open_page(chromium, f"{server.base_url}/login", "Lea")
    people = [lea]
    try:
        log_in(lea.page, email)
        _, links = set_up_group(lea.page, f"Large text {uuid.uuid4().hex[:6]}", ["Ann"])
        lea.page.click("#open-session")
        lea.page.click("#enter-room")
        go_in(lea.page)
        ann = open_page(chromium, links[0], "Ann")
        people.append(ann)
        set_text_size(ann.page, 24)
        ann.page.set_viewport_size({"width": 1024, "height": 768})
        ann.page.wait_for_selector("#step-devices:not([hidden])", timeout=10000)
        assert ann.page.evaluate("getComputedStyle(document.body).fontSize") == "27px"
        ann.page.click("#devices-next")
        ann.page.check("#rules-agree")
        ann.page.click("#rules-enter")
        lea.page.wait_for_selector("#waiting-list .admit-button", timeout=30000)
        lea.page.click("#waiting-list .admit-button")
        ann.page.wait_for_selector("#room:not([hidden])", timeout=20000)

        def every_control_in_view(page: Page, width: int, height: int) -> None:
            page.set_viewport_size({"width": width, "height": height})
            wait_until(lambda: page.evaluate("() => window.innerWidth") == width, 5, "no resize")
            page.wait_for_timeout(200)
            where = f"{width}x{height}"
            assert clipped_controls(page) == [], f"controls clipped at {where}"
            assert controls_out_of_view(page) == [], f"controls out of view at {where}"
            scroll = page.evaluate(
                "() => [document.scrollingElement.scrollWidth - window.innerWidth,"
                " document.scrollingElement.scrollHeight - window.innerHeight]"
            )
            assert scroll == [0, 0], f"the page scrolls at {where}: {scroll}"

        def faces_and_controls(width: int, height: int) -> tuple[FloatRect, FloatRect]:
            every_control_in_view(ann.page, width, height)
            grid = ann.page.locator("#grid").bounding_box()
            controls = ann.page.locator("#controls").bounding_box()
            assert grid is not None and controls is not None
            return grid, controls

        for text_size, minimum_share in ((24, 0.75), (32, 0.6)):
            set_text_size(ann.page, text_size)
            grid, controls = faces_and_controls(1024, 768)
            assert controls["x"] >= grid["x"] + grid["width"] - 1, (text_size, grid, controls)
            share = grid["height"] / 768
            assert share >= minimum_share, f"at {text_size} px the faces have {share:.0%}"
            ann.page.select_option("#language", "nl")  # Dutch words are longer
            ann.page.wait_for_selector("#side-button:text-is('Chat en personen')")
            faces_and_controls(1024, 768)
            ann.page.select_option("#language", "en")
            ann.page.wait_for_selector("#side-button:text-is('Chat and people')")
        set_text_size(ann.page, 24)
        for width, height, minimum_share in ((768, 1024, 0.4), (390, 844, 0.4), (844, 390, 0.3)):
            grid, controls = faces_and_controls(width, height)
            assert controls["y"] >= grid["y"] + grid["height"] - 1, (width, grid, controls)
            share = grid["height"] / height
            assert share >= minimum_share, f"at {width}x{height} the faces have {share:.0%}"
        # Lea's column holds her nine buttons (End the session among them) at 200% text.
        set_text_size(lea.page, 32)
        every_control_in_view(lea.page, 1024, 768)
        assert lea.page.locator("#controls button:visible").count() == 9
        assert [e for p in people for e in p.errors] == []
    finally:
        close_all(*people)
