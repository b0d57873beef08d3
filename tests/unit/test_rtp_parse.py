"""parse_rtp reads what aiortc's RtpPacket.parse reads, and refuses what it refuses;
the compiled receive step's parse reads and refuses what parse_rtp does;
srtp_direct.unprotect undoes protect and refuses what libsrtp refuses."""

from __future__ import annotations

import os
import struct

import pylibsrtp
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from grouproom.media import copy_step
from grouproom.media.rtp_parse import negotiated_ids, parse_rtp
from grouproom.media.srtp_direct import protect, unprotect

URIS = (
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:toffset",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
)
# What aiortc's parser raises for a malformed packet: ValueError (UnicodeDecodeError
# is one) or, for an extension value of the wrong length, struct.error.
AIORTC_ERRORS = (ValueError, struct.error)


def configured_map(ids: list[int]) -> HeaderExtensionsMap:
    """aiortc's map with URIS[i] negotiated as ids[i] (0: not negotiated)."""
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=number, uri=uri)
                for uri, number in zip(URIS, ids, strict=False)
                if number
            ]
        )
    )
    return extensions_map


def assert_same_reading(data: bytes, extensions_map: HeaderExtensionsMap) -> None:
    try:
        expected = RtpPacket.parse(data, extensions_map)
    except AIORTC_ERRORS:
        with pytest.raises(ValueError):
            parse_rtp(data, negotiated_ids(extensions_map))
        return
    packet = parse_rtp(data, negotiated_ids(extensions_map))
    assert vars(packet) == vars(expected)
    assert packet.extensions == expected.extensions


def element(one_byte: bool, element_id: int, value: bytes) -> bytes:
    if one_byte:
        return bytes([element_id << 4 | (len(value) - 1)]) + value
    return bytes([element_id, len(value)]) + value


# The value length each extension must have (None: any); same order as URIS.
VALUE_LENGTHS = (None, None, None, 3, 3, 1, 2)


@st.composite
def rtp_packets(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """RTP and the negotiated ids (URIS[i] as ids[i], 0: not negotiated). Mostly
    well-formed, with negotiated header extensions of the right length, and also
    of a wrong one, with unknown ids, CSRCs and padding; sometimes cut short or
    with a length field that lies."""
    ids = draw(st.lists(st.integers(0, 14), min_size=7, max_size=7, unique=True))
    csrcs = draw(st.lists(st.integers(0, 2**32 - 1), max_size=15))
    one_byte = draw(st.booleans())
    profile = draw(
        st.sampled_from([0xBEDE, 0x1000, 0x1234])
        if draw(st.booleans())
        else st.just(0xBEDE if one_byte else 0x1000)
    )
    known = [(number, length) for number, length in zip(ids, VALUE_LENGTHS, strict=True) if number]

    def good_value(length: int | None) -> st.SearchStrategy[bytes]:
        if length is None:
            return st.text("abc019-", min_size=1, max_size=16).map(str.encode)
        return st.binary(min_size=length, max_size=length)

    negotiated_element = (
        st.sampled_from(known).flatmap(
            lambda known_one: st.tuples(st.just(known_one[0]), good_value(known_one[1]))
        )
        if known
        else st.nothing()
    )
    any_element = st.tuples(
        st.integers(1, 15 if one_byte else 255), st.binary(min_size=1, max_size=16)
    )
    elements = draw(
        st.lists(
            st.tuples(
                st.one_of(negotiated_element, negotiated_element, any_element), st.integers(0, 2)
            ),
            max_size=6,
        )
    )
    block = b"".join(
        element(one_byte, element_id, value) + b"\x00" * padding
        for (element_id, value), padding in elements
    )
    block += b"\x00" * (-len(block) % 4)
    with_extension = draw(st.booleans())
    payload = draw(st.binary(max_size=40))
    padding_size = draw(st.integers(0, 8))
    first = 0x80 | (0x20 if padding_size else 0) | (0x10 if with_extension else 0) | len(csrcs)
    data = struct.pack(
        "!BBHII",
        first,
        draw(st.integers(0, 255)),
        draw(st.integers(0, 2**16 - 1)),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(0, 2**32 - 1)),
    )
    data += b"".join(struct.pack("!I", csrc) for csrc in csrcs)
    if with_extension:
        words = len(block) // 4 + draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
        data += struct.pack("!HH", profile, max(words, 0)) + block
    data += payload
    if padding_size:
        # The last byte says how much padding there is: true, zero, or more than
        # the payload (just, or far).
        claimed = draw(
            st.sampled_from(
                [
                    padding_size,
                    padding_size,
                    0,
                    len(payload) + padding_size,
                    len(payload) + padding_size + 1,
                    255,
                ]
            )
        )
        data += b"\x00" * (padding_size - 1) + bytes([claimed])
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data, ids


def assert_compiled_reads_the_same(data: bytes, extensions_map: HeaderExtensionsMap) -> None:
    """The compiled parse gives an RtpPacket equal to parse_rtp's, attribute by
    attribute, or raises the same error with the same message."""
    module, why = copy_step.load_compiled()
    assert module is not None, f"the compiled step is {why}"
    ids = negotiated_ids(extensions_map)
    try:
        expected = parse_rtp(data, ids)
    except ValueError as error:
        with pytest.raises(type(error)) as raised:
            module.parse_rtp(data, ids)
        assert str(raised.value) == str(error)
        return
    packet = module.parse_rtp(data, ids)
    assert type(packet) is RtpPacket and type(packet.extensions) is type(expected.extensions)
    assert list(vars(packet)) == list(vars(expected))  # the same attributes, set in order
    assert vars(packet) == vars(expected)
    assert vars(packet.extensions) == vars(expected.extensions)


