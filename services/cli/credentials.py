"""Generated credentials for ``up``: printed once, kept in ``<data-dir>/credentials.json``."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Credentials", "first_channel_token", "load_or_generate"]


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """Channel and operator tokens in the ``TUO_…_TOKENS`` formats, and the key secret."""

    channel_tokens: str
    operator_tokens: str
    citizen_key_secret: str
    generated: bool


def load_or_generate(data_dir: Path) -> Credentials:
    """Tokens from the environment if set, else from (or newly into) credentials.json."""
    path = data_dir / "credentials.json"
    stored: dict[str, str] = {}
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
    generated = False
    values = {
        "channel_tokens": os.environ.get("TUO_CHANNEL_TOKENS") or stored.get("channel_tokens"),
        "operator_tokens": os.environ.get("TUO_OPERATOR_TOKENS") or stored.get("operator_tokens"),
        "citizen_key_secret": os.environ.get("TUO_CITIZEN_KEY_SECRET")
        or stored.get("citizen_key_secret"),
    }
    if not values["channel_tokens"]:
        values["channel_tokens"] = f"online-form:{secrets.token_urlsafe(24)}"
        generated = True
    if not values["operator_tokens"]:
        values["operator_tokens"] = f"operator:{secrets.token_urlsafe(24)}:*"
        generated = True
    if not values["citizen_key_secret"]:
        values["citizen_key_secret"] = secrets.token_urlsafe(32)
        generated = True
    if generated or not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({k: v for k, v in values.items() if v}, handle, indent=2)
        path.chmod(0o600)
    return Credentials(
        channel_tokens=str(values["channel_tokens"]),
        operator_tokens=str(values["operator_tokens"]),
        citizen_key_secret=str(values["citizen_key_secret"]),
        generated=generated,
    )


def first_channel_token(data_dir: Path) -> str | None:
    """The first channel token in credentials.json, for client commands."""
    path = data_dir / "credentials.json"
    if not path.is_file():
        return None
    tokens = json.loads(path.read_text(encoding="utf-8")).get("channel_tokens", "")
    first = tokens.split(",")[0]
    return first.partition(":")[2] or None
