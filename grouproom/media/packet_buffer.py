"""The recent packets of one publication, kept for retransmission on NACK."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class PacketBuffer(Generic[T]):
    """A ring of the last `capacity` packets, indexed by 16-bit sequence number."""

    def __init__(self, capacity: int = 512) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self._mask = capacity - 1
        self._seqs: list[int | None] = [None] * capacity
        self._items: list[T | None] = [None] * capacity

    def put(self, seq: int, item: T) -> None:
        index = seq & self._mask
        self._seqs[index] = seq
        self._items[index] = item

    def get(self, seq: int) -> T | None:
        index = seq & self._mask
        if self._seqs[index] != seq:
            return None
        return self._items[index]

    def clear(self) -> None:
        for index in range(len(self._seqs)):
            self._seqs[index] = None
            self._items[index] = None
