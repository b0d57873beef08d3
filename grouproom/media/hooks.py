"""The private parts of aiortc and aioice that the forwarder relies on.

aiortc has no public API for forwarding RTP packets. The forwarder takes over
RTCRtpReceiver and RTCRtpSender objects that RTCPeerConnection creates (see
endpoints.py) and talks to RTCDtlsTransport's internal RTP methods. Those names
can change in any release, so aiortc and aioice are pinned exactly and
`verify_hooks` checks every one of them before the server starts, naming what is
missing instead of failing later in the middle of a session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import struct
from collections.abc import Callable, Sequence
from typing import Any

import aioice.ice
import aiortc
import pylibsrtp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc import rate as aiortc_rate
from aiortc import rtcdtlstransport as aiortc_dtls
from aiortc import rtcrtpreceiver as aiortc_receiver
from aiortc import rtp as aiortc_rtp
from aiortc.exceptions import InvalidStateError
from aiortc.rtcdtlstransport import RTCDtlsTransport

from grouproom.media import udp_mux

AIORTC_VERSION = "1.16.0"
PYLIBSRTP_VERSION = "1.0.0"

# Private attributes of RTCRtpReceiver that serve only its own media pipeline
# (used in __init__ and _handle_rtp_packet, which the forwarder replaces); the
# forwarder drops them (endpoints._drop_unused_parts).
UNUSED_RECEIVER_PARTS = ("jitter_buffer", "nack_generator", "remote_bitrate_estimator")
# aiortc's header extensions, each of which rtp_parse.parse_rtp reads.
PARSED_HEADER_EXTENSIONS = (
    "abs_send_time",
    "audio_level",
    "mid",
    "repaired_rtp_stream_id",
    "rtp_stream_id",
    "transmission_offset",
    "transport_sequence_number",
)


class MissingHookError(RuntimeError):
    """An aiortc/aioice internal the forwarder needs is absent or has changed."""


def _require(condition: bool, hook: str) -> None:
    if not condition:
        raise MissingHookError(
            f"aiortc/aioice internal {hook!r} is missing or changed; grouproom needs "
            f"aiortc=={AIORTC_VERSION} (installed: {aiortc.__version__})"
        )


def _source_contains(function: Callable[..., object], text: str) -> bool:
    try:
        return text in inspect.getsource(function)
    except (OSError, TypeError):
        return False


def verify_static_hooks() -> None:
    """Check module- and class-level hooks (no event loop needed)."""
    _require(
        _source_contains(_original_datagram_received, "data_received("),
        "aioice StunProtocol.datagram_received -> receiver.data_received (datagram guard)",
    )
    _require(
        _source_contains(_original_datagram_received, "request_received(")
        and all(
            hasattr(aioice.ice.Connection, name)
            for name in ("request_received", "respond_error", "_valid_username")
        ),
        "aioice Connection.request_received, respond_error, _valid_username (stays_controlled)",
    )
    _require(
        _source_contains(aioice.ice.Connection.connect, "self.query_consent()")
        and _source_contains(aioice.ice.Connection.close, "self._query_consent_task")
        and _source_contains(aioice.ice.Connection.__init__, "self._nominated")
        and hasattr(aioice.ice.Connection, "build_request"),
        "aioice Connection.connect -> query_consent, _nominated, build_request (keep_consent)",
    )
    _require(
        hasattr(aioice.ice, "get_host_addresses")
        and _source_contains(aioice.ice.Connection.gather_candidates, "get_host_addresses("),
        "aioice.ice.get_host_addresses (looked up by Connection.gather_candidates)",
    )
    for name in ("receive", "stop", "_handle_rtp_packet", "_handle_rtcp_packet", "setTransport"):
        _require(hasattr(RTCRtpReceiver, name), f"RTCRtpReceiver.{name}")
    for name in ("send", "stop", "_handle_rtcp_packet", "setTransport"):
        _require(hasattr(RTCRtpSender, name), f"RTCRtpSender.{name}")
    for name in (
        "_send_rtp",
        "_register_rtp_receiver",
        "_register_rtp_sender",
        "_unregister_rtp_receiver",
        "_unregister_rtp_sender",
    ):
        _require(hasattr(RTCDtlsTransport, name), f"RTCDtlsTransport.{name}")
    _require(
        _source_contains(RTCDtlsTransport._handle_rtp_data, "._handle_rtp_packet("),
        "RTCDtlsTransport._handle_rtp_data -> receiver._handle_rtp_packet",
    )
    _require(
        _source_contains(RTCDtlsTransport._handle_rtcp_data, "._handle_rtcp_packet("),
        "RTCDtlsTransport._handle_rtcp_data -> recipient._handle_rtcp_packet",
    )
    # The direct receive path (direct_receive): what aiortc does with SRTP and SRTCP.
    _require(
        _source_contains(
            _original_datagram_received,
            "self.receiver.data_received(data, self.local_candidate.component)",
        ),
        "aioice StunProtocol.datagram_received -> receiver.data_received(data, component)",
    )
    _require(
        _source_contains(RTCDtlsTransport._recv_next, "self._rx_srtp.unprotect(data)")
        and _source_contains(RTCDtlsTransport._recv_next, "self._rx_srtp.unprotect_rtcp(data)")
        and _source_contains(RTCDtlsTransport._recv_next, "is_rtcp(data)"),
        "RTCDtlsTransport._recv_next -> is_rtcp / self._rx_srtp.unprotect(_rtcp)",
    )
    _require(
        _source_contains(RTCDtlsTransport._handle_rtcp_data, "RtcpPacket.parse(data)")
        and _source_contains(
            RTCDtlsTransport._handle_rtcp_data, "self._rtp_router.route_rtcp(packet)"
        ),
        "RTCDtlsTransport._handle_rtcp_data -> RtcpPacket.parse / _rtp_router.route_rtcp",
    )
    _require(
        _source_contains(
            RTCDtlsTransport._handle_rtp_data,
            "RtpPacket.parse(data, self._rtp_header_extensions_map)",
        )
        and _source_contains(RTCDtlsTransport._handle_rtp_data, "self._rtp_router.route_rtp("),
        "RTCDtlsTransport._handle_rtp_data -> RtpPacket.parse / _rtp_router.route_rtp",
    )
    _require(hasattr(aiortc_rtp, "is_rtcp"), "aiortc.rtp.is_rtcp")
    # rtp_parse.parse_rtp reads the header extensions aiortc knows, with the ids its
    # HeaderExtensionsMap keeps.
    _require(
        tuple(field.name for field in dataclasses.fields(aiortc_rtp.HeaderExtensions))
        == PARSED_HEADER_EXTENSIONS
        and isinstance(
            getattr(aiortc_rtp.HeaderExtensionsMap(), "_HeaderExtensionsMap__ids", None),
            aiortc_rtp.HeaderExtensions,
        ),
        "aiortc HeaderExtensions fields / HeaderExtensionsMap.__ids",
    )
    # The direct send path (ForwardingSender.send_now): SRTP, then the nominated
    # candidate pair's datagram transport.
    _require(
        hasattr(aiortc_dtls, "State") and hasattr(aiortc_dtls.State, "CONNECTED"),
        "aiortc.rtcdtlstransport.State.CONNECTED",
    )
    _require(
        _source_contains(RTCDtlsTransport._send_rtp, "self._tx_srtp.protect("),
        "RTCDtlsTransport._send_rtp -> self._tx_srtp.protect",
    )
    _require(
        _source_contains(aioice.ice.Connection.sendto, "self._nominated.get(")
        and _source_contains(aioice.ice.Connection.sendto, "active_pair.remote_addr"),
        "aioice Connection.sendto -> _nominated[component].protocol / remote_addr",
    )
    _require(
        _source_contains(aioice.ice.StunProtocol.send_data, "self.transport.sendto("),
        "aioice StunProtocol.send_data -> transport.sendto",
    )
    # The connect guard: the task setLocalDescription starts, and the closed flag.
    _require(
        _source_contains(RTCPeerConnection.setLocalDescription, "self.__connect()")
        and _source_contains(_original_connect, "self.__isClosed"),
        "RTCPeerConnection.setLocalDescription -> ensure_future(self.__connect())",
    )
    # The shared media port (udp_mux): how aioice gathers host candidates, routes
    # STUN responses and answers authenticated binding requests.
    _require(
        _source_contains(aioice.ice.Connection.gather_candidates, "self.get_component_candidates(")
        and _source_contains(udp_mux._original_component_candidates, "StunProtocol(self)")
        and hasattr(aioice.ice, "server_reflexive_candidate"),
        "aioice Connection.gather_candidates -> get_component_candidates(component, addresses)",
    )
    _require(
        _source_contains(
            aioice.ice.Connection.local_username.fget,  # type: ignore[attr-defined]
            "self._local_username",
        ),
        "aioice Connection.local_username reads _local_username",
    )
    _require(
        _source_contains(_original_datagram_received, "in self.transactions")
        and _source_contains(aioice.ice.Connection.request_received, "check_message_integrity(")
        and _source_contains(
            aioice.ice.Connection.request_received, "protocol.send_stun(response, addr)"
        ),
        "aioice: responses by transaction id; success sent after the integrity check",
    )
    for name, member in vars(RTCRtpReceiver).items():
        if callable(member) and name not in ("__init__", "_handle_rtp_packet"):
            for part in UNUSED_RECEIVER_PARTS:
                _require(
                    not _source_contains(member, f"self.__{part}"),
                    f"RTCRtpReceiver.__{part} used only by _handle_rtp_packet (not {name})",
                )
    _require(hasattr(aiortc_receiver, "StreamStatistics"), "aiortc.rtcrtpreceiver.StreamStatistics")
    _require(hasattr(aiortc_rate, "RemoteBitrateEstimator"), "aiortc.rate.RemoteBitrateEstimator")
    # bandwidth.LeanOveruseEstimator replaces one step of aiortc's estimator.
    _require(
        _source_contains(
            aiortc_rate.RemoteBitrateEstimator.__init__, "self.estimator = OveruseEstimator()"
        )
        and _source_contains(aiortc_rate.OveruseEstimator.update, "self.update_min_frame_period(")
        and _source_contains(
            aiortc_rate.OveruseEstimator.update_min_frame_period, "MIN_FRAME_PERIOD_HISTORY_LENGTH"
        ),
        "aiortc RemoteBitrateEstimator.estimator: an OveruseEstimator with update_min_frame_period",
    )
    # bandwidth.LeanBitrateEstimator does aiortc's step per packet on the same state.
    _require(
        _source_contains(
            aiortc_rate.RemoteBitrateEstimator.add, "self.inter_arrival.compute_deltas("
        )
        and _source_contains(
            aiortc_rate.InterArrival.compute_deltas, "self.previous_group = self.current_group"
        )
        and _source_contains(aiortc_rate.OveruseEstimator.update, "self.E[1][1] += 10 *")
        and _source_contains(aiortc_rate.AimdRateControl.feedback_interval, "return 500")
        and _source_contains(aiortc_rate.OveruseDetector.state, "return self.hypothesis"),
        "aiortc RemoteBitrateEstimator.add: rate counter, InterArrival groups, Kalman filter",
    )
    for name in ("pack_remb_fci", "unpack_remb_fci", "RtcpSrPacket", "RtcpRrPacket"):
        _require(hasattr(aiortc_rtp, name), f"aiortc.rtp.{name}")
    # srtp_direct: libsrtp called with the session's own buffer.
    _require(pylibsrtp.__version__ == PYLIBSRTP_VERSION, f"pylibsrtp version {PYLIBSRTP_VERSION}")
    _require(
        _source_contains(pylibsrtp.Session.protect, "lib.srtp_protect")
        and _source_contains(pylibsrtp.Session.unprotect, "lib.srtp_unprotect")
        and hasattr(pylibsrtp._binding.lib, "srtp_err_status_ok"),
        "pylibsrtp Session.(un)protect -> lib.srtp_(un)protect(self._srtp[0], self._cdata, ...)",
    )


async def verify_instance_hooks() -> None:
    """Check the attributes that exist only on live objects."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        transceiver = pc.addTransceiver("audio", direction="sendonly")
        sender = transceiver.sender
        receiver = transceiver.receiver
        for name in ("_ssrc", "_stream_id"):
            _require(hasattr(sender, name), f"RTCRtpSender.{name}")
        video_receiver = pc.addTransceiver("video", direction="recvonly").receiver
        for name in UNUSED_RECEIVER_PARTS:
            _require(
                getattr(video_receiver, f"_RTCRtpReceiver__{name}", None) is not None,
                f"RTCRtpReceiver.__{name}",
            )
        _require(
            isinstance(getattr(transceiver, "_codecs", None), list), "RTCRtpTransceiver._codecs"
        )
        dtls = receiver.transport
        for name in ("_rtp_header_extensions_map", "_state", "_tx_srtp", "_rx_srtp", "_rtp_router"):
            _require(hasattr(dtls, name), f"RTCDtlsTransport.{name}")
        # A REMB's share per stream (ForwardingSender._share_of) counts the senders it lists.
        _require(isinstance(getattr(dtls._rtp_router, "senders", None), dict), "RtpRouter.senders")
        # The compiled receive step routes by these two tables as route_rtp does first.
        for name in ("ssrc_table", "payload_type_table"):
            _require(isinstance(getattr(dtls._rtp_router, name, None), dict), f"RtpRouter.{name}")
        session = pylibsrtp.Session()
        for name in ("_buffer", "_cdata", "_srtp"):
            _require(hasattr(session, name), f"pylibsrtp.Session.{name}")

        _require(hasattr(dtls.transport, "_connection"), "RTCIceTransport._connection")
        connection = dtls.transport._connection
        _require(
            isinstance(getattr(connection, "_nominated", None), dict),
            "aioice Connection._nominated",
        )
    finally:
        await pc.close()


