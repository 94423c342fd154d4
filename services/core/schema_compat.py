"""Full compatibility between two versions of an event schema: nothing may break either way.

A new version is compatible when readers of the old version keep working with documents
written to the new one and readers of the new version accept old documents. The one change
allowed is a new *optional* property: departments receive only the fields they are allowed,
so a field they do not know never reaches them. Everything else that changes what is valid is
reported: required fields, types, enums, consts, string, number and array limits, patterns,
formats, ``additionalProperties`` and the number of ``anyOf``/``oneOf``/``allOf`` branches
(branches are compared by position). ``$ref`` is followed, within a document and to other
documents through ``resolve``; a ``$ref`` with sibling keywords is compared as if the siblings
were merged into its target. Array items are reported under a ``*`` segment, as in
``/data/parents/*/nino``.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urldefrag, urljoin

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["Incompatibility", "check_compatible", "check_directory"]

_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")
# Keywords that only document a schema, and keywords compared structurally below.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
    | {"deprecated", "readOnly", "writeOnly"}
)
_STRUCTURAL = frozenset(
    {"$ref", "type", "enum", "required", "properties", "additionalProperties", "items"}
    | {"anyOf", "oneOf", "allOf"}
)
# An upper limit tightens when it shrinks; a lower limit when it grows.
_UPPER_LIMITS = frozenset({"maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum"})
_LOWER_LIMITS = frozenset({"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum"})
# The root consts that change with every version by design.
_VERSIONED_CONSTS = frozenset({"/type", "/schema_version"})
_MAX_REF_HOPS = 50
_MISSING = object()


@dataclass(frozen=True, kw_only=True)
class Incompatibility:
    """One change that breaks old or new readers, and where it is (a JSON Pointer)."""

    path: str
    reason: str


@dataclass(frozen=True)
class _Side:
    """The document a schema being compared lives in, and the base URI of its ``$ref``."""

    document: object
    base: str


def check_compatible(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    resolve: Callable[[str], dict[str, Any]] | None = None,
) -> list[Incompatibility]:
    """Every way in which ``new`` is not fully compatible with ``old`` (empty when it is).

    The root ``type`` and ``schema_version`` consts are expected to differ and are ignored.

    Args:
        old: The schema of the earlier version.
        new: The schema of the later version.
        resolve: Maps the absolute URI of another document (no fragment) named by a ``$ref``
            to that document; only needed when the schemas refer to other documents.

    Raises:
        ValueError: A ``$ref`` cannot be followed.
    """
    comparison = _Comparison(resolve)
    old_side = _Side(old, str(old.get("$id", "")))
    new_side = _Side(new, str(new.get("$id", "")))
    comparison.compare(old, old_side, new, new_side, "")
    return comparison.found


def check_directory(root: Path) -> dict[str, list[Incompatibility]]:
    """Compare each ``<root>/<type>/v<N>.json`` with the version before it.

    Keys read ``"<type> v<N-1> -> v<N>"``; every pair of consecutive versions has a key, with
    an empty list when they are compatible. ``$ref`` between files is resolved by ``$id``.
    """
    documents: dict[str, dict[str, Any]] = {}
    versions: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for file in sorted(root.glob("*/v*.json")):
        match = _VERSION_FILE.match(file.name)
        if match is None:
            continue
        document = json.loads(file.read_text(encoding="utf-8"))
        documents[str(document.get("$id", file.resolve().as_uri()))] = document
        versions.setdefault(file.parent.name, []).append((int(match.group(1)), document))

    def resolve(uri: str) -> dict[str, Any]:
        if uri not in documents:
            raise ValueError(f"no schema file under {root} has $id {uri!r}")
        return documents[uri]

    report: dict[str, list[Incompatibility]] = {}
    for type_name, found in sorted(versions.items()):
        ordered = sorted(found, key=lambda pair: pair[0])
        for (old_n, old), (new_n, new) in itertools.pairwise(ordered):
            report[f"{type_name} v{old_n} -> v{new_n}"] = check_compatible(
                old, new, resolve=resolve
            )
    return report


class _Comparison:
    """One walk over two schemas side by side, collecting incompatibilities."""

    def __init__(self, resolve: Callable[[str], dict[str, Any]] | None) -> None:
        self._resolve = resolve
        self._active: set[tuple[str, str]] = set()  # $ref pairs being compared, for recursion
        self.found: list[Incompatibility] = []

    def compare(
        self, old: object, old_side: _Side, new: object, new_side: _Side, path: str
    ) -> None:
        """Compare two (sub)schemas that apply at the same place in the document."""
        old, old_side, old_ref = self._dereference(old, old_side)
        new, new_side, new_ref = self._dereference(new, new_side)
        if not isinstance(old, dict) or not isinstance(new, dict):
            if _as_schema(old) != _as_schema(new):
                self._report(path, f"schema changed from {_show(old)} to {_show(new)}")
            return
        pair = (old_ref, new_ref)
        if old_ref and new_ref and pair in self._active:
            return  # a recursive schema: this pair is already being compared further up
        self._active.add(pair)
        try:
            self._compare_keywords(old, old_side, new, new_side, path)
        finally:
            self._active.discard(pair)

    def _compare_keywords(
        self, old: dict[str, Any], old_side: _Side, new: dict[str, Any], new_side: _Side, path: str
    ) -> None:
        self._compare_type(old, new, path)
        self._compare_enum(old, new, path)
        for keyword in sorted((old.keys() | new.keys()) - _ANNOTATIONS - _STRUCTURAL):
            before, after = old.get(keyword, _MISSING), new.get(keyword, _MISSING)
            if before != after and not (keyword == "const" and path in _VERSIONED_CONSTS):
                self._report(path, _describe(keyword, before, after))
        self._compare_properties(old, old_side, new, new_side, path)
        for keyword, sub_path in (("additionalProperties", path), ("items", f"{path}/*")):
            before, after = old.get(keyword, True), new.get(keyword, True)
            if isinstance(before, bool) or isinstance(after, bool):
                if _as_schema(before) != _as_schema(after):
                    self._report(
                        sub_path, f"{keyword} changed from {_show(before)} to {_show(after)}"
                    )
            else:
                self.compare(before, old_side, after, new_side, sub_path)
        for keyword in ("anyOf", "oneOf", "allOf"):
            old_branches, new_branches = old.get(keyword, []), new.get(keyword, [])
            if len(old_branches) != len(new_branches):
                counts = f"from {len(old_branches)} to {len(new_branches)}"
                self._report(path, f"number of {keyword} branches changed {counts}")
                continue
            for old_branch, new_branch in zip(old_branches, new_branches, strict=True):
                self.compare(old_branch, old_side, new_branch, new_side, path)

    def _compare_type(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        before, after = _types(old), _types(new)
        if set(before) == set(after):
            return
        if not before or (after and set(after) < set(before)):
            verb = "narrowed"
        elif not after or set(before) < set(after):
            verb = "widened"
        else:
            verb = "changed"
        self._report(path, f"type {verb} from {before or 'any'} to {after or 'any'}")

    def _compare_enum(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        if "enum" not in old and "enum" not in new:
            return
        if "enum" not in new:
            self._report(path, "enum removed: any value is now accepted")
        elif "enum" not in old:
            self._report(path, "enum added: only the listed values are now accepted")
        else:
            removed = [value for value in old["enum"] if value not in new["enum"]]
            added = [value for value in new["enum"] if value not in old["enum"]]
            if removed:
                self._report(path, f"enum values removed: {_show(removed)}")
            if added:
                self._report(path, f"enum values added: {_show(added)}")

    def _compare_properties(
        self, old: dict[str, Any], old_side: _Side, new: dict[str, Any], new_side: _Side, path: str
    ) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name in sorted(old_required - new_required):
            reason = (
                "required field made optional" if name in new_props else "required field removed"
            )
            self._report(_child(path, name), reason)
        for name in sorted(new_required - old_required):
            self._report(_child(path, name), "new required field added")
        for name in sorted(old_props.keys() - new_props.keys() - old_required):
            self._report(_child(path, name), "property removed")
        for name in sorted(old_props.keys() & new_props.keys()):
            self.compare(old_props[name], old_side, new_props[name], new_side, _child(path, name))

    def _dereference(self, schema: object, side: _Side) -> tuple[object, _Side, str]:
        """Follow ``$ref`` until a schema without one; also return the last URI followed."""
        followed = ""
        for _ in range(_MAX_REF_HOPS):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return schema, side, followed
            ref = str(schema["$ref"])
            followed = urljoin(side.base, ref)
            uri, fragment = urldefrag(followed)
            if uri not in {"", urldefrag(side.base)[0]}:
                side = _Side(self._load(uri), uri)
            target = _pointer(side.document, fragment, ref)
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **siblings} if isinstance(target, dict) else target
        raise ValueError(f"$ref chain longer than {_MAX_REF_HOPS} at {followed!r}")

    def _load(self, uri: str) -> object:
        if self._resolve is None:
            raise ValueError(f"cannot follow $ref to {uri!r} without a resolver")
        return self._resolve(uri)

    def _report(self, path: str, reason: str) -> None:
        self.found.append(Incompatibility(path=path, reason=reason))


def _pointer(document: object, fragment: str, ref: str) -> object:
    """The part of ``document`` named by a JSON Pointer fragment such as ``/$defs/name``."""
    if fragment and not fragment.startswith("/"):
        raise ValueError(f"unsupported $ref {ref!r}: only JSON Pointer fragments are followed")
    node = document
    for raw in unquote(fragment).split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise ValueError(f"$ref {ref!r} points to nothing")
    return node


def _child(path: str, name: str) -> str:
    return f"{path}/{name.replace('~', '~0').replace('/', '~1')}"


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _as_schema(value: object) -> object:
    """``true`` and ``{}`` accept the same documents; so do ``false`` and ``{"not": {}}``."""
    if isinstance(value, bool):
        return {} if value else {"not": {}}
    return value


def _describe(keyword: str, before: object, after: object) -> str:
    if before is _MISSING:
        return f"{keyword} {_show(after)} added"
    if after is _MISSING:
        return f"{keyword} {_show(before)} removed"
    if (
        keyword in _UPPER_LIMITS | _LOWER_LIMITS
        and isinstance(before, int | float)
        and isinstance(after, int | float)
    ):
        tighter = after < before if keyword in _UPPER_LIMITS else after > before
        return f"{keyword} {'tightened' if tighter else 'loosened'} from {before} to {after}"
    return f"{keyword} changed from {_show(before)} to {_show(after)}"


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
