"""Which steps forward a packet: the compiled ones or Python.

`_copy_step.c` repeats, for the usual case, what `Publication.forward` does for
each subscription through `Subscription.forward` (the munger, the PictureID, the
header, SRTP and the send), reading and writing the same attributes; every other
case it hands to the Python code, which stays the reference. It also holds the
receive side, made the same way: the media socket's step (`mux_handler`),
direct_receive's handler for an RTP datagram (`receive_handler`) and the
publication's step that handler calls (docs/media.md, "The compiled receive
step"). It is built when
grouproom is installed with a C compiler at hand (setup.py; optional), and used
unless `GROUPROOM_COPY_STEP=python` (`use`, at start-up; until then, and in
tests and benchmarks, "auto"). A module built from another version of the source
than the one beside it is not used.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from aiortc import rate as aiortc_rate
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import HeaderExtensions, RtpPacket
from pylibsrtp import Error as SrtpError
from pylibsrtp import Session
from pylibsrtp import _binding as srtp_binding

from grouproom.media.bandwidth import LeanBitrateEstimator, LeanOveruseEstimator
from grouproom.media.contract import COPY_STEPS
from grouproom.media.srtp_direct import handle_of

if TYPE_CHECKING:
    from grouproom.media.publication import ForwardedPacket
    from grouproom.media.subscription import Subscription

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_copy_step.c")
# What _copy_step.c calls (libsrtp 2's srtp_protect and srtp_unprotect, as
# pylibsrtp 1.0 links them).
SRTP_PROTECT_TYPE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"

ForwardCopies = Callable[[list["Subscription"], "ForwardedPacket", float], None]
# The compiled handler of direct_receive for one connection's state.
ReceiveHandler = Callable[[Any], Callable[[bytes], bool]]
# The compiled datagram_received of a udp_mux.SharedSocket.
MuxHandler = Callable[[Any], Callable[[bytes, tuple[Any, ...]], None]]


class CopyStepUnavailable(RuntimeError):
    """GROUPROOM_COPY_STEP=compiled, and the compiled step cannot be used."""


def source_hash() -> str | None:
    try:
        return hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    except OSError:
        return None  # installed without its source: nothing to compare with


def load_compiled() -> tuple[ModuleType | None, str]:
    """The compiled module, configured, or None; and why not."""
    try:
        from grouproom.media import _copy_step  # type: ignore[attr-defined]
    except ImportError:
        return None, "not built (no C compiler when grouproom was installed)"
    expected = source_hash()
    if expected is not None and _copy_step.SOURCE_HASH != expected:
        return None, "built from another version of _copy_step.c (reinstall grouproom)"
    ffi, lib = srtp_binding.ffi, srtp_binding.lib
    addresses = []
    for name in ("srtp_protect", "srtp_unprotect"):
        function = ffi.addressof(lib, name)
        if ffi.typeof(function) is not ffi.typeof(SRTP_PROTECT_TYPE):
            # libsrtp 3 changed the call: the compiled step would call it wrongly.
            return None, f"written for another {name} than pylibsrtp's ({ffi.typeof(function)})"
        addresses.append(int(ffi.cast("uintptr_t", function)))
    _copy_step.configure(addresses[0], int(lib.srtp_err_status_ok), DtlsState.CONNECTED, SrtpError)
    _copy_step.configure_receive(addresses[1], RtpPacket, HeaderExtensions)
    _copy_step.configure_estimator(
        LeanBitrateEstimator,
        LeanOveruseEstimator,
        aiortc_rate.OveruseDetector,
        aiortc_rate.TimestampGroup,
        aiortc_rate.BandwidthUsage.NORMAL,
        aiortc_rate.BandwidthUsage.OVERUSING,
        aiortc_rate.BandwidthUsage.UNDERUSING,
        aiortc_rate.BURST_DELTA_THRESHOLD_MS,
        aiortc_rate.TIMESTAMP_TO_MS,
        aiortc_rate.DELTA_COUNTER_MAX,
        aiortc_rate.MIN_FRAME_PERIOD_HISTORY_LENGTH,
        aiortc_rate.MIN_NUM_DELTAS,
        aiortc_rate.MAX_ADAPT_OFFSET_MS,
    )
    return _copy_step, "compiled"


def choose(setting: str) -> tuple[ForwardCopies | None, str]:
    """What forwards the copies for a GROUPROOM_COPY_STEP value (None: Python's
    loop over Subscription.forward), and a line saying which."""
    if setting not in COPY_STEPS:
        raise ValueError(f"copy step must be auto, compiled or python, not {setting!r}")
    if setting == "python":
        return None, "python (GROUPROOM_COPY_STEP=python)"
    module, why = load_compiled()
    if module is None:
        if setting == "compiled":
            raise CopyStepUnavailable(f"the compiled copy step is {why}")
        return None, f"python: the compiled step is {why}"
    return module.forward_copies, "compiled"


def receive_handler_for(forward: ForwardCopies | None) -> ReceiveHandler | None:
    """The compiled receive step that goes with a copy step `choose` gave (None
    with Python's)."""
    if forward is None:
        return None
    from grouproom.media import _copy_step  # type: ignore[attr-defined]

    handler: ReceiveHandler = _copy_step.receive_handler
    return handler


def mux_handler_for(forward: ForwardCopies | None) -> MuxHandler | None:
    """The compiled media-socket step that goes with a copy step `choose` gave
    (None with Python's, and before `register` configured it)."""
    if forward is None:
        return None
    from grouproom.media import _copy_step  # type: ignore[attr-defined]

    if not _copy_step.mux_configured():
        return None
    handler: MuxHandler = _copy_step.mux_handler
    return handler


# Publication.forward calls this when it is not None.
forward_copies, description = choose("auto")
# direct_receive.install binds this to each connection when it is not None.
receive_handler = receive_handler_for(forward_copies)
# udp_mux.SharedSocket binds this to itself when it is not None.
mux_handler = mux_handler_for(forward_copies)


def use(setting: str) -> str:
    """Forward with what `setting` chooses (GROUPROOM_COPY_STEP); a line saying
    which, for the start-up banner. CopyStepUnavailable for "compiled" without it."""
    global forward_copies, description, receive_handler, mux_handler
    # The steps work on the forwarder's classes, which endpoints registers when
    # imported; the server opens its media socket before any room would import it.
    import grouproom.media.endpoints  # noqa: F401

    forward_copies, description = choose(setting)
    receive_handler = receive_handler_for(forward_copies)
    mux_handler = mux_handler_for(forward_copies)
    logger.info("copies of each forwarded packet: %s", description)
    return description


def register(
    subscription: type,
    munger: type,
    picture_ids: type,
    route: type,
    writer: type,
    send_state: type,
    receive: type,
    budget: type,
    muxed_protocol: type,
    publication: type,
    forwarded: type,
    forwarding_receiver: type,
) -> None:
    """The classes the compiled steps work with (endpoints.py names them): it
    makes the copies of `subscription` objects only (any other object in a
    publication's list, a subclass too, gets its own forward()), takes from the
    budget of `budget` objects only (others: Python's steps), hands SRTP from
    the media socket straight to `muxed_protocol` connections only, takes a
    packet for `publication` objects (of a `forwarding_receiver`) making
    `forwarded` objects, and reads the attributes of these classes' objects at
    their place (they have __slots__)."""
    global mux_handler
    _copy_step, _ = load_compiled()
    if _copy_step is None:
        return  # not built, or built from another source: Python's steps
    from grouproom.media import fan_out
    from grouproom.media.hooks import DIRECT_RTP_HANDLER, SRTP_BUFFER_BYTES

    _copy_step.configure_mux(muxed_protocol, DIRECT_RTP_HANDLER, SRTP_BUFFER_BYTES)
    _copy_step.configure_publication(
        publication, forwarding_receiver, forwarded, fan_out.LIMIT, sys.modules[__name__]
    )
    mux_handler = mux_handler_for(forward_copies)
    _copy_step.set_classes(
        subscription=subscription,
        munger=munger,
        picture_ids=picture_ids,
        route=route,
        writer=writer,
        send_state=send_state,
        receive=receive,
        budget=budget,
        forwarded=forwarded,
    )


def route_handles(
    transport: Any, session: Session, address: tuple[Any, ...]
) -> tuple[int, bytes, int]:
    """What the compiled step needs of a direct route: the socket's file
    descriptor (-1: none), the remote address as sendto takes it (b"": one the
    compiled step does not send to) and libsrtp's handle of the session."""
    if forward_copies is None:
        return -1, b"", 0
    from grouproom.media import _copy_step  # type: ignore[attr-defined]

    try:
        fd = int(transport.get_extra_info("socket").fileno())
    except (AttributeError, OSError, TypeError, ValueError):
        fd = -1
    host, port = address[0], address[1]
    sockaddr = _copy_step.pack_address(host, port) if isinstance(host, str) else b""
    return fd, sockaddr, handle_of(session)