async def verify_hooks() -> None:
    """Every hook the forwarder relies on; raises MissingHookError naming the first
    one that is absent."""
    _require(aiortc.__version__ == AIORTC_VERSION, f"aiortc version {AIORTC_VERSION}")
    verify_static_hooks()
    await verify_instance_hooks()


def check_hooks() -> None:
    """verify_hooks for code that runs outside an event loop (the CLI)."""
    asyncio.run(verify_hooks())


_original_get_host_addresses = aioice.ice.get_host_addresses


def install_host_addresses(addresses: Sequence[str]) -> None:
    """Make aioice offer exactly `addresses` as host candidates (loopback included,
    which aioice otherwise leaves out). An empty sequence restores aioice's own
    choice of every non-loopback address. This is process-wide."""
    chosen = tuple(addresses)
    if not chosen:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return

    def configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            address
            for address in chosen
            if (":" in address and use_ipv6) or (":" not in address and use_ipv4)
        ]

    aioice.ice.get_host_addresses = configured_host_addresses


_original_datagram_received = aioice.ice.StunProtocol.datagram_received
# Where direct_receive keeps its handler on an aioice Connection (same name there).
DIRECT_RTP_HANDLER = "_grouproom_direct_rtp"
# pylibsrtp unprotects in a buffer of this many bytes and raises ValueError (not its
# own Error, which aiortc catches) for a longer packet.
SRTP_BUFFER_BYTES = 1500


