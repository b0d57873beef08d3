"""Writing the RTP header of a forwarded packet, for one outgoing stream.

aiortc's `RtpPacket.serialize` builds a header from objects on every call; for a
packet forwarded to eleven subscribers that was the largest single cost per
packet. An `RtpHeaderWriter` is made once per outgoing stream from what was
negotiated with that subscriber (the ids of the mid, abs-send-time and
audio-level header extensions and the stream's mid) and then writes headers with
one struct call and a few byte joins (RFC 3550 fixed header, RFC 8285 one-byte
header extensions), each header with a single `struct.pack`.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

FIXED_HEADER = struct.Struct("!BBHII")
ONE_BYTE_PROFILE_WORD = 0xBEDE
MAX_ONE_BYTE_ID = 14
MAX_ONE_BYTE_LENGTH = 16


class UnsupportedHeader(ValueError):
    """The negotiated extensions need the two-byte form (an id above 14 or a
    value longer than 16 bytes): the caller falls back to aiortc's serializer."""


@dataclass(frozen=True, slots=True)
class RtpHeaderWriter:
    ssrc: int
    mid_element: bytes  # the mid extension, id and value, or b"" when not negotiated
    abs_send_time_id: int
    audio_level_id: int
    # The header's struct and extension length per combination of extensions
    # (`_layouts_for`), looked up once.
    _layouts: tuple[struct.Struct, ...] = field(init=False, repr=False, compare=False)
    _words: tuple[int, ...] = field(init=False, repr=False, compare=False)
    # The abs-send-time element's id byte, placed above its 24-bit value.
    _time_prefix: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        layouts, words = _layouts_for(len(self.mid_element))
        object.__setattr__(self, "_layouts", layouts)
        object.__setattr__(self, "_words", words)
        object.__setattr__(self, "_time_prefix", (self.abs_send_time_id << 4 | 2) << 24)

    @classmethod
    def negotiated(
        cls, ssrc: int, mid: str | None, extensions: Sequence[RTCRtpHeaderExtensionParameters]
    ) -> RtpHeaderWriter:
        ids = {extension.uri: extension.id for extension in extensions}
        if any(not 1 <= number <= MAX_ONE_BYTE_ID for number in ids.values()):
            raise UnsupportedHeader("a header extension id above 14")
        mid_element = b""
        mid_id = ids.get(MID_URI, 0)
        if mid_id and mid:
            value = mid.encode()
            if len(value) > MAX_ONE_BYTE_LENGTH:
                raise UnsupportedHeader("a mid longer than 16 bytes")
            mid_element = bytes([mid_id << 4 | (len(value) - 1)]) + value
        return cls(
            ssrc=ssrc,
            mid_element=mid_element,
            abs_send_time_id=ids.get(ABS_SEND_TIME_URI, 0),
            audio_level_id=ids.get(AUDIO_LEVEL_URI, 0),
        )

    def header(
        self,
        payload_type: int,
        marker: int,
        sequence_number: int,
        timestamp: int,
        abs_send_time: int | None,
        audio_level: tuple[bool, int] | None,
    ) -> bytes:
        # One branch per combination of extensions, each a single struct call
        # (this runs once per packet and subscriber; one call with the extension
        # values unpacked from a tuple took 0.31 against 0.17 µs).
        second = marker << 7 | payload_type
        layouts = self._layouts
        if abs_send_time is not None and self.abs_send_time_id:
            # The element's id byte and its 24-bit value, as one 32-bit word.
            time_word = self._time_prefix | abs_send_time
            if audio_level is not None and self.audio_level_id:
                return layouts[3].pack(
                    0x90,
                    second,
                    sequence_number,
                    timestamp,
                    self.ssrc,
                    ONE_BYTE_PROFILE_WORD,
                    self._words[3],
                    self.mid_element,
                    time_word,
                    self._level_word(audio_level),
                )
            return layouts[2].pack(
                0x90,
                second,
                sequence_number,
                timestamp,
                self.ssrc,
                ONE_BYTE_PROFILE_WORD,
                self._words[2],
                self.mid_element,
                time_word,
            )
        if audio_level is not None and self.audio_level_id:
            return layouts[1].pack(
                0x90,
                second,
                sequence_number,
                timestamp,
                self.ssrc,
                ONE_BYTE_PROFILE_WORD,
                self._words[1],
                self.mid_element,
                self._level_word(audio_level),
            )
        if not self.mid_element:
            return FIXED_HEADER.pack(0x80, second, sequence_number, timestamp, self.ssrc)
        return layouts[0].pack(
            0x90,
            second,
            sequence_number,
            timestamp,
            self.ssrc,
            ONE_BYTE_PROFILE_WORD,
            self._words[0],
            self.mid_element,
        )

    def _level_word(self, audio_level: tuple[bool, int]) -> int:
        voice, level = audio_level
        return self.audio_level_id << 12 | (0x80 if voice else 0) | (level & 0x7F)


@functools.cache
def _layouts_for(mid_length: int) -> tuple[tuple[struct.Struct, ...], tuple[int, ...]]:
    """The header with one-byte extensions as one struct, for a mid element of this
    length and each combination of (abs-send-time, audio level), indexed
    time << 1 | level; and each one's extension length in 32-bit words."""
    layouts = []
    words = []
    for with_time, with_level in ((False, False), (False, True), (True, False), (True, True)):
        length = mid_length + 4 * with_time + 2 * with_level
        padding = -length % 4
        layouts.append(
            struct.Struct(
                f"!BBHIIHH{mid_length}s"
                + ("I" if with_time else "")
                + ("H" if with_level else "")
                + ("x" * padding)
            )
        )
        words.append((length + padding) // 4)
    return tuple(layouts), tuple(words)
