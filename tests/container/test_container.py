"""The Dockerfile, built and run for real.

`container-check` (from the workplace's shared tools, next to the project) builds
the image with podman on a stand-in for python:3.11-slim, runs it with host
networking and waits for the page to answer 200. The container serves on port
8080 of this machine for a few seconds; the check only talks to 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The shared tools sit beside the project's checkout; an environment variable may
# point elsewhere.
DEFAULT_CHECK = ROOT.parent / "shared" / "tools" / "container-check"
CONTAINER_CHECK = Path(os.environ.get("GROUPROOM_CONTAINER_CHECK", DEFAULT_CHECK))
PORT = 8080
MEDIA_PORT = 10000  # the image's default media port (UDP), also taken with host networking

pytestmark = [pytest.mark.container, pytest.mark.timeout(1500)]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_image_builds_runs_as_non_root_and_serves_the_room_page() -> None:
    if not CONTAINER_CHECK.exists():
        pytest.fail(f"{CONTAINER_CHECK} is missing: cannot build the Dockerfile", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("building the image needs root (podman)", pytrace=False)
    assert port_is_free(PORT), f"port {PORT} is taken: the container could not listen on it"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
        try:
            media.bind(("127.0.0.1", MEDIA_PORT))
        except OSError:
            pytest.fail(f"UDP port {MEDIA_PORT} is taken: the container's media port", False)
    result = subprocess.run(
        [str(CONTAINER_CHECK), str(ROOT), "--port", str(PORT), "--path", "/r/demo"],
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "built and serving http://127.0.0.1:8080/r/demo" in output
    assert "(running as grouproom)" in output
