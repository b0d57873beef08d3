"""Reading a publisher's RTP packet: aiortc's `RtpPacket.parse`, in fewer steps.

Every incoming RTP datagram is parsed once, and aiortc's parser was about a third
of the Python work of receiving one (py-spy, a 12-member grid with nothing
forwarded): it builds a list of (id, value) pairs for the header extensions,
then walks it comparing each id with the seven known ones through a private
attribute, with a `struct.unpack` per value, and makes an empty
`HeaderExtensions` by calling its dataclass constructor.

`parse_rtp` gives the same `RtpPacket` (the same fields and extension values; a
test compares the two on generated packets) reading the fixed header with one
precompiled struct, the extension elements in one loop and each value with
`int.from_bytes`. What it does differently, on purpose: an extension value of
the wrong length for its kind (say, a two-byte abs-send-time) raises
`ValueError`, so the packet is dropped like any other malformed one; aiortc
raises `struct.error` there, which its callers do not catch.

The extension ids are the ones aiortc negotiated, read from the DTLS
transport's `HeaderExtensionsMap` (hooks.py checks that it still keeps them
where this reads them).
"""

from __future__ import annotations

import struct

from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

FIXED_HEADER = struct.Struct("!BBHII")
FIXED_HEADER_LENGTH = 12
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000
_EXTENSION_WORD = struct.Struct("!HH")

_new_packet = RtpPacket.__new__
_new_extensions = HeaderExtensions.__new__


def negotiated_ids(extensions_map: HeaderExtensionsMap) -> HeaderExtensions:
    """The ids aiortc negotiated for each header extension it knows (a
    HeaderExtensions whose values are ids; None where not negotiated)."""
    ids: HeaderExtensions = extensions_map._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    return ids


def parse_rtp(data: bytes, ids: HeaderExtensions) -> RtpPacket:
    """The RtpPacket in `data`, with the header extensions that `ids` (from
    `negotiated_ids`) names; ValueError for anything malformed."""
    size = len(data)
    if size < FIXED_HEADER_LENGTH:
        raise ValueError("RTP packet length is less than 12 bytes")
    first, second, sequence_number, timestamp, ssrc = FIXED_HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    csrc_count = first & 0x0F
    position = FIXED_HEADER_LENGTH + 4 * csrc_count
    if size < position:
        raise ValueError("RTP packet has truncated CSRC")
    packet: RtpPacket = _new_packet(RtpPacket)
    packet.version = 2
    packet.marker = second >> 7
    packet.payload_type = second & 0x7F
    packet.sequence_number = sequence_number
    packet.timestamp = timestamp
    packet.ssrc = ssrc
    packet.csrc = (
        list(struct.unpack_from(f"!{csrc_count}I", data, FIXED_HEADER_LENGTH)) if csrc_count else []
    )
    # Unset fields read as the dataclass's class-level defaults (None).
    extensions: HeaderExtensions = _new_extensions(HeaderExtensions)
    packet.extensions = extensions
    if first & 0x10:
        if size < position + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile, words = _EXTENSION_WORD.unpack_from(data, position)
        position += 4
        end = position + 4 * words
        if size < end:
            raise ValueError("RTP packet has truncated extension value")
        if profile == ONE_BYTE_PROFILE or profile == TWO_BYTE_PROFILE:
            _read_extensions(data, position, end, profile == ONE_BYTE_PROFILE, ids, extensions)
        position = end
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > size - position:
            raise ValueError("RTP packet padding length is invalid")
        packet.padding_size = padding
        packet.payload = data[position:-padding]
    else:
        packet.padding_size = 0
        packet.payload = data[position:]
    return packet


def _read_extensions(
    data: bytes,
    position: int,
    end: int,
    one_byte: bool,
    ids: HeaderExtensions,
    extensions: HeaderExtensions,
) -> None:
    """The elements of an RFC 8285 extension block (one- or two-byte form) that
    `ids` names, into `extensions`; padding bytes are skipped, unknown ids
    ignored, a later element with the same id wins (as in aiortc)."""
    while position < end:
        byte = data[position]
        if byte == 0:  # padding
            position += 1
            continue
        if one_byte:
            element_id = byte >> 4
            length = (byte & 0x0F) + 1
            position += 1
        else:
            if end < position + 2:
                raise ValueError("RTP two-byte header extension is truncated")
            element_id = byte
            length = data[position + 1]
            position += 2
        value_end = position + length
        if end < value_end:
            raise ValueError("RTP header extension value is truncated")
        if element_id == ids.mid:
            extensions.mid = data[position:value_end].decode("utf8")
        elif element_id == ids.repaired_rtp_stream_id:
            extensions.repaired_rtp_stream_id = data[position:value_end].decode("ascii")
        elif element_id == ids.rtp_stream_id:
            extensions.rtp_stream_id = data[position:value_end].decode("ascii")
        elif element_id == ids.abs_send_time:
            if length != 3:
                raise ValueError(f"RTP abs-send-time header extension of {length} bytes")
            extensions.abs_send_time = int.from_bytes(data[position:value_end], "big")
        elif element_id == ids.transmission_offset:
            if length != 3:
                raise ValueError(f"RTP transmission offset header extension of {length} bytes")
            extensions.transmission_offset = int.from_bytes(
                data[position:value_end], "big", signed=True
            )
        elif element_id == ids.audio_level:
            if length != 1:
                raise ValueError(f"RTP audio level header extension of {length} bytes")
            level = data[position]
            extensions.audio_level = (level & 0x80 == 0x80, level & 0x7F)
        elif element_id == ids.transport_sequence_number:
            if length != 2:
                raise ValueError(
                    f"RTP transport-wide sequence number header extension of {length} bytes"
                )
            extensions.transport_sequence_number = int.from_bytes(data[position:value_end], "big")
        position = value_end
