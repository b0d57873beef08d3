"""A participant's RTP and RTCP, handled in the UDP datagram callback itself.

aiortc's receive path for one RTP datagram: aioice first tries to parse it as STUN
(and fails with an exception), puts it on the connection's queue, wakes the DTLS
transport's task, which takes it off the queue on the next turn of the event loop
and passes it down five nested coroutines to the receiver. For a server that
receives every member's audio and video, that path was about half of what
receiving costs. The bench's hidden scenario (nothing forwarded but audio) showed
receiving at about 60 µs of CPU per incoming datagram, a third of the server's
CPU in a 12-member grid. RTCP took the same path: in a 12-member grid about 300
compound packets a second (each browser reports on each stream it receives and
sends, about once a second), and a subscriber's NACK waited a turn of the event
loop before its retransmission went out.

For the peer connections of the forwarder (and only those: `install` marks their
ICE connection once a receiver or sender starts), hooks._guarded_datagram_received
hands every SRTP and SRTCP datagram (first byte 128-191, RFC 7983; never STUN) to
the handler made here, which does what aiortc's `RTCDtlsTransport._recv_next`,
`_handle_rtp_data` and `_handle_rtcp_data` do, synchronously. RTP: unprotect
(srtp_direct.py), parse (rtp_parse.py), route by SSRC and payload type, and give
the packet to the ForwardingReceiver. RTCP: unprotect, parse the compound packet,
route each part as aiortc does, and give it to the ForwardingSender or
ForwardingReceiver it concerns. DTLS keeps aiortc's path, as does everything
before the DTLS handshake has made the SRTP session.

With the compiled steps (copy_step.py), an RTP datagram's usual case (a source
already known, within budget, an SSRC and payload type the router has
registered) is handled in C (`_copy_step.c`: the receive step, then the
publication step for a ForwardingReceiver's publication) over the same state,
`DirectReceiveState`; everything else it hands to the Python functions here,
which stay the reference (docs/media.md, "The compiled receive step").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import RtcpPacket, RtpPacket, is_rtcp

from grouproom.media import copy_step
from grouproom.media.hooks import DIRECT_RTP_HANDLER as HANDLER_ATTRIBUTE
from grouproom.media.incoming_budget import IncomingBudget
from grouproom.media.rtp_parse import negotiated_ids, parse_rtp
from grouproom.media.srtp_direct import handle_of, unprotect

logger = logging.getLogger(__name__)

# aiortc's clock counts milliseconds from the NTP epoch (1900), time.time() from
# 1970: the same clock, this far apart. Arrival times must match aiortc's, which
# the bitrate estimator compares with those of packets that took aiortc's path.
NTP_TO_UNIX_MS = 2_208_988_800_000

# The sources (SSRCs) one connection may send SRTP and SRTCP under: two per
# stream negotiated on it (a browser sends under one SSRC per microphone and
# camera, and Firefox reports on each stream it receives under an SSRC of that
# m-line's own) and this many more. libsrtp keeps a stream (crypto state, replay
# window) for every SSRC it has authenticated a packet of, and aiortc's router
# learns every SSRC whose payload type it knows: without a bound, one participant
# sending under ever new SSRCs would grow both for as long as the connection
# lasts (and libsrtp looks streams up in a list).
SPARE_SOURCES = 16

Deliver = Callable[[Any, RtpPacket, int], bool]
DeliverRtcp = Callable[[Any, Any], bool]


def source_limit(dtls: RTCDtlsTransport) -> int:
    """How many SSRCs the connection of `dtls` may send under (SPARE_SOURCES)."""
    router = dtls._rtp_router
    return SPARE_SOURCES + 2 * (len(router.receivers) + len(router.senders))


class DirectReceiveState:
    """What the handler of one connection works with. The compiled receive step
    (copy_step.receive_handler, from _copy_step.c) reads it in place and calls
    its Python functions for every case but the usual one; the Python handler
    is `handle`, whose steps after SRTP are `after_unprotect`."""

    __slots__ = (
        "after_unprotect",
        "budget",
        "deliver",
        "deliver_later",
        "dtls",
        "handle",
        "ids",
        "payload_type_table",
        "route_and_deliver",
        "session",
        "sources",
        "srtp_handle",
        "ssrc_table",
    )

    def __init__(
        self,
        dtls: RTCDtlsTransport,
        budget: IncomingBudget | None,
        deliver: Deliver,
        handle: Callable[[bytes], bool],
        after_unprotect: Callable[[bytes, int], bool],
        route_and_deliver: Callable[[RtpPacket, int], None],
    ) -> None:
        self.dtls = dtls
        # The SRTP session the Python handler last unprotected with, and
        # libsrtp's handle of it: the compiled step takes over from then on.
        self.session: pylibsrtp.Session | None = None
        self.srtp_handle = 0
        # The SSRCs the connection sends under (at most max_sources).
        self.sources: set[int] = set()
        self.budget = budget
        # Updated in place as aiortc negotiates (one object per DTLS transport).
        self.ids = negotiated_ids(dtls._rtp_header_extensions_map)
        router = dtls._rtp_router
        self.ssrc_table = router.ssrc_table
        self.payload_type_table = router.payload_type_table
        self.deliver = deliver
        self.deliver_later = _deliver_later
        self.handle = handle
        self.after_unprotect = after_unprotect
        self.route_and_deliver = route_and_deliver


def _deliver_later(receiver: Any, packet: RtpPacket, arrival_time_ms: int) -> None:
    """A receiver `deliver` does not serve gets the packet as aiortc gives it."""
    _in_task(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms))


def install(
    dtls: RTCDtlsTransport,
    deliver: Deliver,
    deliver_rtcp: DeliverRtcp | None = None,
    max_sources: Callable[[RTCDtlsTransport], int] | None = source_limit,
    budget: IncomingBudget | None = None,
) -> None:
    """Handle the SRTP (and, with `deliver_rtcp`, the SRTCP) that arrives on
    `dtls`'s ICE connection directly. `deliver(receiver, packet, arrival_time_ms)`
    takes a routed RTP packet and `deliver_rtcp(recipient, packet)` one RTCP
    packet of a compound one; each says whether the recipient was one it serves
    (any other gets the packet the way aiortc gives it, in a task). Without
    `deliver_rtcp`, RTCP keeps aiortc's path. Packets under more SSRCs than
    `max_sources` allows are dropped (None: no bound), and so are SRTP and
    SRTCP packets beyond `budget` (None: no budget). RTP takes the compiled
    receive step when there is one (copy_step.receive_handler). Idempotent per
    connection."""
    connection = dtls.transport._connection
    if getattr(connection, HANDLER_ATTRIBUTE, None) is not None:
        return
    warned = False  # whether the bound was reported (once per connection)

    def new_source_refused(srtp: pylibsrtp.Session, ssrc: int) -> bool:
        """Whether a packet under `ssrc` (just unprotected) is one source too
        many for this connection: then libsrtp's stream for it is removed again."""
        nonlocal warned
        if ssrc in sources:
            return False
        if max_sources is None or len(sources) < max_sources(dtls):
            sources.add(ssrc)
            return False
        try:
            srtp.remove_stream(ssrc)
        except pylibsrtp.Error:
            pass  # no stream of its own (never the case after a successful unprotect)
        if not warned:
            warned = True
            logger.warning(
                "participant %s's connection sent under more than %d SSRCs; "
                "packets of further ones are dropped",
                budget.owner if budget is not None else "?",
                len(sources),
            )
        return True

    def over_budget(size: int) -> bool:
        """Whether an authenticated datagram of `size` bytes is beyond the
        connection's budget (then it is dropped). Charged after SRTP: datagrams
        that fail it (someone else's, sent under the member's address) must not
        use up the member's budget."""
        if budget is None or budget.allows(size, time.monotonic()):
            return False
        if budget.dropped == 1:
            logger.warning(
                "participant %s's connection sent more than its allowance "
                "(%d bytes, %d datagrams a second); the excess is dropped",
                budget.owner,
                budget.bytes_per_second,
                budget.datagrams_per_second,
            )
        return True

    def handle_rtcp(srtp: pylibsrtp.Session, data: bytes) -> None:
        assert deliver_rtcp is not None
        try:
            data = srtp.unprotect_rtcp(data)
        except (pylibsrtp.Error, ValueError):
            return  # dropped, as aiortc drops it
        # libsrtp keys SRTCP by the first packet's sender SSRC.
        if new_source_refused(srtp, int.from_bytes(data[4:8], "big")) or over_budget(len(data)):
            return
        try:
            packets = RtcpPacket.parse(data)
        except ValueError:
            return  # dropped, as aiortc drops it
        router = dtls._rtp_router
        for packet in packets:
            for recipient in router.route_rtcp(packet):
                if not deliver_rtcp(recipient, packet):
                    _in_task(recipient._handle_rtcp_packet(packet))

    def handle(data: bytes) -> bool:
        srtp = dtls._rx_srtp
        if srtp is None or dtls._state is not DtlsState.CONNECTED:
            return False  # aiortc's own path
        if is_rtcp(data):
            if deliver_rtcp is None:
                return False
            handle_rtcp(srtp, data)
            return True
        arrival_time_ms = int(time.time() * 1000) + NTP_TO_UNIX_MS
        try:
            data = unprotect(srtp, data)
        except (pylibsrtp.Error, ValueError):
            return True  # dropped, as aiortc drops it (a replay, a forgery)
        if state.session is not srtp:
            state.srtp_handle = handle_of(srtp)
            state.session = srtp
        return after_unprotect(data, arrival_time_ms)

    def after_unprotect(data: bytes, arrival_time_ms: int) -> bool:
        srtp = dtls._rx_srtp
        if new_source_refused(srtp, int.from_bytes(data[8:12], "big")) or over_budget(len(data)):
            return True
        try:
            packet = parse_rtp(data, extension_ids)
        except ValueError:
            return True  # dropped: malformed
        route_and_deliver(packet, arrival_time_ms)
        return True

    def route_and_deliver(packet: RtpPacket, arrival_time_ms: int) -> None:
        receiver = dtls._rtp_router.route_rtp(packet)
        if receiver is not None and not deliver(receiver, packet, arrival_time_ms):
            _deliver_later(receiver, packet, arrival_time_ms)

    state = DirectReceiveState(dtls, budget, deliver, handle, after_unprotect, route_and_deliver)
    sources = state.sources
    extension_ids = state.ids
    compiled = copy_step.receive_handler
    setattr(connection, HANDLER_ATTRIBUTE, handle if compiled is None else compiled(state))


def uninstall(dtls: RTCDtlsTransport) -> None:
    """Back to aiortc's path (the handler holds the DTLS transport: no cycle left)."""
    connection = dtls.transport._connection
    if getattr(connection, HANDLER_ATTRIBUTE, None) is not None:
        delattr(connection, HANDLER_ATTRIBUTE)


_pending: set[asyncio.Future[None]] = set()


def _in_task(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a recipient's handler the way aiortc would, in a task kept until done."""
    task = asyncio.ensure_future(coroutine)
    _pending.add(task)
    task.add_done_callback(_pending.discard)
