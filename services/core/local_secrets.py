"""Secrets generated once and kept in the data directory (mode 0600) when none is configured."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["load_or_create_secret"]


def load_or_create_secret(path: Path, *, nbytes: int = 32) -> str:
    """Read the secret at ``path``, creating it atomically if it does not exist yet.

    Two processes starting together agree on one secret: creation uses O_EXCL, and the
    loser reads the winner's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value
