"""Generated credentials for ``up``: printed once, kept in ``<data-dir>/credentials.json``."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Credentials", "first_channel_token", "first_operator_token", "load_or_generate"]


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """Channel and operator tokens in the ``TUO_…_TOKENS`` formats, and the key secret."""

    channel_tokens: str
    operator_tokens: str
    citizen_key_secret: str
    generated: bool
    #: Standard Webhooks secrets for registry entries that say ``env:VAR``, by VAR.
    signing_secrets: dict[str, str] = field(default_factory=dict)


def _text(stored: dict[str, object], key: str) -> str | None:
    value = stored.get(key)
    return value if isinstance(value, str) else None


def _new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def load_or_generate(data_dir: Path, signing_variables: Iterable[str] = ()) -> Credentials:
    """Tokens from the environment if set, else from (or newly into) credentials.json.

    ``signing_variables`` are the ``env:VAR`` names the department registry uses; any
    that the environment does not set get a generated secret, shared by the adapters and
    the sandbox departments.
    """
    path = data_dir / "credentials.json"
    stored: dict[str, object] = {}
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
    generated = False
    values = {
        "channel_tokens": os.environ.get("TUO_CHANNEL_TOKENS") or _text(stored, "channel_tokens"),
        "operator_tokens": os.environ.get("TUO_OPERATOR_TOKENS")
        or _text(stored, "operator_tokens"),
        "citizen_key_secret": os.environ.get("TUO_CITIZEN_KEY_SECRET")
        or _text(stored, "citizen_key_secret"),
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
    raw_signing = stored.get("signing_secrets")
    stored_signing: dict[str, str] = raw_signing if isinstance(raw_signing, dict) else {}
    signing: dict[str, str] = {}
    for variable in signing_variables:
        value = os.environ.get(variable) or stored_signing.get(variable)
        if not value:
            value = _new_signing_secret()
            generated = True
        signing[variable] = str(value)
    if generated or not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # personal data inside
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        document: dict[str, object] = {k: v for k, v in values.items() if v}
        document["signing_secrets"] = signing
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
        path.chmod(0o600)
    return Credentials(
        channel_tokens=str(values["channel_tokens"]),
        operator_tokens=str(values["operator_tokens"]),
        citizen_key_secret=str(values["citizen_key_secret"]),
        generated=generated,
        signing_secrets=signing,
    )


def _first_entry(data_dir: Path, key: str) -> str:
    """The first entry of a token list in credentials.json ("" if there is none)."""
    path = data_dir / "credentials.json"
    if not path.is_file():
        return ""
    tokens = json.loads(path.read_text(encoding="utf-8")).get(key, "")
    return str(tokens).split(",")[0].strip()


def first_channel_token(data_dir: Path) -> str | None:
    """The first channel token (``name:token``) in credentials.json, for client commands."""
    return _first_entry(data_dir, "channel_tokens").partition(":")[2] or None


def first_operator_token(data_dir: Path) -> str | None:
    """The first operator token (``name:token:scope``) in credentials.json, for ``/ops``."""
    parts = _first_entry(data_dir, "operator_tokens").split(":")
    return (parts[1] or None) if len(parts) == 3 else None
