"""Invite tokens, session plans and ground rules."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouproom.rooms.ground_rules import GroundRules, RulesError
from grouproom.rooms.invites import (
    InviteClaims,
    InviteError,
    InviteProblem,
    make_invite,
    read_invite,
)
from grouproom.rooms.session_plan import Phase, PhaseKind, PlanError, SessionPlan, default_plan

SECRET = b"k" * 32
CLAIMS = InviteClaims("group-1", "member-7", serial=2, expires_at=1_000_000)


def test_an_invite_reads_back_until_it_expires() -> None:
    token = make_invite(SECRET, CLAIMS)
    assert read_invite(SECRET, token, now=999_999) == CLAIMS
    with pytest.raises(InviteError) as refused:
        read_invite(SECRET, token, now=1_000_000)
    assert refused.value.problem is InviteProblem.EXPIRED


def test_a_token_from_another_secret_or_altered_is_refused() -> None:
    token = make_invite(SECRET, CLAIMS)
    other = make_invite(b"x" * 32, CLAIMS)
    payload, signature = token.split(".")
    forged_claims = InviteClaims("group-1", "member-8", 2, 1_000_000)
    forged_payload = make_invite(b"x" * 32, forged_claims).split(".")[0]
    for bad in (other, f"{forged_payload}.{signature}", f"{payload}.{signature[:-2]}AA"):
        with pytest.raises(InviteError) as refused:
            read_invite(SECRET, bad, now=0)
        assert refused.value.problem is InviteProblem.BAD_SIGNATURE


@pytest.mark.parametrize("token", ["", "no-dot", "a.b.c", "é.x", "x" * 600])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InviteError) as refused:
        read_invite(SECRET, token, now=0)
    assert refused.value.problem is InviteProblem.MALFORMED


def test_a_signed_payload_of_the_wrong_shape_is_malformed() -> None:
    # Signed with the right secret, but not the claims the server writes.
    for body in (b"[1]", b'{"g":"a","m":"b","s":"2","e":5}', b"not json"):
        payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        digest = hmac.new(SECRET, payload.encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        with pytest.raises(InviteError) as refused:
            read_invite(SECRET, f"{payload}.{signature}", now=0)
        assert refused.value.problem is InviteProblem.MALFORMED


def test_a_short_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        make_invite(b"short", CLAIMS)


@given(st.text(max_size=700))
def test_any_text_is_a_clear_refusal_never_a_crash(token: str) -> None:
    with pytest.raises(InviteError):
        read_invite(SECRET, token, now=0)


def test_the_default_plan_in_both_languages() -> None:
    for language in ("nl", "en"):
        plan = default_plan(language)
        assert [(p.kind, p.minutes) for p in plan.phases] == [
            (PhaseKind.ARRIVAL, 5),
            (PhaseKind.ROUND, 15),
            (PhaseKind.THEME, 50),
            (PhaseKind.ROUND, 15),
            (PhaseKind.CLOSE, 5),
        ]
        assert plan.total_minutes == 90
    assert default_plan("nl").phases[1].name == "Check-inronde"
    assert default_plan("en").phases[1].name == "Check-in round"


@pytest.mark.parametrize(
    ("name", "minutes"),
    [("", 5), ("  ", 5), (" Theme", 5), ("x" * 61, 5), ("Theme", 0), ("Theme", 241)],
)
def test_a_phase_needs_a_name_and_a_sensible_duration(name: str, minutes: int) -> None:
    with pytest.raises(PlanError):
        Phase(name, PhaseKind.THEME, minutes)


def test_a_plan_has_one_to_twelve_phases_and_at_most_six_hours() -> None:
    with pytest.raises(PlanError):
        SessionPlan(())
    with pytest.raises(PlanError):
        SessionPlan(tuple(Phase(f"P{i}", PhaseKind.THEME, 5) for i in range(13)))
    with pytest.raises(PlanError):
        SessionPlan(tuple(Phase(f"P{i}", PhaseKind.THEME, 200) for i in range(2)))
    assert SessionPlan((Phase("Only", PhaseKind.THEME, 240),)).total_minutes == 240


def test_editing_the_rules_makes_a_new_version() -> None:
    first = GroundRules(1, "Be on time.")
    second = first.revised("Be on time. Cameras on.", chat_enabled=False)
    assert (second.version, second.chat_enabled) == (2, False)
    assert first.text == "Be on time."  # the old version is untouched
    for bad in ("", "   ", "x" * 10_001):
        with pytest.raises(RulesError):
            GroundRules(1, bad)
    with pytest.raises(RulesError):
        GroundRules(0, "Be on time.")
