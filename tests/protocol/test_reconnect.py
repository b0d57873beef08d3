"""A broken connection keeps its seat for the grace period: the others see the
person reconnecting, the same device gets the same seat back (role, moderation,
hand, no waiting room), another device is refused, the seat is released when the
grace period passes, and the same holds over a server restart. Real WebSockets and,
for the media, real aiortc peers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from grouproom.app import create_app, hub_key
from grouproom.settings import Settings
from grouproom.signaling.session_hub import SessionHub
from tests.protocol.conftest import AiohttpClient
from tests.protocol.rtc_client import RtcClient
from tests.protocol.signaling_client import SignalingClient
from tests.protocol.test_sessions import (
    PHONE,
    TABLET,
    Group,
    _grows,
    _packets_received,
    _published_mid,
    open_session,
)
from tests.protocol.test_sessions import group as group  # the fixture

GRACE = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, reconnect_grace=GRACE)


async def seated(group: Group) -> tuple[SignalingClient, SignalingClient, SignalingClient]:
    """Lea, then Ann (on her tablet) and Bob, let in."""
    await open_session(group)
    lea, _ = await group.therapist(group.lead_id)
    sockets = []
    for name, device in (("Ann", TABLET), ("Bob", None)):
        socket, _ = await group.member(name, device)
        await lea.expect("moderate", {"action": "admit", "target": group.members[name]})
        await socket.event("admitted")
        sockets.append(socket)
    return lea, sockets[0], sockets[1]


def others_in(seat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in seat["participants"]}


async def test_a_dropped_member_gets_the_same_seat_back(group: Group) -> None:
    lea, ann, bob = await seated(group)
    ann_id = group.members["Ann"]
    await ann.expect("raise_hand", {"raised": True})
    await lea.expect("moderate", {"action": "mute", "target": ann_id})
    await lea.expect("moderate", {"action": "lock"})
    await ann.expect("signal", {"kind": "need_help"})
    await lea.event("signal_received")
    before = time.time()
    await ann.ws.close()  # the tablet's Wi-Fi drops: no `leave`

    for socket in (lea, bob):
        reconnecting = (await socket.event("participant_reconnecting"))["data"]
        assert reconnecting["participant_id"] == ann_id
        assert before + GRACE - 1 <= reconnecting["until"] / 1000 <= time.time() + GRACE + 1
    # Someone entering meanwhile sees Ann's held seat, marked.
    cor, cor_seat = await group.therapist(group.co_id)
    assert others_in(cor_seat)["Ann"]["reconnecting"] is True
    # Cor sees her signal while she is away; she is told when she is back.
    await cor.expect("moderate", {"action": "acknowledge_signal", "target": ann_id})
    await lea.event("signal_acknowledged")

    ann, entered = await group.member("Ann", TABLET)
    assert entered["state"] == "seated"  # locked, yet no waiting room
    seat = entered["seat"]
    assert seat["participant_id"] == ann_id and seat["reconnect_grace"] == GRACE
    assert set(others_in(seat)) == {"Lea", "Bob", "Cor"}
    # Her own page is told too, so that it can say she is muted and her hand is up.
    you = seat["you"]
    assert you["id"] == ann_id and you["name"] == "Ann" and you["role"] == "member"
    assert you["audio_forwarded"] is False and you["video_forwarded"] is True
    assert you["hand_raised"] is True
    assert seat["signals"] == [] and seat["signal_seen"] is True
    for socket in (lea, bob, cor):
        assert (await socket.event("participant_reconnected"))["data"] == {"participant_id": ann_id}
    # Still muted by the therapist, hand still raised; and nobody saw her leave.
    _dan, dan_seat = await group.therapist(group.co_id)  # Cor's second tab
    assert dan_seat["signal_seen"] is False
    ann, entered = await group.member("Ann", TABLET)  # she reloads: told once only
    assert entered["seat"]["signal_seen"] is False
    again = others_in(dan_seat)["Ann"]
    assert again["reconnecting"] is False
    assert again["hand_raised"] is True and again["audio_forwarded"] is False
    assert (await ann.error("moderate", {"action": "lock"}))["code"] == "not_allowed"
    assert not [e for e in lea.events + bob.events if e["type"] == "participant_left"]
    attendance = await group.store.attendance_of_session(
        (await group.store.open_session_of(group.group_id)).id  # type: ignore[union-attr]
    )
    assert [(e.joined, e.cause) for e in attendance if e.person_id == ann_id] == [(True, None)]


async def test_the_chat_comes_back_with_the_seat(group: Group) -> None:
    """A reload or a broken connection no longer loses the chat: the seat carries what
    reached her (and what she missed meanwhile); a therapist's carries their channel."""
    lea, ann, bob = await seated(group)
    await lea.expect("chat", {"channel": "group", "text": "Welkom allemaal"})
    await lea.expect("chat", {"channel": "therapists", "text": "Ann lijkt moe."})
    await ann.expect("chat", {"channel": "group", "text": "Dank je"})
    await ann.ws.close()  # her connection breaks
    await bob.event("participant_reconnecting")
    await bob.expect("chat", {"channel": "group", "text": "Is Ann er nog?"})

    ann, entered = await group.member("Ann", TABLET)
    chat = entered["seat"]["chat"]
    assert [(m["sender_name"], m["text"]) for m in chat] == [
        ("Lea", "Welkom allemaal"),
        ("Ann", "Dank je"),
        ("Bob", "Is Ann er nog?"),
    ]
    assert {m["channel"] for m in chat} == {"group"}
    _cor, cor_seat = await group.therapist(group.co_id)  # came in after all of it
    assert [m["text"] for m in cor_seat["chat"]] == [
        "Welkom allemaal",
        "Ann lijkt moe.",
        "Dank je",
        "Is Ann er nog?",
    ]
    assert cor_seat["chat"][1]["channel"] == "therapists"


