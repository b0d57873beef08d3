"""encode: every server message in the shape docs/protocol.md gives it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grouproom.protocol import (
    Ack,
    Answer,
    Closing,
    ClosingCause,
    ConnectionQuality,
    ErrorCode,
    ErrorMessage,
    IceServer,
    Joined,
    MediaState,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    Pong,
    ServerMessage,
    TrackPublished,
    TrackRemoved,
    VideoCaps,
    encode,
)
from grouproom.rooms.leave_cause import LeaveCause

ANNA = ParticipantInfo(id="p1", name="Anna", audio_muted=True, video_muted=False)


def decoded(message: ServerMessage) -> dict[str, Any]:
    text = encode(message)
    assert text.isascii()
    result: dict[str, Any] = json.loads(text)
    assert list(result) == ["v", "type", "id", "data"]
    assert result["v"] == 1
    return result


def test_joined() -> None:
    message = Joined(
        request_id="1",
        participant_id="p2",
        room_id="demo",
        participants=(ANNA,),
        receive_slots=11,
        ice_servers=(
            IceServer(urls=("stun:stun.example.org:3478",)),
            IceServer(urls=("turn:turn.example.org",), username="u", credential="c"),
        ),
        video=VideoCaps(max_width=640, max_height=360, max_framerate=25, max_bitrate=500_000),
        rejoin_token="t" * 32,
    )
    assert decoded(message) == {
        "v": 1,
        "type": "joined",
        "id": "1",
        "data": {
            "participant_id": "p2",
            "room": {"id": "demo"},
            "participants": [
                {
                    "id": "p1",
                    "name": "Anna",
                    "audio_muted": True,
                    "video_muted": False,
                    "connection": "good",
                    "connection_direction": None,
                }
            ],
            "receive_slots": 11,
            "ice_servers": [
                {"urls": ["stun:stun.example.org:3478"]},
                {"urls": ["turn:turn.example.org"], "username": "u", "credential": "c"},
            ],
            "video": {
                "max_width": 640,
                "max_height": 360,
                "max_framerate": 25,
                "max_bitrate": 500_000,
            },
            "rejoin_token": "t" * 32,
        },
    }


@pytest.mark.parametrize(
    ("message", "message_type", "request_id", "data"),
    [
        (Answer("2", "v=0\r\n"), "answer", "2", {"sdp": "v=0\r\n"}),
        (Ack("3"), "ack", "3", {}),
        (Pong("4"), "pong", "4", {}),
        (
            ErrorMessage("5", ErrorCode.ROOM_FULL, "full"),
            "error",
            "5",
            {"code": "room_full", "message": "full"},
        ),
        (
            ErrorMessage(None, ErrorCode.BAD_JSON, "no"),
            "error",
            None,
            {"code": "bad_json", "message": "no"},
        ),
        (
            ParticipantJoined(ANNA),
            "participant_joined",
            None,
            {
                "participant": {
                    "id": "p1",
                    "name": "Anna",
                    "audio_muted": True,
                    "video_muted": False,
                    "connection": "good",
                    "connection_direction": None,
                }
            },
        ),
        (
            ParticipantLeft("p1", LeaveCause.CONNECTION_LOST),
            "participant_left",
            None,
            {"participant_id": "p1", "cause": "connection_lost"},
        ),
        (
            MediaState("p1", audio_muted=False, video_muted=True),
            "media_state",
            None,
            {"participant_id": "p1", "audio_muted": False, "video_muted": True},
        ),
        (
            ConnectionQuality("p1", "weak", "up"),
            "connection_quality",
            None,
            {"participant_id": "p1", "quality": "weak", "direction": "up"},
        ),
        (
            ConnectionQuality("p1", "good"),
            "connection_quality",
            None,
            {"participant_id": "p1", "quality": "good", "direction": None},
        ),
        (
            TrackPublished("p1", "video", "3"),
            "track_published",
            None,
            {"participant_id": "p1", "kind": "video", "mid": "3"},
        ),
        (
            TrackRemoved("p1", "audio", "2"),
            "track_removed",
            None,
            {"participant_id": "p1", "kind": "audio", "mid": "2"},
        ),
        (Closing(ClosingCause.SHUTDOWN), "closing", None, {"cause": "shutdown"}),
    ],
)
def test_messages(
    message: ServerMessage, message_type: str, request_id: str | None, data: dict[str, Any]
) -> None:
    assert decoded(message) == {"v": 1, "type": message_type, "id": request_id, "data": data}


def test_names_outside_ascii_survive_the_round_trip() -> None:
    info = ParticipantInfo(id="p1", name="Zoë 👩‍👩‍👧", audio_muted=False, video_muted=False)
    assert decoded(ParticipantJoined(info))["data"]["participant"]["name"] == "Zoë 👩‍👩‍👧"
