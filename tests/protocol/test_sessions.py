"""Therapy sessions over the real WebSocket: invites, ground rules, the waiting room,
every moderation request (and each one tried by a member), phases and rounds,
chat and signals reaching only their audience, and media forwarding following the
therapists' decisions, with real aiortc peers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from grouproom.accounts.passwords import hash_password
from grouproom.app import create_app, hub_key, store_key
from grouproom.data_dir import load_or_create_secret
from grouproom.http.therapist_pages import LOGIN_IDLE_LIMIT
from grouproom.media.forwarder import Forwarder
from grouproom.rooms.invites import InviteClaims, make_invite
from grouproom.rooms.roles import Role
from grouproom.settings import Settings
from grouproom.signaling.session_hub import SessionHub
from grouproom.store.store import Store
from tests.media.test_connection_quality import lose_audio_on_the_way_up
from tests.protocol.conftest import AiohttpClient
from tests.protocol.rtc_client import RtcClient
from tests.protocol.signaling_client import SignalingClient, SocketClosed

NOW = datetime.now(UTC)
RULES = "Wat hier gezegd wordt, blijft hier."
TABLET = "tablet-0123456789abcdef"  # device keys, as browsers make them
PHONE = "phone-0123456789abcdef0"


@dataclass
class Group:
    client: TestClient[Any, Any]
    store: Store
    secret: bytes
    group_id: str
    lead_id: str
    co_id: str
    members: dict[str, str]  # name -> roster id
    logins: dict[str, str]  # therapist id -> login token

    def invite(self, name: str, serial: int = 1, expires: int | None = None) -> str:
        claims = InviteClaims(
            self.group_id,
            self.members[name],
            serial,
            expires if expires is not None else int(time.time()) + 3600,
        )
        return make_invite(self.secret, claims)

    async def socket(self, therapist_id: str | None = None) -> SignalingClient:
        headers = {}
        if therapist_id is not None:
            headers["Cookie"] = f"grouproom_login={self.logins[therapist_id]}"
        return SignalingClient(await self.client.ws_connect("/ws", headers=headers))

    async def therapist(self, therapist_id: str) -> tuple[SignalingClient, dict[str, Any]]:
        socket = await self.socket(therapist_id)
        entered = await socket.request("enter", {"group": self.group_id})
        assert entered["type"] == "entered" and entered["data"]["state"] == "seated", entered
        return socket, entered["data"]["seat"]

    async def member(
        self, name: str, device: str | None = None
    ) -> tuple[SignalingClient, dict[str, Any]]:
        """A member through the way in: rules, then the waiting room."""
        socket = await self.socket()
        data: dict[str, Any] = {"invite": self.invite(name), "accept_rules": 1}
        if device is not None:
            data["device"] = device
        entered = await socket.request("enter", data)
        assert entered["type"] == "entered", entered
        return socket, entered["data"]


@pytest.fixture
async def group(aiohttp_client: AiohttpClient, settings: Settings) -> Group:
    return await group_on(await aiohttp_client(create_app(settings)), settings)


async def group_on(client: TestClient[Any, Any], settings: Settings) -> Group:
    """Two therapists logged in, a group of theirs with three on the roster."""
    store: Store = client.app[store_key]
    lead = await store.add_therapist("lea@example.org", "Lea", hash_password("x" * 12), NOW)
    co = await store.add_therapist("cor@example.org", "Cor", hash_password("x" * 12), NOW)
    made = await store.create_group("Dinsdag", "nl", lead.id, RULES, NOW, cotherapist_id=co.id)
    members = {}
    people = (("Ann", Role.MEMBER), ("Bob", Role.MEMBER), ("Olga", Role.OBSERVER))
    for minute, (name, role) in enumerate(people):  # the roster's order is the order added
        added = NOW + timedelta(minutes=minute)
        members[name] = (await store.add_to_roster(made.id, name, role, added)).id
    logins = {
        therapist.id: await store.create_web_session(therapist.id, NOW, timedelta(hours=12))
        for therapist in (lead, co)
    }
    return Group(
        client,
        store,
        load_or_create_secret(Path(settings.data_dir)),
        made.id,
        lead.id,
        co.id,
        members,
        logins,
    )


async def open_session(group: Group) -> str:
    record = await group.store.open_session(group.group_id, group.lead_id, NOW)
    return record.id


# -- the way in ----------------------------------------------------------------------


async def test_session_info_shows_the_rules_and_whether_they_were_accepted(group: Group) -> None:
    socket = await group.socket()
    reply = await socket.request("session_info", {"invite": group.invite("Ann")})
    assert reply["type"] == "session_details"
    info = reply["data"]
    assert info["you"] == {"id": group.members["Ann"], "name": "Ann", "role": "member"}
    assert info["group"] == {"name": "Dinsdag", "language": "nl", "schedule": ""}
    assert info["rules"] == {"version": 1, "text": RULES, "chat_enabled": True}
    assert info["accepted_before"] is False and info["session_open"] is False
    assert (await socket.error("enter", {"invite": group.invite("Ann"), "accept_rules": 1}))[
        "code"
    ] == "session_not_open"

    await open_session(group)
    await group.therapist(group.lead_id)
    await group.member("Ann")
    later = await group.socket()
    info = (await later.request("session_info", {"invite": group.invite("Ann")}))["data"]
    assert info["accepted_before"] is True and info["session_open"] is True

    # When the group meets, as its lead wrote it on the group page.
    await group.store.update_group(
        group.group_id,
        cotherapist_id=group.co_id,
        auto_admit=False,
        round_mutes_others=True,
        schedule="dinsdag 19.00-20.30 uur",
    )
    info = (await later.request("session_info", {"invite": group.invite("Ann")}))["data"]
    assert info["group"]["schedule"] == "dinsdag 19.00-20.30 uur"


async def test_session_info_says_whether_the_last_session_ended_recently(group: Group) -> None:
    """A page opened before the session waits for it; one opened after it ended today
    is told so instead of waiting."""

    async def recently_ended() -> bool:
        socket = await group.socket()
        info = (await socket.request("session_info", {"invite": group.invite("Ann")}))["data"]
        assert info["session_open"] is False
        return bool(info["recently_ended"])

    assert await recently_ended() is False  # no session yet
    for hours_ago, recent in ((4, False), (2, True)):
        when = datetime.now(UTC) - timedelta(hours=hours_ago)
        record = await group.store.open_session(group.group_id, group.lead_id, when)
        await group.store.close_session(record.id, group.lead_id, when + timedelta(minutes=5))
        assert await recently_ended() is recent, hours_ago


async def test_the_group_page_lists_who_waits_for_the_session_to_open(group: Group) -> None:
    """A member's page that came early tries to enter now and then; the therapists see
    her on the group page until the session opens, or her page stops trying."""
    hub: SessionHub = group.client.app[hub_key]
    cookie = {"Cookie": f"grouproom_login={group.logins[group.lead_id]}"}

    async def group_page() -> str:
        response = await group.client.get(f"/groups/{group.group_id}?lang=nl", headers=cookie)
        assert response.status == 200
        return await response.text()

    async def line_now(login: str | None = None, session_open: bool = False) -> str:
        """What the group page's script reads every 10 s (the page's own line)."""
        headers = {"Cookie": f"grouproom_login={login or group.logins[group.lead_id]}"}
        response = await group.client.get(
            f"/groups/{group.group_id}/early-arrivals?lang=nl", headers=headers
        )
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        data = await response.json()
        assert data["session_open"] is session_open
        line: str = data["line"]
        return line

    assert '<p id="early-arrivals" class="early-arrivals" role="status"' in await group_page()
    assert "Wacht al" not in await group_page()
    assert await line_now() == ""
    for name in ("Bob", "Ann", "Bob"):
        socket = await group.socket()
        enter = {"invite": group.invite(name), "accept_rules": 1}
        assert (await socket.error("enter", enter))["code"] == "session_not_open"
    lea = await group.socket(group.lead_id)
    assert (await lea.error("enter", {"group": group.group_id}))["code"] == "session_not_open"
    page = await group_page()
    assert "Wacht al tot de sessie opent: Bob (sinds " in page and "), Ann (sinds " in page
    line = await line_now()
    assert line.startswith("Wacht al tot de sessie opent: Bob (sinds ") and line in page
    assert await line_now(group.logins[group.co_id]) == line
    # Only for the group's therapists, and only logged in.
    eve = await group.store.add_therapist("eve@example.org", "Eve", "h", NOW)
    eve_login = await group.store.create_web_session(eve.id, NOW, timedelta(hours=1))
    address = f"/groups/{group.group_id}/early-arrivals"
    response = await group.client.get(address, headers={"Cookie": f"grouproom_login={eve_login}"})
    assert response.status == 404 and "Bob" not in await response.text()
    response = await group.client.get(address, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    # A therapist's own tries do not count; opening the session clears the list.
    assert [name for name, _ in hub.early_arrivals(group.group_id)] == ["Bob", "Ann"]
    await open_session(group)
    await group.therapist(group.lead_id)
    assert hub.early_arrivals(group.group_id) == []
    assert await line_now(session_open=True) == ""
    # A page that stops trying drops off.
    hub.early["other-group"] = {"x": ("Cas", hub.clock() - 60, hub.clock() - 60)}
    assert hub.early_arrivals("other-group") == []


async def test_the_group_pages_own_asking_does_not_keep_a_login_from_idling_out(
    group: Group,
) -> None:
    """The group page's script asks every 10 s for as long as the page is open: that
    is not the therapist using her login, so a login idle for its limit lapses
    although the script kept asking (a page she opened counts as use)."""

    async def idle_login() -> str:
        """A login last used a moment less than the idle limit ago."""
        since = datetime.now(UTC) - LOGIN_IDLE_LIMIT + timedelta(seconds=1.5)
        return await group.store.create_web_session(group.lead_id, since, timedelta(hours=12))

    async def status(address: str, login: str) -> int:
        response = await group.client.get(
            address, headers={"Cookie": f"grouproom_login={login}"}, allow_redirects=False
        )
        return response.status

    poll, page = f"/groups/{group.group_id}/early-arrivals", f"/groups/{group.group_id}"
    asked, viewed = await idle_login(), await idle_login()
    assert await status(poll, asked) == 200
    assert await status(page, viewed) == 200
    await asyncio.sleep(2.0)  # past the idle limit of both, counted from their last use
    assert await status(poll, asked) == 303, "the script's asking kept the login alive"
    assert await status(page, viewed) == 200


def _tampered_signature(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def _tampered_claims(group: Group, name: str, other: str) -> str:
    """Someone edits the claims of their own link to name another member, keeping
    the signature."""
    signature = group.invite(name).split(".")[1]
    forged = make_invite(
        group.secret,
        InviteClaims(group.group_id, group.members[other], 1, int(time.time()) + 3600),
    )
    return forged.split(".")[0] + "." + signature


def _for_another_group(group: Group, name: str) -> str:
    """A correctly signed link whose member is on another group's roster."""
    claims = InviteClaims("another-group-id", group.members[name], 1, int(time.time()) + 3600)
    return make_invite(group.secret, claims)


