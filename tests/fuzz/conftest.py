"""A real server with a pair of real aiortc bystanders whose media must survive the
fuzzing: in an open room, or seated in a therapy session.

The bystanders publish generated audio and video (tests/media/peers.py) and decode
what they receive; their signalling sockets are read in the background, so that
events caused by the fuzzing never pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from grouproom.app import hub_key, switchboard_key
from grouproom.media.contract import MediaRoom
from grouproom.settings import Settings
from tests.media.peers import TestParticipant
from tests.protocol.conftest import loopback_only
from tests.protocol.signaling_client import SignalingClient, SocketClosed
from tests.protocol.test_sessions import Group, group, open_session

__all__ = ["group", "loopback_only"]

ROOM = "fuzz"
# Room size for the open room: the two bystanders, a fuzzing socket and one spare.
MAX_PARTICIPANTS = 4
MEDIA_TIMEOUT = 30.0
SETTLE_TIMEOUT = 15.0
EXAMPLE_TIMEOUT = 120.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A fuzzing socket that a frame closes leaves a held seat behind: released
    # after a second here, not a minute.
    return replace(settings, max_participants=MAX_PARTICIPANTS, reconnect_grace=1)


T = TypeVar("T")


async def fuzz(
    strategy: st.SearchStrategy[T],
    apply: Callable[[T], Coroutine[Any, Any, None]],
    examples: int,
) -> None:
    """Run `apply` on `examples` values drawn from `strategy` (reproducibly: no
    database, derandomized). Hypothesis runs in a thread of its own and hands each
    value to this event loop, which keeps running in between, as a server does."""
    loop = asyncio.get_running_loop()

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def example(value: T) -> None:
        asyncio.run_coroutine_threadsafe(apply(value), loop).result(timeout=EXAMPLE_TIMEOUT)

    def run() -> None:
        # The server uses the random module while Hypothesis draws a value, which
        # Hypothesis would take for a strategy using it.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Do not use the `random` module inside strategies"
            )
            example()

    await asyncio.to_thread(run)


async def settle(condition: Callable[[], bool], seconds: float = SETTLE_TIMEOUT) -> None:
    """Wait until `condition()` holds (failing after `seconds`)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        await asyncio.sleep(0.01)


async def receives_from(receiver: Bystander, publisher: Bystander) -> None:
    """Wait until `receiver` has had RTP from `publisher`."""
    deadline = time.monotonic() + MEDIA_TIMEOUT
    while await receiver.packets_from(publisher.id) == 0:
        assert time.monotonic() < deadline, f"{receiver.name} gets nothing from {publisher.name}"
        await asyncio.sleep(0.05)


def troubles(records: list[logging.LogRecord]) -> list[str]:
    """Log records that signal a fault: ERROR or worse, or any record carrying a
    traceback (aiortc logs a dying transport's traceback as a WARNING)."""
    found = []
    for record in records:
        message = record.getMessage()
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in message:
            found.append(f"{record.levelname} {record.name}: {message}")
    return found


def _timed(entries: list[tuple[float, str]]) -> str:
    return "; ".join(f"{seconds:.2f}s {entry}" for seconds, entry in entries)


def _states(pc: RTCPeerConnection) -> str:
    return f"{pc.connectionState}/{pc.iceConnectionState}"


