"""The lower reference: aiortc's MediaRelay, which decodes every publisher once and
encodes again for every subscriber. This is what a naive aiortc group call does,
and what grouproom avoids by forwarding packets.

    python -m benchmarks.relay_server PORT

HTTP on 127.0.0.1: POST /publish {name, sdp} answers a publisher's offer;
GET /feeds lists who publishes; POST /subscribe {feed, sdp} answers a
subscriber's receive-only offer with that feed's relayed tracks.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiohttp import web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

relay = MediaRelay()
feeds: dict[int, dict[str, MediaStreamTrack]] = {}
peer_connections: set[RTCPeerConnection] = set()


def new_peer_connection() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    peer_connections.add(pc)
    return pc


async def publish(request: web.Request) -> web.Response:
    body: dict[str, Any] = await request.json()
    name = int(body["name"])
    pc = new_peer_connection()
    tracks: dict[str, MediaStreamTrack] = {}

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tracks[track.kind] = track
        if len(tracks) == 2:
            feeds[name] = tracks

    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def list_feeds(request: web.Request) -> web.Response:
    return web.json_response(sorted(feeds))


async def subscribe(request: web.Request) -> web.Response:
    body: dict[str, Any] = await request.json()
    tracks = feeds.get(int(body["feed"]))
    if tracks is None:
        return web.json_response({"error": "no such feed"}, status=404)
    pc = new_peer_connection()
    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    for kind in ("audio", "video"):
        pc.addTrack(relay.subscribe(tracks[kind]))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def close_all(app: web.Application) -> None:
    await asyncio.gather(*(pc.close() for pc in peer_connections), return_exceptions=True)


def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/publish", publish)
    app.router.add_get("/feeds", list_feeds)
    app.router.add_post("/subscribe", subscribe)
    app.on_shutdown.append(close_all)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
