"""The server's data folder: the embedded database and the secret key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "secret-key"
SECRET_BYTES = 32


def ensure_data_dir(path: str) -> Path:
    """Create the folder (for the server's user only) if it does not exist."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def load_or_create_secret(folder: Path) -> bytes:
    """The key that signs invite links and session cookies, made on first start.
    Replacing the file invalidates every invite link and login."""
    path = folder / SECRET_FILE
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        secret = secrets.token_bytes(SECRET_BYTES)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secret.hex() + "\n")
        return secret
    except ValueError:
        raise ValueError(f"{path} does not hold a hex key") from None
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{path} holds a key shorter than {SECRET_BYTES} bytes")
    return secret
