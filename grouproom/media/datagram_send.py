"""The last two steps of forwarding a packet, once per packet and subscriber:
SRTP protection and the UDP send, with less Python around them than the
libraries' own paths.

- `protect`: pylibsrtp's `Session.protect` allocates a C integer and checks its
  argument on every call before it calls libsrtp; here libsrtp is called with the
  session's own buffer and one length cell made once (the server forwards on one
  thread per process). Measured: about 0.35 µs less per packet (1.37 against
  1.02 µs for 1,100 bytes with AES-GCM).
- `send_datagram`: asyncio's `_SelectorDatagramTransport.sendto` checks its
  arguments and state in Python before it calls the socket; when nothing is
  queued, the socket is called directly (0.4-0.6 µs less per packet). Anything
  else (a full socket buffer, a closing transport, uvloop's transport, whose
  `sendto` is compiled anyway) goes through the transport, which queues and
  reports errors as usual.

Both rely on private parts. pylibsrtp is pinned exactly and hooks.verify_hooks
checks it at start-up; asyncio comes with Python, so the direct send is used only
where asyncio's datagram transport reads as expected (`DIRECT_SEND`), and
otherwise every datagram goes through `transport.sendto`.
"""

from __future__ import annotations

import inspect
from asyncio import selector_events
from typing import Any

from pylibsrtp import Session
from pylibsrtp import _binding as srtp_binding

_ffi = srtp_binding.ffi
_lib = srtp_binding.lib
_SRTP_OK = _lib.srtp_err_status_ok
# Room for libsrtp's trailer (authentication tag and MKI; pylibsrtp's own margins).
_RTP_ROOM = 16 + 128
_length = _ffi.new("int *")


def protect(session: Session, packet: bytes) -> bytes:
    """The SRTP packet for an RTP packet (Session.protect, with fewer steps)."""
    size = len(packet)
    buffer = session._buffer
    if size > len(buffer) - _RTP_ROOM:
        return session.protect(packet)  # raises pylibsrtp's own error
    buffer[0:size] = packet
    _length[0] = size
    status = _lib.srtp_protect(session._srtp[0], session._cdata, _length)
    if status != _SRTP_OK:
        return session.protect(packet)  # the same failure, raised as pylibsrtp.Error
    return buffer[0 : _length[0]]  # type: ignore[no-any-return]


def _selector_transport_as_expected() -> bool:
    transport_class = getattr(selector_events, "_SelectorDatagramTransport", None)
    if transport_class is None:
        return False
    try:
        source = inspect.getsource(transport_class.sendto)
    except (OSError, TypeError):
        return False
    expected = ("self._conn_lost", "if not self._buffer:", "self._sock.sendto(data, addr)")
    return all(part in source for part in expected)


DIRECT_SEND = _selector_transport_as_expected()


def send_datagram(transport: Any, data: bytes, address: tuple[Any, ...]) -> None:
    """transport.sendto(data, address), straight to the socket when asyncio's
    selector transport has nothing queued."""
    sock = getattr(transport, "_sock", None) if DIRECT_SEND else None
    if sock is None or transport._buffer or transport._conn_lost:
        transport.sendto(data, address)
        return
    try:
        sock.sendto(data, address)
    except (BlockingIOError, InterruptedError):
        transport.sendto(data, address)  # queued; asyncio sends it when writable
    except OSError as error:
        transport._protocol.error_received(error)
