"""What the soaks' bots share: a peer connection offered and connected over the
signalling, publishing (a TestParticipant's audio and video) or not."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy

from tests.media.peers import TestParticipant
from tests.protocol.signaling_client import SignalingClient

CONNECT_TIMEOUT = 30.0


async def connect_media(
    signaling: SignalingClient, slots: int, publisher: TestParticipant | None
) -> RTCPeerConnection:
    """Offer the protocol's layout over `signaling` and wait until the peer
    connection is connected (ICE and DTLS). Without a publisher: a member whose
    camera and microphone are off (sendonly without tracks)."""
    if publisher is not None:
        pc = publisher.pc
        offer = await publisher.make_offer()
    else:
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        pc.addTransceiver("audio", direction="sendonly")
        pc.addTransceiver("video", direction="sendonly")
        for _ in range(slots):
            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def changed() -> None:
        if pc.connectionState == "connected":
            connected.set()

    try:
        answer = await signaling.expect("offer", {"sdp": offer})
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT)
    except BaseException:
        if publisher is None:
            await pc.close()  # the publisher's owner closes it
        raise
    return pc
