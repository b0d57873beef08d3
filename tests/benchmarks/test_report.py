"""The bench's report reads the CPU targets on the turn-about pairs when a run
has them, and on the run's own rows otherwise."""

from __future__ import annotations

from typing import Any

from benchmarks.report import pairs, placement, table, targets


def record(
    server: str,
    us_per_packet: float,
    cores: float,
    pair: int = 0,
    server_cpus: tuple[int, ...] = (1,),
    bot_cpus: tuple[int, ...] = (0,),
) -> dict[str, Any]:
    return {
        "server": server,
        "scenario": "grid",
        "members": 12,
        "rooms": 1,
        "seconds": 15.0,
        "cores": cores,
        "us_per_packet": us_per_packet,
        "rss_mb": 140.0,
        "delivery_ratio": 1.0,
        "delay_p50_ms": 0.5,
        "delay_p99_ms": 8.0,
        "first_frame_ms": 90.0,
        "packets_per_second": 15_500,
        "bot_cores": 0.4,
        "kernel_share": 0.4,
        "first_frame_p95_ms": 150.0,
        "joined": 12,
        "note": "",
        "audio_delay_p99_ms": 2.0,
        "pair": pair,
        "server_cpus": list(server_cpus),
        "bot_cpus": list(bot_cpus),
    }


def cpu_row(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("| CPU per forwarded"))


def test_the_cpu_targets_are_read_on_the_median_of_the_pairs() -> None:
    records = [
        record("grouproom", 18.0, 0.28),
        record("janus", 9.0, 0.15),  # the run's own rows: 2.00x, minutes apart
        record("grouproom", 8.0, 0.13, pair=1),
        record("janus", 20.0, 0.3, pair=1),  # 0.40x
        record("grouproom", 9.0, 0.14, pair=2),
        record("janus", 20.0, 0.3, pair=2),  # 0.45x
        record("grouproom", 12.0, 0.19, pair=3),
        record("janus", 20.0, 0.3, pair=3),  # 0.60x
    ]
    assert [len(both) for both in pairs(records, 12)] == [2, 2, 2]
    text = targets(records)
    row = cpu_row(text)
    assert (
        "0.45x, median of 3 pairs run back to back, each server on cores of its own "
        "(0.40, 0.45, 0.60)"
    ) in row
    assert "the run's own row 2.00x" in row
    assert row.endswith("| met |")
    cores = next(line for line in text.splitlines() if "0.2 core" in line)
    assert "0.14 core, median of the pairs, each" in cores and cores.endswith("| met |")
    assert "| grid (pair 2) |" in table(records)


def test_without_pairs_the_runs_own_rows_count() -> None:
    records = [record("grouproom", 18.0, 0.28), record("janus", 9.0, 0.15)]
    row = cpu_row(targets(records))
    assert "18.0 µs vs 9.0 µs: 2.00x" in row
    assert row.endswith("| **not met** |")
    # A pair with one server missing (Janus failed) is not counted.
    records.append(record("grouproom", 8.0, 0.13, pair=1))
    assert pairs(records, 12) == []
    assert "2.00x" in cpu_row(targets(records))


def test_a_server_has_cores_of_its_own_only_where_no_bot_ran_on_them() -> None:
    assert placement(record("grouproom", 9.0, 0.14)) == "own"
    assert placement(record("grouproom", 9.0, 0.14, server_cpus=(0, 1))) == "shared"
    assert placement(record("grouproom", 9.0, 0.14, server_cpus=(0, 1), bot_cpus=(0, 1))) == (
        "shared"
    )
    earlier = record("grouproom", 9.0, 0.14)
    del earlier["server_cpus"], earlier["bot_cpus"]  # results from before they existed
    assert placement(earlier) == "shared"
    assert table([earlier, record("janus", 20.0, 0.3)]).splitlines()[-1].endswith("| own |")
    # A pair in which one server shared the bots' cores is not said to be apart.
    records = [
        record("grouproom", 18.0, 0.28),
        record("janus", 9.0, 0.15),
        record("grouproom", 8.0, 0.13, pair=1),
        record("janus", 20.0, 0.3, pair=1, server_cpus=(0, 1), bot_cpus=(0, 1)),
    ]
    assert "cores of its own" not in cpu_row(targets(records))
