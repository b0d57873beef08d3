"""Pure RTP logic of the media plane: keyframes, munging, buffers, bandwidth."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from aiortc.rate import BandwidthUsage, RateCounter, RemoteBitrateEstimator
from aiortc.rtp import RtcpPacket, RtcpSenderInfo, RtcpSrPacket
from hypothesis import example, given, settings
from hypothesis import strategies as st

import grouproom.media.endpoints  # noqa: F401  (registers the classes the compiled steps read)
from grouproom.media import copy_step
from grouproom.media.bandwidth import (
    BandwidthEstimate,
    CongestionSignal,
    LeanBitrateEstimator,
    LeanOveruseEstimator,
    LeanRateCounter,
    SentRate,
    share_level,
)
from grouproom.media.incoming_budget import IncomingBudget
from grouproom.media.keyframe import (
    h264_starts_keyframe,
    starts_keyframe,
    vp8_picture_id,
    vp8_starts_keyframe,
)
from grouproom.media.munger import SEQ_MOD, Munger, PictureIdMunger, seq_newer
from grouproom.media.packet_buffer import PacketBuffer
from grouproom.media.subscription import sender_report

# -- VP8 ---------------------------------------------------------------------------

# Descriptor: X=1 S=1 PID=0; I=1 with a 15-bit picture id; then payload header.
VP8_KEY = bytes([0x90, 0x80, 0x81, 0x23, 0x50, 0x0F, 0x00, 0x9D])
VP8_DELTA = bytes([0x90, 0x80, 0x81, 0x24, 0x31, 0x04, 0x00, 0xE4])


def test_vp8_keyframe_with_picture_id() -> None:
    assert vp8_starts_keyframe(VP8_KEY)
    assert not vp8_starts_keyframe(VP8_DELTA)


def test_vp8_keyframe_minimal_descriptor() -> None:
    assert vp8_starts_keyframe(bytes([0x10, 0x50]))  # S=1, P=0
    assert not vp8_starts_keyframe(bytes([0x10, 0x51]))  # P=1: inter frame


def test_vp8_continuation_packet_is_not_a_start() -> None:
    assert not vp8_starts_keyframe(bytes([0x00, 0x50]))  # S=0
    assert not vp8_starts_keyframe(bytes([0x11, 0x50]))  # partition 1


def test_vp8_seven_bit_picture_id_tl0_and_tid() -> None:
    # X=1 S=1; I L T set; 7-bit picture id; TL0PICIDX; TID byte; then key header.
    assert vp8_starts_keyframe(bytes([0x90, 0xE0, 0x05, 0x01, 0x20, 0x50]))
    assert not vp8_starts_keyframe(bytes([0x90, 0xE0, 0x05, 0x01, 0x20, 0x51]))


@pytest.mark.parametrize(
    "payload", [b"", b"\x90", b"\x90\x80", b"\x90\x80\x81", b"\x90\x80\x81\x23"]
)
def test_vp8_truncated_payloads_are_not_keyframes(payload: bytes) -> None:
    assert not vp8_starts_keyframe(payload)


# -- H264 --------------------------------------------------------------------------


def test_h264_single_nal_units() -> None:
    assert h264_starts_keyframe(bytes([0x65, 0x88]))  # IDR
    assert h264_starts_keyframe(bytes([0x67, 0x42]))  # SPS
    assert not h264_starts_keyframe(bytes([0x41, 0x9A]))  # non-IDR slice


def test_h264_stap_a_with_sps() -> None:
    stap = bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE])
    assert h264_starts_keyframe(stap)
    only_pps = bytes([0x78, 0x00, 0x02, 0x68, 0xCE])
    assert not h264_starts_keyframe(only_pps)
    broken = bytes([0x78, 0x00, 0x09, 0x67])
    assert not h264_starts_keyframe(broken)


def test_h264_fu_a_start_of_idr_only() -> None:
    assert h264_starts_keyframe(bytes([0x7C, 0x85, 0x00]))  # FU-A start, IDR
    assert not h264_starts_keyframe(bytes([0x7C, 0x05, 0x00]))  # FU-A middle
    assert not h264_starts_keyframe(bytes([0x7C, 0x81, 0x00]))  # FU-A start, non-IDR


def test_dispatch_by_mime_type() -> None:
    assert starts_keyframe("video/VP8", VP8_KEY)
    assert starts_keyframe("video/H264", bytes([0x65]))
    assert not starts_keyframe("audio/opus", VP8_KEY)


# -- munger ------------------------------------------------------------------------


def test_seq_newer_wraps() -> None:
    assert seq_newer(1, 0)
    assert seq_newer(0, SEQ_MOD - 1)
    assert not seq_newer(SEQ_MOD - 1, 0)
    assert not seq_newer(5, 5)


def test_munger_keeps_consecutive_numbers_across_a_pause() -> None:
    munger = Munger(clock_rate=90000)
    first = munger.rewrite(1000, 50_000, now=0.0)
    assert first is not None
    second = munger.rewrite(1001, 53_000, now=0.033)
    assert second == ((first[0] + 1) % SEQ_MOD, (first[1] + 3000) % (1 << 32))
    munger.pause()
    # 500 packets and 2 seconds later the stream resumes.
    resumed = munger.rewrite(1501, 233_000, now=2.033)
    assert resumed is not None
    assert resumed[0] == (second[0] + 1) % SEQ_MOD
    assert (resumed[1] - second[1]) % (1 << 32) == 2 * 90000


def test_munger_maps_late_packets_and_drops_those_from_before_a_resume() -> None:
    munger = Munger(clock_rate=48000)
    a = munger.rewrite(10, 0, now=0.0)
    c = munger.rewrite(12, 1920, now=0.04)
    b = munger.rewrite(11, 960, now=0.05)  # late, in the same run
    assert a is not None and b is not None and c is not None
    assert b[0] == (a[0] + 1) % SEQ_MOD and c[0] == (a[0] + 2) % SEQ_MOD
    munger.pause()
    munger.rewrite(100, 90_000, now=1.0)
    assert munger.rewrite(13, 2880, now=1.01) is None  # from before the pause


def test_munger_original_seq_for_nacks() -> None:
    munger = Munger(clock_rate=90000)
    out = [munger.rewrite(seq, seq * 10, now=seq / 100) for seq in range(65530, 65540)]
    outs = [o[0] for o in out if o is not None]
    assert [munger.original_seq(o) for o in outs] == [s % SEQ_MOD for s in range(65530, 65540)]
    assert munger.original_seq((outs[-1] + 1) % SEQ_MOD) is None  # not sent yet
    assert munger.original_seq((outs[0] - 1) % SEQ_MOD) is None  # before the run
    munger.pause()
    assert munger.original_seq(outs[-1]) is None


def test_munger_sequence_numbers_wrap() -> None:
    munger = Munger(clock_rate=90000)
    munger.last_seq = SEQ_MOD - 2
    outs = [munger.rewrite(seq, 0, now=0.0) for seq in (7, 8, 9, 10)]
    assert [o[0] for o in outs if o] == [SEQ_MOD - 1, 0, 1, 2]


# A step of an incoming stream: ("next", gap) a newer packet `gap` numbers on,
# ("late", back) one that many numbers behind the newest, ("pause", 0).
munger_steps = st.lists(
    st.one_of(
        st.tuples(st.just("next"), st.integers(1, 3)),
        st.tuples(st.just("late"), st.integers(0, 60)),
        st.tuples(st.just("pause"), st.just(0)),
    ),
    max_size=120,
)


@settings(derandomize=True, max_examples=300)
@given(start=st.integers(0, SEQ_MOD - 1), first_out=st.integers(0, SEQ_MOD - 1), steps=munger_steps)
def test_munger_numbers_follow_the_stream_and_continue_across_pauses(
    start: int, first_out: int, steps: list[tuple[str, int]]
) -> None:
    """Within a run an outgoing number is the incoming one plus a fixed offset; the
    first packet after a pause follows the newest one sent; a late packet maps with
    the run's offset, or is dropped when it is from before the run."""
    munger = Munger(clock_rate=90000)
    munger.last_seq = first_out
    newest_in = start
    newest_out: int | None = None
    run_start_in: int | None = None
    offset: int | None = None
    now = 0.0
    pending_first = True
    for kind, amount in [("next", 0), *steps]:
        now += 0.02
        if kind == "pause":
            munger.pause()
            pending_first = True
            continue
        if kind == "next":
            newest_in = (newest_in + amount) % SEQ_MOD
            seq = newest_in
        else:
            seq = (newest_in - amount) % SEQ_MOD
        result = munger.rewrite(seq, seq * 3000 % (1 << 32), now)
        if pending_first:
            assert result is not None
            expected_first = (first_out if newest_out is None else newest_out) + 1
            assert result[0] == expected_first % SEQ_MOD
            offset = (result[0] - seq) % SEQ_MOD
            run_start_in = seq
            newest_in = seq
            pending_first = False
        elif kind == "late" and run_start_in is not None and seq_newer(run_start_in, seq):
            assert result is None  # from before this run
            continue
        assert result is not None and offset is not None
        assert result[0] == (seq + offset) % SEQ_MOD
        if kind == "next" or newest_out is None or seq_newer(result[0], newest_out):
            newest_out = result[0]
        assert munger.last_seq == newest_out