@given(packet=rtp_packets())
@settings(max_examples=500)
def test_reads_what_aiortc_reads_and_so_does_the_compiled_parse(
    packet: tuple[bytes, list[int]],
) -> None:
    data, ids = packet
    assert_same_reading(data, configured_map(ids))
    assert_compiled_reads_the_same(data, configured_map(ids))


@given(data=st.binary(max_size=80))
def test_any_bytes_are_read_or_refused_as_aiortc_does_and_as_the_compiled_parse_does(
    data: bytes,
) -> None:
    assert_same_reading(data, configured_map([1, 2, 3, 4, 5, 6, 7]))
    assert_compiled_reads_the_same(data, configured_map([1, 2, 3, 4, 5, 6, 7]))


def test_the_compiled_parse_reads_every_known_extension() -> None:
    """One packet with all seven extensions (one-byte form), a CSRC and padding:
    the values that generated packets reach only by chance, each checked."""
    extensions_map = configured_map([1, 2, 3, 4, 5, 6, 7])
    block = b"".join(
        [
            element(True, 1, b"mid"),
            element(True, 2, b"r1"),
            element(True, 3, b"r0"),
            element(True, 4, b"\xab\xcd\xef"),
            element(True, 5, b"\xff\xff\xfe"),
            element(True, 6, b"\x85"),
            element(True, 7, b"\x02\x01"),
        ]
    )
    block += b"\x00" * (-len(block) % 4)
    data = (
        struct.pack("!BBHIII", 0xB1, 0xE0, 513, 2**32 - 1, 7, 99)
        + struct.pack("!HH", 0xBEDE, len(block) // 4)
        + block
        + b"payload\x00\x00\x03"
    )
    assert_compiled_reads_the_same(data, extensions_map)
    module, _ = copy_step.load_compiled()
    assert module is not None
    packet = module.parse_rtp(data, negotiated_ids(extensions_map))
    extensions = packet.extensions
    assert (extensions.mid, extensions.repaired_rtp_stream_id, extensions.rtp_stream_id) == (
        "mid",
        "r1",
        "r0",
    )
    assert (extensions.abs_send_time, extensions.transmission_offset) == (0xABCDEF, -2)
    assert extensions.audio_level == (True, 5)
    assert extensions.transport_sequence_number == 513
    assert (packet.marker, packet.payload_type, packet.csrc) == (1, 0x60, [99])
    assert (packet.payload, packet.padding_size) == (b"payload", 3)


def test_a_browsers_video_packet() -> None:
    extensions_map = configured_map([4, 10, 11, 3, 0, 1, 5])
    packet = RtpPacket(payload_type=96, marker=1, sequence_number=65535, timestamp=90000, ssrc=7)
    packet.payload = b"\x90\x80\x80\x01" + bytes(1096)
    packet.extensions.mid = "1"
    packet.extensions.abs_send_time = 0xABCDEF
    packet.extensions.transport_sequence_number = 513
    parsed = parse_rtp(packet.serialize(extensions_map), negotiated_ids(extensions_map))
    assert (parsed.payload_type, parsed.marker, parsed.sequence_number) == (96, 1, 65535)
    assert (parsed.timestamp, parsed.ssrc, parsed.csrc) == (90000, 7, [])
    assert parsed.extensions.mid == "1"
    assert parsed.extensions.abs_send_time == 0xABCDEF
    assert parsed.extensions.transport_sequence_number == 513
    assert parsed.extensions.audio_level is None
    assert parsed.payload == packet.payload and parsed.padding_size == 0


def test_an_extension_value_of_the_wrong_length_is_a_value_error() -> None:
    """aiortc raises struct.error here, which its callers do not catch."""
    extensions_map = configured_map([0, 0, 0, 3])
    header = struct.pack("!BBHII", 0x90, 96, 1, 2, 3)
    data = header + struct.pack("!HH", 0xBEDE, 1) + bytes([3 << 4 | 1, 1, 2, 0]) + b"payload"
    with pytest.raises(struct.error):
        RtpPacket.parse(data, extensions_map)
    with pytest.raises(ValueError, match="abs-send-time"):
        parse_rtp(data, negotiated_ids(extensions_map))


def srtp_pair() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    key = os.urandom(44)
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    sending = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
        )
    )
    receiving = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )
    return sending, receiving


def rtp(seq: int, size: int = 1100) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 4242) + os.urandom(size)


def test_unprotect_gives_back_what_was_protected() -> None:
    sending, receiving = srtp_pair()
    for seq in range(1, 50):
        packet = rtp(seq, size=seq * 20)
        protected = protect(sending, packet)
        assert protected != packet
        assert unprotect(receiving, protected) == packet


def test_unprotect_refuses_a_replay_a_forgery_and_an_oversized_packet() -> None:
    sending, receiving = srtp_pair()
    original = rtp(1)
    first = protect(sending, original)
    assert unprotect(receiving, first) == original
    with pytest.raises(pylibsrtp.Error):
        unprotect(receiving, first)  # the same packet again
    forged = bytearray(protect(sending, rtp(2)))
    forged[20] ^= 0xFF
    with pytest.raises(pylibsrtp.Error):
        unprotect(receiving, bytes(forged))
    # The genuine packet still goes through after the forgery was refused.
    later = rtp(3)
    assert unprotect(receiving, protect(sending, later)) == later
    with pytest.raises(ValueError):
        unprotect(receiving, b"\x80" * 1501)