def _from_another_server(group: Group, name: str) -> str:
    claims = InviteClaims(group.group_id, group.members[name], 1, int(time.time()) + 3600)
    return make_invite(b"another server's secret key 1234", claims)


@pytest.mark.parametrize(
    ("make_credentials", "code"),
    [
        (lambda g: {"invite": "not-a-token"}, "invite_invalid"),
        (lambda g: {"invite": _tampered_signature(g.invite("Ann"))}, "invite_invalid"),
        (lambda g: {"invite": _tampered_claims(g, "Ann", "Bob")}, "invite_invalid"),
        (lambda g: {"invite": _for_another_group(g, "Ann")}, "invite_invalid"),
        (lambda g: {"invite": _from_another_server(g, "Ann")}, "invite_invalid"),
        (lambda g: {"invite": g.invite("Ann", expires=int(time.time()) - 1)}, "invite_expired"),
        (lambda g: {"invite": g.invite("Ann", serial=2)}, "invite_invalid"),  # revoked
        (lambda g: {"group": g.group_id}, "login_required"),
        (lambda g: {"invite": g.invite("Ann"), "group": g.group_id}, "invalid_data"),
        (lambda g: {}, "invalid_data"),
    ],
)
async def test_wrong_credentials_get_a_clear_code(
    group: Group, make_credentials: Callable[[Group], dict[str, Any]], code: str
) -> None:
    await open_session(group)
    socket = await group.socket()
    data = {**make_credentials(group), "accept_rules": 1}
    assert (await socket.error("enter", data))["code"] == code
    assert (await socket.error("session_info", make_credentials(group)))["code"] == code
    assert (await socket.request("ping"))["type"] == "pong"  # the socket stays usable


