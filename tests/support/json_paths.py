"""Dotted leaf paths of a JSON document, in the registry's notation (``*`` for list items)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def leaves(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for child in value:
            yield from leaves(child, f"{prefix}.*")
    else:
        yield prefix


def within(leaf: str, allowed: list[str]) -> bool:
    """Whether a leaf path is one of the allowed paths or lies under one."""
    return any(leaf == a or leaf.startswith(a + ".") for a in allowed)
