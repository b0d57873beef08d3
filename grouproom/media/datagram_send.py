"""The last step of forwarding a packet, once per packet and subscriber: the UDP
send, with less Python around it than asyncio's own path (SRTP is srtp_direct.py).

asyncio's `_SelectorDatagramTransport.sendto` checks its arguments and state in
Python before it calls the socket; when nothing is queued, the socket is called
directly (0.4-0.6 µs less per packet). Anything else (a full socket buffer, a
closing transport, uvloop's transport, whose `sendto` is compiled anyway) goes
through the transport, which queues and reports errors as usual.

This relies on a private part of asyncio, which comes with Python: the direct
send is used only where asyncio's datagram transport reads as expected
(`DIRECT_SEND`); otherwise every datagram goes through `transport.sendto`.
A sender asks once per route which of the two it is (`datagram_sender`): on
uvloop, the default, it then calls the transport's `sendto` itself, without a
Python function around it.
"""

from __future__ import annotations

import functools
import inspect
from asyncio import selector_events
from collections.abc import Callable
from typing import Any

DatagramSender = Callable[[bytes, tuple[Any, ...]], None]


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


def datagram_sender(transport: Any) -> DatagramSender:
    """What sends a datagram on this transport: send_datagram for asyncio's
    selector transport, the transport's own sendto for any other (uvloop's)."""
    if DIRECT_SEND and getattr(transport, "_sock", None) is not None:
        return functools.partial(send_datagram, transport)
    return transport.sendto  # type: ignore[no-any-return]