async def test_a_group_handed_over_during_its_session_seats_the_new_lead_as_lead(
    group: Group,
) -> None:
    """An operator hands the group over while its session runs (its lead left): the
    cotherapist who now leads it is the lead therapist when she comes in again, for
    everyone, not the cotherapist she was when the session began."""
    await open_session(group)
    lea, _ = await group.therapist(group.lead_id)
    cor, seat = await group.therapist(group.co_id)
    assert seat["you"]["role"] == "cotherapist"
    joined = await lea.event("participant_joined")
    assert joined["data"]["participant"]["role"] == "cotherapist"
    await group.store.hand_over_group(group.group_id, group.co_id)
    assert await cor.expect("leave") == {}
    _, seat = await group.therapist(group.co_id)
    assert seat["you"]["role"] == "lead_therapist"
    joined = await lea.event("participant_joined")
    assert joined["data"]["participant"]["role"] == "lead_therapist"
    # Lea, who led it before, no longer comes in once she has left.
    assert await lea.expect("leave") == {}
    again = await group.socket(group.lead_id)
    assert (await again.error("enter", {"group": group.group_id}))["code"] == "not_allowed"


async def test_a_therapist_of_another_group_is_refused(group: Group) -> None:
    other = await group.store.add_therapist("eve@example.org", "Eve", "h", NOW)
    group.logins[other.id] = await group.store.create_web_session(other.id, NOW, timedelta(hours=1))
    await open_session(group)
    socket = await group.socket(other.id)
    assert (await socket.error("enter", {"group": group.group_id}))["code"] == "not_allowed"


