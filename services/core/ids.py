"""Identifiers every service derives the same way."""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["delivery_id_for"]

_NAMESPACE = uuid.UUID("6f1b2d0e-7c1a-4c55-9a51-8b5f0e1d2c3a")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def delivery_id_for(event_id: str, department: str) -> str:
    """The stable delivery id (the ``webhook-id``): the same on every attempt and redelivery.

    ``str(uuid.uuid5(_NAMESPACE, f"{event_id}/{department}"))``, written out: SHA-1 of the
    namespace and the name, version and variant bits set, as RFC 9562 says. Once per
    delivery the adapters make, ~3 µs instead of ~8 µs through ``uuid.UUID`` (a test
    compares both on arbitrary names).
    """
    name = f"{event_id}/{department}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