def test_vp8_picture_id_is_located() -> None:
    assert vp8_picture_id(VP8_KEY) == (2, 15)
    assert vp8_picture_id(bytes([0x90, 0x80, 0x05, 0x50])) == (2, 7)
    assert vp8_picture_id(bytes([0x90, 0x00, 0x50])) is None  # I=0
    assert vp8_picture_id(bytes([0x10, 0x50, 0x00])) is None  # X=0


def vp8_packet(picture_id: int) -> bytes:
    return bytes([0x90, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF, 0x50, 0x0F])


def picture_id_of(payload: bytes) -> int:
    return int.from_bytes(payload[2:4], "big") & 0x7FFF


def test_picture_ids_pass_untouched_for_the_first_publisher() -> None:
    munger = PictureIdMunger()
    first = vp8_packet(30000)
    assert munger.rewrite(first) is first  # no copy while the offset is 0
    assert picture_id_of(munger.rewrite(vp8_packet(30001))) == 30001


def test_picture_ids_continue_across_publishers_and_wrap() -> None:
    munger = PictureIdMunger()
    for picture_id in (32766, 32767, 0):
        munger.rewrite(vp8_packet(picture_id))
    munger.new_source()
    rewritten = munger.rewrite(vp8_packet(1234))
    assert picture_id_of(rewritten) == 1
    assert rewritten[4:] == vp8_packet(1234)[4:]  # the rest of the payload is kept
    assert picture_id_of(munger.rewrite(vp8_packet(1235))) == 2
    assert picture_id_of(munger.rewrite(vp8_packet(1234))) == 1  # a late packet
    munger.new_source()
    assert picture_id_of(munger.rewrite(vp8_packet(20))) == 3