async def test_rules_must_be_accepted_and_the_acceptance_is_stored(group: Group) -> None:
    session_id = await open_session(group)
    await group.therapist(group.lead_id)
    socket = await group.socket()
    assert (await socket.error("enter", {"invite": group.invite("Ann")}))[
        "code"
    ] == "rules_not_accepted"
    assert not await group.store.has_accepted(group.members["Ann"], group.group_id, 1)
    entered = await socket.request("enter", {"invite": group.invite("Ann"), "accept_rules": 1})
    assert entered["data"] == {"state": "waiting"}
    assert await group.store.has_accepted(group.members["Ann"], group.group_id, 1)
    async with group.store.engine.connect() as connection:
        from sqlalchemy import text

        row = (
            await connection.execute(text("SELECT session_id, rules_version FROM rule_acceptances"))
        ).one()
    assert tuple(row) == (session_id, 1)


async def test_the_waiting_room_and_admission(group: Group) -> None:
    await open_session(group)
    lea, seat = await group.therapist(group.lead_id)
    assert seat["waiting"] == [] and seat["participants"] == []
    ann, entered = await group.member("Ann")
    assert entered == {"state": "waiting"}
    waiting = await lea.event("waiting_room")
    assert waiting["data"]["people"] == [
        {"id": group.members["Ann"], "name": "Ann", "role": "member"}
    ]
    # Ann, waiting, cannot do anything in the session yet.
    assert (await ann.error("raise_hand", {"raised": True}))["code"] == "not_present"
    assert (await ann.error("offer", {"sdp": "v=0"}))["code"] == "invalid_state"

    await lea.expect("moderate", {"action": "admit", "target": group.members["Ann"]})
    admitted = (await ann.event("admitted"))["data"]["seat"]
    assert admitted["participant_id"] == group.members["Ann"]
    assert [p["name"] for p in admitted["participants"]] == ["Lea"]
    assert "waiting" not in admitted  # only therapists see the waiting room
    joined = (await lea.event("participant_joined"))["data"]["participant"]
    assert joined["name"] == "Ann" and joined["role"] == "member"
    assert (await lea.event("waiting_room"))["data"]["people"] == []