class Bystander:
    """A real participant: a signalling socket and an aiortc peer with media."""

    def __init__(self, name: str, luma: int, signaling: SignalingClient, seat: dict[str, Any]):
        self.name = name
        self.signaling = signaling
        self.id: str = seat["participant_id"]
        self.participant = TestParticipant(name, luma, seat["receive_slots"])
        self.answer_sdp = ""
        self.offer_sdp = ""
        self.mids: dict[tuple[str, str], str] = {}  # (publisher id, kind) -> mid
        self.close_code: int | None = None
        self.closed = False
        self._drain: asyncio.Task[None] | None = None
        self._keep_alive: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.offer_sdp = await self.participant.make_offer()
        answer = await self.signaling.expect("offer", {"sdp": self.offer_sdp})
        self.answer_sdp = answer["sdp"]
        await self.participant.accept_answer(self.answer_sdp)

    def start_draining(self) -> None:
        self._drain = asyncio.ensure_future(self._read_events())
        self._keep_alive = asyncio.ensure_future(self._ping())

    async def _ping(self) -> None:
        """A browser pings; a silent socket is closed after 60 s (`idle`)."""
        while not self.closed:
            await asyncio.sleep(15)
            frame = {"v": 1, "type": "ping", "id": "keep-alive", "data": {}}
            with contextlib.suppress(Exception):
                await self.signaling.send_frame(frame)

    def _note(self, frame: dict[str, Any]) -> None:
        data = frame["data"]
        if frame["type"] == "track_published":
            self.mids[(data["participant_id"], data["kind"])] = data["mid"]
        elif frame["type"] == "track_removed":
            self.mids.pop((data["participant_id"], data["kind"]), None)

    async def _read_events(self) -> None:
        for frame in self.signaling.events:
            self._note(frame)
        self.signaling.events.clear()
        try:
            while True:
                self._note(await self.signaling.receive(seconds=3600))
        except SocketClosed as closed:
            self.close_code = closed.code
            self.closed = True

    async def packets_from(self, publisher_id: str) -> int:
        """RTP packets this peer received on the slots carrying `publisher_id`."""
        total = 0
        for kind in ("audio", "video"):
            mid = self.mids.get((publisher_id, kind))
            if mid is None:
                continue
            transceiver = next(t for t in self.participant.pc.getTransceivers() if t.mid == mid)
            stats = await transceiver.receiver.getStats()
            total += sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")
        return total

    def media_connected(self) -> bool:
        pc = self.participant.pc
        return pc.connectionState == "connected" and pc.iceConnectionState in (
            "connected",
            "completed",
        )

    async def close(self) -> None:
        for task in (self._drain, self._keep_alive):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.participant.close()
        await self.signaling.ws.close()


