"""A group's ground rules: versioned text, shown and accepted before entering."""

from __future__ import annotations

from dataclasses import dataclass

RULES_MAX_LENGTH = 10_000


class RulesError(ValueError):
    """Ground rules the server will not store."""


@dataclass(frozen=True, slots=True)
class GroundRules:
    """One version of a group's ground rules. Editing makes a new version; old
    versions are kept, because acceptances refer to them."""

    version: int
    text: str
    # The rules decide whether the group chat is on for this group.
    chat_enabled: bool = True

    def __post_init__(self) -> None:
        if self.version < 1:
            raise RulesError("versions count from 1")
        if not self.text.strip():
            raise RulesError("ground rules need some text")
        if len(self.text) > RULES_MAX_LENGTH:
            raise RulesError(f"ground rules have at most {RULES_MAX_LENGTH} characters")

    def revised(self, text: str, chat_enabled: bool) -> GroundRules:
        """The next version."""
        return GroundRules(self.version + 1, text, chat_enabled)