async def test_a_second_tab_of_the_same_device_takes_the_seat(group: Group) -> None:
    await open_session(group)
    lea, _ = await group.therapist(group.lead_id)
    phone, _ = await group.member("Ann", device=TABLET)
    await lea.expect("moderate", {"action": "admit", "target": group.members["Ann"]})
    await phone.event("admitted")
    tablet, entered = await group.member("Ann", device=TABLET)
    assert entered["state"] == "seated"  # straight back in, no second wait
    dismissed = await phone.event("dismissed")
    assert dismissed["data"] == {"cause": "replaced", "reason": ""}
    await phone.closed()
    assert (await tablet.request("ping"))["type"] == "pong"
    assert not [e for e in lea.events if e["type"] == "participant_left"]


# -- moderation ----------------------------------------------------------------------

MODERATION = [
    ("admit", True),
    ("mute", True),
    ("allow_speak", True),
    ("stop_video", True),
    ("allow_video", True),
    ("remove", True),
    ("mute_all", False),
    ("unmute_all", False),
    ("lock", False),
    ("unlock", False),
    ("advance_phase", False),
    ("next_speaker", False),
    ("end", False),
    ("acknowledge_signal", True),
]


@pytest.mark.parametrize(("action", "targeted"), MODERATION)
async def test_a_member_trying_moderation_is_refused(
    group: Group, action: str, targeted: bool
) -> None:
    await open_session(group)
    lea, _ = await group.therapist(group.lead_id)
    ann, _ = await group.member("Ann")
    await lea.expect("moderate", {"action": "admit", "target": group.members["Ann"]})
    await ann.event("admitted")
    data: dict[str, Any] = {"action": action}
    if targeted:
        data["target"] = group.lead_id
    assert (await ann.error("moderate", data))["code"] == "not_allowed"
    assert (await ann.error("chat", {"channel": "therapists", "text": "hi"}))[
        "code"
    ] == "not_allowed"


async def seated_group(group: Group) -> tuple[SignalingClient, SignalingClient, SignalingClient]:
    """Lea and Ann and Bob in the session."""
    await open_session(group)
    lea, _ = await group.therapist(group.lead_id)
    seated = []
    for name in ("Ann", "Bob"):
        socket, _ = await group.member(name)
        await lea.expect("moderate", {"action": "admit", "target": group.members[name]})
        await socket.event("admitted")
        seated.append(socket)
    return lea, seated[0], seated[1]


async def permissions(socket: SignalingClient, person_id: str) -> tuple[bool, bool]:
    """The next forwarding change about `person_id` that reached this socket."""
    while True:
        data = (await socket.event("permissions"))["data"]
        if data["participant_id"] == person_id:
            return data["audio_forwarded"], data["video_forwarded"]


async def state_with(socket: SignalingClient, **expected: object) -> dict[str, Any]:
    """The next session_state in which the given fields have the given values."""
    while True:
        state: dict[str, Any] = (await socket.event("session_state"))["data"]
        if all(state[key] == value for key, value in expected.items()):
            return state


async def test_every_moderation_request_of_a_therapist(group: Group) -> None:
    lea, ann, bob = await seated_group(group)
    ann_id, bob_id = group.members["Ann"], group.members["Bob"]

    await lea.expect("moderate", {"action": "mute", "target": ann_id})
    assert await permissions(bob, ann_id) == (False, True)
    await ann.expect("raise_hand", {"raised": True})
    assert (await lea.event("hand"))["data"] == {"participant_id": ann_id, "raised": True}
    await lea.expect("moderate", {"action": "allow_speak", "target": ann_id})
    assert await permissions(bob, ann_id) == (True, True)
    await lea.expect("moderate", {"action": "stop_video", "target": bob_id})
    assert await permissions(ann, bob_id) == (True, False)
    await lea.expect("moderate", {"action": "allow_video", "target": bob_id})
    assert await permissions(ann, bob_id) == (True, True)
    await lea.expect("moderate", {"action": "mute_all"})
    await state_with(ann, everyone_muted=True)
    assert await permissions(bob, ann_id) == (False, True)
    await lea.expect("moderate", {"action": "unmute_all"})
    await state_with(ann, everyone_muted=False)
    await lea.expect("moderate", {"action": "lock"})
    await state_with(bob, locked=True)
    await lea.expect("moderate", {"action": "unlock"})
    assert (await lea.error("moderate", {"action": "mute", "target": group.co_id}))["code"] in (
        "not_present",
        "target_is_therapist",
    )

    await lea.expect(
        "moderate", {"action": "remove", "target": bob_id, "reason": "Bel me na de sessie."}
    )
    assert (await bob.event("dismissed"))["data"] == {
        "cause": "removed",
        "reason": "Bel me na de sessie.",
    }
    await bob.closed()
    left = (await ann.event("participant_left"))["data"]
    assert left == {"participant_id": bob_id, "cause": "removed"}
    again = await group.socket()
    assert (await again.error("enter", {"invite": group.invite("Bob"), "accept_rules": 1}))[
        "code"
    ] == "removed"

    await lea.expect("moderate", {"action": "end"})
    assert (await ann.event("dismissed"))["data"]["cause"] == "session_ended"
    await ann.closed()
    assert await group.store.open_session_of(group.group_id) is None
    actions = [e.action for e in await group.store.audit_of_group(group.group_id)]
    for action in ("admit", "mute_audio", "allow_speak", "stop_video", "remove", "end"):
        assert f"session:{action}" in actions
    attendance = await group.store.attendance_of_group(group.group_id)
    assert {(e.display_name, e.joined, e.cause) for e in attendance} >= {
        ("Ann", True, None),
        ("Bob", False, "removed"),
        ("Ann", False, "session_ended"),
    }


