"""Reading the fields of a request's `data`, with exact types.

Every failure is an `invalid_data` ProtocolError that names the field. JSON
true/false are never accepted as numbers, nor numbers as booleans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from grouproom.protocol.errors import ErrorCode, ProtocolError

# One search instead of a Python loop over every character (SDP offers are kilobytes).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: str) -> bool:
    return _LONE_SURROGATE.search(value) is not None


class Fields:
    def __init__(self, data: Mapping[str, object], request_id: str) -> None:
        self.data = data
        self.request_id = request_id

    def error(self, name: str, problem: str) -> ProtocolError:
        return ProtocolError(ErrorCode.INVALID_DATA, f"{name} {problem}", self.request_id)

    def string(self, name: str, *, min_length: int, max_length: int) -> str:
        if name not in self.data:
            raise self.error(name, "is missing")
        value = self.optional_string(name, min_length=min_length, max_length=max_length)
        if value is None:
            raise self.error(name, "must be a string")
        return value

    def optional_string(self, name: str, *, min_length: int, max_length: int) -> str | None:
        """A string, or None when the field is missing or null."""
        value = self.data.get(name)
        if value is None:
            return None
        if type(value) is not str:
            raise self.error(name, "must be a string")
        if len(value) < min_length:
            raise self.error(name, f"must have at least {min_length} characters")
        if len(value) > max_length:
            raise self.error(name, f"must have at most {max_length} characters")
        if _has_lone_surrogate(value):
            raise self.error(name, "contains an invalid character")
        return value

    def string_list(
        self, name: str, *, max_items: int, min_length: int, max_length: int
    ) -> list[str]:
        """An array of strings, each checked like `string`."""
        if name not in self.data:
            raise self.error(name, "is missing")
        value = self.data[name]
        if type(value) is not list:
            raise self.error(name, "must be an array")
        if len(value) > max_items:
            raise self.error(name, f"must have at most {max_items} entries")
        items = []
        for index, item in enumerate(value):
            entry = Fields({"item": item}, self.request_id)
            try:
                items.append(entry.string("item", min_length=min_length, max_length=max_length))
            except ProtocolError as error:
                problem = error.message.removeprefix("item ")
                raise self.error(f"{name}[{index}]", problem) from None
        return items

    def boolean(self, name: str) -> bool:
        if name not in self.data:
            raise self.error(name, "is missing")
        value = self.data[name]
        if type(value) is not bool:
            raise self.error(name, "must be true or false")
        return value

    def optional_boolean(self, name: str, default: bool) -> bool:
        if name not in self.data:
            return default
        return self.boolean(name)

    def optional_integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        """An integer, or None when the field is missing or null."""
        value = self.data.get(name)
        if value is None:
            return None
        if type(value) is not int:
            raise self.error(name, "must be an integer")
        if not minimum <= value <= maximum:
            raise self.error(name, f"must be between {minimum} and {maximum}")
        return value
