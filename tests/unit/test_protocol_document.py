"""docs/protocol.md and the code describe the same protocol."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grouproom.protocol import ErrorCode, ProtocolError, parse_client_message
from grouproom.protocol.parsing import PARSERS

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
SERVER_TYPES = {
    "joined",
    "answer",
    "ack",
    "pong",
    "error",
    "participant_joined",
    "participant_left",
    "media_state",
    "track_published",
    "track_removed",
    "connection_quality",
    "closing",
    "session_details",
    "entered",
    "admitted",
    "participant_reconnecting",
    "participant_reconnected",
    "session_state",
    "waiting_room",
    "permissions",
    "hand",
    "chat_message",
    "signal_received",
    "signal_acknowledged",
    "dismissed",
}


def text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def examples() -> list[dict[str, Any]]:
    """Every JSON frame in the document's json code blocks."""
    frames = []
    for block in re.findall(r"```json\n(.*?)```", text(), re.DOTALL):
        try:
            frames.append(json.loads(block))
        except json.JSONDecodeError:
            frames.extend(json.loads(line) for line in block.splitlines() if line.strip())
    return frames


def test_the_error_table_lists_exactly_the_error_codes() -> None:
    table = text().split("## Errors", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert documented == {str(code) for code in ErrorCode}


def test_every_request_has_a_section() -> None:
    sections = set(re.findall(r"^### `([a-z_]+)`", text(), re.MULTILINE))
    assert sections == set(PARSERS)


def test_every_message_has_an_example() -> None:
    shown = {frame["type"] for frame in examples()}
    assert shown >= set(PARSERS) | SERVER_TYPES


def test_the_client_examples_parse() -> None:
    for frame in examples():
        if frame["type"] in PARSERS:
            assert parse_client_message(json.dumps(frame)).request_id == frame["id"]


def test_the_server_examples_are_well_formed() -> None:
    for frame in examples():
        if frame["type"] in PARSERS:
            continue
        assert frame["type"] in SERVER_TYPES, frame
        assert list(frame) == ["v", "type", "id", "data"]
        is_reply = frame["type"] in {
            "joined",
            "answer",
            "ack",
            "pong",
            "error",
            "session_details",
            "entered",
        }
        assert (frame["id"] is not None) == is_reply, frame


def test_the_error_example_is_what_the_parser_says() -> None:
    error_example = next(f for f in examples() if f["type"] == "error")
    raw = json.dumps(
        {"v": 1, "type": "join", "id": "7", "data": {"room": "demo", "name": "x" * 41}}
    )
    try:
        parse_client_message(raw)
    except ProtocolError as error:
        assert error_example["data"] == {"code": str(error.code), "message": error.message}
    else:
        raise AssertionError("a 41-character name was accepted")
