"""A publisher's RTP, handled in the UDP datagram callback itself.

aiortc's receive path for one RTP datagram: aioice first tries to parse it as STUN
(and fails with an exception), puts it on the connection's queue, wakes the DTLS
transport's task, which takes it off the queue on the next turn of the event loop
and passes it down five nested coroutines to the receiver. For a server that
receives every member's audio and video, that path was about half of what
receiving costs. The bench's hidden scenario (nothing forwarded but audio) showed
receiving at about 60 µs of CPU per incoming datagram, a third of the server's
CPU in a 12-member grid.

For the peer connections of the forwarder (and only those: `install` marks their
ICE connection), hooks._guarded_datagram_received hands every RTP datagram
(first byte 128-191, RFC 7983; never STUN) to the handler made here, which does
what aiortc's `RTCDtlsTransport._recv_next` and `_handle_rtp_data` do for SRTP,
synchronously: unprotect (srtp_direct.py), parse (rtp_parse.py), route by SSRC
and payload type, and give the packet to the ForwardingReceiver. RTCP and DTLS
keep aiortc's path, as does everything before the DTLS handshake has made the
SRTP session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import RtpPacket, is_rtcp

from grouproom.media.hooks import DIRECT_RTP_HANDLER as HANDLER_ATTRIBUTE
from grouproom.media.rtp_parse import negotiated_ids, parse_rtp
from grouproom.media.srtp_direct import unprotect

# aiortc's clock counts milliseconds from the NTP epoch (1900), time.time() from
# 1970: the same clock, this far apart. Arrival times must match aiortc's, which
# the bitrate estimator compares with those of packets that took aiortc's path.
NTP_TO_UNIX_MS = 2_208_988_800_000

Deliver = Callable[[Any, RtpPacket, int], bool]


def install(dtls: RTCDtlsTransport, deliver: Deliver) -> None:
    """Handle the SRTP that arrives on `dtls`'s ICE connection directly.
    `deliver(receiver, packet, arrival_time_ms)` takes a routed packet and says
    whether the receiver was one it serves (any other gets the packet the way
    aiortc gives it, in a task). Idempotent per connection."""
    connection = dtls.transport._connection
    if getattr(connection, HANDLER_ATTRIBUTE, None) is not None:
        return
    # Updated in place as aiortc negotiates (one object per DTLS transport).
    extension_ids = negotiated_ids(dtls._rtp_header_extensions_map)

    def handle(data: bytes) -> bool:
        srtp = dtls._rx_srtp
        if srtp is None or dtls._state is not DtlsState.CONNECTED or is_rtcp(data):
            return False  # aiortc's own path
        arrival_time_ms = int(time.time() * 1000) + NTP_TO_UNIX_MS
        try:
            packet = parse_rtp(unprotect(srtp, data), extension_ids)
        except (pylibsrtp.Error, ValueError):
            return True  # dropped, as aiortc drops it (a replay, a forgery, garbage)
        receiver = dtls._rtp_router.route_rtp(packet)
        if receiver is not None and not deliver(receiver, packet, arrival_time_ms):
            task = asyncio.ensure_future(
                receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)
            )
            _pending.add(task)
            task.add_done_callback(_pending.discard)
        return True

    setattr(connection, HANDLER_ATTRIBUTE, handle)


def uninstall(dtls: RTCDtlsTransport) -> None:
    """Back to aiortc's path (the handler holds the DTLS transport: no cycle left)."""
    connection = dtls.transport._connection
    if getattr(connection, HANDLER_ATTRIBUTE, None) is not None:
        delattr(connection, HANDLER_ATTRIBUTE)


_pending: set[asyncio.Future[None]] = set()