async def test_the_seat_is_released_when_the_grace_period_passes(group: Group) -> None:
    lea, ann, bob = await seated(group)
    ann_id = group.members["Ann"]
    dropped = time.time()
    await ann.ws.close()
    await lea.event("participant_reconnecting")
    left = (await lea.event("participant_left", seconds=GRACE + 10))["data"]
    assert left == {"participant_id": ann_id, "cause": "connection_lost"}
    assert time.time() - dropped >= GRACE - 0.5
    assert (await bob.event("participant_left"))["data"]["participant_id"] == ann_id
    record = await group.store.open_session_of(group.group_id)
    assert record is not None
    for _ in range(50):  # the record is written just after the message goes out
        entries = await group.store.attendance_of_session(record.id)
        last = [e for e in entries if e.person_id == ann_id][-1]
        if not last.joined:
            break
        await asyncio.sleep(0.1)
    assert last.joined is False and last.cause == "connection_lost"
    # The attendance says when the connection broke, not when the seat went.
    assert abs(last.at.timestamp() - dropped) < 1.5
    # She was let in before: another device may now take a new seat, straight in.
    _, entered = await group.member("Ann", PHONE)
    assert entered["state"] == "seated"


async def test_the_seat_is_released_when_the_timer_fires_before_the_grace_has_passed(
    group: Group,
) -> None:
    """The release timer runs on the event loop's clock, the session on the wall clock:
    uvloop fires timers up to a millisecond early, and a wall clock may be set back.
    Here the wall clock goes back 0.4 s while Ann is away, so the timer fires before
    her grace has passed by the session's clock: the seat is still released, a little
    later (it used to stay held for good, and her tile said "reconnecting" forever)."""
    lea, ann, bob = await seated(group)
    ann_id = group.members["Ann"]
    await ann.ws.close()
    await lea.event("participant_reconnecting")
    hub: SessionHub = group.client.app[hub_key]
    hub.clock = lambda: time.time() - 0.4
    # (Within the server's heartbeat: nothing reads Bob's socket, which therefore does
    # not answer it, and he would leave later.)
    left = (await lea.event("participant_left", seconds=GRACE + 3))["data"]
    assert left == {"participant_id": ann_id, "cause": "connection_lost"}
    assert (await bob.event("participant_left"))["data"]["participant_id"] == ann_id


