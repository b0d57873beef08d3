"""RtpHeaderWriter: the headers it writes read back, through aiortc's own parser,
as the fields it was given, for every combination of extensions."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from grouproom.media.rtp_header import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    RtpHeaderWriter,
    UnsupportedHeader,
)


def extensions(**ids: int) -> list[RTCRtpHeaderExtensionParameters]:
    uris = {"mid": MID_URI, "abs_send_time": ABS_SEND_TIME_URI, "audio_level": AUDIO_LEVEL_URI}
    return [
        RTCRtpHeaderExtensionParameters(id=number, uri=uris[name]) for name, number in ids.items()
    ]


def parse(data: bytes, negotiated: list[RTCRtpHeaderExtensionParameters]) -> RtpPacket:
    extension_map = HeaderExtensionsMap()
    extension_map.configure(RTCRtpParameters(headerExtensions=negotiated))
    return RtpPacket.parse(data, extension_map)


@given(
    ssrc=st.integers(0, 2**32 - 1),
    payload_type=st.integers(0, 127),
    marker=st.integers(0, 1),
    seq=st.integers(0, 2**16 - 1),
    timestamp=st.integers(0, 2**32 - 1),
    mid=st.one_of(st.none(), st.text("0123456789abc", min_size=1, max_size=16)),
    abs_send_time=st.one_of(st.none(), st.integers(0, 2**24 - 1)),
    audio_level=st.one_of(st.none(), st.tuples(st.booleans(), st.integers(0, 127))),
    ids=st.permutations(range(1, 15)).map(lambda order: order[:3]),
    negotiate=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    payload=st.binary(min_size=1, max_size=64),
)
def test_written_headers_parse_back(
    ssrc: int,
    payload_type: int,
    marker: int,
    seq: int,
    timestamp: int,
    mid: str | None,
    abs_send_time: int | None,
    audio_level: tuple[bool, int] | None,
    ids: tuple[int, ...],
    negotiate: tuple[bool, bool, bool],
    payload: bytes,
) -> None:
    chosen = {
        name: number
        for name, number, wanted in zip(
            ("mid", "abs_send_time", "audio_level"), ids, negotiate, strict=True
        )
        if wanted
    }
    negotiated = extensions(**chosen)
    writer = RtpHeaderWriter.negotiated(ssrc, mid, negotiated)
    data = writer.header(payload_type, marker, seq, timestamp, abs_send_time, audio_level) + payload

    packet = parse(data, negotiated)
    assert (packet.ssrc, packet.payload_type, packet.marker) == (ssrc, payload_type, marker)
    assert (packet.sequence_number, packet.timestamp, packet.payload) == (seq, timestamp, payload)
    assert packet.extensions.mid == (mid if "mid" in chosen else None)
    expected_time = abs_send_time if "abs_send_time" in chosen else None
    assert packet.extensions.abs_send_time == expected_time
    expected_level = audio_level if "audio_level" in chosen else None
    assert packet.extensions.audio_level == expected_level
    assert len(data) % 4 == len(payload) % 4  # the header is whole 32-bit words


def test_same_bytes_as_aiortc_for_a_browser_like_stream() -> None:
    negotiated = extensions(mid=4, abs_send_time=2)
    writer = RtpHeaderWriter.negotiated(0x1234ABCD, "7", negotiated)
    ours = writer.header(96, 1, 4242, 90_000, 0x123456, None) + b"payload"

    packet = RtpPacket(
        payload_type=96,
        marker=1,
        sequence_number=4242,
        timestamp=90_000,
        ssrc=0x1234ABCD,
        payload=b"payload",
    )
    packet.extensions.mid = "7"
    packet.extensions.abs_send_time = 0x123456
    extension_map = HeaderExtensionsMap()
    extension_map.configure(RTCRtpParameters(headerExtensions=negotiated))
    assert ours == packet.serialize(extension_map)


def test_two_byte_extensions_are_left_to_aiortc() -> None:
    with pytest.raises(UnsupportedHeader):
        RtpHeaderWriter.negotiated(1, "0", extensions(mid=15))
    with pytest.raises(UnsupportedHeader):
        RtpHeaderWriter.negotiated(1, "a-very-long-mid-value", extensions(mid=1))