def short_vp8_packet(picture_id: int) -> bytes:
    """A VP8 payload with a 7-bit PictureID (M=0)."""
    return bytes([0x90, 0x80, picture_id & 0x7F, 0x50, 0x0F])


def test_seven_bit_picture_ids_wrap_at_128_and_continue_across_publishers() -> None:
    munger = PictureIdMunger()
    for picture_id in (126, 127, 0, 1):  # a 7-bit PictureID wraps at 128
        assert munger.rewrite(short_vp8_packet(picture_id)) == short_vp8_packet(picture_id)
    munger.new_source()
    rewritten = munger.rewrite(short_vp8_packet(50))
    assert rewritten[2] == 2  # after the last one sent (1), not after the 127 before the wrap
    assert rewritten[3:] == short_vp8_packet(50)[3:]
    assert munger.rewrite(short_vp8_packet(51))[2] == 3
    # A source with 15-bit IDs goes on from there in its own width.
    munger.new_source()
    assert picture_id_of(munger.rewrite(vp8_packet(20000))) == 4


def test_a_fifteen_bit_picture_id_cut_short_is_not_located() -> None:
    assert vp8_picture_id(bytes([0x90, 0x80, 0x81])) is None  # M=1 but one byte left
    assert vp8_picture_id(bytes([0x90, 0x80, 0x81, 0x02])) == (2, 15)
    assert vp8_picture_id(bytes([0x90, 0x80, 0x01])) == (2, 7)