async def test_another_device_is_refused_while_the_seat_is_taken_or_held(group: Group) -> None:
    lea, ann, _ = await seated(group)
    stranger = await group.socket()
    data = {"invite": group.invite("Ann"), "accept_rules": 1, "device": PHONE}
    refused = await stranger.error("enter", data)
    assert refused["code"] == "in_use" and "another device" in refused["message"]
    assert (await ann.request("ping"))["type"] == "pong"  # Ann keeps her seat
    await ann.ws.close()
    await lea.event("participant_reconnecting")
    assert (await stranger.error("enter", data))["code"] == "in_use"
    # A malformed device key is invalid data, not a way around the check.
    bad = await stranger.error("enter", {**data, "device": "short"})
    assert bad["code"] == "invalid_data" and "device" in bad["message"]
    ann, entered = await group.member("Ann", TABLET)
    assert entered["state"] == "seated"


async def test_a_failed_media_connection_holds_the_seat(group: Group) -> None:
    lea, ann, _ = await seated(group)
    record = await group.store.open_session_of(group.group_id)
    assert record is not None
    await group.client.app[hub_key].media_lost(record.id, group.members["Ann"])
    assert (await ann.event("closing"))["data"] == {"cause": "connection_lost"}
    await ann.closed()
    await lea.event("participant_reconnecting")
    _, entered = await group.member("Ann", TABLET)
    assert entered["state"] == "seated"
    await lea.event("participant_reconnected")


async def test_media_flows_again_after_a_reconnect(
    group: Group, rtc_clients: Callable[[int], RtcClient]
) -> None:
    """A new peer connection under the same identity: Bob receives Ann again."""
    _lea, ann, bob = await seated(group)
    ann_id = group.members["Ann"]
    for socket in (ann, bob):
        peer = rtc_clients(4)
        await peer.accept((await socket.expect("offer", {"sdp": await peer.offer()}))["sdp"])
        if socket is bob:
            bob_peer = peer
    await _published_mid(bob, ann_id, "audio")
    await ann.ws.close()
    await bob.event("participant_reconnecting")
    await bob.event("track_removed")

    ann, _ = await group.member("Ann", TABLET)
    peer = rtc_clients(4)
    await peer.accept((await ann.expect("offer", {"sdp": await peer.offer()}))["sdp"])
    mid = await _published_mid(bob, ann_id, "audio")

    async def ann_audio_packets() -> int:
        return await _packets_received(bob_peer, mid)

    assert await _grows(ann_audio_packets)


async def test_after_a_restart_the_seats_wait_as_they_were(
    group: Group, aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    lea, ann, _bob = await seated(group)
    ann_id = group.members["Ann"]
    await ann.expect("raise_hand", {"raised": True})
    await lea.expect("moderate", {"action": "stop_video", "target": ann_id})
    await lea.expect("moderate", {"action": "mute", "target": group.members["Bob"]})
    await group.client.close()  # a graceful stop: every socket gets `closing`

    group.client = await aiohttp_client(create_app(settings))
    lea, seat = await group.therapist(group.lead_id)
    held = others_in(seat)
    assert set(held) == {"Ann", "Bob"}  # resumed at start-up, seats held
    assert held["Ann"]["reconnecting"] is True and held["Ann"]["hand_raised"] is True
    assert held["Ann"]["video_forwarded"] is False
    assert held["Bob"]["audio_forwarded"] is False
    ann, entered = await group.member("Ann", TABLET)
    assert entered["state"] == "seated"
    assert (await lea.event("participant_reconnected"))["data"]["participant_id"] == ann_id
    # Bob does not come back: his seat goes when the grace period is over.
    left = (await lea.event("participant_left", seconds=GRACE + 10))["data"]
    assert left == {"participant_id": group.members["Bob"], "cause": "connection_lost"}
