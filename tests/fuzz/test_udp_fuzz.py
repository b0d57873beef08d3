"""Raw datagrams from loopback sockets to the server's media ports.

The ports are those of the server's ICE candidates in the answers the two real
bystanders got. Hypothesis makes the datagrams: random bytes, truncated and
oversized RTP and RTCP (with and without plausible headers, with the SSRCs of the
real streams), STUN with bad integrity, wrong usernames, huge or malformed
attributes, and DTLS-looking junk. The server must stay up, both bystanders'
media must go on and their ICE connections stay up, and nothing may be logged at
ERROR or with a traceback.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import socket
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import strategies as st

from tests.fuzz.conftest import Pair, a_newcomer_receives_both, fuzz, troubles

EXAMPLES = 1500
SENDERS = 4


@dataclass
class Target:
    """What an outsider who read both SDPs would know about one server peer."""

    port: int
    ssrcs: list[int]  # the SSRCs of the streams to and from that peer
    username: str  # server ufrag:client ufrag, as the client's checks carry it
    password: str  # the server's ICE password


def _attribute(sdp: str, name: str) -> str:
    return next(line.split(":", 1)[1] for line in sdp.splitlines() if line.startswith(name))


def target_of(offer: str, answer: str) -> Target:
    ports = {
        int(line.split()[5])
        for line in answer.splitlines()
        if line.startswith("a=candidate:") and line.split()[4] == "127.0.0.1"
    }
    assert len(ports) == 1, ports  # everything is bundled on one candidate
    ssrcs = {
        int(line.split()[0].split(":")[1])
        for sdp in (offer, answer)
        for line in sdp.splitlines()
        if line.startswith("a=ssrc:")
    }
    return Target(
        port=ports.pop(),
        ssrcs=sorted(ssrcs),
        username=f"{_attribute(answer, 'a=ice-ufrag')}:{_attribute(offer, 'a=ice-ufrag')}",
        password=_attribute(answer, "a=ice-pwd"),
    )


# -- datagrams ---------------------------------------------------------------------

STUN_COOKIE = 0x2112A442


def stun_attribute(kind: int, value: bytes, declared: int | None = None) -> bytes:
    length = len(value) if declared is None else declared
    return struct.pack("!HH", kind, length) + value + b"\x00" * (-len(value) % 4)


def stun_message(
    method_class: int, transaction: bytes, attributes: bytes, cookie: int = STUN_COOKIE
) -> bytes:
    return struct.pack("!HHI", method_class, len(attributes), cookie) + transaction + attributes


def with_integrity(header_type: int, transaction: bytes, attributes: bytes, key: bytes) -> bytes:
    """A STUN message signed with MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT."""
    length = len(attributes) + 24
    head = struct.pack("!HHI", header_type, length, STUN_COOKIE) + transaction
    digest = hmac.new(key, head + attributes, hashlib.sha1).digest()
    body = attributes + stun_attribute(0x0008, digest)
    head = struct.pack("!HHI", header_type, len(body) + 8, STUN_COOKIE) + transaction
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    return head + body + stun_attribute(0x8028, struct.pack("!I", crc))


@st.composite
def stun(draw: st.DrawFn, target: Target) -> bytes:
    transaction = draw(st.binary(min_size=12, max_size=12))
    header_type = draw(st.sampled_from([0x0001, 0x0101, 0x0111, 0x0011, 0x0002, 0x3EEF]))
    username = draw(
        st.sampled_from([target.username, target.username[::-1], ":", ""]) | st.text(max_size=600)
    )
    attributes = stun_attribute(0x0006, username.encode("utf-8", "surrogatepass"))
    # Attributes with wrong lengths (PRIORITY of 2 bytes, an address of 3), huge
    # ones, ones whose declared length runs past the end, and unknown ones.
    extras = draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [0x0024, 0x8029, 0x802A, 0x0025, 0x0001, 0x0020, 0x0009, 0x8022, 0xC057]
                )
                | st.integers(0, 0xFFFF),
                st.binary(max_size=64) | st.binary(min_size=1000, max_size=1400),
                st.none() | st.integers(0, 0xFFFF),
            ),
            max_size=4,
        )
    )
    for kind, value, declared in extras:
        attributes += stun_attribute(kind, value, declared)
    signing = draw(st.sampled_from(["none", "wrong key", "right key", "garbage"]))
    if signing == "none":
        return stun_message(header_type, transaction, attributes)
    if signing == "garbage":
        attributes += stun_attribute(0x0008, draw(st.binary(max_size=30)))
        cookie = draw(st.sampled_from([STUN_COOKIE, 0]))
        return stun_message(header_type, transaction, attributes, cookie)
    key = target.password.encode() if signing == "right key" else b"not the password"
    message = with_integrity(header_type, transaction, attributes, key)
    cut = draw(st.none() | st.integers(0, len(message)))
    return message if cut is None else message[:cut]


@st.composite
def rtp(draw: st.DrawFn, target: Target) -> bytes:
    first = draw(st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0x8F]) | st.integers(0x80, 0xBF))
    header = struct.pack(
        "!BBHII",
        first,
        draw(st.sampled_from([96, 97, 111, 0x80 | 96, 0x80 | 111]) | st.integers(0, 255)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.sampled_from(target.ssrcs) | st.integers(0, 0xFFFFFFFF)),
    )
    payload = draw(st.binary(max_size=200) | st.binary(min_size=1400, max_size=9000))
    datagram = header + payload
    cut = draw(st.none() | st.integers(0, len(datagram)))
    return datagram if cut is None else datagram[:cut]


@st.composite
def rtcp(draw: st.DrawFn, target: Target) -> bytes:
    packets = b""
    for _ in range(draw(st.integers(1, 3))):
        count = draw(st.integers(0, 31))
        kind = draw(st.sampled_from([200, 201, 202, 203, 204, 205, 206, 207]))
        body = struct.pack("!I", draw(st.sampled_from(target.ssrcs) | st.integers(0, 2**32 - 1)))
        body += draw(st.binary(max_size=80))
        words = draw(st.sampled_from([len(body) // 4, 0, 0xFFFF]) | st.integers(0, 0xFFFF))
        packets += struct.pack("!BBH", 0x80 | count, kind, words) + body
    cut = draw(st.none() | st.integers(0, len(packets)))
    return packets if cut is None else packets[:cut]


@st.composite
def dtls(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from([20, 21, 22, 23, 25]) | st.integers(20, 63))
    version = draw(st.sampled_from([b"\xfe\xfd", b"\xfe\xff", b"\x03\x03"]))
    epoch = draw(st.sampled_from([0, 1, 2]))
    sequence = draw(st.integers(0, 2**48 - 1)).to_bytes(6, "big")
    if content_type == 21:  # an alert: close_notify or a fatal one, unencrypted
        body = bytes([draw(st.sampled_from([1, 2])), draw(st.sampled_from([0, 10, 40, 80]))])
    else:
        body = draw(st.binary(max_size=300))
    length = draw(st.sampled_from([len(body)]) | st.integers(0, 0xFFFF))
    record = bytes([content_type]) + version + struct.pack("!H", epoch) + sequence
    return record + struct.pack("!H", length) + body


def datagrams(target: Target) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.just(b""),
        st.binary(max_size=64),
        st.binary(min_size=1200, max_size=1500),
        st.binary(min_size=60000, max_size=65000),
        stun(target),
        rtp(target),
        rtcp(target),
        dtls(),
    )


# -- the test ----------------------------------------------------------------------


@dataclass
class Senders:
    sockets: list[socket.socket]

    def send(self, index: int, datagram: bytes, port: int) -> None:
        self.sockets[index % len(self.sockets)].sendto(datagram, ("127.0.0.1", port))


@pytest.fixture
def senders() -> Iterator[Senders]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SENDERS)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    yield Senders(sockets)
    for sock in sockets:
        sock.close()


@pytest.fixture
def targets(room_pair: Pair) -> list[Target]:
    return [target_of(b.offer_sdp, b.answer_sdp) for b in (room_pair.first, room_pair.second)]


@st.composite
def volleys(draw: st.DrawFn, targets: list[Target]) -> list[tuple[int, int, bytes]]:
    """(sender index, target index, datagram) x 1-6."""
    shots = []
    for _ in range(draw(st.integers(1, 6))):
        which = draw(st.integers(0, len(targets) - 1))
        shots.append((draw(st.integers(0, SENDERS - 1)), which, draw(datagrams(targets[which]))))
    return shots


async def test_datagrams_to_the_media_ports_harm_nobody(
    room_pair: Pair, targets: list[Target], senders: Senders, caplog: pytest.LogCaptureFixture
) -> None:
    async def fire(shots: list[tuple[int, int, bytes]]) -> None:
        for sender, which, datagram in shots:
            senders.send(sender, datagram, targets[which].port)
            room_pair.record(f"{sender}->{which} {datagram[:24].hex()} ({len(datagram)} B)")
        await asyncio.sleep(0.005)  # let the server read them
        assert troubles(caplog.records) == []
        room_pair.assert_connected()
        await room_pair.media_advances_now_and_then()

    await fuzz(volleys(targets), fire, EXAMPLES)
    await room_pair.media_advances()
    gc.collect()  # a task that died with an exception logs it when collected
    await asyncio.sleep(0.1)
    assert troubles(caplog.records) == []
    assert room_pair.checks >= 3
    await a_newcomer_receives_both(room_pair)