def test_picture_ids_leave_other_payloads_alone() -> None:
    munger = PictureIdMunger()
    munger.rewrite(vp8_packet(10))
    munger.new_source()
    without_id = bytes([0x10, 0x50, 0x00])
    assert munger.rewrite(without_id) is without_id


# -- packet buffer -----------------------------------------------------------------


def test_packet_buffer_keeps_the_latest_capacity_packets() -> None:
    buffer: PacketBuffer[str] = PacketBuffer(capacity=4)
    for seq in range(65533, 65533 + 6):
        buffer.put(seq % SEQ_MOD, f"p{seq % SEQ_MOD}")
    assert buffer.get(65535) == "p65535"
    assert buffer.get(2) == "p2"
    assert buffer.get(65533) is None  # overwritten
    assert buffer.get(3) is None  # never stored
    buffer.clear()
    assert buffer.get(2) is None


def test_packet_buffer_capacity_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError):
        PacketBuffer(capacity=100)


# -- bandwidth ---------------------------------------------------------------------


def test_bandwidth_is_capped_and_follows_the_slowest_recent_report() -> None:
    estimate = BandwidthEstimate(cap=500_000, floor=150_000)
    assert estimate.target(now=0.0) == 500_000
    estimate.report_incoming(2_000_000, now=0.0)
    assert estimate.target(now=0.0) == 500_000
    estimate.report_subscriber(1, 300_000, now=1.0)
    estimate.report_subscriber(2, 400_000, now=1.0)
    assert estimate.target(now=1.0) == 300_000
    estimate.report_subscriber(1, 50_000, now=2.0)
    assert estimate.target(now=2.0) == 150_000  # never below the floor
    assert estimate.target(now=10.0) == 500_000  # old reports expire
    estimate.report_subscriber(2, 200_000, now=10.0)
    estimate.forget_subscriber(2)
    assert estimate.target(now=10.0) == 500_000


def test_a_receivers_estimate_is_shared_max_min_fair() -> None:
    # Eleven even videos on a 3 Mbit/s line: an even part each.
    assert share_level(3_000_000, [500_000] * 11) == 272_727
    # Too much for the line: a stream below the fair level keeps what it has and
    # leaves the rest to the others.
    assert share_level(400_000, [100_000, 500_000]) == 300_000
    assert share_level(1_200_000, [200_000] * 6 + [500_000]) == 171_428
    # Room to spare (an estimate runs up to 1.5x what arrives): any one stream may
    # grow by what is left, so a busy stream among still ones is not held back.
    assert share_level(2_550_000, [200_000] * 6 + [500_000]) == 1_350_000
    # One stream: the whole estimate, as a REMB for one stream always meant.
    assert share_level(700_000, [900_000]) == 700_000
    assert share_level(700_000, [300_000]) == 700_000
    assert share_level(700_000, []) == 700_000


def test_a_streams_sent_rate_is_measured_over_whole_windows() -> None:
    rate = SentRate()
    assert rate.update(0, now=10.0) is None  # the first read marks the start
    assert rate.update(30_000, now=10.5) is None  # not a window yet
    assert rate.update(62_500, now=11.0) == 500_000
    assert rate.update(70_000, now=11.2) == 500_000  # the same window's figure
    assert rate.update(62_500 + 25_000, now=13.0) == 100_000  # a still camera


def test_a_subscribers_remb_limits_from_its_first_decrease_until_released() -> None:
    signal = CongestionSignal()
    # A browser's estimate ramping up after it joined: no limit.
    assert [signal.update(total) for total in (145_000, 161_000, 206_000)] == [False] * 3
    assert not signal.update(200_000)  # a wobble, not a decrease
    assert signal.update(170_000)  # the estimator saw the queue grow
    assert signal.update(240_000)  # and limits while it recovers
    assert signal.update(200_000)  # falling again within the same episode
    signal.released()
    assert not signal.update(2_000_000)
    assert signal.episodes == 1


