"""The rooms that currently have participants, created on demand."""

from __future__ import annotations

from collections.abc import Iterator

from grouproom.rooms.room import Room


class RoomRegistry:
    """Rooms by id. A room exists from its first join until it empties: any valid
    room id is a room link, and an empty room holds no state worth keeping."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rooms: dict[str, Room] = {}

    def __len__(self) -> int:
        return len(self._rooms)

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def get_or_create(self, room_id: str) -> Room:
        """The room with this id; a new empty one if none exists (ValueError for an
        invalid room id)."""
        room = self._rooms.get(room_id)
        if room is None:
            room = Room(room_id, self.capacity)
            self._rooms[room_id] = room
        return room

    def drop_if_empty(self, room: Room) -> bool:
        """Forget `room` if nobody is in it; True if it was dropped."""
        if not room.is_empty or self._rooms.get(room.id) is not room:
            return False
        del self._rooms[room.id]
        return True
