"""Micro-benchmark of the forwarding hot path, for changes too small for the bench.

One publication receives VP8 packets (1,100 bytes, abs-send-time) and forwards each
to eleven subscriptions: the real Publication, Subscription, munger, header writer
and ForwardingSender with real SRTP sessions (AES-GCM). Only the DTLS and ICE
objects around the sender are stand-ins (the DTLS state, the SRTP session and the
nominated pair's socket). With --kernel each datagram is sent to a sink process on
loopback; without it the socket's sendto does nothing, so only the Python and SRTP
work is measured, which is steady enough on a noisy machine to compare two
versions. The compiled copy step (copy_step.py) sends on a real socket only: without
--kernel every copy takes the Python step, with it the step grouproom would use.

    python -m benchmarks.send_path                        # this checkout
    python -m benchmarks.send_path --baseline ../other    # both, turn about

Prints the CPU time per forwarded packet (user + system, from getrusage).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import inspect
import os
import resource
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

SUBSCRIBERS = 11
PACKETS = 3000
SINK = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
print(s.getsockname()[1], flush=True)
s.settimeout(5)
try:
    while True:
        s.recv(4096)
except OSError:
    pass
"""


def connect_stand_ins(sender: Any, protocol: Any, address: tuple[str, int], key: bytes) -> Any:
    """Stand-ins for what a ForwardingSender sends through (the DTLS transport with
    a real SRTP session, AES-GCM with this 44-byte key and salt, and the ICE
    connection, whose nominated pair sends with `protocol` to `address`); returns
    the DTLS stand-in, whose `_state` may be changed. Shared with the tests."""
    from aiortc.rtcdtlstransport import State as DtlsState
    from pylibsrtp import Policy, Session

    connection = types.SimpleNamespace(
        _nominated={1: types.SimpleNamespace(protocol=protocol, remote_addr=address)}
    )
    srtp = Session(
        Policy(
            key=key,
            ssrc_type=Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
        )
    )
    dtls = types.SimpleNamespace(
        _state=DtlsState.CONNECTED,
        transport=types.SimpleNamespace(_connection=connection),
        _tx_srtp=srtp,
    )
    sender._RTCRtpSender__transport = dtls
    sender._dtls = dtls  # read by newer versions of send_now
    sender._connection = connection
    return dtls


