"""The servers under test, each started by the bench in its own process, and what
the bench reads of a process: CPU time and resident memory (from /proc, summed
over the process and its children, so worker processes count too).

- grouproom: `python -m grouproom serve` with a fresh data directory.
- janus: Debian's janus with a configuration written here: only the WebSocket
  transport and the VideoRoom plugin, `event_loops` = the number of cores it may
  run on (its documented setting for load), rooms for VP8 + Opus at the same
  500 kbit/s cap.
- relay: benchmarks/relay_server.py (aiortc MediaRelay, decode and re-encode).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
JANUS_LIBRARIES = Path("/usr/lib/x86_64-linux-gnu/janus")
JANUS_ROOMS = 12  # enough for the rooms series (run.ROOM_STEPS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    tree = [pid]
    for child in _children(pid):
        tree.extend(process_tree(child))
    return tree


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process and its living children."""
    user = system = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def rss_mb(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            pages = int(Path(f"/proc/{member}/statm").read_text().split()[1])
        except OSError:
            continue
        total += pages * PAGE_SIZE
    return total / 2**20


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} while starting")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on port {port} within {timeout} s")


@dataclass
class Server:
    kind: str
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def on_cores(cores: frozenset[int] | None) -> Callable[[], None] | None:
    """What a new process runs before its program, to keep it (and every process
    and thread it starts) on `cores`; None: every core."""
    if cores is None:
        return None

    def keep_on_cores() -> None:
        os.sched_setaffinity(0, cores)

    return keep_on_cores


def start_grouproom(
    ice_address: str,
    log: Path,
    event_loop: str | None = None,
    room_workers: bool = False,
    source: Path | None = None,
    cores: frozenset[int] | None = None,
) -> Server:
    """`source`: another checkout of grouproom to run instead of this one (the
    bench's --baseline, to compare two versions in one run); `cores`: the cores
    it may run on (None: every core)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-grouproom-"))
    port = free_port()
    env = {
        **os.environ,
        "GROUPROOM_HOST": "127.0.0.1",
        "GROUPROOM_PORT": str(port),
        "GROUPROOM_ICE_ADDRESSES": ice_address,
        "GROUPROOM_DATA_DIR": str(workdir / "data"),
        "GROUPROOM_DEMO_GROUP": "0",
        "GROUPROOM_DEMO_ROOMS": "",
        "GROUPROOM_MAX_PARTICIPANTS": "12",
        # Every bot connects from 127.0.0.1: the per-address limit would refuse the
        # largest rooms series (6 rooms of 6 and beyond).
        "GROUPROOM_CONNECTIONS_PER_ADDRESS": "1000",
        "GROUPROOM_ROOM_WORKERS": "true" if room_workers else "false",
    }
    if event_loop is not None:  # else the server's default
        env["GROUPROOM_EVENT_LOOP"] = event_loop
    if source is not None:
        env["PYTHONPATH"] = str(source)
    process = subprocess.Popen(
        [sys.executable, "-m", "grouproom", "serve"],
        env=env,
        cwd=source,
        preexec_fn=on_cores(cores),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    server = Server("grouproom", f"ws://127.0.0.1:{port}/ws", process, workdir)
    _wait_http(f"http://127.0.0.1:{port}/healthz", server)
    return server


def _wait_http(url: str, server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.kind} exited with {server.process.returncode} while starting"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.kind} did not answer {url} within {timeout} s")


def start_relay(log: Path, cores: frozenset[int] | None = None) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.relay_server", str(port)],
        preexec_fn=on_cores(cores),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    server = Server("relay", f"http://127.0.0.1:{port}", process, workdir)
    _wait_http(f"http://127.0.0.1:{port}/feeds", server)
    return server


def janus_available() -> bool:
    return (
        shutil.which("janus") is not None
        and (JANUS_LIBRARIES / "plugins/libjanus_videoroom.so").exists()
    )


def start_janus(
    interface: str,
    log: Path,
    event_loops: int | None = None,
    cores: frozenset[int] | None = None,
) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix="bench-janus-"))
    port = free_port()
    (workdir / "plugins").mkdir()
    (workdir / "transports").mkdir()
    (workdir / "plugins/libjanus_videoroom.so").symlink_to(
        JANUS_LIBRARIES / "plugins/libjanus_videoroom.so"
    )
    (workdir / "transports/libjanus_websockets.so").symlink_to(
        JANUS_LIBRARIES / "transports/libjanus_websockets.so"
    )
    # Tuned as its documentation advises for load: an event loop per core it has.
    if event_loops is not None:
        loops = event_loops
    else:
        loops = len(cores) if cores is not None else (os.cpu_count() or 1)
    (workdir / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{workdir}"
    plugins_folder = "{workdir}/plugins"
    transports_folder = "{workdir}/transports"
    events_folder = "{workdir}/none"
    loggers_folder = "{workdir}/none"
    debug_level = 3
    event_loops = {loops}
}}
certificates: {{
}}
media: {{
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{interface}"
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
    broadcast = false
}}
""")
    (workdir / "janus.transport.websockets.jcfg").write_text(f"""
general: {{
    json = "plain"
    ws = true
    ws_port = {port}
    ws_ip = "127.0.0.1"
    wss = false
}}
admin: {{
    admin_ws = false
}}
""")
    rooms = "".join(
        f"""
room-{number}: {{
    description = "bench {number}"
    publishers = 16
    bitrate = 500000
    fir_freq = 0
    audiocodec = "opus"
    videocodec = "vp8"
    record = false
}}
"""
        for number in range(1, JANUS_ROOMS + 1)
    )
    (workdir / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n" + rooms)
    process = subprocess.Popen(
        ["janus", "-F", str(workdir), "-C", str(workdir / "janus.jcfg"), "-o"],
        preexec_fn=on_cores(cores),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    server = Server("janus", f"ws://127.0.0.1:{port}", process, workdir)
    wait_for_port(port, process)
    return server