def assert_same_estimator_state(
    ours: RemoteBitrateEstimator, theirs: RemoteBitrateEstimator
) -> None:
    """Every part of the two estimators' state, compared exactly (floats too)."""
    assert isinstance(ours, LeanBitrateEstimator)
    counter, their_counter = ours.incoming_bitrate, theirs.incoming_bitrate
    assert isinstance(counter, LeanRateCounter)
    assert (counter._origin_ms, counter._origin_index) == (
        their_counter._origin_ms,
        their_counter._origin_index,
    )
    assert (counter._total_count, counter._total_value) == (
        their_counter._total.count,
        their_counter._total.value,
    )
    assert counter._counts == [bucket.count for bucket in their_counter._buckets]
    assert counter._values == [bucket.value for bucket in their_counter._buckets]
    assert ours.incoming_bitrate_initialized == theirs.incoming_bitrate_initialized
    for group, their_group in (
        (ours.inter_arrival.current_group, theirs.inter_arrival.current_group),
        (ours.inter_arrival.previous_group, theirs.inter_arrival.previous_group),
    ):
        assert (group is None) == (their_group is None)
        if group is not None and their_group is not None:
            assert vars(group) == vars(their_group)
    estimator, their_estimator = ours.estimator, theirs.estimator
    assert isinstance(estimator, LeanOveruseEstimator)
    for name in (
        "E",
        "_num_of_deltas",
        "_offset",
        "previous_offset",
        "slope",
        "avg_noise",
        "var_noise",
    ):
        assert getattr(estimator, name) == getattr(their_estimator, name), name
    assert list(estimator._history) == their_estimator.ts_delta_hist
    assert vars(ours.detector) == vars(theirs.detector)
    assert vars(ours.rate_control) == vars(theirs.rate_control)
    assert (ours.last_update_ms, ours.ssrcs) == (theirs.last_update_ms, theirs.ssrcs)


EstimatorAdd = Callable[[LeanBitrateEstimator, int, int, int, int], "tuple[int, list[int]] | None"]
# The two ways a LeanBitrateEstimator takes a packet: its Python `add`, and the
# compiled publication step's (_copy_step.estimator_add).
ESTIMATOR_STEPS = ("python", "compiled")


def estimator_add(step: str) -> EstimatorAdd:
    if step == "python":
        return LeanBitrateEstimator.add
    module, why = copy_step.load_compiled()
    assert module is not None, f"the compiled step is {why}"
    compiled: EstimatorAdd = module.estimator_add
    return compiled


def take_packet(
    add: EstimatorAdd,
    ours: LeanBitrateEstimator,
    theirs: RemoteBitrateEstimator,
    arrival_ms: int,
    send_ms: float,
    size: int,
    ssrc: int,
) -> tuple[int, list[int]] | None:
    """A packet sent at `send_ms` (its 24-bit abs-send-time) to both estimators:
    the same answer and the same state after it. Returns aiortc's answer."""
    abs_send_time = int(send_ms * (1 << 18) / 1000) & 0xFFFFFF
    expected = theirs.add(arrival_ms, abs_send_time, size, ssrc)
    assert add(ours, arrival_ms, abs_send_time, size, ssrc) == expected
    assert_same_estimator_state(ours, theirs)
    return expected


@pytest.mark.parametrize("step", ESTIMATOR_STEPS)
def test_lean_bitrate_estimator_gives_aiortcs_estimates(step: str) -> None:
    """The same packets (a 500 kbit/s stream whose path turns congested, then
    recovers, and pauses twice) give the same estimates, step by step, as
    aiortc's own."""
    add = estimator_add(step)
    generator = random.Random(7)
    theirs = RemoteBitrateEstimator()
    ours = LeanBitrateEstimator()
    send_ms = 0.0
    arrival_ms = 0.0
    estimates = 0
    for number in range(6000):
        send_ms += generator.choice((0.0, 0.0, generator.uniform(25.0, 55.0)))  # frames' bursts
        if number in (4500, 5200):
            send_ms += 1500.0  # a camera paused for longer than the rate's window
        congested = 2000 <= number < 3500
        arrival_ms = max(arrival_ms, send_ms) + generator.uniform(0, 6.0 if congested else 1.0)
        size = generator.randint(200, 1200)
        expected = take_packet(add, ours, theirs, int(arrival_ms), send_ms, size, 1234)
        estimates += expected is not None
    assert estimates > 10
    assert ours.estimator.num_of_deltas() == theirs.estimator.num_of_deltas() > 300