async def measure(rounds: int, sink_address: tuple[str, int] | None) -> float:
    """CPU µs per forwarded packet in this process's grouproom; datagrams go to
    `sink_address`, or nowhere (the socket's sendto does nothing) when None."""
    from aioice.ice import StunProtocol
    from aiortc import RTCPeerConnection, RTCRtpSender
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
    from aiortc.rtp import RtpPacket

    from grouproom.media.endpoints import ForwardingSender
    from grouproom.media.publication import Publication
    from grouproom.media.rtp_header import RtpHeaderWriter
    from grouproom.media.subscription import Subscription

    def take_over(sender: RTCRtpSender, stream_id: str) -> ForwardingSender:
        """ForwardingSender.take_over, also of checkouts from before the round
        trip was measured (which took no third argument) or the incoming budget
        (no fourth)."""
        try:
            from grouproom.media.round_trip import RoundTrip
        except ImportError:
            return ForwardingSender.take_over(sender, stream_id)  # type: ignore[call-arg]
        try:
            from grouproom.media.incoming_budget import IncomingBudget
        except ImportError:
            return ForwardingSender.take_over(sender, stream_id, RoundTrip())  # type: ignore[call-arg]
        budget = IncomingBudget.for_participant(500_000, SUBSCRIBERS)
        return ForwardingSender.take_over(sender, stream_id, RoundTrip(), budget)

    loop = asyncio.get_running_loop()
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    extensions = [
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(
            id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
        ),
    ]
    kernel = sink_address is not None
    address = sink_address or ("127.0.0.1", 9)
    publication = Publication("publisher", "video", 500_000)
    publication.start([vp8])
    pc = RTCPeerConnection()
    transports = []
    for number in range(SUBSCRIBERS):
        transceiver = pc.addTransceiver("video", direction="sendonly")
        sender = take_over(transceiver.sender, f"stream{number}")
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(None),  # type: ignore[arg-type]
            local_addr=("127.0.0.1", 0),
        )
        transports.append(transport)
        if not kernel:
            protocol.transport = types.SimpleNamespace(  # type: ignore[assignment]
                # a socket that sends nothing
                _sock=types.SimpleNamespace(sendto=lambda data, address: None),
                _buffer=collections.deque(),
                _conn_lost=0,
                sendto=lambda data, address: None,
            )
        connect_stand_ins(sender, protocol, address, os.urandom(44))
        sender.mid = str(number)
        sender.codecs = [vp8]
        sender.started = True
        sender.header_writer = RtpHeaderWriter.negotiated(sender.ssrc, sender.mid, extensions)
        subscription = Subscription(publication, sender)
        subscription.waiting_for_keyframe = False
        publication.subscriptions.append(subscription)
    packets = []
    for number in range(PACKETS):
        packet = RtpPacket(payload_type=96, timestamp=number * 3000, ssrc=555)
        # VP8 descriptor with a 15-bit PictureID, then the rest of the payload.
        packet.payload = bytes([0x90, 0x80, 0x80 | (number >> 8) & 0x7F, number & 0xFF])
        packet.payload += os.urandom(1096)
        packet.extensions.abs_send_time = number & 0xFFFFFF
        packets.append(packet)
    try:
        from grouproom.media.fan_out import fan_out_for

        def queued() -> int:
            return len(fan_out_for(loop))
    except ImportError:  # a checkout from before the fan-out queue

        def queued() -> int:
            return 0

    async def drain() -> None:
        """Turns of the loop until queued video went out (fan_out.py)."""
        for _ in range(10_000):
            if not queued():
                return
            await asyncio.sleep(0)

    before = resource.getrusage(resource.RUSAGE_SELF)
    forwarded = 0
    for round_number in range(rounds):
        for number, packet in enumerate(packets):
            packet.sequence_number = (round_number * PACKETS + number) % 65536
            handled: object = publication.on_rtp(  # type: ignore[func-returns-value]
                packet, int(time.time() * 1000)
            )
            if inspect.isawaitable(handled):  # older versions: a coroutine
                await handled
            forwarded += SUBSCRIBERS
            if number % 20 == 0:
                await asyncio.sleep(0)  # the sink drains; the loop runs as in the server
                await drain()
    await drain()
    after = resource.getrusage(resource.RUSAGE_SELF)
    for subscription in publication.subscriptions:
        subscription.sender.started = False
    for transport in transports:
        transport.close()
    await pc.close()
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used / forwarded * 1e6


def run_in(checkout: Path, rounds: int, kernel: bool) -> float:
    """One measurement in a fresh process running `checkout`'s grouproom."""
    # Run as a script, not with -m: then grouproom comes from PYTHONPATH (the
    # checkout), not from the working directory.
    command = [sys.executable, __file__, "--child", "--rounds", str(rounds)]
    if kernel:
        command.append("--kernel")
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    output = subprocess.run(
        command, env=environment, cwd=checkout, check=True, capture_output=True, text=True
    ).stdout
    return float(output.strip().splitlines()[-1])


ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--kernel", action="store_true", help="send real datagrams to a sink")
    parser.add_argument("--rounds", type=int, default=4, help="passes over 3,000 packets")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per checkout")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        if not arguments.kernel:
            print(asyncio.run(measure(arguments.rounds, None)))
            return
        sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE)
        try:
            assert sink.stdout is not None
            address = ("127.0.0.1", int(sink.stdout.readline()))
            print(asyncio.run(measure(arguments.rounds, address)))
        finally:
            sink.kill()
            sink.wait()
        return
    checkouts = {"this": ROOT}
    if arguments.baseline is not None:
        checkouts["baseline"] = arguments.baseline.resolve()
    results: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(arguments.repeat):
        for name, checkout in checkouts.items():  # turn about
            results[name].append(run_in(checkout, arguments.rounds, arguments.kernel))
    for name, values in results.items():
        shown = ", ".join(f"{value:.2f}" for value in values)
        print(f"{name}: {statistics.median(values):.2f} µs per forwarded packet (runs: {shown})")
    if "baseline" in results:
        ratio = statistics.median(results["this"]) / statistics.median(results["baseline"])
        print(f"this / baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
