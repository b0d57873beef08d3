"""The bench: grouproom, Janus and aiortc's MediaRelay, side by side, same bots.

Run it with `scripts/bench` (it makes the private network namespace this needs):

    scripts/bench                 # everything; writes docs/benchmarks/ and docs/performance.md
    scripts/bench --quick         # a short check of the bench itself (nothing written)
    scripts/bench --servers grouproom --scenarios grid --seconds 10

Each scenario starts its server, starts the bots (in load-generator processes of
their own), waits until every bot joined and settled, then measures a window:
server CPU, memory, packets delivered against packets sent, the delay of every
packet, and how long new subscribers waited for a decodable frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bot_media import percentile_ms
from benchmarks.clip import make_clip
from benchmarks.servers import (
    Server,
    cpu_seconds,
    cpu_times,
    janus_available,
    on_cores,
    rss_mb,
    start_grouproom,
    start_janus,
    start_relay,
)

INTERFACE = "bench0"
ICE_ADDRESS = "10.203.0.1"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs/benchmarks/results.json"
ROOM_STEPS = (1, 2, 4, 6, 8, 10, 12)  # rooms of 6 at once, until the server saturates
TALKING_TURN = 5.0  # seconds each member speaks in the talking scenario


@dataclass
class Scenario:
    name: str  # grid | rooms | storm | hidden | talking | paced
    members: int
    rooms: int = 1
    join_spacing: float = 0.25  # seconds between two joins
    settle: float = 3.0
    # False (the hidden scenario): every bot shows no video, so only audio is
    # forwarded; what the server still spends is mostly receiving.
    show_video: bool = True
    # Seconds each member speaks in turn (the talking scenario); the others are
    # silent and send Opus DTX. None: every member sends audio all the time.
    speaking_turn: float | None = None
    # The paced scenario: the bots pace their video packets as browsers do
    # (bot_media.PACING_RATE) instead of sending each frame's packets at once.
    pace: bool = False


@dataclass
class Record:
    server: str
    scenario: str
    members: int
    rooms: int
    seconds: float
    cores: float
    us_per_packet: float | None
    rss_mb: float
    delivery_ratio: float | None
    delay_p50_ms: float | None
    delay_p99_ms: float | None
    first_frame_ms: float | None
    # Beyond the required fields: what tells whether a figure can be trusted.
    packets_per_second: float
    bot_cores: float
    kernel_share: float | None  # of the server's CPU, the part spent in the kernel
    first_frame_p95_ms: float | None
    joined: int
    note: str = ""
    # The delay p99 of audio packets alone (None in results from before it existed).
    audio_delay_p99_ms: float | None = None
    # 0 for the run's own rows; k for the k-th turn-about pair of the largest grid
    # (grouproom, then Janus, back to back), on which the CPU targets are read.
    pair: int = 0
    # The cores the server and the bots could run on, as the kernel had them
    # (sched_getaffinity); empty in results from before 2026-12-05, when every
    # process could run on every core.
    server_cpus: list[int] = field(default_factory=list)
    bot_cpus: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Placement:
    """Which cores the server may run on and which the bots (None: every core)."""

    server: frozenset[int] | None
    bots: frozenset[int] | None


SHARED = Placement(None, None)


def placement_for(kind: str, scenario: Scenario, shared_cores: bool) -> Placement:
    """The server on cores of its own and the bots on the others (the upper half of
    the cores for the server, at least one each), except in the rooms series,
    which measures what the whole machine carries, for aiortc's relay, which
    decodes and encodes on threads of its own and needs more than one core, and
    with --shared-cores.

    A production server does not share its cores with two dozen WebRTC peers on
    loopback; here the bots, woken by every packet the server sends them, took
    the server's core from it hundreds of times a second (docs/media.md, "The load
    generator on the server's core")."""
    cores = sorted(os.sched_getaffinity(0))
    if shared_cores or scenario.name == "rooms" or kind == "relay" or len(cores) < 2:
        return SHARED
    half = len(cores) // 2
    return Placement(server=frozenset(cores[half:]), bots=frozenset(cores[:half]))


def check_private_network() -> None:
    """The bench sends a lot of traffic: only inside a namespace of its own."""
    outer = os.environ.get("GROUPROOM_BENCH_OUTER_NET")
    if outer is None or os.readlink("/proc/self/ns/net") == outer:
        sys.exit("the bench runs only inside its own network namespace: use scripts/bench")
    interfaces = {name for _, name in socket.if_nameindex()}
    if not interfaces <= {"lo", "bench0", "bench1"} or INTERFACE not in interfaces:
        sys.exit(f"unexpected network interfaces in the bench namespace: {sorted(interfaces)}")


