"""Who someone is in a therapy group."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    LEAD_THERAPIST = "lead_therapist"
    COTHERAPIST = "cotherapist"
    MEMBER = "member"
    # A trainee of a training institute: sees and hears, is neither seen nor heard,
    # and is listed for everyone as an observer.
    OBSERVER = "observer"

    @property
    def is_moderator(self) -> bool:
        return self in (Role.LEAD_THERAPIST, Role.COTHERAPIST)

    @property
    def is_seen_and_heard(self) -> bool:
        return self is not Role.OBSERVER