def _harmful(data: bytes | str) -> bool:
    """A datagram that would end aiortc's DTLS transport instead of being dropped:
    empty (it reads the first byte of every datagram that is not STUN), or
    SRTP-looking (first byte 128-191) and longer than pylibsrtp's buffer."""
    if not data:
        return True
    return 127 < data[0] < 192 and len(data) > SRTP_BUFFER_BYTES  # type: ignore[operator]


def _guarded_datagram_received(
    self: aioice.ice.StunProtocol, data: bytes | str, addr: tuple[Any, ...]
) -> None:
    if _harmful(data):
        return
    if isinstance(data, bytes) and 127 < data[0] < 192:
        # RTP or RTCP (RFC 7983), never STUN: what aioice does after its STUN parse
        # fails, without the attempt; the forwarder's own connections take RTP
        # directly (direct_receive).
        direct = getattr(self.receiver, DIRECT_RTP_HANDLER, None)
        if direct is None or not direct(data):
            self.receiver.data_received(data, self.local_candidate.component)
        return
    try:
        _original_datagram_received(self, data, addr)
    except (struct.error, KeyError):
        # aioice's STUN parser raises struct.error (not ValueError) for an attribute
        # too short for its type, and its check handling KeyError for an
        # authenticated binding request without PRIORITY; asyncio would log each
        # such datagram at ERROR.
        return


