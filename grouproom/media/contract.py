"""What the media plane offers the rest of the server, free of aiortc types.

Signalling code imports from here (and `Forwarder` from forwarder.py); it never
sees an aiortc object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["audio", "video"]


# The values of GROUPROOM_COPY_STEP (settings.py checks them, copy_step.py acts on them).
COPY_STEPS = ("auto", "compiled", "python")


@dataclass(frozen=True)
class MediaSettings:
    # Addresses offered as ICE host candidates; empty means every address of the
    # machine (aioice's default, which leaves out loopback).
    ice_addresses: tuple[str, ...] = ("127.0.0.1",)
    # The UDP port of every participant's media on each of those addresses (one
    # socket per process and address, udp_mux.py); 0: one free port chosen when the
    # first participant connects.
    media_port: int = 0
    # Where that socket is bound when not on the ICE address itself (a container
    # behind a published port): "" binds to each ICE address.
    media_bind_address: str = ""
    # STUN servers the *server* uses to learn its public address ("stun:host:port").
    stun_urls: tuple[str, ...] = ()
    # Receive slots each participant's offer carries: one audio and one video
    # m-line per other participant the room may hold.
    receive_slots: int = 11
    # Upper bound passed to every publisher as its video bandwidth estimate (REMB).
    video_max_bitrate: int = 500_000
    # The event loop of a room worker process ("asyncio" or "uvloop"), as the server's.
    event_loop: str = "asyncio"
    # What makes the copies of a forwarded packet (copy_step.py), as the server's:
    # one of COPY_STEPS.
    copy_step: str = "auto"


COUNTERS = (
    "forwarded_packets_audio",
    "forwarded_packets_video",
    "forwarded_bytes_audio",
    "forwarded_bytes_video",
    "retransmitted_packets",
    "nacks_sent",
    "keyframe_requests_sent",
    "packets_lost",
    "packets_not_recovered",
    "congestion_limits",
    "incoming_over_budget",
    "connection_worsened",
)


class OfferError(ValueError):
    """An SDP offer the forwarder cannot accept; the message says why."""


class CandidateError(ValueError):
    """An ICE candidate the forwarder cannot use; the message says why."""


class ForwarderEvents(Protocol):
    """Called by the forwarder (synchronously, on the event loop) to tell signalling
    what the browser needs to know. Implementations must not block."""

    def track_published(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        """Media of `publisher_id` now arrives at `subscriber_id` on the receive
        transceiver whose mid is `mid`."""

    def track_removed(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        """The receive transceiver `mid` of `subscriber_id` no longer carries
        `publisher_id`'s media (the publisher left)."""

    def connection_lost(self, participant_id: str) -> None:
        """The participant's peer connection failed or closed without a leave."""

    def connection_quality(self, participant_id: str, quality: str, direction: str) -> None:
        """How well the participant's line carries the room changed: "good",
        "weak" or "bad" (connection_quality.py), and the way it is weak in: "up",
        "down", "both" ("" when good). Every participant starts good."""


class MediaRoom(Protocol):
    """The media of one room: a Forwarder in this process or a RoomWorker that
    runs one in a process of its own."""

    settings: MediaSettings

    async def connect(self, participant_id: str, offer_sdp: str, publishes: bool = True) -> str:
        """Accept an offer, return the answer; OfferError when it cannot be used."""

    async def add_ice_candidate(
        self,
        participant_id: str,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        """Add a trickled remote candidate; CandidateError when it cannot be used."""

    def set_forwarding(self, participant_id: str, kind: Kind, enabled: bool) -> None:
        """Stop or resume forwarding one kind of a participant's media."""

    def set_visible_video(self, subscriber_id: str, publisher_ids: frozenset[str]) -> None:
        """Forward to `subscriber_id` the video of exactly these publishers (those it
        shows now); audio is not affected. Until the first call, every publisher's
        video is forwarded. May come before the subscriber's offer."""

    async def disconnect(self, participant_id: str) -> None:
        """Release everything the participant held; safe to call twice."""

    async def close(self) -> None:
        """Disconnect everyone."""

    async def read_counters(self) -> dict[str, int]:
        """Totals since the room opened (COUNTERS, never decreasing), for metrics."""
