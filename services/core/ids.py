"""Identifiers every service derives the same way."""

from __future__ import annotations

import uuid

__all__ = ["delivery_id_for"]

_NAMESPACE = uuid.UUID("6f1b2d0e-7c1a-4c55-9a51-8b5f0e1d2c3a")


def delivery_id_for(event_id: str, department: str) -> str:
    """The stable delivery id (the ``webhook-id``): the same on every attempt and redelivery."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}/{department}"))
