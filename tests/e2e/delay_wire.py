"""A wire with a delay and loss: copies every Ethernet frame between two interfaces
of the network namespace it runs in, each one after a set delay, in both
directions, and loses a set share of them at random.

The test machines' kernel has no netem, so the fault tests put this between the
member's namespace and the server's: the kernel's own stacks on both ends see a
real link whose frames arrive late or not at all. A frame lost here is lost as on
a real link: the sender learns of it only by its absence. Usage (as root, inside
the namespace):

    python delay_wire.py IFACE_A IFACE_B

Standard input takes commands, one per line: `delay <milliseconds>`,
`loss <percent>` (100: nothing gets through) and `loss-from <interface> <percent>`
(frames arriving on that interface only: one way). The wire stops
when standard input closes. It prints `ready` once both interfaces are open.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4  # a frame this host sent: not to be copied back
FRAME_BYTES = 65536


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def with_checksums(frame: bytes) -> bytes:
    """The frame with its TCP or UDP checksum computed. A sender's veth leaves it to
    "the hardware" (checksum offload), and there is none: the frame as captured
    would be dropped by the receiving stack."""
    if len(frame) < 34 or int.from_bytes(frame[12:14], "big") != ETH_P_IP:
        return frame
    header_length = (frame[14] & 0x0F) * 4
    protocol = frame[23]
    total_length = int.from_bytes(frame[16:18], "big")
    start = 14 + header_length
    segment = bytearray(frame[start : 14 + total_length])
    if protocol == 6 and len(segment) >= 20:
        offset = 16
    elif protocol == 17 and len(segment) >= 8:
        offset = 6
    else:
        return frame
    segment[offset : offset + 2] = b"\0\0"
    pseudo = frame[26:34] + bytes([0, protocol]) + len(segment).to_bytes(2, "big")
    checksum = 0xFFFF - _sum16(pseudo + bytes(segment))
    if protocol == 17 and checksum == 0:
        checksum = 0xFFFF
    segment[offset : offset + 2] = checksum.to_bytes(2, "big")
    return frame[:start] + bytes(segment) + frame[14 + total_length :]


class Wire:
    def __init__(self, first: str, second: str) -> None:
        self.delay = 0.0
        self.loss = 0.0  # share of frames lost, 0 to 1
        self.loss_from = {first: 0.0, second: 0.0}  # more, for frames from one side
        self.sockets = {name: self._open(name) for name in (first, second)}
        self.peer = {first: second, second: first}

    @staticmethod
    def _open(interface: str) -> socket.socket:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        raw.bind((interface, ETH_P_ALL))
        raw.setblocking(False)
        return raw

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        for name, raw in self.sockets.items():
            loop.add_reader(raw.fileno(), self._copy, loop, name)

    def _copy(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        raw = self.sockets[name]
        target = self.sockets[self.peer[name]]
        while True:
            try:
                frame, address = raw.recvfrom(FRAME_BYTES)
            except BlockingIOError:
                return
            if address[2] == PACKET_OUTGOING:
                continue
            loss = max(self.loss, self.loss_from[name])
            if loss and random.random() < loss:
                continue
            frame = with_checksums(frame)
            if self.delay > 0:
                loop.call_later(self.delay, self._send, target, frame)
            else:
                self._send(target, frame)

    @staticmethod
    def _send(target: socket.socket, frame: bytes) -> None:
        try:
            target.send(frame)
        except OSError:
            pass  # a full queue drops the frame, as a link would


async def main(first: str, second: str) -> None:
    loop = asyncio.get_running_loop()
    wire = Wire(first, second)
    wire.start(loop)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        parts = line.decode().split()
        if len(parts) == 2 and parts[0] == "delay":
            wire.delay = float(parts[1]) / 1000
            print(f"delay {parts[1]}", flush=True)
        elif len(parts) == 2 and parts[0] == "loss":
            wire.loss = float(parts[1]) / 100
            print(f"loss {parts[1]}", flush=True)
        elif len(parts) == 3 and parts[0] == "loss-from" and parts[1] in wire.loss_from:
            wire.loss_from[parts[1]] = float(parts[2]) / 100
            print(f"loss-from {parts[1]} {parts[2]}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
