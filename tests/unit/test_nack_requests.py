"""Asking a publisher for lost packets again, and the round trip it waits for."""

from __future__ import annotations

from grouproom.media.nack import MAX_AGE, MAX_MISSING, MAX_REQUESTS, NackRequests
from grouproom.media.round_trip import DEFAULT, REMEMBERED_REPORTS, RoundTrip, middle_ntp_bits


def receive(requests: NackRequests, seqs: range | list[int], now: float = 0.0) -> list[int]:
    asked: list[int] = []
    for seq in seqs:
        lost = requests.received(seq, now)
        assert lost is not None
        asked.extend(lost)
    return asked


def test_a_gap_is_asked_for_at_once() -> None:
    requests = NackRequests()
    assert receive(requests, [10, 11, 14, 15]) == [12, 13]
    assert sorted(requests.missing) == [12, 13]


def test_a_packet_that_arrives_late_is_not_asked_for_again() -> None:
    requests = NackRequests()
    receive(requests, [10, 11, 14])
    assert receive(requests, [12]) == []
    assert list(requests.missing) == [13]
    assert requests.due(1.0, 0.1) == [13]


def test_a_missing_packet_is_asked_for_again_each_round_trip() -> None:
    requests = NackRequests()
    receive(requests, [1, 3], now=0.0)
    # Nothing else arrives (no later gap shows): the request is repeated anyway,
    # once the round trip has passed, not before.
    assert requests.due(0.29, 0.3) == []
    assert requests.due(0.30, 0.3) == [2]
    assert requests.due(0.45, 0.3) == []
    assert requests.due(0.61, 0.3) == [2]


def test_a_missing_packet_is_given_up_after_the_last_request() -> None:
    requests = NackRequests()
    receive(requests, [1, 3], now=0.0)
    asked = 1
    for step in range(1, 3 * MAX_REQUESTS):
        asked += len(requests.due(step * 1.0, 0.1))
    assert asked == MAX_REQUESTS
    assert not requests.missing
    assert requests.given_up == 1
    assert requests.requests == MAX_REQUESTS


def test_sequence_numbers_wrap_around() -> None:
    requests = NackRequests()
    assert receive(requests, [65534, 65535, 1, 2]) == [0]
    # 65535 is older than 2, not 65,533 packets ahead of it.
    assert receive(requests, [65535, 0]) == []
    assert not requests.missing


def test_a_restarted_stream_asks_for_a_keyframe_instead() -> None:
    requests = NackRequests()
    receive(requests, [100])
    assert requests.received(100 + MAX_MISSING + 2, 0.0) is None
    assert not requests.missing
    # From there on, gaps are asked for as before.
    assert receive(requests, [100 + MAX_MISSING + 4]) == [100 + MAX_MISSING + 3]


def test_packets_too_far_behind_are_given_up() -> None:
    requests = NackRequests()
    receive(requests, [0, 2])
    receive(requests, range(3, MAX_AGE + 2))
    assert list(requests.missing) == [1]
    receive(requests, [MAX_AGE + 2, MAX_AGE + 4])
    # 1 is now more than MAX_AGE behind; MAX_AGE + 3 is the new gap.
    assert list(requests.missing) == [MAX_AGE + 3]
    assert requests.given_up == 1


def test_reset_forgets_the_old_stream() -> None:
    requests = NackRequests()
    receive(requests, [5, 9])
    requests.reset()
    assert not requests.missing
    assert receive(requests, [40_000, 40_001]) == []


def test_duplicates_change_nothing() -> None:
    requests = NackRequests()
    receive(requests, [7, 9])
    assert receive(requests, [9, 9]) == []
    assert list(requests.missing) == [8]


def test_the_round_trip_comes_from_the_answered_sender_report() -> None:
    round_trip = RoundTrip()
    assert round_trip.seconds == DEFAULT
    ntp = (3_900_000_000 << 32) | 0x4000_0000
    round_trip.report_sent(ntp, now=100.0)
    # The browser held the report 0.5 s before answering; it arrived 0.8 s after
    # it was sent: 0.3 s on the way there and back.
    round_trip.report_answered(middle_ntp_bits(ntp), int(0.5 * 65536), now=100.8)
    assert round_trip.measured is not None
    assert abs(round_trip.seconds - 0.3) < 0.001
    # Later samples move the estimate by an eighth of the difference.
    round_trip.report_sent(ntp + (1 << 32), now=101.0)
    round_trip.report_answered(middle_ntp_bits(ntp + (1 << 32)), 0, now=101.7)
    assert abs(round_trip.seconds - (0.3 + (0.7 - 0.3) / 8)) < 0.001


def test_unknown_or_impossible_answers_are_ignored() -> None:
    round_trip = RoundTrip()
    round_trip.report_sent(1 << 40, now=10.0)
    round_trip.report_answered(0, 0, now=10.1)  # no report seen yet
    round_trip.report_answered(12345, 0, now=10.1)  # a report never sent
    round_trip.report_answered(middle_ntp_bits(1 << 40), 65536 * 2, now=10.1)  # negative
    round_trip.report_answered(middle_ntp_bits(1 << 40), 0, now=30.0)  # stale
    assert round_trip.measured is None


def test_only_the_latest_sender_reports_are_remembered() -> None:
    round_trip = RoundTrip()
    for number in range(1, REMEMBERED_REPORTS + 10):
        round_trip.report_sent(number << 16, now=float(number))
    round_trip.report_answered(middle_ntp_bits(1 << 16), 0, now=1.5)
    assert round_trip.measured is None  # forgotten
    newest = REMEMBERED_REPORTS + 9
    round_trip.report_answered(middle_ntp_bits(newest << 16), 0, now=newest + 0.2)
    assert round_trip.measured is not None and abs(round_trip.measured - 0.2) < 1e-9
