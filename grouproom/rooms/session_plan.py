"""A session plan: the named phases of a group's meeting, with their durations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PHASE_NAME_MAX_LENGTH = 60
PHASE_MAX_MINUTES = 240
PLAN_MAX_PHASES = 12
PLAN_MAX_MINUTES = 6 * 60


class PhaseKind(StrEnum):
    ARRIVAL = "arrival"
    # A round: members speak one after the other in a shown order (check-in,
    # check-out); by default everyone but the speaker and the therapists is muted.
    ROUND = "round"
    THEME = "theme"  # open group conversation
    CLOSE = "close"


class PlanError(ValueError):
    """A session plan the server will not store."""


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    kind: PhaseKind
    minutes: int

    def __post_init__(self) -> None:
        name = self.name.strip()
        if not name or len(name) > PHASE_NAME_MAX_LENGTH:
            raise PlanError(f"a phase name has 1 to {PHASE_NAME_MAX_LENGTH} characters")
        if name != self.name:
            raise PlanError("a phase name does not start or end with spaces")
        if not 1 <= self.minutes <= PHASE_MAX_MINUTES:
            raise PlanError(f"a phase lasts 1 to {PHASE_MAX_MINUTES} minutes")

    @property
    def seconds(self) -> int:
        return self.minutes * 60


@dataclass(frozen=True, slots=True)
class SessionPlan:
    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.phases) <= PLAN_MAX_PHASES:
            raise PlanError(f"a plan has 1 to {PLAN_MAX_PHASES} phases")
        if self.total_minutes > PLAN_MAX_MINUTES:
            raise PlanError(f"a plan lasts at most {PLAN_MAX_MINUTES} minutes")

    @property
    def total_minutes(self) -> int:
        return sum(phase.minutes for phase in self.phases)


_DEFAULT_NAMES = {
    "en": ("Arrival", "Check-in round", "Theme", "Check-out round", "Close"),
    "nl": ("Aankomst", "Check-inronde", "Thema", "Check-outronde", "Afsluiting"),
}
_DEFAULT_SHAPE = (
    (PhaseKind.ARRIVAL, 5),
    (PhaseKind.ROUND, 15),
    (PhaseKind.THEME, 50),
    (PhaseKind.ROUND, 15),
    (PhaseKind.CLOSE, 5),
)


def default_plan(language: str) -> SessionPlan:
    """Arrival 5 min, check-in round 15, theme 50, check-out round 15, close 5; phase
    names in the group's language ("nl" or "en")."""
    names = _DEFAULT_NAMES[language]
    return SessionPlan(
        tuple(
            Phase(name, kind, minutes)
            for name, (kind, minutes) in zip(names, _DEFAULT_SHAPE, strict=True)
        )
    )