class BotProcess:
    def __init__(self, process: asyncio.subprocess.Process, count: int) -> None:
        self.process = process
        self.count = count

    @classmethod
    async def start(cls, plan: dict[str, Any], cores: frozenset[int] | None) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.bot_process",
            json.dumps(plan),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            limit=2**24,
            preexec_fn=on_cores(cores),
        )
        return cls(process, len(plan["bots"]))

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def read(self, within: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError("a load-generator process ended early")
        return dict(json.loads(line))

    async def snapshot(self) -> dict[str, Any]:
        await self.command("snapshot")
        while True:
            message = await self.read(30)
            if "bots" in message:
                return message

    async def stop(self) -> None:
        if self.process.returncode is None:
            try:
                await self.command("stop")
                await asyncio.wait_for(self.process.wait(), 20)
            except (TimeoutError, ConnectionError):
                self.process.kill()
                await self.process.wait()


async def snapshots(bots: list[BotProcess]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(bot.snapshot() for bot in bots)))


def _room_name(server: str, room: int) -> str:
    return str(room) if server == "janus" else f"bench-{room}"


def plan_bots(server: str, scenario: Scenario, processes: int) -> list[list[dict[str, Any]]]:
    plans: list[list[dict[str, Any]]] = [[] for _ in range(processes)]
    number = 0
    for _ in range(scenario.members):
        for room in range(1, scenario.rooms + 1):
            number += 1
            plans[number % processes].append(
                {
                    "number": number,
                    "room": _room_name(server, room),
                    "join_at": (number - 1) * scenario.join_spacing,
                    "phase": (number * 0.618) % 1.0,
                    "show_video": scenario.show_video,
                    "speaking_turn": scenario.speaking_turn,
                    "members": scenario.members,
                    "pace": scenario.pace,
                }
            )
    return [plan for plan in plans if plan]


def bot_protocol(kind: str) -> str:
    """How the bots talk to a server: every grouproom variant speaks grouproom's."""
    return "grouproom" if kind.startswith(("grouproom", "baseline")) else kind


def start_server(
    kind: str, log: Path, baseline: Path | None = None, cores: frozenset[int] | None = None
) -> Server:
    if kind.startswith("baseline"):
        if baseline is None:
            raise ValueError("the baseline servers need --baseline DIR")
        loop = kind.partition("-")[2] or None  # baseline-asyncio, baseline-uvloop
        return start_grouproom(ICE_ADDRESS, log, event_loop=loop, source=baseline, cores=cores)
    if kind == "grouproom":
        return start_grouproom(ICE_ADDRESS, log, cores=cores)
    if kind == "grouproom-asyncio":
        return start_grouproom(ICE_ADDRESS, log, event_loop="asyncio", cores=cores)
    if kind == "grouproom-workers":
        return start_grouproom(ICE_ADDRESS, log, room_workers=True, cores=cores)
    if kind == "janus":
        return start_janus(INTERFACE, log, cores=cores)
    return start_relay(log, cores=cores)


