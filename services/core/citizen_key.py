"""Stable pseudonymous citizen keys: the Kafka record key that keeps one citizen in order."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["citizen_key"]


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.casefold().split())


def citizen_key(subject: Mapping[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 of the subject's identity, truncated to 32 hex characters.

    The National Insurance number identifies a person when it is known; otherwise the
    normalised names and date of birth do. The key reveals nothing without the secret, and
    the same person always maps to the same key, so their changes share a partition.
    """
    nino = subject.get("nino")
    if isinstance(nino, str) and nino:
        material = "nino:" + nino.replace(" ", "").upper()
    else:
        given = subject.get("given_names", "")
        family = subject.get("family_name", "")
        born = subject.get("date_of_birth", "")
        material = f"person:{_normalise(str(given))}|{_normalise(str(family))}|{born}"
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()[:32]
