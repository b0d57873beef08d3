"""How much a participant's connection may send the server.

Every packet a publisher sends is forwarded to every other member: what one
connection sends, the server sends up to eleven times. A browser keeps to the
bandwidth the server gives it (REMB, at most the video cap) and to its audio
codec's rate; a modified client, or a broken one, could send far more, and the
whole room would pay for it, in the server's CPU and in every member's downlink.

`IncomingBudget` is a token bucket over a connection's SRTP and SRTCP datagrams,
in bytes and in datagrams, refilled at a fixed rate up to one second's worth: a
keyframe's burst, the browser's bandwidth probes and retransmissions pass, a
sustained excess does not. What exceeds it is dropped once SRTP has
authenticated it (so that datagrams sent by someone else under the member's
address cannot use up her budget), before it is parsed or forwarded.
The allowance is HEADROOM times what a member sends at most: the video cap,
AUDIO_BITRATE of audio, and RTCP about each stream a member receives.
"""

from __future__ import annotations

# Times a member's largest regular rate that the budget allows.
HEADROOM = 4
# What a member's audio may carry (browsers send Opus at 32-64 kbit/s by default).
AUDIO_BITRATE = 128_000
AUDIO_PACKETS_PER_SECOND = 50  # one Opus frame per 20 ms
# Video packets are mostly full (about 1,100 bytes); counted at this size.
VIDEO_PACKET_BYTES = 1_000
# RTCP: reports on each stream received (about once a second), NACKs and
# keyframe requests; per receive slot (an audio and a video stream), and for
# the member's own two streams.
RTCP_PACKETS_PER_SLOT = 10
RTCP_BYTES_PER_PACKET = 100


class IncomingBudget:
    """A token bucket of bytes and one of datagrams, each refilled at its rate
    per second up to one second's worth; full at the start. The compiled
    receive step (_copy_step.c) takes what it allows from the budget in place,
    reading the slots; what it would refuse it leaves to `allows`."""

    __slots__ = (
        "_at",
        "_bytes",
        "_datagrams",
        "bytes_per_second",
        "datagrams_per_second",
        "dropped",
        "owner",
    )

    def __init__(
        self, bytes_per_second: float, datagrams_per_second: float, owner: str = ""
    ) -> None:
        if bytes_per_second <= 0 or datagrams_per_second < 1:
            raise ValueError("an incoming budget needs a positive rate")
        # Whose connection it is, as log lines name people (a pseudonym).
        self.owner = owner
        self.bytes_per_second = bytes_per_second
        self.datagrams_per_second = datagrams_per_second
        self._bytes: float = bytes_per_second
        self._datagrams: float = datagrams_per_second
        self._at: float | None = None
        # Datagrams refused so far (never decreasing).
        self.dropped = 0

    @classmethod
    def for_participant(
        cls, video_max_bitrate: int, receive_slots: int, owner: str = ""
    ) -> IncomingBudget:
        """HEADROOM times what a member who publishes audio and video (capped
        at `video_max_bitrate`) and receives `receive_slots` others sends."""
        rtcp_packets = RTCP_PACKETS_PER_SLOT * (receive_slots + 1)
        media_bytes = (video_max_bitrate + AUDIO_BITRATE) / 8
        video_packets = video_max_bitrate / 8 / VIDEO_PACKET_BYTES
        return cls(
            HEADROOM * (media_bytes + rtcp_packets * RTCP_BYTES_PER_PACKET),
            HEADROOM * (video_packets + AUDIO_PACKETS_PER_SECOND + rtcp_packets),
            owner,
        )

    def allows(self, size: int, now: float) -> bool:
        """Whether a datagram of `size` bytes arriving at `now` (seconds, a
        monotonic clock) fits; if it does, it is taken from the budget, else
        counted as dropped."""
        at = self._at
        self._at = now
        if at is None or now <= at:
            available_bytes, available_datagrams = self._bytes, self._datagrams
        else:
            elapsed = now - at
            available_bytes = min(
                self.bytes_per_second, self._bytes + elapsed * self.bytes_per_second
            )
            available_datagrams = min(
                self.datagrams_per_second, self._datagrams + elapsed * self.datagrams_per_second
            )
        if available_bytes < size or available_datagrams < 1:
            self._bytes, self._datagrams = available_bytes, available_datagrams
            self.dropped += 1
            return False
        self._bytes = available_bytes - size
        self._datagrams = available_datagrams - 1
        return True