@pytest.mark.parametrize("step", ESTIMATOR_STEPS)
def test_the_lean_bitrate_estimator_follows_aiortcs_through_overuse_and_recovery(
    step: str,
) -> None:
    """A queue that builds up on the path (each frame arrives later than the one
    before), then drains: aiortc's detector sees overuse, then underuse, and the
    lean estimator's filter takes the same steps through both."""
    add = estimator_add(step)
    theirs = RemoteBitrateEstimator()
    ours = LeanBitrateEstimator()
    seen = set()
    queue_ms = 0.0
    for frame in range(600):
        send_ms = 1000.0 + frame * 33.0
        if 200 <= frame < 260:
            queue_ms += 4.0  # the path's queue grows
        elif 260 <= frame < 320:
            queue_ms = max(0.0, queue_ms - 4.0)  # and drains
        for packet in range(3):
            arrival_ms = int(3_000_000_000 + send_ms + queue_ms + packet * 0.4)
            take_packet(add, ours, theirs, arrival_ms, send_ms, 1100, 1111)
            seen.add(theirs.detector.state())
    assert seen == set(BandwidthUsage)


@pytest.mark.parametrize("step", ESTIMATOR_STEPS)
def test_the_lean_bitrate_estimator_follows_aiortc_on_a_paced_stream(step: str) -> None:
    """A browser's pacer sends a frame's packets under a millisecond apart: each
    gap in send time is rounded to whole milliseconds (to even at a half) to
    decide whether the packet is in the burst, and a frame is grouped by it."""
    add = estimator_add(step)
    generator = random.Random(11)
    theirs = RemoteBitrateEstimator()
    ours = LeanBitrateEstimator()
    send_ms = 500.0
    arrival_ms = 3_000_000_000
    for _ in range(4000):
        send_ms += generator.choice((0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.5))
        arrival_ms += generator.choice((0, 1, 1, 1, 2))
        take_packet(add, ours, theirs, arrival_ms, send_ms, 1000, 3333)
    assert ours.estimator.num_of_deltas() > 100


@pytest.mark.parametrize("step", ESTIMATOR_STEPS)
def test_the_lean_bitrate_estimator_follows_aiortc_at_a_low_frame_rate(step: str) -> None:
    """A camera on a weak line at 6 frames a second, whose queue on the path
    grows and drains: more than 100 ms between groups, where the detector's
    threshold adapts for at most 100 ms at a time."""
    add = estimator_add(step)
    generator = random.Random(5)
    theirs = RemoteBitrateEstimator()
    ours = LeanBitrateEstimator()
    queue_ms = 0.0
    for frame in range(300):
        send_ms = 2000.0 + frame * 166.7
        if 100 <= frame < 140:
            queue_ms += generator.uniform(0.0, 3.0)
        elif 140 <= frame < 180:
            queue_ms = max(0.0, queue_ms - generator.uniform(0.0, 3.0))
        for packet in range(generator.randint(1, 3)):
            arrival_ms = int(3_000_000_000 + send_ms + queue_ms + packet * 0.7)
            take_packet(add, ours, theirs, arrival_ms, send_ms, 900, 4444)
    assert ours.estimator.num_of_deltas() > 250


@settings(max_examples=200, deadline=None)
@example(  # a send time exactly half the 32-bit range after the group's first
    start_send_ms=0.0, steps=[(0.0, 0.0, 500, 1111), (32_000.0, 0.0, 500, 1111)]
)
@given(
    start_send_ms=st.floats(0, 64_000),
    steps=st.lists(
        st.tuples(
            # ms of send time since the previous packet: the same frame, a paced
            # packet of it (under a millisecond: rounding decides whether it is
            # in the burst), the next ones, a pause longer than the rate's
            # window, or back (reordered)
            st.one_of(
                st.just(0.0),
                st.floats(0.2, 1.5),
                st.floats(1.0, 60.0),
                st.floats(900.0, 70_000.0),
                st.floats(-80.0, -0.5),
            ),
            # ms of arrival after the send time (queueing), or a clock set back
            st.one_of(st.floats(0.0, 3.0), st.floats(3.0, 400.0), st.floats(-50.0, -1.0)),
            st.integers(0, 1300),
            st.sampled_from([1111, 2222]),
        ),
        max_size=300,
    ),
)
@pytest.mark.parametrize("step", ESTIMATOR_STEPS)
def test_the_lean_bitrate_estimator_keeps_aiortcs_state_on_any_trace(
    step: str, start_send_ms: float, steps: list[tuple[float, float, int, int]]
) -> None:
    """Bursts, congestion, pauses, reordering, a clock set back, the 24-bit send
    time wrapping (every 64 s) and a second SSRC: the lean estimator answers and
    holds its state exactly as aiortc's does, packet by packet."""
    add = estimator_add(step)
    theirs = RemoteBitrateEstimator()
    ours = LeanBitrateEstimator()
    send_ms = start_send_ms
    arrival_base = 3_000_000_000.0
    for send_gap, queueing, size, ssrc in steps:
        send_ms += send_gap
        arrival_ms = int(arrival_base + send_ms + queueing)
        take_packet(add, ours, theirs, arrival_ms, send_ms, size, ssrc)