async def profile(pid: int, seconds: float, output: Path) -> None:
    """py-spy samples the server during the window (collapsed stacks in `output`);
    the functions that take the most time themselves are printed."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--subprocesses",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await process.wait()
    summarise_profile(output)


def summarise_profile(output: Path) -> None:
    own: dict[str, int] = {}
    total = 0
    for line in output.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frame = stack.split(";")[-1]
        own[frame] = own.get(frame, 0) + int(samples)
        total += int(samples)
    print(f"profile ({total} samples) in {output}; most time spent in:")
    for frame, count in sorted(own.items(), key=lambda item: -item[1])[:25]:
        print(f"  {100 * count / max(total, 1):5.1f}%  {frame}")


async def run_scenario(
    kind: str,
    scenario: Scenario,
    seconds: float,
    clip: Path,
    processes: int,
    log: Path,
    profile_to: Path | None = None,
    baseline: Path | None = None,
    pair: int = 0,
    shared_cores: bool = False,
) -> Record:
    shown = f" (pair {pair})" if pair else ""
    print(f"-- {kind} {scenario.name}: {scenario.rooms} x {scenario.members}{shown}", flush=True)
    placement = placement_for(kind, scenario, shared_cores)
    server = start_server(kind, log, baseline, placement.server)
    bots: list[BotProcess] = []
    try:
        for bot_plan in plan_bots(kind, scenario, processes):
            bots.append(
                await BotProcess.start(
                    {
                        "clip": str(clip),
                        "server": bot_protocol(kind),
                        "url": server.url,
                        "bots": bot_plan,
                        "deadline": seconds + 180,
                    },
                    placement.bots,
                )
            )
        server_cpus = sorted(os.sched_getaffinity(server.pid))
        bot_cpus = sorted({cpu for b in bots for cpu in os.sched_getaffinity(b.process.pid)})
        for bot in bots:
            await bot.command("start")
        joined, failures = 0, []
        total = scenario.members * scenario.rooms
        join_deadline = time.monotonic() + total * scenario.join_spacing + 60
        pending = {id(bot): bot.count for bot in bots}
        for bot in bots:
            while pending[id(bot)]:
                message = await bot.read(max(1.0, join_deadline - time.monotonic()))
                pending[id(bot)] -= 1
                if "joined" in message:
                    joined += 1
                else:
                    failures.append(str(message.get("error")))
        start = time.monotonic() + scenario.settle
        for bot in bots:
            await bot.command(f"window {int(start * 1e9)} {int((start + seconds) * 1e9)}")
        await asyncio.sleep(start - time.monotonic())
        before = await snapshots(bots)
        cpu_before, bot_cpu_before, t_before = (
            cpu_times(server.pid),
            sum(cpu_seconds(b.process.pid) for b in bots),
            time.monotonic(),
        )
        if profile_to is not None and kind != "janus":
            await profile(server.pid, seconds, profile_to)
        await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
        cpu_after, bot_cpu_after, t_after = (
            cpu_times(server.pid),
            sum(cpu_seconds(b.process.pid) for b in bots),
            time.monotonic(),
        )
        after = await snapshots(bots)
        await asyncio.sleep(1.0)  # packets sent at the end of the window arrive
        late = await snapshots(bots)
        memory = rss_mb(server.pid)
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots), return_exceptions=True)
        server.stop()
    record = measure(
        kind,
        scenario,
        before,
        after,
        late,
        t_after - t_before,
        cpu_after[0] - cpu_before[0],
        cpu_after[1] - cpu_before[1],
        bot_cpu_after - bot_cpu_before,
        memory,
        joined,
    )
    if failures:
        record.note = f"{len(failures)} bots failed to join: {failures[0]}"
    record.pair = pair
    record.server_cpus, record.bot_cpus = server_cpus, bot_cpus
    print(json.dumps(asdict(record)), flush=True)
    return record


def _merge(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    bots: dict[str, Any] = {}
    delays: dict[int, int] = {}
    audio_delays: dict[int, int] = {}
    for snapshot in snapshots:
        bots.update(snapshot["bots"])
        for bucket, count in snapshot["delays"].items():
            delays[int(bucket)] = delays.get(int(bucket), 0) + count
        for bucket, count in snapshot.get("audio_delays", {}).items():
            audio_delays[int(bucket)] = audio_delays.get(int(bucket), 0) + count
    return {"bots": bots, "delays": delays, "audio_delays": audio_delays}


def measure(
    kind: str,
    scenario: Scenario,
    before_parts: list[dict[str, Any]],
    after_parts: list[dict[str, Any]],
    late_parts: list[dict[str, Any]],
    elapsed: float,
    user_cpu: float,
    system_cpu: float,
    bot_cpu: float,
    memory: float,
    joined: int,
) -> Record:
    """Packets and frames between the snapshots at the window's start and end (the
    CPU was read at the same moments); the delivery ratio and the delays from the
    stamped packets sent inside the window, read a second after it ended."""
    before, after, late = _merge(before_parts), _merge(after_parts), _merge(late_parts)
    server_cpu = user_cpu + system_cpu
    sent_packets: dict[str, int] = {}
    sent_frames: dict[str, int] = {}
    for number, bot in after["bots"].items():
        old = before["bots"][number]["sent"]
        new = bot["sent"]
        window = late["bots"][number]["sent"]
        sent_packets[number] = (
            window["window_packets"] if scenario.show_video else window["window_audio_packets"]
        )
        sent_frames[number] = (
            new["audio_packets"] + new["video_frames"] - old["audio_packets"] - old["video_frames"]
        )
    forwarded = expected_packets = received_frames = expected_frames = delivered = 0
    first_frames: list[float] = []
    missing_first = 0
    for number, bot in after["bots"].items():
        if not bot["joined"]:
            continue
        old_received = before["bots"][number]["received"]
        for publisher, counts in bot["received"].items():
            old = old_received.get(publisher, {})
            forwarded += (
                counts["audio_packets"]
                + counts["video_packets"]
                - old.get("audio_packets", 0)
                - old.get("video_packets", 0)
            )
            received_frames += (
                counts["audio_packets"]
                + counts["video_frames"]
                - old.get("audio_packets", 0)
                - old.get("video_frames", 0)
            )
        for counts in late["bots"][number]["received"].values():
            delivered += counts["window_packets"]
        for publisher, other in after["bots"].items():
            if publisher != number and other["room"] == bot["room"] and other["joined"]:
                expected_packets += sent_packets[publisher]
                expected_frames += sent_frames[publisher]
        for publisher in bot["present_at_join"] if scenario.show_video else ():
            first = bot["received"].get(str(publisher), {}).get("first_decodable_ns")
            if first is None:
                missing_first += 1
            else:
                first_frames.append((first - bot["started_ns"]) / 1e6)
    if kind == "relay":  # re-encoded: packets differ, frames are what can be compared
        delivery = received_frames / expected_frames if expected_frames else None
    else:
        delivery = delivered / expected_packets if expected_packets else None
    first_frames.sort()
    note = f"{missing_first} subscriptions never got a decodable frame" if missing_first else ""
    return Record(
        server=kind,
        scenario=scenario.name,
        members=scenario.members,
        rooms=scenario.rooms,
        seconds=round(elapsed, 2),
        cores=round(server_cpu / elapsed, 3),
        us_per_packet=round(server_cpu / forwarded * 1e6, 1) if forwarded else None,
        rss_mb=round(memory, 1),
        delivery_ratio=round(delivery, 5) if delivery is not None else None,
        delay_p50_ms=_round(percentile_ms(late["delays"], 0.50)),
        delay_p99_ms=_round(percentile_ms(late["delays"], 0.99)),
        audio_delay_p99_ms=_round(percentile_ms(late["audio_delays"], 0.99)),
        first_frame_ms=_round(statistics.median(first_frames)) if first_frames else None,
        packets_per_second=round(forwarded / elapsed),
        bot_cores=round(bot_cpu / elapsed, 3),
        kernel_share=round(system_cpu / server_cpu, 2) if server_cpu else None,
        first_frame_p95_ms=_round(first_frames[int(0.95 * (len(first_frames) - 1))])
        if first_frames
        else None,
        joined=joined,
        note=note,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def saturated(record: Record) -> bool:
    return (record.delivery_ratio or 0) < 0.99 or record.joined < record.members * record.rooms


def scenarios_for(
    kind: str, names: list[str], quick: bool, only: list[int] | None = None
) -> list[Scenario | str]:
    """The scenarios of one server; the string "rooms" stands for the rising series."""
    if quick:
        return [Scenario("grid", 3)]
    if kind in ("grouproom-asyncio", "baseline-asyncio", "baseline-uvloop"):
        # compared where the load is highest
        return [Scenario("grid", 12)] if "grid" in names else []
    if kind == "grouproom-workers":  # one room, and the rooms series where workers pay
        found_workers: list[Scenario | str] = []
        if "grid" in names:
            found_workers.append(Scenario("grid", 12))
        if "rooms" in names:
            found_workers.append("rooms")
        return found_workers
    found: list[Scenario | str] = []
    if "grid" in names:
        sizes = (4, 6) if kind == "relay" else (4, 6, 8, 12)
        found += [Scenario("grid", members) for members in sizes if not only or members in only]
    if "rooms" in names and kind != "relay":
        found.append("rooms")
    if "storm" in names and kind != "relay":
        found.append(Scenario("storm", 12, join_spacing=1 / 12))
    if "hidden" in names and kind in ("grouproom", "baseline"):
        found.append(Scenario("hidden", 12, show_video=False))
    if "talking" in names and kind != "relay":
        found.append(Scenario("talking", 12, speaking_turn=TALKING_TURN))
    if "paced" in names and kind != "relay":
        found.append(Scenario("paced", 12, pace=True))
    return found


async def main(arguments: argparse.Namespace) -> list[Record]:
    check_private_network()
    work = Path(tempfile.mkdtemp(prefix="grouproom-bench-"))
    clip = work / "clip.pickle"
    made = make_clip(clip)
    print(
        f"clip: {len(made.video)} frames, {made.video_bitrate / 1000:.0f} kbit/s; logs in {work}",
        flush=True,
    )
    servers = [s for s in arguments.servers if s != "janus" or janus_available()]
    if "janus" in arguments.servers and "janus" not in servers:
        print("janus is not installed: skipped (scripts/bench installs it)", flush=True)
    records: list[Record] = []
    # With --rounds N the servers take turns N times (A, B, A, B...), so that two
    # versions meet the machine's changing load alike.
    for kind in servers * arguments.rounds:
        log = work / f"{kind}.log"
        for scenario in scenarios_for(
            kind, arguments.scenarios, arguments.quick, arguments.members
        ):
            if scenario == "rooms":
                for rooms in [r for r in ROOM_STEPS if r <= arguments.max_rooms]:
                    record = await run_scenario(
                        kind,
                        Scenario("rooms", 6, rooms=rooms, join_spacing=0.15),
                        arguments.seconds,
                        clip,
                        arguments.bot_processes,
                        log,
                        baseline=arguments.baseline,
                        shared_cores=arguments.shared_cores,
                    )
                    records.append(record)
                    if saturated(record):
                        break
            else:
                assert isinstance(scenario, Scenario)
                profile_to = None
                if arguments.profile:
                    profile_to = work / f"profile-{kind}-{scenario.name}-{scenario.members}.txt"
                records.append(
                    await run_scenario(
                        kind,
                        scenario,
                        arguments.seconds,
                        clip,
                        arguments.bot_processes,
                        log,
                        profile_to,
                        baseline=arguments.baseline,
                        shared_cores=arguments.shared_cores,
                    )
                )
    records += await turn_about_pairs(records, servers, arguments, clip, work)
    return records


async def turn_about_pairs(
    records: list[Record],
    servers: list[str],
    arguments: argparse.Namespace,
    clip: Path,
    work: Path,
) -> list[Record]:
    """The run's largest grid again, `arguments.pairs` times for grouproom and
    Janus back to back. The machines are shared and their load drifts over a
    run of twenty minutes: a ratio of two runs minutes apart says as much about
    the drift as about the servers, one of two runs back to back less so."""
    pairs = arguments.pairs if arguments.pairs is not None else 0 if arguments.quick else 3
    if pairs <= 0 or not {"grouproom", "janus"} <= set(servers):
        return []
    grids = [r.members for r in records if r.server == "grouproom" and r.scenario == "grid"]
    if not grids:
        return []
    paired: list[Record] = []
    for number in range(1, pairs + 1):
        for kind in ("grouproom", "janus"):
            paired.append(
                await run_scenario(
                    kind,
                    Scenario("grid", max(grids)),
                    arguments.seconds,
                    clip,
                    arguments.bot_processes,
                    work / f"{kind}.log",
                    pair=number,
                    shared_cores=arguments.shared_cores,
                )
            )
    return paired


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["grouproom", "grouproom-asyncio", "grouproom-workers", "janus", "relay"],
        choices=[
            "grouproom",
            "grouproom-asyncio",
            "grouproom-workers",
            "janus",
            "relay",
            "baseline",
            "baseline-asyncio",
            "baseline-uvloop",
        ],
        help="the baseline servers run the grouproom of --baseline DIR (on its default "
        "event loop, or the one named)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of grouproom (e.g. a git worktree of an earlier commit) "
        "to measure as the baseline servers in the same run",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the list of servers this many times, in turn"
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="then the largest grid this many times more, grouproom and Janus back to back "
        "(the CPU targets are read on these pairs; default 3, none with --quick)",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["grid", "rooms", "storm", "hidden", "talking", "paced"],
        choices=["grid", "rooms", "storm", "hidden", "talking", "paced"],
    )
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="length of each measuring window"
    )
    parser.add_argument(
        "--members", type=int, nargs="+", help="grid sizes to run (default 4 6 8 12)"
    )
    parser.add_argument("--max-rooms", type=int, default=12)
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="run the server and the bots on every core (by default the server has cores "
        "of its own, but in the rooms series and for the relay)",
    )
    parser.add_argument("--bot-processes", type=int, default=2)
    parser.add_argument(
        "--append",
        action="store_true",
        help="add to the existing results instead of replacing them (same setups are replaced)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy during grid and storm windows (slows it down)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 members, short windows, nothing written"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where results.json goes (default: docs/benchmarks/, unless --quick)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_arguments(sys.argv[1:])
    if args.quick:
        args.seconds = min(args.seconds, 3.0)
    results = asyncio.run(main(args))
    output = args.output or (None if args.quick else RESULTS)
    if output is not None and args.append and output.exists():
        # Keep the earlier records of everything this run did not measure again.
        measured = {(r.server, r.scenario, r.members, r.rooms, r.pair) for r in results}
        earlier = [
            Record(**item)
            for item in json.loads(output.read_text())
            if (
                item["server"],
                item["scenario"],
                item["members"],
                item["rooms"],
                item.get("pair", 0),
            )
            not in measured
        ]
        results = earlier + results
    if output is not None:
        from benchmarks.report import write_report

        write_report(
            results,
            output,
            machine={
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "system": platform.platform(),
            },
        )
