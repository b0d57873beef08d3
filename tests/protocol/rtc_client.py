"""A real aiortc peer connection that offers the layout of docs/protocol.md.

The test client encodes (aiortc's generated audio and video tracks); the server
only forwards.
"""

from __future__ import annotations

import asyncio

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy


class RtcClient:
    def __init__(self, receive_slots: int) -> None:
        self.receive_slots = receive_slots
        # max-bundle, as browsers negotiate with a server that bundles everything.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._state_changed)

    def _state_changed(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()

    async def offer(self) -> str:
        """Microphone and camera (sendonly), then receive_slots x (audio, video) recvonly."""
        self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        for _ in range(self.receive_slots):
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    def receive_mids(self) -> list[str]:
        return [str(t.mid) for t in self.pc.getTransceivers()[2:]]

    def transceiver(self, mid: str) -> RTCRtpTransceiver:
        return next(t for t in self.pc.getTransceivers() if t.mid == mid)

    def track(self, mid: str) -> MediaStreamTrack:
        track: MediaStreamTrack = self.transceiver(mid).receiver.track
        return track

    def candidate_lines(self) -> list[str]:
        """The "candidate:..." lines aiortc put into its offer."""
        sdp: str = self.pc.localDescription.sdp
        return [line[2:] for line in sdp.splitlines() if line.startswith("a=candidate:")]

    async def close(self) -> None:
        await self.pc.close()