async def test_a_round_with_its_order_and_turns(group: Group) -> None:
    lea, ann, bob = await seated_group(group)
    ann_id, bob_id = group.members["Ann"], group.members["Bob"]
    assert (await ann.error("turn", {"passed": True}))["code"] == "not_now"
    await lea.expect("moderate", {"action": "advance_phase"})
    arrival = (await ann.event("session_state"))["data"]
    assert arrival["phase"]["kind"] == "arrival" and arrival["phase"]["minutes"] == 5
    await lea.expect("moderate", {"action": "advance_phase"})
    state = await state_with(
        bob, round={"order": [ann_id, bob_id], "current": ann_id, "passed": []}
    )
    assert state["phase"]["name"] == "Check-inronde"
    assert (await bob.error("turn", {"passed": True}))["code"] == "not_your_turn"
    await ann.expect("turn", {"passed": False})  # done speaking
    await state_with(bob, round={"order": [ann_id, bob_id], "current": bob_id, "passed": []})
    await bob.expect("turn", {"passed": True})
    await state_with(ann, round={"order": [ann_id, bob_id], "current": None, "passed": [bob_id]})


async def test_private_channels_never_reach_a_member(group: Group) -> None:
    lea, ann, bob = await seated_group(group)
    cor, _ = await group.therapist(group.co_id)
    await lea.expect("chat", {"channel": "therapists", "text": "Ann lijkt moe."})
    message = (await cor.event("chat_message"))["data"]
    assert message["sender_name"] == "Lea" and message["text"] == "Ann lijkt moe."
    await ann.expect("signal", {"kind": "need_a_moment"})
    signal = (await lea.event("signal_received"))["data"]
    assert signal["name"] == "Ann" and signal["kind"] == "need_a_moment"
    await cor.event("signal_received")
    await bob.expect("chat", {"channel": "group", "text": "Hallo allemaal"})
    for socket in (lea, cor, ann):
        while (await socket.event("chat_message"))["data"]["text"] != "Hallo allemaal":
            pass  # the therapists also see their own channel's message first
    # Everything that reached the members, in full: no private text, no signal.
    for member in (ann, bob):
        await member.expect("ping")
        seen = str(member.events)
        assert "Ann lijkt moe" not in seen and "signal_received" not in seen


