"""parse_client_message never fails with anything but ProtocolError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from grouproom.protocol import ProtocolError, parse_client_message
from grouproom.protocol.parsing import PARSERS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=30,
)

field_names = st.sampled_from(
    [
        "room",
        "name",
        "audio_muted",
        "video_muted",
        "sdp",
        "candidate",
        "sdp_mid",
        "sdp_mline_index",
    ]
)

envelopes = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 1, 1, 2, "1", True, None, 1.0]),
        "type": st.sampled_from([*PARSERS, "joined", ""]) | st.text(max_size=10),
        "id": st.text(max_size=70) | json_values,
        "data": st.dictionaries(field_names, json_values | st.text(max_size=70)) | json_values,
    },
)


def parses_or_refuses(raw: str | bytes) -> None:
    try:
        parse_client_message(raw)
    except ProtocolError:
        pass


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_arbitrary_text(raw: str) -> None:
    parses_or_refuses(raw)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_arbitrary_binary(raw: bytes) -> None:
    parses_or_refuses(raw)


@settings(max_examples=500)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    parses_or_refuses(json.dumps(value))


@settings(max_examples=1000)
@given(envelopes)
def test_envelope_like_objects(value: dict[str, Any]) -> None:
    parses_or_refuses(json.dumps(value))