def install_datagram_guard() -> None:
    """Drop the UDP datagrams that would end a participant's media connection
    (`_harmful`) before aioice hands them on, and malformed STUN that aioice fails
    to parse with struct.error. Anybody who can reach a media port can
    send them: without the guard, one empty datagram cut a member off. This is
    process-wide and idempotent."""
    aioice.ice.StunProtocol.datagram_received = _guarded_datagram_received  # type: ignore[method-assign]


_original_connect = RTCPeerConnection._RTCPeerConnection__connect  # type: ignore[attr-defined]


async def _connect_until_closed(self: RTCPeerConnection) -> None:
    """aiortc's __connect, which setLocalDescription starts as a task of its own
    and nobody awaits. It checks for a closed connection only before its loop over
    the transceivers: a participant who leaves while that loop waits (their
    connection closed by the forwarder) made the next `RTCIceTransport.start`
    raise InvalidStateError, logged as "Task exception was never retrieved" with a
    traceback that kept the connection alive in the log record."""
    try:
        await _original_connect(self)
    except InvalidStateError:
        if not self._RTCPeerConnection__isClosed:  # type: ignore[attr-defined]
            raise


def install_connect_guard() -> None:
    """Let a connection closed while it connects end quietly. Process-wide and
    idempotent."""
    RTCPeerConnection._RTCPeerConnection__connect = _connect_until_closed  # type: ignore[attr-defined]
