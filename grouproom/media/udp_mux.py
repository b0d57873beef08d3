"""One UDP port for the media of every participant (per ICE address).

aioice opens a socket on a port the kernel picks for every peer connection, so a
firewall in front of the server has to let a whole range of ports through, and a
container cannot publish its media at all without host networking. Here each
process opens one socket per ICE address, on a configured port
(`GROUPROOM_MEDIA_PORT`), and every participant's ICE connection offers that
socket as its host candidate, as mediasoup's WebRtcServer and LiveKit's UDP mux
do. Incoming datagrams are told apart by what the ICE exchange proved:

- a STUN binding request names the connection it is for in its USERNAME
  (`local ufrag:remote ufrag`, RFC 8445 section 7.2.2), and goes to it; aioice
  then checks its MESSAGE-INTEGRITY with the connection's password;
- a STUN response goes to the connection whose transaction it answers (96 random
  bits of transaction id);
- anything else (DTLS, SRTP, SRTCP) goes to the connection that an
  authenticated check proved the sender's address belongs to: the address is
  learnt when aioice answers a binding request with success (it does so only
  after the integrity check) or when a response to one of the connection's own
  checks arrives. A datagram from an address no check proved is dropped and
  counted.

The server answers every offer, so its ICE agent is always the controlled one, and
stays so (`stays_controlled`): an authenticated request that claims the controlled
role is refused with 487, as mediasoup (ICE Lite, always controlled) does.

A newer connection that proves an address takes it over (a client port that was
used by a connection now closed). A closing connection gives its addresses up;
the shared socket stays open for the others.

Only the forwarder's own connections use the mux (`attach`): other aiortc peers
in the same process (tests, the bench's bots) keep aioice's socket per
connection. The connection's other steps (checks, nomination) are aioice's own, on
a protocol object that sends through the shared socket; consent freshness is
consent.py's, which a slow line keeps.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import logging
import socket
from asyncio import selector_events
from collections.abc import Callable, Sequence
from typing import Any, cast

import aioice.ice
from aioice import stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.utils import random_string

from grouproom.media import copy_step
from grouproom.media.consent import keep_consent

logger = logging.getLogger(__name__)

# Where the mux is kept on an aioice Connection that should use it.
MUX_ATTRIBUTE = "_grouproom_udp_mux"
# Socket buffers asked for: one socket now carries the bursts of every participant
# (a 12-member room forwards a keyframe as ~450 datagrams within a few ms). The
# kernel caps them at net.core.rmem_max / wmem_max unless the process may force
# them (root).
SOCKET_BUFFER_BYTES = 4 * 2**20
# Datagrams read per wake-up on asyncio's selector loop (what libuv, under uvloop,
# reads per poll), and the largest one (UDP's limit; asyncio's transport reads up to
# 256 KiB).
READ_BATCH = 32
MAX_DATAGRAM_BYTES = 65536
_SELECTOR_DATAGRAM_TRANSPORT: type = getattr(
    selector_events, "_SelectorDatagramTransport", type(None)
)
STUN_MAGIC_COOKIE = b"\x21\x12\xa4\x42"
STUN_HEADER_BYTES = 20
STUN_USERNAME = 0x0006
# The class bits of a STUN message type (RFC 5389 section 6).
STUN_CLASS_MASK = 0x0110
STUN_REQUEST = 0x0000
STUN_INDICATION = 0x0010


class MediaPortError(OSError):
    """The media port cannot be opened (in use, or an address that is not ours)."""


def stun_username(data: bytes) -> str | None:
    """The USERNAME attribute of a STUN message, or None."""
    end = min(len(data), STUN_HEADER_BYTES + int.from_bytes(data[2:4], "big"))
    position = STUN_HEADER_BYTES
    while position + 4 <= end:
        attribute = int.from_bytes(data[position : position + 2], "big")
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if attribute == STUN_USERNAME:
            if position + 4 + length > end:
                return None
            return data[position + 4 : position + 4 + length].decode("utf-8", "replace")
        position += 4 + length + (-length % 4)
    return None


def is_stun(data: bytes) -> bool:
    """RFC 7983: first byte 0-3, and RFC 5389's magic cookie."""
    return len(data) >= STUN_HEADER_BYTES and data[0] < 4 and data[4:8] == STUN_MAGIC_COOKIE


