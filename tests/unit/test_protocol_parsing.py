"""parse_client_message: every request, every error code, the boundaries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grouproom.protocol import (
    MAX_FRAME_BYTES,
    ErrorCode,
    IceCandidate,
    Join,
    Leave,
    Offer,
    Ping,
    ProtocolError,
    SetMediaState,
    parse_client_message,
)
from grouproom.protocol.session_requests import Enter, Moderate, ModerationAction


def frame(message_type: str, data: Any = None, request_id: Any = "7", v: Any = 1) -> str:
    return json.dumps({"v": v, "type": message_type, "id": request_id, "data": data or {}})


def refused(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(raw)
    return caught.value


def invalid(message_type: str, data: Any) -> str:
    """The message of an invalid_data error (which must echo the request id)."""
    error = refused(frame(message_type, data))
    assert error.code is ErrorCode.INVALID_DATA, error
    assert error.request_id == "7"
    return error.message


# -- every request ---------------------------------------------------------------------


def test_join() -> None:
    assert parse_client_message(frame("join", {"room": "demo", "name": "Anna"})) == Join(
        request_id="7", room="demo", name="Anna", audio_muted=False, video_muted=False
    )


def test_join_with_initial_media_state() -> None:
    message = parse_client_message(
        frame("join", {"room": "demo", "name": "Anna", "audio_muted": True, "video_muted": True})
    )
    assert message == Join("7", "demo", "Anna", audio_muted=True, video_muted=True)


def test_offer() -> None:
    assert parse_client_message(frame("offer", {"sdp": "v=0\r\n"})) == Offer("7", "v=0\r\n")


def test_ice_candidate() -> None:
    data = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdp_mid": "0"}
    data["sdp_mline_index"] = 0  # type: ignore[assignment]
    assert parse_client_message(frame("ice_candidate", data)) == IceCandidate(
        "7", "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "0", 0
    )


def test_end_of_candidates() -> None:
    message = parse_client_message(frame("ice_candidate", {"candidate": None}))
    assert message == IceCandidate("7", None, None, None)


def test_set_media_state() -> None:
    message = parse_client_message(
        frame("set_media_state", {"audio_muted": True, "video_muted": False})
    )
    assert message == SetMediaState("7", audio_muted=True, video_muted=False)


def test_leave_and_ping() -> None:
    assert parse_client_message(frame("leave")) == Leave("7")
    assert parse_client_message(frame("ping")) == Ping("7")


def test_unknown_fields_are_ignored() -> None:
    raw = json.dumps({"v": 1, "type": "ping", "id": "7", "data": {"future": [1, 2]}, "trace": "x"})
    assert parse_client_message(raw) == Ping("7")


def test_messages_are_frozen() -> None:
    message = parse_client_message(frame("ping"))
    with pytest.raises(AttributeError):
        message.request_id = "8"  # type: ignore[misc]


# -- bad_json --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["", "not json", "{", '{"v": 1,}', "[1, 2]", '"text"', "1", "null", "[" * 50_000]
)
def test_bad_json(raw: str) -> None:
    error = refused(raw)
    assert error.code is ErrorCode.BAD_JSON
    assert error.request_id is None


def test_binary_frames_are_bad_json() -> None:
    assert refused(frame("ping").encode()).code is ErrorCode.BAD_JSON


def test_huge_integers_are_bad_json_not_a_crash() -> None:
    assert refused('{"v": ' + "9" * 5000 + "}").code is ErrorCode.BAD_JSON


# -- bad_envelope ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("envelope", "field"),
    [
        ({"type": "ping", "id": "1", "data": {}}, "v"),
        ({"v": "1", "type": "ping", "id": "1", "data": {}}, "v"),
        ({"v": True, "type": "ping", "id": "1", "data": {}}, "v"),
        ({"v": 1.0, "type": "ping", "id": "1", "data": {}}, "v"),
        ({"v": 1, "type": "ping", "data": {}}, "id"),
        ({"v": 1, "type": "ping", "id": None, "data": {}}, "id"),
        ({"v": 1, "type": "ping", "id": 1, "data": {}}, "id"),
        ({"v": 1, "type": "ping", "id": "", "data": {}}, "id"),
        ({"v": 1, "type": "ping", "id": "x" * 65, "data": {}}, "id"),
        ({"v": 1, "id": "1", "data": {}}, "type"),
        ({"v": 1, "type": 3, "id": "1", "data": {}}, "type"),
        ({"v": 1, "type": "ping", "id": "1"}, "data"),
        ({"v": 1, "type": "ping", "id": "1", "data": None}, "data"),
        ({"v": 1, "type": "ping", "id": "1", "data": []}, "data"),
    ],
)
def test_bad_envelope(envelope: dict[str, Any], field: str) -> None:
    error = refused(json.dumps(envelope))
    assert error.code is ErrorCode.BAD_ENVELOPE
    assert error.message.startswith(field)


def test_bad_envelope_echoes_a_usable_id() -> None:
    assert refused(json.dumps({"v": 1, "id": "abc", "data": {}})).request_id == "abc"


def test_request_id_boundaries() -> None:
    assert parse_client_message(frame("ping", request_id="x")) == Ping("x")
    assert parse_client_message(frame("ping", request_id="x" * 64)) == Ping("x" * 64)


# -- unsupported_version ---------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, -1, 100])
def test_unsupported_version(version: int) -> None:
    error = refused(frame("ping", v=version))
    assert error.code is ErrorCode.UNSUPPORTED_VERSION
    assert error.request_id == "7"


def test_the_version_is_checked_before_anything_else() -> None:
    raw = json.dumps({"v": 2, "type": "no_such_type", "data": "not an object"})
    assert refused(raw).code is ErrorCode.UNSUPPORTED_VERSION


# -- too_large -------------------------------------------------------------------------


def padded(size: int, character: str = "x") -> str:
    """A valid ping frame of exactly `size` UTF-8 bytes."""
    base = frame("ping", {"pad": ""})
    filler = size - len(base.encode())
    assert filler % len(character.encode()) == 0
    return frame("ping", {"pad": character * (filler // len(character.encode()))})


def test_a_frame_of_exactly_64_kib_is_accepted() -> None:
    raw = padded(MAX_FRAME_BYTES)
    assert len(raw.encode()) == MAX_FRAME_BYTES
    assert parse_client_message(raw) == Ping("7")


def test_a_frame_one_byte_over_64_kib_is_too_large() -> None:
    raw = padded(MAX_FRAME_BYTES + 1)
    assert refused(raw).code is ErrorCode.TOO_LARGE


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    # 3-byte characters: fewer than 64 Ki characters, more than 64 KiB.
    raw = json.dumps({"v": 1, "type": "ping", "id": "7", "data": {"pad": "€" * 22_000}})
    raw = raw.replace("\\u20ac", "€")
    assert len(raw) < MAX_FRAME_BYTES < len(raw.encode())
    assert refused(raw).code is ErrorCode.TOO_LARGE


def test_oversized_binary_frames_are_too_large() -> None:
    assert refused(b"x" * (MAX_FRAME_BYTES + 1)).code is ErrorCode.TOO_LARGE


# -- unknown_type ----------------------------------------------------------------------


@pytest.mark.parametrize("message_type", ["", "Join", "joined", "error", "kick", "x" * 1000])
def test_unknown_type(message_type: str) -> None:
    error = refused(frame(message_type))
    assert error.code is ErrorCode.UNKNOWN_TYPE
    assert error.request_id == "7"
    assert len(error.message) < 100


# -- invalid_data: join ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Anna"},
        {"room": None, "name": "Anna"},
        {"room": 5, "name": "Anna"},
        {"room": "", "name": "Anna"},
        {"room": "Demo", "name": "Anna"},
        {"room": "de mo", "name": "Anna"},
        {"room": "x" * 65, "name": "Anna"},
    ],
)
def test_join_room_is_checked(data: dict[str, Any]) -> None:
    assert invalid("join", data).startswith("room ")


def test_room_id_boundaries() -> None:
    assert parse_client_message(frame("join", {"room": "x" * 64, "name": "A"}))
    assert parse_client_message(frame("join", {"room": "a", "name": "A"}))


@pytest.mark.parametrize(
    "name",
    [
        None,
        7,
        True,
        ["Anna"],
        "",
        "   ",
        "x" * 41,
        "An\x00na",
        "An\nna",
        "An\tna",
        "An\x7fna",
        "An\u2028na",
        "Anna\u202e",
        "\ud800",
    ],
)
def test_join_name_is_checked(name: Any) -> None:
    assert invalid("join", {"room": "demo", "name": name}).startswith("name ")


def test_join_name_missing() -> None:
    assert invalid("join", {"room": "demo"}) == "name is missing"


def test_names_are_trimmed_before_counting() -> None:
    name = "  " + "x" * 40 + "\n"
    message = parse_client_message(frame("join", {"room": "demo", "name": name}))
    assert isinstance(message, Join)
    assert message.name == "x" * 40


def test_names_may_be_any_script_and_emoji() -> None:
    for name in ["Zoë", "Ангелина", "李小龙", "👩‍👩‍👧 familie", "Jan-Willem van der Berg"]:
        message = parse_client_message(frame("join", {"room": "demo", "name": name}))
        assert isinstance(message, Join)
        assert message.name == name


def test_names_are_nfc_normalized() -> None:
    message = parse_client_message(frame("join", {"room": "demo", "name": "Zoe\u0308"}))
    assert isinstance(message, Join)
    assert message.name == "Zo\u00eb"


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_join_flags_must_be_booleans(value: Any) -> None:
    message = invalid("join", {"room": "demo", "name": "Anna", "audio_muted": value})
    assert message.startswith("audio_muted ")
    message = invalid("join", {"room": "demo", "name": "Anna", "video_muted": value})
    assert message.startswith("video_muted ")


# -- invalid_data: other requests ------------------------------------------------------


@pytest.mark.parametrize(
    "data", [{}, {"sdp": None}, {"sdp": 1}, {"sdp": ""}, {"sdp": "x" * 60_001}]
)
def test_offer_sdp_is_checked(data: dict[str, Any]) -> None:
    assert invalid("offer", data).startswith("sdp ")


def test_offer_sdp_boundary() -> None:
    assert parse_client_message(frame("offer", {"sdp": "x" * 60_000})) == Offer("7", "x" * 60_000)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "candidate"),
        ({"candidate": 5}, "candidate"),
        ({"candidate": "x" * 1025}, "candidate"),
        ({"candidate": "c", "sdp_mid": 0}, "sdp_mid"),
        ({"candidate": "c", "sdp_mline_index": "0"}, "sdp_mline_index"),
        ({"candidate": "c", "sdp_mline_index": True}, "sdp_mline_index"),
        ({"candidate": "c", "sdp_mline_index": 0.0}, "sdp_mline_index"),
        ({"candidate": "c", "sdp_mline_index": -1}, "sdp_mline_index"),
        ({"candidate": "c", "sdp_mline_index": 1024}, "sdp_mline_index"),
    ],
)
def test_ice_candidate_fields_are_checked(data: dict[str, Any], field: str) -> None:
    assert invalid("ice_candidate", data).startswith(field + " ")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"video_muted": False}, "audio_muted"),
        ({"audio_muted": False}, "video_muted"),
        ({"audio_muted": 1, "video_muted": False}, "audio_muted"),
        ({"audio_muted": False, "video_muted": 0}, "video_muted"),
        ({"audio_muted": None, "video_muted": False}, "audio_muted"),
    ],
)
def test_set_media_state_fields_are_checked(data: dict[str, Any], field: str) -> None:
    assert invalid("set_media_state", data).startswith(field + " ")


def test_error_codes_are_the_documented_strings() -> None:
    assert [str(code) for code in ErrorCode] == [
        "bad_json",
        "bad_envelope",
        "unsupported_version",
        "too_large",
        "unknown_type",
        "invalid_data",
        "not_joined",
        "already_joined",
        "room_full",
        "invalid_state",
        "bad_sdp",
        "bad_candidate",
        "internal_error",
        "login_required",
        "invite_invalid",
        "invite_expired",
        "session_not_open",
        "session_ended",
        "rules_not_accepted",
        "locked",
        "removed",
        "not_allowed",
        "not_now",
        "not_present",
        "not_waiting",
        "target_is_therapist",
        "not_your_turn",
        "chat_off",
        "in_use",
        "rate_limited",
        "too_many_connections",
    ]


# -- therapy sessions -----------------------------------------------------------------


def session_frame(message_type: str, data: dict[str, object]) -> str:
    return json.dumps({"v": 1, "type": message_type, "id": "9", "data": data})


@pytest.mark.parametrize(
    ("message_type", "data", "field"),
    [
        ("enter", {}, "invite"),
        ("enter", {"invite": "t", "group": "g"}, "invite"),
        ("enter", {"invite": "t", "accept_rules": 0}, "accept_rules"),
        ("enter", {"invite": "t", "accept_rules": True}, "accept_rules"),
        ("enter", {"invite": "x" * 513}, "invite"),
        ("session_info", {"group": ""}, "group"),
        ("moderate", {"action": "explode"}, "action"),
        ("moderate", {"action": "mute"}, "target"),
        ("moderate", {"action": "remove", "target": "r", "reason": "x" * 301}, "reason"),
        ("raise_hand", {}, "raised"),
        ("raise_hand", {"raised": 1}, "raised"),
        ("turn", {"passed": "yes"}, "passed"),
        ("chat", {"channel": "private", "text": "hi"}, "channel"),
        ("chat", {"channel": "group", "text": ""}, "text"),
        ("chat", {"channel": "group", "text": "x" * 2001}, "text"),
        ("signal", {"kind": "panic"}, "kind"),
    ],
)
def test_session_requests_name_the_bad_field(
    message_type: str, data: dict[str, object], field: str
) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_client_message(session_frame(message_type, data))
    assert error.value.code is ErrorCode.INVALID_DATA
    assert error.value.message.startswith(field)
    assert error.value.request_id == "9"


def test_session_requests_parse() -> None:
    enter = parse_client_message(
        session_frame("enter", {"invite": "tok", "accept_rules": 3, "video_muted": True})
    )
    assert isinstance(enter, Enter)
    assert (enter.credentials.invite, enter.accept_rules, enter.video_muted) == ("tok", 3, True)
    moderate = parse_client_message(session_frame("moderate", {"action": "lock"}))
    assert isinstance(moderate, Moderate) and moderate.action is ModerationAction.LOCK
    assert moderate.target is None and moderate.reason == ""