@settings(max_examples=300, deadline=None)
@example(window=3, steps=[(0, 10, False), (3, 10, False), (1, 10, False), (2, 10, False)])
@given(
    window=st.sampled_from([1, 2, 3, 5, 8, 1000]),
    steps=st.lists(
        st.tuples(
            # ms since the previous packet: mostly ahead, some longer than the
            # window, and some backwards (a clock that was set back)
            st.one_of(
                st.integers(0, 9),
                st.integers(0, 40),
                st.integers(-5, -1),
                st.integers(900, 3000),
            ),
            st.integers(0, 1500),
            st.integers(0, 30).map(lambda draw: draw == 0),  # now and then a reset
        ),
        max_size=120,
    ),
)
def test_the_lean_rate_counter_counts_as_aiortcs(
    window: int, steps: list[tuple[int, int, bool]]
) -> None:
    theirs = RateCounter(window, 8000)
    ours = LeanRateCounter(window, 8000)
    now = 10_000
    for gap, size, reset in steps:
        now += gap
        if reset:
            theirs.reset()
            ours.reset()
        assert ours.rate(now) == theirs.rate(now)
        theirs.add(size, now)
        ours.add(size, now)
        assert ours.rate(now) == theirs.rate(now)
        assert ours._total_count == theirs._total.count
        assert ours._total_value == theirs._total.value
        assert ours._origin_ms == theirs._origin_ms
        assert ours._counts == [bucket.count for bucket in theirs._buckets]
        assert ours._values == [bucket.value for bucket in theirs._buckets]


# -- what a participant may send ------------------------------------------------


def test_an_incoming_budget_allows_a_seconds_burst_then_its_rate() -> None:
    budget = IncomingBudget(bytes_per_second=10_000, datagrams_per_second=100)
    # Full at the start: one second's worth of bytes at once (a keyframe).
    assert all(budget.allows(1_000, 5.0) for _ in range(10))
    assert not budget.allows(1_000, 5.0)
    assert budget.dropped == 1
    # Refilled at its rate: 0.25 s brings 2,500 bytes back, not more.
    assert budget.allows(1_000, 5.25) and budget.allows(1_000, 5.25)
    assert not budget.allows(1_000, 5.25)
    assert budget.allows(500, 5.25)
    # Never more than one second's worth, however long it was idle.
    assert all(budget.allows(1_000, 60.0) for _ in range(10))
    assert not budget.allows(1_000, 60.0)
    assert budget.dropped == 3


def test_an_incoming_budget_counts_datagrams_too() -> None:
    budget = IncomingBudget(bytes_per_second=1_000_000, datagrams_per_second=20)
    assert [budget.allows(10, 1.0) for _ in range(21)].count(True) == 20
    assert budget.allows(10, 1.125)  # 0.125 s: two and a half datagrams back
    assert budget.allows(10, 1.125)
    assert not budget.allows(10, 1.125)
    assert budget.dropped == 2
    # A clock that goes back refills nothing.
    assert not budget.allows(10, 0.5)


def test_an_incoming_budget_is_dropped_only_beyond_its_rate_over_time() -> None:
    """Over a long stream of datagrams, what passes is the rate's worth plus the
    first second's; a sender within the rate loses nothing."""
    budget = IncomingBudget(bytes_per_second=50_000, datagrams_per_second=1_000)
    passed = sum(1_000 for step in range(1_000) if budget.allows(1_000, step / 100))
    assert passed == pytest.approx(50_000 * 10 + 50_000, abs=2_000)  # 100 kB/s sent for 10 s
    within = IncomingBudget(bytes_per_second=50_000, datagrams_per_second=1_000)
    assert all(within.allows(1_000, step / 45) for step in range(1_000))  # 45 kB/s
    assert within.dropped == 0


