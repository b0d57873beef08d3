"""Running the web client's modules in Node, for the unit tests of their logic."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest


def run_node(script: str, argument: Any, module: Path) -> Any:
    """`script`, with `%(module)s` naming the module under test, run in Node with
    `argument` as JSON; what it printed, as JSON."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed (Debian package nodejs): run ./scripts/test", pytrace=False)
    source = script % {"module": json.dumps(module.as_uri())}
    result = subprocess.run(
        [node, "--input-type=module", "-e", source, json.dumps(argument)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