async def test_a_signal_waits_for_a_therapist_and_the_member_is_told(group: Group) -> None:
    lea, ann, bob = await seated_group(group)
    ann_id, bob_id = group.members["Ann"], group.members["Bob"]
    await ann.expect("signal", {"kind": "need_help"})
    await bob.expect("signal", {"kind": "need_a_moment"})
    for _ in range(2):
        await lea.event("signal_received")
    # Cor comes in later, and Ann reloads her page: the open signals are in their
    # seats (every one for a therapist, her own for a member).
    cor, cor_seat = await group.therapist(group.co_id)
    assert [(s["participant_id"], s["name"], s["kind"]) for s in cor_seat["signals"]] == [
        (ann_id, "Ann", "need_help"),
        (bob_id, "Bob", "need_a_moment"),
    ]
    ann_again, entered = await group.member("Ann")
    await ann.closed()
    ann = ann_again
    assert [s["participant_id"] for s in entered["seat"]["signals"]] == [ann_id]

    bad = await lea.error("moderate", {"action": "acknowledge_signal"})
    assert bad["code"] == "invalid_data" and "target" in bad["message"]
    to_lea = {"action": "acknowledge_signal", "target": group.lead_id}
    assert (await lea.error("moderate", to_lea))["code"] == "target_is_therapist"
    await cor.expect("moderate", {"action": "acknowledge_signal", "target": ann_id})
    seen = {"participant_id": ann_id, "by": group.co_id}
    for socket in (lea, cor, ann):
        assert (await socket.event("signal_acknowledged"))["data"] == seen
    await lea.expect("moderate", {"action": "acknowledge_signal", "target": ann_id})  # no-op
    _, lea_seat = await group.therapist(group.lead_id)  # a new tab: only Bob's is open
    assert [s["participant_id"] for s in lea_seat["signals"]] == [bob_id]
    await bob.expect("ping")
    assert "signal_acknowledged" not in str(bob.events)  # not about him
    actions = [e.action for e in await group.store.audit_of_group(group.group_id)]
    assert actions.count("session:acknowledge_signal") == 1


async def test_forwarding_follows_the_therapists(
    group: Group, rtc_clients: Callable[[int], RtcClient]
) -> None:
    """A muted member's audio is not forwarded at all: the others' receivers see
    no more audio packets from them until a therapist allows them to speak."""
    lea, ann, bob = await seated_group(group)
    ann_id = group.members["Ann"]
    peers = await _with_media(rtc_clients, {"Lea": lea, "Ann": ann, "Bob": bob})
    published = await _published_mid(bob, ann_id, "audio")

    async def ann_audio_packets() -> int:
        return await _packets_received(peers["Bob"], published)

    assert await _grows(ann_audio_packets)
    await lea.expect("moderate", {"action": "mute", "target": ann_id})
    await bob.event("permissions")
    before = await ann_audio_packets()
    await _sleep(1.5)
    assert await ann_audio_packets() - before <= 5  # at most what was under way
    await lea.expect("moderate", {"action": "allow_speak", "target": ann_id})
    assert await _grows(ann_audio_packets)


async def test_everyone_in_a_session_is_told_how_well_a_members_line_carries_it(
    group: Group, rtc_clients: Callable[[int], RtcClient]
) -> None:
    lea, ann, bob = await seated_group(group)
    ann_id = group.members["Ann"]
    peers = await _with_media(rtc_clients, {"Lea": lea, "Ann": ann, "Bob": bob})
    await asyncio.wait_for(peers["Ann"].connected.wait(), 15)
    lose_audio_on_the_way_up(peers["Ann"].pc, 5)  # a fifth of what she sends
    for socket in (lea, ann, bob):
        told = await socket.event("connection_quality", seconds=20)
        assert told["data"] == {"participant_id": ann_id, "quality": "bad", "direction": "up"}
    # A therapist who comes in later finds it in the seat, with the way.
    _, cor_seat = await group.therapist(group.co_id)
    listed = {
        p["name"]: (p["connection"], p["connection_direction"]) for p in cor_seat["participants"]
    }
    assert listed == {"Lea": ("good", None), "Ann": ("bad", "up"), "Bob": ("good", None)}


async def _with_media(
    rtc_clients: Callable[[int], RtcClient], sockets: dict[str, SignalingClient]
) -> dict[str, RtcClient]:
    """A real aiortc peer connection for each seated socket, by name."""
    peers: dict[str, RtcClient] = {}
    for name, socket in sockets.items():
        peer = rtc_clients(4)  # four others at most in this group's roster
        answer = await socket.expect("offer", {"sdp": await peer.offer()})
        await peer.accept(answer["sdp"])
        peers[name] = peer
    return peers


async def _published_mid(socket: SignalingClient, publisher: str, kind: str) -> str:
    while True:
        event = await socket.event("track_published")
        if event["data"]["participant_id"] == publisher and event["data"]["kind"] == kind:
            return str(event["data"]["mid"])


