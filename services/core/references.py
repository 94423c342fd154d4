"""Citizen-facing references: short, unambiguous, easy to read out over the phone."""

from __future__ import annotations

import re
import secrets

__all__ = ["REFERENCE_PATTERN", "new_reference", "normalise_reference"]

# Crockford's base32 alphabet leaves out I, L, O and U, so a reference read aloud or typed
# from a letter cannot be mistaken (1/I/L, 0/O) and never spells a rude word by accident.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})
_GROUPS = 3
_GROUP_LENGTH = 4

REFERENCE_PATTERN = re.compile(
    r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$"
)


def new_reference() -> str:
    """A fresh random reference such as ``C6F5-EB23-25D4`` (60 random bits)."""
    bits = int.from_bytes(secrets.token_bytes(8), "big") >> 4  # 60 random bits, one read
    chars = []
    for _ in range(_GROUPS * _GROUP_LENGTH):
        bits, index = divmod(bits, 32)
        chars.append(_ALPHABET[index])
    groups = ["".join(chars[i : i + _GROUP_LENGTH]) for i in range(0, len(chars), _GROUP_LENGTH)]
    return "-".join(groups)


def normalise_reference(text: str) -> str | None:
    """The canonical form of a reference typed by a person, or None if it cannot be one.

    Accepts lower case, missing or extra separators and the confusable letters I, L, O.
    """
    compact = re.sub(r"[\s-]", "", text).upper().translate(_CONFUSABLE)
    if len(compact) != _GROUPS * _GROUP_LENGTH:
        return None
    candidate = "-".join(compact[i : i + _GROUP_LENGTH] for i in range(0, len(compact), 4))
    return candidate if REFERENCE_PATTERN.match(candidate) else None
