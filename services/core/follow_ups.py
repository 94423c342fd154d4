"""Corrections and withdrawals: changes that refer to an earlier change by its reference.

They go to exactly the organisations told about the earlier change, and a correction tells
each organisation only what it was entitled to see: each corrected path is minimised with
the department's allowed fields for the earlier change's type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.core.minimise import minimise

__all__ = ["CORRECTION", "FOLLOW_UP_TYPES", "minimise_corrections"]

#: A correction carries ``data.corrections``: ``[{"path": JSON Pointer, "value": …}]``.
CORRECTION = "notification_corrected"
#: Event types whose ``data.original_reference`` names the change they follow up.
FOLLOW_UP_TYPES = frozenset({CORRECTION, "notification_withdrawn"})


def _dotted(pointer: str) -> list[str]:
    parts = pointer.split("/")[1:] if pointer.startswith("/") else []
    return [part.replace("~1", "/").replace("~0", "~") for part in parts]


def minimise_corrections(
    corrections: Iterable[dict[str, Any]], allowed_paths: Iterable[str]
) -> list[dict[str, Any]]:
    """The corrections a department may see, each value cut down to its allowed fields.

    ``allowed_paths`` are the department's dotted paths for the corrected change's type
    (``*`` matching any list index). A correction outside them is left out entirely.
    """
    allowed = list(allowed_paths)
    kept = []
    for correction in corrections:
        pointer = correction.get("path")
        parts = _dotted(pointer) if isinstance(pointer, str) else []
        if not parts:
            continue
        # Put the new value where it belongs in an otherwise empty document (a list index
        # becomes the "*" that allowed paths use for every item), minimise that document
        # as the original change would have been minimised, and read the value back.
        generalised = ["*" if part.isdigit() else part for part in parts]
        document: Any = correction.get("value")
        for part in reversed(generalised):
            document = {part: document}
        visible: Any = minimise(document, allowed)
        for part in generalised:
            visible = visible.get(part) if isinstance(visible, dict) else None
        if visible not in (None, {}, []):
            kept.append({"path": pointer, "value": visible})
    return kept
