# Shared by scripts/serve and scripts/test: a Python 3.11+ virtual environment in .venv
# with grouproom installed (editable) and the given extra ("" or "test").

apt_updated=0
apt_install() {
    # Install Debian packages (as root), running `apt-get update` at most once.
    if [ "$(id -u)" != 0 ]; then
        echo "grouproom: please install these Debian packages first: $*" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "grouproom: needs Python 3.11 or newer (python3)" >&2
    exit 1
}

# The Debian packages that building the compiled copy step (setup.py) needs and
# this machine lacks, each after a space: a C compiler and Python's headers.
missing_build_packages() {
    command -v gcc >/dev/null 2>&1 || printf ' gcc'
    "$(find_python)" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
        printf ' python3-dev'
}

ensure_python_env() {
    extra=$1
    if [ ! -x .venv/bin/python ]; then
        python=$(find_python)
        if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            apt_install python3-venv
        fi
        "$python" -m venv .venv
    fi
    if [ -n "$extra" ]; then
        target=".[$extra]"
    else
        target="."
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
}