def stays_controlled(
    connection: aioice.ice.Connection,
    request_received: Callable[[stun.Message, tuple[str, int], Any], None],
    message: stun.Message,
    addr: tuple[str, int],
    protocol: Any,
) -> None:
    """aioice's `request_received`, except that the server never becomes controlling.

    A request that proves the ICE password (from any address) and carries
    ICE-CONTROLLED with a tie-breaker no larger than ours made aioice switch to the
    controlling role (RFC 8445 section 7.3.1.1), also long after the connection was
    up: both ends then claimed control, and the server's consent checks carried
    ICE-CONTROLLING to a browser that controls too. Refused with 487 instead, a
    peer that really is controlled switches roles itself."""
    if (
        not connection.ice_controlling
        and "ICE-CONTROLLED" in message.attributes
        and message.message_method == stun.Method.BINDING
        and "USERNAME" in message.attributes
        and "MESSAGE-INTEGRITY" in message.attributes
        and connection._valid_username(message.attributes["USERNAME"])
        and message.check_message_integrity(connection.local_password.encode("utf8"))
    ):
        connection.respond_error(message, addr, protocol, (487, "Role Conflict"))
        return
    request_received(message, addr, protocol)


class MuxedProtocol(aioice.ice.StunProtocol):
    """aioice's per-connection protocol, sending through a shared socket."""

    def __init__(self, connection: aioice.ice.Connection, shared: SharedSocket) -> None:
        super().__init__(connection)
        self.shared = shared
        assert shared.transport is not None
        self.transport = shared.transport

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        if message.message_class == stun.Class.RESPONSE:
            # aioice answers with success only after checking MESSAGE-INTEGRITY.
            self.shared.learn(addr, self)
        super().send_stun(message, addr)

    async def close(self) -> None:
        """Leave the shared socket (which stays open for the other connections)."""
        self.shared.forget(self)
        self.connection_lost(None)


