"""Log pseudonyms: the same for one id in the server and in its room workers, and
the key never left lying in a room worker's environment."""

from __future__ import annotations

import os
import subprocess
import sys

from grouproom.pseudonym import KEY_VARIABLE, environment_for_child, pseudonym

CHILD = """
import os
from grouproom.pseudonym import KEY_VARIABLE, adopt_parent_key, pseudonym
adopt_parent_key()
print(pseudonym("r-ann"), KEY_VARIABLE in os.environ)
"""


def child_says(environment: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_a_room_worker_names_people_as_the_server_does() -> None:
    assert KEY_VARIABLE not in os.environ
    named, key_left = child_says(environment_for_child())
    assert named == pseudonym("r-ann") and key_left == "False"
    assert pseudonym("r-ann") != pseudonym("r-bob") and len(named) == 10


def test_without_a_usable_key_a_process_makes_its_own() -> None:
    for given in ("", "not hex", "00ff"):
        named, key_left = child_says({**os.environ, KEY_VARIABLE: given})
        assert named != pseudonym("r-ann") and key_left == "False"