async def _packets_received(peer: RtcClient, mid: str) -> int:
    receiver = peer.transceiver(mid).receiver
    stats = await receiver.getStats()
    return sum(
        int(getattr(report, "packetsReceived", 0))
        for report in stats.values()
        if getattr(report, "type", "") == "inbound-rtp"
    )


async def _grows(measure: Callable[[], Awaitable[int]], within: float = 10.0) -> bool:
    start = await measure()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await _sleep(0.2)
        if await measure() > start + 10:
            return True
    return False


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def test_a_session_closed_on_the_group_page_ends_in_the_room(group: Group) -> None:
    lea, ann, bob = await seated_group(group)
    hub = group.client.app[hub_key]
    record = await group.store.open_session_of(group.group_id)
    assert record is not None
    await group.store.close_session(record.id, group.lead_id, NOW)
    # Lea's browser closes while the end is being handed out: the others still
    # get told why.
    await asyncio.gather(lea.ws.close(), hub.end_from_page(record.id, group.lead_id))
    assert (await ann.event("dismissed"))["data"]["cause"] == "session_ended"
    assert (await bob.event("dismissed"))["data"]["cause"] == "session_ended"
    with pytest.raises(SocketClosed):
        for _ in range(10):
            await ann.receive()


async def test_a_restart_resumes_the_session(
    group: Group, aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    """The server stops mid-session; the new one continues it: same phase and lock,
    and members who had been let in come back without the waiting room."""
    lea, ann, _ = await seated_group(group)
    await lea.expect("moderate", {"action": "advance_phase"})
    await lea.expect("moderate", {"action": "lock"})
    await group.client.close()  # the server stops: sockets and the live session go

    restarted = await aiohttp_client(create_app(settings))
    group.client = restarted
    lea, seat = await group.therapist(group.lead_id)
    assert seat["state"]["phase"]["name"] == "Aankomst" and seat["state"]["locked"] is True
    ann, entered = await group.member("Ann")
    assert entered["state"] == "seated"  # let in before the restart, the lock allows it
    await ann.expect("raise_hand", {"raised": True})
    assert (await lea.event("hand"))["data"]["raised"] is True
    newcomer = await group.socket()
    refused = await newcomer.error("enter", {"invite": group.invite("Olga"), "accept_rules": 1})
    assert refused["code"] == "locked"


async def test_offer_and_candidates_in_a_session(
    group: Group, rtc_clients: Callable[[int], RtcClient]
) -> None:
    lea, ann, _ = await seated_group(group)
    assert (await ann.error("ice_candidate", {"candidate": None}))["code"] == "invalid_state"
    peer = rtc_clients(4)
    answer = await ann.expect("offer", {"sdp": await peer.offer()})
    await peer.accept(answer["sdp"])
    assert (await ann.error("offer", {"sdp": "v=0"}))["code"] == "invalid_state"
    candidate = peer.candidate_lines()[0]
    data = {"candidate": candidate, "sdp_mid": "0", "sdp_mline_index": 0}
    assert await ann.expect("ice_candidate", data) == {}
    assert (await ann.error("ice_candidate", {"candidate": "candidate:garbage"}))[
        "code"
    ] == "bad_candidate"
    assert await lea.expect("ping") == {}


async def test_seated_people_choose_the_video_they_are_sent(group: Group) -> None:
    lea, ann, _ = await seated_group(group)
    olga, entered = await group.member("Olga")
    assert entered == {"state": "waiting"}
    error = await olga.error("set_visible_video", {"participants": []})
    assert error["code"] == "not_present"
    shown = [group.lead_id, "nobody-here"]
    assert await ann.expect("set_visible_video", {"participants": shown}) == {}
    assert await lea.expect("set_visible_video", {"participants": []}) == {}
    error = await ann.error("set_visible_video", {"participants": [7]})
    assert error["code"] == "invalid_data"
    (live,) = group.client.app[hub_key].live.values()
    forwarder = live.forwarder
    assert isinstance(forwarder, Forwarder)
    assert forwarder.visible_video == {
        group.members["Ann"]: frozenset(shown),
        group.lead_id: frozenset(),
    }