@dataclass
class Pair:
    """Two bystanders who see and hear each other, and what they have received."""

    client: TestClient[Any, Any]
    first: Bystander
    second: Bystander
    forwarder: Callable[[], MediaRoom]
    counts: tuple[int, int] = (0, 0)
    checks: int = 0
    last_check: float = field(default_factory=time.monotonic)
    # State changes of both ends' connections and transports, with the seconds
    # since start(): a flaky failure's message says which end went first, and how.
    journal: list[tuple[float, str]] = field(default_factory=list)
    _probe: asyncio.Future[None] | None = None
    started: float = field(default_factory=time.monotonic)
    # What the test did to the server (e.g. the datagrams it sent), with the
    # seconds since start().
    sent: list[tuple[float, str]] = field(default_factory=list)

    def record(self, entry: str) -> None:
        self.sent.append((time.monotonic() - self.started, entry))

    def note(self, entry: str) -> None:
        self.journal.append((time.monotonic() - self.started, entry))

    def watch(self, end: str, pc: RTCPeerConnection) -> None:
        """Journal the state changes of `pc` and its (bundled) transports."""
        for event in ("connectionstatechange", "iceconnectionstatechange"):
            pc.on(event, lambda e=event: self.note(f"{end} pc {e[:-11]} {_states(pc)}"))
        dtls = pc.getTransceivers()[0].sender.transport
        dtls.on("statechange", lambda: self.note(f"{end} DTLS {dtls.state}"))
        ice = dtls.transport
        ice.on("statechange", lambda: self.note(f"{end} ICE {ice.state}"))
        # What ended DTLS's receive loop, and the datagram it read last.
        last: list[bytes] = [b""]
        receive, read_next = ice._recv, dtls._recv_next

        async def traced_receive() -> bytes:
            last[0] = await receive()
            return last[0]

        async def traced_read_next() -> None:
            try:
                await read_next()
            except BaseException as error:
                self.note(f"{end} DTLS stops on {error!r} after {last[0][:40].hex()}")
                raise

        ice._recv = traced_receive
        dtls._recv_next = traced_read_next  # type: ignore[method-assign]
        # Who closed the ICE connection, or lost its socket.
        connection = ice._connection
        close, lost = connection.close, connection.protocol_lost

        async def traced_close() -> None:
            caller = traceback.extract_stack(limit=4)[0]
            self.note(f"{end} ICE close() from {caller.name}:{caller.lineno}")
            await close()

        def traced_lost(protocol: Any) -> None:
            self.note(f"{end} ICE protocol lost")
            lost(protocol)

        connection.close = traced_close  # type: ignore[method-assign]
        connection.protocol_lost = traced_lost  # type: ignore[method-assign]
        if end.endswith("server"):
            # The checks from the client's own address, and the refusals sent there.
            received, refuse = connection.request_received, connection.respond_error

            def client_address() -> Any:
                pair = connection._nominated.get(1)
                return pair.remote_addr if pair is not None else None

            def traced_request(message: Any, addr: Any, protocol: Any) -> None:
                if addr == client_address():
                    self.note(f"{end} check from client {sorted(message.attributes)}")
                received(message, addr, protocol)

            def traced_refusal(message: Any, addr: Any, protocol: Any, code: Any) -> None:
                if addr == client_address():
                    self.note(f"{end} refuses client's check: {code}")
                refuse(message, addr, protocol, code)

            connection.request_received = traced_request  # type: ignore[method-assign]
            connection.respond_error = traced_refusal  # type: ignore[method-assign,assignment]

    def report(self) -> str:
        """The journal, and what was sent before the first consent check that went
        unanswered (or else last)."""
        first_miss = next((t for t, e in self.journal if "consent check to" in e), None)
        if first_miss is None:
            shown = self.sent[-60:]
        else:  # its first try went out up to 3.5 s before; look a little further back
            shown = [e for e in self.sent if first_miss - 8 <= e[0] <= first_miss - 2][-150:]
        return f"{_timed(self.journal)} | sent: {_timed(shown)}"

    async def _counts(self) -> tuple[int, int]:
        return (
            await self.first.packets_from(self.second.id),
            await self.second.packets_from(self.first.id),
        )

    async def media_advances(self, seconds: float = MEDIA_TIMEOUT) -> None:
        """Wait until each bystander has received more packets from the other than at
        the last check; their sockets and both ends of their peer connections stay up."""
        before = self.counts
        async with asyncio.timeout(seconds):
            while True:
                now = await self._counts()
                if now[0] > before[0] and now[1] > before[1]:
                    break
                await asyncio.sleep(0.05)
        self.counts = now
        self.checks += 1
        self.last_check = time.monotonic()
        self.assert_connected()

    async def media_advances_now_and_then(self, every: float = 2.0) -> None:
        """media_advances when `every` seconds have passed since the last check."""
        if time.monotonic() - self.last_check >= every:
            await self.media_advances()

    def assert_connected(self) -> None:
        for bystander in (self.first, self.second):
            client = bystander.participant.pc
            peer = self.forwarder().peers.get(bystander.id)  # type: ignore[attr-defined]
            # Both ends' states in every message: a flaky failure cannot be replayed.
            states = (
                f"{bystander.name}: socket closed {bystander.closed} ({bystander.close_code}),"
                f" client {client.connectionState}/ICE {client.iceConnectionState},"
                f" server {peer.pc.connectionState if peer else 'gone'}"
                f"/ICE {peer.pc.iceConnectionState if peer else '-'}; {self.report()}"
            )
            assert not bystander.closed, states
            assert bystander.media_connected(), states
            assert peer is not None and peer.pc.connectionState == "connected", states

    async def start(self) -> None:
        self.started = time.monotonic()
        consent = logging.getLogger("grouproom.media.consent")
        consent.setLevel(logging.DEBUG)
        consent.addHandler(_Journaling(self))
        for bystander in (self.first, self.second):
            bystander.start_draining()
            self.watch(f"{bystander.name} client", bystander.participant.pc)
            peer = self.forwarder().peers[bystander.id]  # type: ignore[attr-defined]
            self.watch(f"{bystander.name} server", peer.pc)
        self._probe = asyncio.ensure_future(self._probe_loop())
        await self.media_advances()

    async def _probe_loop(self) -> None:
        """Journal the event loop's lag and the media socket's queued datagrams."""
        mux = self.forwarder().mux  # type: ignore[attr-defined]
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            lag = time.monotonic() - before - 0.1
            queued = sum(
                shared.transport.get_write_buffer_size()
                for shared in mux.shared.values()
                if shared.transport is not None
            )
            if lag > 0.3 or queued:
                self.note(f"loop lag {lag:.2f}s, media socket queue {queued} B")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        consent = logging.getLogger("grouproom.media.consent")
        for handler in [h for h in consent.handlers if isinstance(h, _Journaling)]:
            consent.removeHandler(handler)
        consent.setLevel(logging.NOTSET)
        await self.first.close()
        await self.second.close()


