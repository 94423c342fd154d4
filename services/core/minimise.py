"""Data minimisation: keep only a department's allowed field paths of a change document."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

__all__ = ["collect_local_authorities", "minimise"]

_Tree = dict[str, "_Tree"]
_LEAF: _Tree = {}


@functools.lru_cache(maxsize=1024)  # a registry has a few dozen (department, type) path sets
def _tree(paths: tuple[str, ...]) -> _Tree:
    # Never mutated once built: shared by every call with the same paths.
    root: _Tree = {}
    for path in paths:
        node = root
        parts = path.split(".")
        for i, part in enumerate(parts):
            if node.get(part) is _LEAF:
                break  # an ancestor is already allowed whole
            if i == len(parts) - 1:
                node[part] = _LEAF
            else:
                node = node.setdefault(part, {})
    return root


def _prune(value: Any, tree: _Tree) -> Any:  # noqa: ANN401 - JSON values
    if tree is _LEAF:
        return value
    if isinstance(value, list):
        items = tree.get("*")
        return [_prune(item, items) for item in value] if items is not None else None
    if not isinstance(value, dict):
        return None
    kept: dict[str, Any] = {}
    for key, subtree in tree.items():
        if key in value:
            pruned = _prune(value[key], subtree)
            if pruned not in (None, {}, []):
                kept[key] = pruned
    return kept


def minimise(document: dict[str, Any], allowed_paths: Iterable[str]) -> dict[str, Any]:
    """A new document holding only the allowed paths of ``document``.

    Paths are dotted (``subject.nino``, ``data.new_address.postcode``); ``*`` stands for
    every item of an array (``data.parents.*.family_name``). A path naming an object keeps
    it whole. Nothing outside the paths survives, so the result is safe to send.
    """
    pruned = _prune(document, _tree(tuple(allowed_paths)))
    return pruned if isinstance(pruned, dict) else {}


def collect_local_authorities(document: Any) -> set[str]:  # noqa: ANN401 - JSON values
    """Every ``local_authority`` code anywhere in a change document (councils route on it)."""
    found: set[str] = set()
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            code = value.get("local_authority")
            if isinstance(code, str):
                found.add(code)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found
