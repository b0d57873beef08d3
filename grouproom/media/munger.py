"""Rewriting RTP sequence numbers and timestamps for one subscriber.

Each subscription sends under its own SSRC with its own sequence-number and
timestamp space. Incoming numbers are shifted by an offset; when forwarding
pauses (a muted member, a subscriber waiting for a keyframe) and resumes, the
offsets are moved so that the subscriber sees consecutive sequence numbers and
timestamps that advanced with the wall clock, never a gap it would NACK.

Both mungers belong to the outgoing stream (one receive slot of a subscriber),
not to the subscription: when a slot passes from a participant who left to one
who joined, the browser keeps its receiver for that SSRC, and numbers that jumped
backwards would make it drop the newcomer's frames as old ones.
"""

from __future__ import annotations

import random

from grouproom.media.keyframe import vp8_picture_id

SEQ_MOD = 1 << 16
HALF_SEQ = SEQ_MOD // 2
TS_MOD = 1 << 32
PICTURE_ID_MOD = 1 << 15
SHORT_PICTURE_ID_MOD = 1 << 7


def seq_newer(a: int, b: int) -> bool:
    """True when 16-bit sequence number a comes after b (with wrap-around)."""
    return a != b and ((a - b) % SEQ_MOD) < SEQ_MOD // 2


class Munger:
    # Slots: the compiled copy step reads and writes these in place (copy_step.py).
    __slots__ = (
        "_resync",
        "clock_rate",
        "highest_in_seq",
        "last_seq",
        "last_time",
        "last_ts",
        "run_start_seq",
        "seq_offset",
        "ts_offset",
    )

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        # Start below 2^15 like aiortc and browsers, so SRTP's rollover is far away.
        self.last_seq = random.randrange(0, SEQ_MOD // 2)
        self.last_ts = random.randrange(0, TS_MOD)
        self.last_time: float | None = None
        self.seq_offset = 0
        self.ts_offset = 0
        self.highest_in_seq: int | None = None
        # The first outgoing sequence number of the current run: NACKs for anything
        # older than this cannot be mapped back and are ignored.
        self.run_start_seq: int | None = None
        self._resync = True

    def pause(self) -> None:
        """Forwarding stops; the next packet starts a new run."""
        self._resync = True

    @property
    def paused(self) -> bool:
        return self._resync

    def rewrite(self, in_seq: int, in_ts: int, now: float) -> tuple[int, int] | None:
        """Map an incoming (sequence number, timestamp) to the outgoing pair, or None
        for a packet older than the current run (it belongs to a paused stretch)."""
        if self._resync:
            self._resync = False
            out_seq = (self.last_seq + 1) % SEQ_MOD
            if self.last_time is None:
                advance = 0
            else:
                advance = max(1, int((now - self.last_time) * self.clock_rate))
            out_ts = (self.last_ts + advance) % TS_MOD
            self.seq_offset = (out_seq - in_seq) % SEQ_MOD
            self.ts_offset = (out_ts - in_ts) % TS_MOD
            self.run_start_seq = out_seq
        else:
            highest = self.highest_in_seq
            # This runs once per packet and subscriber: seq_newer, inlined.
            if highest is not None and not 0 < (in_seq - highest) % SEQ_MOD < HALF_SEQ:
                # A late or retransmitted packet of this run: map it with the same
                # offsets, unless it is from before the run began.
                out_seq = (in_seq + self.seq_offset) % SEQ_MOD
                if self.run_start_seq is not None and seq_newer(self.run_start_seq, out_seq):
                    return None
                return out_seq, (in_ts + self.ts_offset) % TS_MOD
            out_seq = (in_seq + self.seq_offset) % SEQ_MOD
            out_ts = (in_ts + self.ts_offset) % TS_MOD
        # The newest packet of the run so far: within a run the offsets are fixed,
        # so the newest incoming packet is also the newest sent.
        self.highest_in_seq = in_seq
        self.last_seq = out_seq
        self.last_ts = out_ts
        self.last_time = now
        return out_seq, out_ts

    def original_seq(self, out_seq: int) -> int | None:
        """The incoming sequence number behind an outgoing one (for a NACK), or None
        when it lies outside the current run."""
        if self.run_start_seq is None or self._resync:
            return None
        if seq_newer(self.run_start_seq, out_seq) or seq_newer(out_seq, self.last_seq):
            return None
        return (out_seq - self.seq_offset) % SEQ_MOD

    def outgoing_timestamp(self, in_ts: int) -> int:
        """The outgoing RTP timestamp for an incoming one (for sender reports)."""
        return (in_ts + self.ts_offset) % TS_MOD


class PictureIdMunger:
    """Keeps VP8 PictureIDs increasing on one outgoing stream across publishers.

    Within one source the offset stays fixed (a publisher's own IDs are already
    continuous, and a gap after a pause ends at a keyframe). When a new source
    starts, its first picture gets the ID after the last one sent. While the
    offset is 0 the payload is passed on untouched, without a copy.
    """

    __slots__ = ("_new_source", "last_out", "offset")

    def __init__(self) -> None:
        self.offset = 0
        self.last_out: int | None = None
        self._new_source = True

    def new_source(self) -> None:
        """The next packet comes from a different publisher."""
        self._new_source = True

    def rewrite(self, payload: bytes) -> bytes:
        return self.rewrite_at(payload, vp8_picture_id(payload))

    def rewrite_at(self, payload: bytes, located: tuple[int, int] | None) -> bytes:
        """rewrite(), with the PictureID's place already found (once per packet,
        by the publication, instead of once per subscriber)."""
        if located is None:
            return payload
        position, bits = located
        # A 7-bit PictureID wraps at 128, a 15-bit one at 32768: each is continued
        # in its own width (a source of the other width starts after the last ID
        # sent, read in its own).
        if bits == 15:
            value = (payload[position] & 0x7F) << 8 | payload[position + 1]
            modulus = PICTURE_ID_MOD
        else:
            value = payload[position] & 0x7F
            modulus = SHORT_PICTURE_ID_MOD
        last_out = self.last_out
        if self._new_source:
            self._new_source = False
            if last_out is not None:
                self.offset = (last_out + 1 - value) % modulus
        offset = self.offset
        out = (value + offset) % modulus if offset else value
        if last_out is None or 0 < (out - last_out) % modulus < modulus // 2:
            self.last_out = out
        if not offset:
            return payload
        if bits == 15:
            field = (0x8000 | out).to_bytes(2, "big")
        else:
            field = bytes([out])
        return payload[:position] + field + payload[position + len(field) :]