class _Journaling(logging.Handler):
    """Log records into a Pair's journal."""

    def __init__(self, pair: Pair) -> None:
        super().__init__(logging.DEBUG)
        self.pair = pair

    def emit(self, record: logging.LogRecord) -> None:
        self.pair.note(f"log {record.name}: {record.getMessage()}")


async def room_bystander(client: TestClient[Any, Any], name: str, luma: int) -> Bystander:
    signaling = SignalingClient(await client.ws_connect("/ws"))
    joined = await signaling.join(ROOM, name)
    bystander = Bystander(name, luma, signaling, joined)
    await bystander.connect()
    return bystander


@pytest.fixture
async def room_pair(group: Group) -> AsyncIterator[Pair]:
    """Two bystanders in the open room ROOM of the same server as `group`."""
    client = group.client
    first = await room_bystander(client, "Anna", 60)
    second = await room_bystander(client, "Bram", 200)
    pair = Pair(client, first, second, lambda: client.app[switchboard_key].forwarders[ROOM])
    try:
        await pair.start()
        yield pair
    finally:
        await pair.close()


@dataclass
class SessionPair(Pair):
    session_id: str = ""


@pytest.fixture
async def session_pair(group: Group) -> AsyncIterator[SessionPair]:
    """The lead therapist and the member Ann seated in an open session, with media;
    Bob (member) and Olga (observer) were admitted once, so that they come back
    straight to a seat with their invite links."""
    session_id = await open_session(group)
    lead_socket, lead_seat = await group.therapist(group.lead_id)
    sockets = {}
    for name in ("Ann", "Bob", "Olga"):
        socket, entered = await group.member(name)
        assert entered == {"state": "waiting"}
        await lead_socket.expect("moderate", {"action": "admit", "target": group.members[name]})
        sockets[name] = socket
    ann_seat = (await sockets["Ann"].event("admitted"))["data"]["seat"]
    for name in ("Bob", "Olga"):  # they leave (a closed socket would keep the seat)
        await sockets[name].expect("leave")
        await sockets[name].ws.close()
    first = Bystander("Lea", 60, lead_socket, lead_seat)
    second = Bystander("Ann", 200, sockets["Ann"], ann_seat)
    await first.connect()
    await second.connect()
    hub = group.client.app[hub_key]
    pair = SessionPair(
        group.client, first, second, lambda: hub.live[session_id].forwarder, session_id=session_id
    )
    try:
        seats = hub.live[session_id].session.seats
        await settle(lambda: not {group.members["Bob"], group.members["Olga"]} & set(seats))
        await pair.start()
        yield pair
    finally:
        await pair.close()


async def a_newcomer_receives_both(pair: Pair) -> None:
    """After the fuzzing, a fresh participant can still join the room and receives
    both bystanders."""
    newcomer = await room_bystander(pair.client, "Carla", 120)
    try:
        newcomer.start_draining()
        await receives_from(newcomer, pair.first)
        await receives_from(newcomer, pair.second)
    finally:
        await newcomer.close()