@given(
    rates=st.tuples(st.integers(1, 200_000), st.integers(1, 500)),
    steps=st.lists(
        st.tuples(st.integers(1, 1_500), st.floats(-0.01, 0.2, allow_nan=False)), max_size=80
    ),
)
def test_the_compiled_budget_step_takes_what_allows_takes(
    rates: tuple[int, int], steps: list[tuple[int, float]]
) -> None:
    """The compiled receive step takes a datagram from the budget where `allows`
    would, to the same state; where `allows` refuses, it leaves the budget as it
    was (and `allows` then refuses and counts). Times step back now and then."""
    module, why = copy_step.load_compiled()
    assert module is not None, f"the compiled step is {why}"
    compiled = IncomingBudget(float(rates[0]), float(rates[1]))
    python = IncomingBudget(float(rates[0]), float(rates[1]))
    now = 100.0
    for size, step in steps:
        now += step
        before = (compiled._bytes, compiled._datagrams, compiled._at)
        taken = module.budget_step(compiled, size, now)
        allowed = python.allows(size, now)
        assert taken is allowed
        if not taken:
            assert (compiled._bytes, compiled._datagrams, compiled._at) == before
            assert not compiled.allows(size, now)
        assert (compiled._bytes, compiled._datagrams, compiled._at) == (
            python._bytes,
            python._datagrams,
            python._at,
        )
        assert compiled.dropped == python.dropped


def test_the_compiled_budget_step_leaves_another_class_to_python() -> None:
    class Recording(IncomingBudget):
        __slots__ = ()

    module, _ = copy_step.load_compiled()
    assert module is not None
    assert module.budget_step(Recording(1_000, 10), 10, 1.0) is None
    assert module.budget_step(IncomingBudget(1_000, 10), 10, 1.0) is True


def test_a_participants_budget_is_four_times_what_a_member_sends() -> None:
    budget = IncomingBudget.for_participant(video_max_bitrate=500_000, receive_slots=11)
    # Video at the cap and 128 kbit/s of audio are 78,500 bytes a second; RTCP
    # on twelve streams' pairs about 12,000 more.
    assert 4 * 78_500 < budget.bytes_per_second < 4 * 100_000
    # About 62 video, 50 audio and 120 RTCP datagrams a second.
    assert 4 * 200 < budget.datagrams_per_second < 4 * 250
    larger = IncomingBudget.for_participant(video_max_bitrate=2_000_000, receive_slots=11)
    assert larger.bytes_per_second > budget.bytes_per_second + 4 * 1_500_000 / 8 - 1
    with pytest.raises(ValueError):
        IncomingBudget(0, 10)


# -- sender reports -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    ssrc=st.integers(0, 2**32 - 1),
    ntp_timestamp=st.integers(0, 2**64 - 1),
    rtp_timestamp=st.integers(0, 2**32 - 1),
    packet_count=st.integers(0, 2**40),
    octet_count=st.integers(0, 2**45),
)
def test_a_sender_report_has_aiortcs_bytes(
    ssrc: int, ntp_timestamp: int, rtp_timestamp: int, packet_count: int, octet_count: int
) -> None:
    """The packed sender report is aiortc's, byte for byte, and reads back as one
    (the counts of a long session wrap at 32 bits)."""
    theirs = RtcpSrPacket(
        ssrc=ssrc,
        sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp_timestamp,
            rtp_timestamp=rtp_timestamp,
            packet_count=packet_count & 0xFFFFFFFF,
            octet_count=octet_count & 0xFFFFFFFF,
        ),
    )
    ours = sender_report(ssrc, ntp_timestamp, rtp_timestamp, packet_count, octet_count)
    assert ours == bytes(theirs)
    (parsed,) = RtcpPacket.parse(ours)
    assert isinstance(parsed, RtcpSrPacket)
    assert parsed.ssrc == ssrc and parsed.sender_info == theirs.sender_info