class SharedSocket(asyncio.DatagramProtocol):
    """One UDP socket on one ICE address, and the connections that use it."""

    def __init__(self, sock: socket.socket, announced: str | None = None) -> None:
        self.sock = sock
        # Where the socket is bound, and the address its candidate names (another
        # one behind a NAT that forwards the port, e.g. a container's published port).
        self.address: tuple[str, int] = sock.getsockname()[:2]
        self.candidate_host = announced or self.address[0]
        self.transport: asyncio.DatagramTransport | None = None
        self.by_address: dict[tuple[Any, ...], MuxedProtocol] = {}
        self.by_ufrag: dict[str, MuxedProtocol] = {}
        self.protocols: set[MuxedProtocol] = set()
        self.dropped = 0
        self.reads_one_at_a_time = False  # asyncio's selector transport (set when made)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the connections --------------------------------------------------------

    def join(self, connection: aioice.ice.Connection, component: int) -> MuxedProtocol:
        protocol = MuxedProtocol(connection, self)
        host, port = self.candidate_host, self.address[1]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        self.protocols.add(protocol)
        self.by_ufrag[connection.local_username] = protocol
        return protocol

    def learn(self, addr: tuple[Any, ...], protocol: MuxedProtocol) -> None:
        if protocol in self.protocols:
            self.by_address[(addr[0], addr[1])] = protocol

    def forget(self, protocol: MuxedProtocol) -> None:
        self.protocols.discard(protocol)
        for ufrag in [u for u, p in self.by_ufrag.items() if p is protocol]:
            del self.by_ufrag[ufrag]
        for addr in [a for a, p in self.by_address.items() if p is protocol]:
            del self.by_address[addr]

    # -- datagrams --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's own datagram transport does not inherit DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.reads_one_at_a_time = isinstance(transport, _SELECTOR_DATAGRAM_TRANSPORT)
        # Whatever reaches this socket goes to aioice's protocols: the guard
        # against datagrams that would end a connection goes with it. The server
        # opens its media port at start-up, before any forwarder (which installed
        # the guard before): its socket then kept the Python step.
        from grouproom.media.hooks import install_datagram_guard

        install_datagram_guard()
        compiled = copy_step.mux_handler
        step = "Python's"
        if compiled is not None and not self.reads_one_at_a_time and _guard_installed():
            # SRTP from a learnt address straight to its connection's direct
            # handler, in C (copy_step.py); what it does not take, _route takes.
            setattr(self, "datagram_received", compiled(self))  # noqa: B010
            step = "the compiled"
        logger.info("media socket %s port %d: SRTP through %s step", *self.address, step)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._route(data, addr)
        if not self.reads_one_at_a_time:
            return
        # asyncio's selector transport reads one datagram per turn of the event loop
        # (uvloop reads up to 32). A busy loop then fell behind the socket: in the
        # UDP fuzz test on a loaded machine 1.9 MB of its buffer was taken, and the
        # consent checks behind the junk were answered too late, for 30 s, until
        # consent expired. Read what else is waiting, as uvloop does.
        for _ in range(READ_BATCH - 1):
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self.error_received(error)
                return
            self._route(data, addr)

    def _route(self, data: bytes, addr: tuple[Any, ...]) -> None:
        addr = (addr[0], addr[1])
        protocol = self.by_address.get(addr)
        if protocol is None or (data[:1] < b"\x04" and is_stun(data)):
            protocol = self._stun_destination(data, addr)
            if protocol is None:
                self.dropped += 1
                return
        protocol.datagram_received(data, addr)

    def _stun_destination(self, data: bytes, addr: tuple[Any, ...]) -> MuxedProtocol | None:
        if not is_stun(data):
            return None
        kind = int.from_bytes(data[0:2], "big") & STUN_CLASS_MASK
        if kind == STUN_REQUEST:
            username = stun_username(data)
            if username is None:
                return self.by_address.get(addr)
            return self.by_ufrag.get(username.partition(":")[0])
        if kind == STUN_INDICATION:
            return self.by_address.get(addr)
        transaction_id = data[8:20]
        for protocol in self.protocols:
            if transaction_id in protocol.transactions:
                # The answer to one of this connection's own checks.
                self.learn(addr, protocol)
                return protocol
        return None

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for a client that went away: its connection times
        # out through ICE consent, as with a socket of its own.
        logger.debug("media socket %s: %s", self.address, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        for protocol in list(self.protocols):
            protocol.connection_lost(exc)
        self.protocols.clear()
        self.by_address.clear()
        self.by_ufrag.clear()


class UdpMux:
    """The shared media sockets of one process, one per ICE address."""

    def __init__(self, shared: list[SharedSocket]) -> None:
        # By the address aioice offers as host candidate.
        self.shared = {one.candidate_host: one for one in shared}
        self.users = 0
        self._started: asyncio.Future[None] | None = None

    @property
    def ports(self) -> list[int]:
        return sorted({shared.address[1] for shared in self.shared.values()})

    @property
    def dropped(self) -> int:
        return sum(shared.dropped for shared in self.shared.values())

    def attach(self, connection: aioice.ice.Connection) -> None:
        """Let this connection gather its host candidates from the mux. Called
        before the answer is made: a ufrag (4 random characters) that a live
        connection on the mux already has is replaced, as requests are routed by it."""
        in_use = {ufrag for shared in self.shared.values() for ufrag in shared.by_ufrag}
        while connection.local_username in in_use:
            connection._local_username = random_string(4)
        setattr(connection, MUX_ATTRIBUTE, self)
        connection.request_received = functools.partial(  # type: ignore[method-assign]
            stays_controlled, connection, connection.request_received
        )
        # Consent that a slow line keeps (consent.py).
        connection.query_consent = functools.partial(  # type: ignore[method-assign]
            keep_consent, connection
        )

    async def start(self) -> None:
        """Hand the sockets to the running event loop (once)."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        for shared in self.shared.values():
            await loop.create_datagram_endpoint(functools.partial(_same, shared), sock=shared.sock)

    async def host_protocols(
        self, connection: aioice.ice.Connection, component: int, addresses: Sequence[str]
    ) -> tuple[list[MuxedProtocol], list[str]]:
        """Protocols on the shared sockets of `addresses`, and the addresses that
        have none (an interface added after start-up: aioice's own socket then)."""
        await self.start()
        protocols = []
        rest = []
        for address in addresses:
            shared = self.shared.get(address)
            if shared is None or shared.transport is None or shared.transport.is_closing():
                rest.append(address)
            else:
                protocols.append(shared.join(connection, component))
        return protocols, rest

    async def close(self) -> None:
        for shared in self.shared.values():
            if shared.transport is not None:
                shared.transport.close()
                await shared.closed
            else:
                shared.sock.close()


def _same(shared: SharedSocket) -> SharedSocket:
    return shared


def open_socket(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise MediaPortError(
                error.errno,
                f"UDP port {port} on {address} for media is in use: "
                "choose another with GROUPROOM_MEDIA_PORT (0: any free port)",
            ) from None
        raise MediaPortError(
            error.errno, f"cannot open UDP port {port} on {address} for media: {error.strerror}"
        ) from None
    sock.setblocking(False)
    for forced, plain in (
        (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
        (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF),
    ):
        try:
            if forced is None:
                raise PermissionError
            sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER_BYTES)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER_BYTES)
    return sock


def _guard_installed() -> bool:
    """Whether a MuxedProtocol's datagram_received is the forwarder's guard
    (hooks.install_datagram_guard), which the compiled step repeats."""
    from grouproom.media import hooks

    return MuxedProtocol.datagram_received is hooks._guarded_datagram_received


def bind(addresses: Sequence[str], port: int, bind_address: str = "") -> UdpMux:
    """Open the media port on each address (all of them, or none: MediaPortError),
    or, with a bind address, on that one, announced as the one address given."""
    if bind_address:
        if len(addresses) != 1:
            raise ValueError("a media bind address goes with exactly one ICE address")
        return UdpMux([SharedSocket(open_socket(bind_address, port), addresses[0])])
    sockets: list[socket.socket] = []
    try:
        for address in addresses:
            sockets.append(open_socket(address, port))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return UdpMux([SharedSocket(sock) for sock in sockets])


_muxes: dict[tuple[asyncio.AbstractEventLoop, tuple[str, ...], int, str], UdpMux] = {}
# aioice's own choice of host addresses (every non-loopback one), as it was before
# hooks.install_host_addresses could replace it: what empty `addresses` mean.
_every_host_address = aioice.ice.get_host_addresses
# Datagrams dropped by muxes of this process that have closed since.
_dropped_by_closed = 0


def dropped_total() -> int:
    """Datagrams this process's media ports dropped (no connection could be proved
    to be theirs), since the process started: for the metrics."""
    return _dropped_by_closed + sum(mux.dropped for mux in _muxes.values())


def _forget(mux: UdpMux) -> None:
    global _dropped_by_closed
    for key in [key for key, known in _muxes.items() if known is mux]:
        del _muxes[key]
        _dropped_by_closed += mux.dropped


def acquire(addresses: Sequence[str], port: int, bind_address: str = "") -> UdpMux:
    """The process's mux for these addresses and port on the running event loop,
    opened by the first user; `release` it when done (the last user closes it)."""
    loop = asyncio.get_running_loop()
    for key in [key for key in _muxes if key[0].is_closed()]:
        _forget(_muxes[key])
    chosen = tuple(addresses) or tuple(_every_host_address(use_ipv4=True, use_ipv6=True))
    key = (loop, chosen, port, bind_address)
    mux = _muxes.get(key)
    if mux is None:
        mux = _muxes[key] = bind(chosen, port, bind_address)
    mux.users += 1
    return mux


async def release(mux: UdpMux) -> None:
    """One user less; the last one closes the sockets and returns when they are
    closed (the port can be opened again)."""
    mux.users -= 1
    if mux.users > 0:
        return
    _forget(mux)
    await mux.close()


_original_component_candidates = aioice.ice.Connection.get_component_candidates


async def _component_candidates(
    self: aioice.ice.Connection,
    component: int,
    addresses: list[str],
    timeout: int = 5,  # noqa: ASYNC109 (aioice's signature)
) -> list[Candidate]:
    mux: UdpMux | None = getattr(self, MUX_ATTRIBUTE, None)
    if mux is None:
        return await _original_component_candidates(self, component, addresses, timeout)
    protocols, rest = await mux.host_protocols(self, component, addresses)
    self._protocols += protocols
    candidates = [protocol.local_candidate for protocol in protocols]
    if self.stun_server:
        lookups = [
            asyncio.ensure_future(aioice.ice.server_reflexive_candidate(p, self.stun_server))
            for p in protocols
            if ipaddress.ip_address(p.local_candidate.host).version == 4
        ]
        if lookups:
            done, pending = await asyncio.wait(lookups, timeout=timeout)
            for task in pending:
                task.cancel()
            candidates += [t.result()[0] for t in done if t.exception() is None]
    if rest or self.turn_server:
        # Addresses without a shared socket, and a TURN allocation: aioice's way.
        candidates += await _original_component_candidates(self, component, rest, timeout)
    return candidates


def install_gathering() -> None:
    """Let connections that were `attach`ed gather from their mux. Process-wide and
    idempotent; connections without a mux are not affected."""
    aioice.ice.Connection.get_component_candidates = _component_candidates  # type: ignore[method-assign]
