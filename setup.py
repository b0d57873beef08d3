"""The compiled per-copy step of forwarding (grouproom/media/_copy_step.c).

Optional: without a C compiler and Python's headers the build goes on without it,
and the forwarder runs its Python code (grouproom/media/copy_step.py says which
is in use). Everything else is in pyproject.toml.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "grouproom/media/_copy_step.c"
# The source's hash goes into the module, so that a module built from an older
# source is not used (copy_step.py compares the two).
SOURCE_HASH = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

setup(
    ext_modules=[
        Extension(
            "grouproom.media._copy_step",
            [SOURCE],
            define_macros=[("COPY_STEP_SOURCE_HASH", f'"{SOURCE_HASH}"')],
            # No fused multiply-add: the bitrate estimator's floats as Python computes them.
            extra_compile_args=[
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-ffp-contract=off",
            ],
            libraries=["m"],  # nearbyint (the bitrate estimator's round())
            optional=True,
        )
    ]
)
