"""Hypothesis against the signalling WebSocket of a real server.

Every frame goes over a real socket: text that is not JSON, binary frames, wrong
envelopes, unknown types, each request type of docs/protocol.md with fields
missing, of the wrong type, too long or out of range, valid requests with unknown
fields, frames over 64 KiB, and SDP offers made by mutating a real offer. Each
frame comes from a socket in a chosen state (fresh, in the open room, seated in a
session as a member, an observer or a therapist). The property: exactly one
reply, which is the request's reply type or an error with a documented code, never
internal_error; the documented close code where the protocol closes the socket.
Meanwhile a pair of real aiortc bystanders keep receiving each other's RTP, and
nothing is logged at ERROR or with a traceback. Afterwards a newcomer can join.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from grouproom.app import hub_key, registry_key
from grouproom.protocol import MAX_FRAME_BYTES
from grouproom.protocol.parsing import PARSERS
from grouproom.protocol.session_requests import ModerationAction
from tests.fuzz.conftest import (
    ROOM,
    Pair,
    SessionPair,
    a_newcomer_receives_both,
    fuzz,
    settle,
    troubles,
)
from tests.protocol.rtc_client import RtcClient
from tests.protocol.signaling_client import SignalingClient
from tests.protocol.test_sessions import Group

FRAME_EXAMPLES = 1000
SDP_EXAMPLES = 300

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
DOCUMENTED_CODES = frozenset(
    re.findall(r"^\| `([a-z_]+)` \|", DOCUMENT.read_text().split("## Errors", 1)[1], re.M)
)
# Codes that only a malformed frame can get.
FRAME_CODES = frozenset(
    {"bad_json", "bad_envelope", "unsupported_version", "too_large", "unknown_type"}
)
# What a well-formed request may get, depending on the socket's state.
STATE_CODES = DOCUMENTED_CODES - FRAME_CODES - {"internal_error"}
REPLY_TYPES = {
    "join": "joined",
    "offer": "answer",
    "ping": "pong",
    "session_info": "session_details",
    "enter": "entered",
}


@dataclass(frozen=True)
class Expect:
    """The outcomes the protocol allows for one frame."""

    codes: frozenset[str]  # error codes allowed
    reply: bool = False  # whether the request's own reply type is allowed
    close: int | None = None  # the close code that must follow an error


def only(code: str, close: int | None = None) -> Expect:
    return Expect(frozenset({code}), close=close)


class Frame:
    def __init__(
        self, raw: str | bytes, request_id: str | None, message_type: str | None, expect: Expect
    ) -> None:
        self.raw = raw
        self.request_id = request_id  # the id the reply must carry
        self.message_type = message_type
        self.expect = expect

    def __repr__(self) -> str:  # short enough for Hypothesis to print
        shown = self.raw if len(self.raw) <= 300 else self.raw[:300]
        return f"Frame({shown!r} ({len(self.raw)} long), {self.request_id!r}, {self.expect})"


# -- values ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
request_ids = st.text(min_size=1, max_size=64)
bad_request_ids = (
    st.just("")
    | st.text(min_size=65, max_size=80)
    | json_values.filter(lambda v: not isinstance(v, str))
)


@dataclass(frozen=True)
class Field:
    kind: str  # "string", "boolean", "integer", "choice", "list"
    required: bool
    valid: st.SearchStrategy[Any]
    too_big: st.SearchStrategy[Any] | None = None  # too long or out of range


def text_of(min_size: int, max_size: int, alphabet: str | None = None) -> st.SearchStrategy[str]:
    if alphabet is not None:
        return st.text(alphabet, min_size=min_size, max_size=max_size)
    return st.text(
        st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp", "Cf"]),
        min_size=min_size,
        max_size=max_size,
    ).filter(lambda t: t.strip() != "")


room_ids = st.sampled_from([ROOM, "other"]) | text_of(1, 20, "abcdefghij0123456789-")
long_text = st.integers(0, 2000).map(lambda n: "x" * n)

FIELDS: dict[str, dict[str, Field]] = {
    "join": {
        "room": Field("string", True, room_ids, st.just("r" * 65)),
        "name": Field("string", True, text_of(1, 40), long_text.map(lambda t: "N" * 41 + t)),
        "audio_muted": Field("boolean", False, st.booleans()),
        "video_muted": Field("boolean", False, st.booleans()),
    },
    "offer": {"sdp": Field("string", True, st.just("v=0\r\n"), st.just("v" * 60_001))},
    "ice_candidate": {
        "candidate": Field("string", True, st.none(), st.just("c" * 1025)),
        "sdp_mid": Field("string", False, text_of(0, 64), st.just("m" * 65)),
        "sdp_mline_index": Field(
            "integer", False, st.integers(0, 1023), st.integers(1024) | st.integers(max_value=-1)
        ),
    },
    "set_media_state": {
        "audio_muted": Field("boolean", True, st.booleans()),
        "video_muted": Field("boolean", True, st.booleans()),
    },
    "leave": {},
    "ping": {},
    "session_info": {
        "invite": Field("string", True, text_of(1, 100), st.just("i" * 513)),
    },
    "enter": {
        "invite": Field("string", True, text_of(1, 100), st.just("i" * 513)),
        "accept_rules": Field(
            "integer", False, st.integers(1, 5), st.integers(1_000_001) | st.integers(max_value=0)
        ),
        "audio_muted": Field("boolean", False, st.booleans()),
        "video_muted": Field("boolean", False, st.booleans()),
        "device": Field(
            "string",
            False,
            text_of(16, 64, "abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_"),
            st.just("d" * 65),
        ),
    },
    "set_visible_video": {
        "participants": Field(
            "list",
            True,
            st.lists(text_of(1, 24), max_size=5),
            st.just(["p" * 65]) | st.just(["x"] * 65),
        ),
    },
    "moderate": {
        "action": Field(
            "choice", True, st.sampled_from([str(a) for a in ModerationAction]), long_text
        ),
        "target": Field("string", False, text_of(1, 64), st.just("t" * 65)),
        "reason": Field("string", False, text_of(0, 300), st.just("r" * 301)),
    },
    "raise_hand": {"raised": Field("boolean", True, st.booleans())},
    "turn": {"passed": Field("boolean", True, st.booleans())},
    "chat": {
        "channel": Field("choice", True, st.sampled_from(["group", "therapists"]), long_text),
        "text": Field("string", True, text_of(1, 200), st.just("t" * 2001)),
    },
    "signal": {
        "kind": Field("choice", True, st.sampled_from(["need_a_moment", "need_help"]), long_text)
    },
}
assert set(FIELDS) == set(PARSERS), "every request type is fuzzed"

WRONG_TYPES = {
    "string": st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(st.none()),
    "choice": st.booleans() | st.integers() | st.lists(st.text(max_size=3)) | st.none(),
    "boolean": st.integers(0, 1) | st.text(max_size=5) | st.none() | st.floats(allow_nan=False),
    "integer": st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5) | st.just([1]),
    "list": st.booleans() | st.integers() | st.text(max_size=5) | st.just([1]) | st.just([None]),
}
HUGE = st.sampled_from(["array", "object", "number", "nested"]).map(
    lambda shape: {
        "array": list(range(5000)),
        "object": {str(i): i for i in range(3000)},
        "number": 10**300,
        "nested": json.loads("[" * 500 + "]" * 500),
    }[shape]
)


def envelope(message_type: object, request_id: object, data: object, **extra: Any) -> str:
    return json.dumps({"v": 1, "type": message_type, "id": request_id, "data": data, **extra})


@st.composite
def valid_data(draw: st.DrawFn, message_type: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field_ in FIELDS[message_type].items():
        if field_.required or draw(st.booleans()):
            data[name] = draw(field_.valid)
    if message_type == "moderate" and "target" not in data:
        data["target"] = draw(FIELDS["moderate"]["target"].valid)
    return data


@st.composite
def data_frames(draw: st.DrawFn) -> Frame:
    """A known request type whose data has one field missing, wrong or too big."""
    message_type = draw(st.sampled_from(sorted(t for t, f in FIELDS.items() if f)))
    data = draw(valid_data(message_type))
    fields = FIELDS[message_type]
    name = draw(st.sampled_from(sorted(fields)))
    field_ = fields[name]
    how = draw(st.sampled_from(["missing", "wrong type", "too big", "huge"]))
    if how == "missing" or (how == "too big" and field_.too_big is None):
        if not field_.required:
            how = "wrong type"
        else:
            data.pop(name, None)
    if how == "wrong type":
        data[name] = draw(WRONG_TYPES[field_.kind])
    elif how == "too big" and field_.too_big is not None:
        data[name] = draw(field_.too_big)
    elif how == "huge":
        data[name] = draw(HUGE)
    request_id = draw(request_ids)
    raw = envelope(message_type, request_id, data, **draw(extra_fields))
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        return Frame(raw, None, message_type, only("too_large", 1009))
    return Frame(raw, request_id, message_type, only("invalid_data"))


extra_fields = st.dictionaries(st.sampled_from(["x", "extra", "ts", "v2"]), json_values, max_size=2)


@st.composite
def valid_frames(draw: st.DrawFn) -> Frame:
    """A well-formed request, with unknown fields in data and envelope now and then."""
    message_type = draw(st.sampled_from(sorted(FIELDS)))
    data = draw(valid_data(message_type))
    data.update(draw(extra_fields))
    request_id = draw(request_ids)
    raw = envelope(message_type, request_id, data, **draw(extra_fields))
    return Frame(raw, request_id, message_type, Expect(STATE_CODES, reply=True))


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@st.composite
def envelope_frames(draw: st.DrawFn) -> Frame:
    """Objects with missing or wrongly typed envelope fields, judged by the rules of
    docs/protocol.md."""
    frame = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "v": st.sampled_from([1, 2, 0, -1, "1", True, None, 1.0, 10**20]),
                "type": st.sampled_from(sorted(FIELDS)) | json_values,
                "id": request_ids | bad_request_ids,
                "data": st.just({}) | json_values,
            },
        )
    )
    raw = json.dumps(frame)
    raw_id = frame.get("id")
    usable_id = raw_id if isinstance(raw_id, str) and 1 <= len(raw_id) <= 64 else None
    version = frame.get("v")
    if type(version) is int and version != 1:
        return Frame(raw, usable_id, None, only("unsupported_version", 4001))
    if type(version) is not int or usable_id is None:
        return Frame(raw, None if type(version) is int else usable_id, None, only("bad_envelope"))
    if not isinstance(frame.get("type"), str) or not isinstance(frame.get("data"), dict):
        return Frame(raw, usable_id, None, only("bad_envelope"))
    message_type = frame["type"]
    if message_type not in FIELDS:
        return Frame(raw, usable_id, None, only("unknown_type"))
    # A known type with data {}: whatever its fields make of it.
    return Frame(raw, usable_id, message_type, Expect(STATE_CODES | {"invalid_data"}, True))


@st.composite
def raw_frames(draw: st.DrawFn) -> Frame:
    kind = draw(st.sampled_from(["text", "binary", "json", "unknown", "oversized"]))
    if kind == "text":
        text = draw(st.text(max_size=200).filter(lambda t: not _is_object(t)))
        return Frame(text, None, None, only("bad_json"))
    if kind == "binary":
        return Frame(draw(st.binary(max_size=300)), None, None, only("bad_json"))
    if kind == "json":
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)))
        return Frame(json.dumps(value), None, None, only("bad_json"))
    if kind == "unknown":
        name = draw(st.text(max_size=50).filter(lambda t: t not in FIELDS))
        request_id = draw(request_ids)
        return Frame(envelope(name, request_id, {}), request_id, None, only("unknown_type"))
    size = draw(st.integers(MAX_FRAME_BYTES + 1, 4 * MAX_FRAME_BYTES))
    if draw(st.booleans()):
        return Frame(b"\x00" * size, None, None, only("too_large", 1009))
    request_id = draw(request_ids)
    raw = envelope("ping", request_id, {"pad": "p" * size})
    # A frame over the limit is not read, so its error carries no id.
    return Frame(raw, None, "ping", only("too_large", 1009))


frames = st.one_of(raw_frames(), envelope_frames(), data_frames(), valid_frames())


# -- sockets in a state ------------------------------------------------------------


class Sockets:
    """Opens a socket in a given state on the server of `group`."""

    def __init__(self, group: Group, session_id: str | None = None) -> None:
        self.group = group
        self.session_id = session_id

    async def open(self, state: str) -> SignalingClient:
        group = self.group
        if state == "therapist":
            socket = await group.socket(group.co_id)
            entered = await socket.request("enter", {"group": group.group_id})
            assert entered["type"] == "entered", entered
            return socket
        socket = await group.socket()
        if state == "room":
            await socket.join(ROOM, "Fuzz")
        elif state in ("member", "observer"):
            name = "Bob" if state == "member" else "Olga"
            reply = await socket.request("enter", {"invite": group.invite(name), "accept_rules": 1})
            assert reply["type"] == "entered" and reply["data"]["state"] == "seated", reply
        return socket

    async def gone(self, socket: SignalingClient) -> None:
        """Leave, close the socket and wait until the server has let its participant
        go (a socket that a frame closed leaves a seat held for the grace period)."""
        if not socket.ws.closed:
            with contextlib.suppress(Exception):
                await socket.send_frame({"v": 1, "type": "leave", "id": "bye", "data": {}})
        await socket.ws.close()
        app = self.group.client.app
        room = app[registry_key].get(ROOM)
        await settle(lambda: room is None or len(room.participants) <= 2)
        if self.session_id is not None:
            seats = app[hub_key].live[self.session_id].session.seats
            fuzzers = {self.group.members["Bob"], self.group.members["Olga"], self.group.co_id}
            await settle(lambda: not fuzzers & set(seats))


async def check_reply(socket: SignalingClient, frame: Frame) -> dict[str, Any] | None:
    """Send the frame; the one reply must be allowed by frame.expect. Returns the
    reply, or None when the socket was (rightly) closed after it."""
    await socket.send_frame(frame.raw)
    reply = await socket.reply_to(frame.request_id)
    if reply["type"] == "error":
        code = reply["data"]["code"]
        assert code in frame.expect.codes, (code, reply["data"]["message"])
        assert code in DOCUMENTED_CODES
        if frame.expect.close is not None:
            assert await socket.closed() == frame.expect.close
            return None
    else:
        assert frame.expect.reply, reply
        assert frame.message_type is not None
        assert reply["type"] == REPLY_TYPES.get(frame.message_type, "ack"), reply
        if frame.message_type == "leave":
            assert await socket.closed() == 1000
            return None
    # Exactly one reply: the next one is the next request's.
    assert (await socket.request("ping"))["type"] == "pong"
    return reply


async def run_frames(
    pair: Pair, sockets: Sockets, states: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    @st.composite
    def cases(draw: st.DrawFn) -> tuple[str, Frame]:
        state = draw(st.sampled_from(states))
        frame = draw(
            frames if state != "therapist" else frames.filter(lambda f: not f.expect.reply)
        )
        return state, frame

    async def send(case: tuple[str, Frame]) -> None:
        state, frame = case
        socket = await sockets.open(state)
        try:
            await check_reply(socket, frame)
        finally:
            await sockets.gone(socket)
        assert troubles(caplog.records) == []
        pair.assert_connected()
        await pair.media_advances_now_and_then()

    await fuzz(cases(), send, FRAME_EXAMPLES)


def on_the_shipped_loop() -> None:
    """These tests run once, on uvloop, the loop the server ships with
    (tests/event_loops.py)."""
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")


async def after_fuzzing(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    on_the_shipped_loop()
    await pair.media_advances()
    gc.collect()  # a task that died with an exception logs it when collected
    await asyncio.sleep(0.1)
    assert troubles(caplog.records) == []
    assert pair.checks >= 3


async def test_frames_in_an_open_room(
    room_pair: Pair, group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    await run_frames(room_pair, Sockets(group), ["fresh", "room"], caplog)
    await after_fuzzing(room_pair, caplog)
    await a_newcomer_receives_both(room_pair)


async def test_frames_in_a_session(
    session_pair: SessionPair, group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    sockets = Sockets(group, session_pair.session_id)
    await run_frames(session_pair, sockets, ["fresh", "member", "observer", "therapist"], caplog)
    await after_fuzzing(session_pair, caplog)
    # Bob still comes in and connects his media.
    socket = await sockets.open("member")
    rtc = RtcClient(len(group.members))
    try:
        answer = await socket.expect("offer", {"sdp": await rtc.offer()})
        await rtc.accept(answer["sdp"])
        await asyncio.wait_for(rtc.connected.wait(), 30)
    finally:
        await rtc.close()
        await sockets.gone(socket)


# -- SDP offers ----------------------------------------------------------------------


def lines_of(sdp: str) -> list[str]:
    return sdp.split("\r\n")


@st.composite
def mutated_offers(draw: st.DrawFn, offer: str) -> str:
    lines = lines_of(offer)
    how = draw(
        st.sampled_from(
            ["truncate", "drop", "duplicate", "shuffle", "huge", "garbage", "m-lines", "values"]
        )
    )
    if how == "truncate":
        return offer[: draw(st.integers(1, len(offer) - 1))]
    if how in ("drop", "duplicate"):
        chosen = draw(st.sets(st.integers(0, len(lines) - 1), min_size=1, max_size=8))
        if how == "drop":
            return "\r\n".join(line for i, line in enumerate(lines) if i not in chosen)
        return "\r\n".join(
            x for i, line in enumerate(lines) for x in [line] * (2 if i in chosen else 1)
        )
    if how == "shuffle":
        start = draw(st.integers(0, len(lines) - 2))
        end = draw(st.integers(start + 1, min(len(lines), start + 12)))
        middle = draw(st.permutations(lines[start:end]))
        return "\r\n".join(lines[:start] + list(middle) + lines[end:])
    if how == "huge":
        line = draw(st.sampled_from(["a=x-junk:" + "j" * 500, "a=ssrc:1 cname:" + "c" * 900]))
        count = draw(st.integers(1, 130))
        index = draw(st.integers(1, len(lines) - 1))
        return "\r\n".join(lines[:index] + [line] * count + lines[index:])
    if how == "garbage":
        junk = draw(st.binary(min_size=1, max_size=300)).decode("latin-1")
        index = draw(st.integers(0, len(lines) - 1))
        replace = draw(st.booleans())
        return "\r\n".join([*lines[:index], junk, *lines[index + int(replace) :]])
    if how == "m-lines":
        pattern = draw(
            st.sampled_from(
                [
                    ("m=audio", "m=video"),
                    ("m=video", "m=audio"),
                    ("m=video", "m=application"),
                    ("a=sendonly", "a=recvonly"),
                    ("a=recvonly", "a=sendrecv"),
                    ("a=group:BUNDLE", "a=group:LS"),
                    ("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
                    ("a=fingerprint:sha-256", "a=fingerprint:md2"),
                    ("a=setup:actpass", "a=setup:holdconn"),
                ]
            )
        )
        occurrences = [i for i, line in enumerate(lines) if line.startswith(pattern[0])]
        if not occurrences:
            return offer
        index = draw(st.sampled_from(occurrences))
        lines[index] = lines[index].replace(pattern[0], pattern[1], 1)
        return "\r\n".join(lines)
    # "values": one line's value replaced by something odd.
    index = draw(st.integers(0, len(lines) - 1))
    head = lines[index].split(":", 1)[0].split("=", 1)[0]
    value = draw(st.sampled_from(["", "-1", "99999999999999999999", "\x00", "é" * 50, "a b c"]))
    lines[index] = f"{head}={value}" if not lines[index].startswith("a=candidate") else value
    return "\r\n".join(lines)


def safe_candidates(original: str) -> Callable[[str], bool]:
    """Candidate lines in a mutated offer must be the original ones (loopback) or cut
    off: the server must never be led to send a check anywhere else."""
    known = [line for line in lines_of(original) if "candidate:" in line]

    def check(sdp: str) -> bool:
        return all(
            any(k.startswith(line) for k in known)
            for line in re.split(r"[\r\n]+", sdp)
            if "candidate:" in line
        )

    return check


@st.composite
def candidates(draw: st.DrawFn, lines: list[str]) -> dict[str, Any]:
    """ice_candidate data: real lines, cut or with odd fields, and loopback or
    invalid addresses only (never a host name: it would be looked up)."""
    line = draw(st.sampled_from(lines))
    parts = line.split()
    how = draw(st.sampled_from(["real", "cut", "field", "junk", "end"]))
    if how == "cut":
        candidate: str | None = line[: draw(st.integers(0, len(line)))]
    elif how == "field":
        index = draw(st.integers(0, len(parts) - 1))
        if index == 4:
            parts[4] = draw(st.sampled_from(["127.0.0.2", "::1", "0.0.0.0", "127.255.255.254"]))
        else:
            parts[index] = draw(
                st.sampled_from(["", "-1", "tcp", "TCP", "99999999999", "x" * 300, "typ", "relay"])
            )
        candidate = " ".join(parts)
    elif how == "junk":
        candidate = draw(st.text(st.characters(exclude_characters=" \t"), max_size=200))
    elif how == "end":
        candidate = draw(st.sampled_from([None, ""]))
    else:
        candidate = line
    if candidate is not None and draw(st.booleans()):
        candidate = "a=" + candidate
    data: dict[str, Any] = {"candidate": candidate}
    if draw(st.booleans()):
        data["sdp_mid"] = draw(st.none() | st.text(max_size=64))
    if draw(st.booleans()):
        data["sdp_mline_index"] = draw(st.none() | st.integers(0, 1023))
    return data


async def test_mutated_offers_and_candidates(
    room_pair: Pair, group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    on_the_shipped_loop()
    sockets = Sockets(group)
    rtc = RtcClient(room_pair.first.participant.slots)
    offer = await rtc.offer()
    await rtc.close()
    candidate_lines = [line[2:] for line in lines_of(offer) if line.startswith("a=candidate:")]
    assert candidate_lines

    @st.composite
    def cases(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
        mutated = draw(mutated_offers(offer).filter(safe_candidates(offer)))
        return mutated, draw(st.lists(candidates(candidate_lines), max_size=3))

    async def send(case: tuple[str, list[dict[str, Any]]]) -> None:
        mutated, trickled = case
        socket = await sockets.open("room")
        try:
            raw = envelope("offer", "o", {"sdp": mutated})
            if len(raw.encode("utf-8")) > MAX_FRAME_BYTES:
                await check_reply(socket, Frame(raw, None, "offer", only("too_large", 1009)))
                return
            too_long = len(mutated) > 60_000
            codes = frozenset({"invalid_data"} if too_long else {"bad_sdp"})
            reply = await check_reply(socket, Frame(raw, "o", "offer", Expect(codes, True)))
            assert reply is not None
            if reply["type"] == "error":
                # The refused offer had no effect: the real one is answered.
                raw = envelope("offer", "o2", {"sdp": offer})
                reply = await check_reply(
                    socket, Frame(raw, "o2", "offer", Expect(frozenset(), True))
                )
                assert reply is not None
            assert reply["type"] == "answer" and reply["data"]["sdp"].startswith("v=0")
            for number, data in enumerate(trickled):
                request_id = f"c{number}"
                frame = Frame(
                    envelope("ice_candidate", request_id, data),
                    request_id,
                    "ice_candidate",
                    Expect(frozenset({"bad_candidate"}), True),
                )
                await check_reply(socket, frame)
        finally:
            await sockets.gone(socket)
        assert troubles(caplog.records) == []
        room_pair.assert_connected()
        await room_pair.media_advances_now_and_then()

    await fuzz(cases(), send, SDP_EXAMPLES)
    await after_fuzzing(room_pair, caplog)
