"""The event catalogue (docs/events.md): every event type, its fields, examples and readers.

Written from the JSON Schemas in ``schemas/`` (``$ref``s into ``common`` resolved) and from
the department registry, so it says what the code enforces and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.core.departments import DepartmentRegistry
from services.core.schema_registry import FileSchemaRegistry

__all__ = ["build_event_catalogue"]

_NOTES = (
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
)


@dataclass(frozen=True, kw_only=True)
class _Node:
    """A schema node with every ``$ref`` followed; the sibling keywords win over the target."""

    schema: dict[str, Any]
    file: Path


def _resolve(schema: dict[str, Any], file: Path) -> _Node:
    merged = dict(schema)
    for _ in range(20):  # a bound, in case of a reference cycle
        ref = merged.pop("$ref", None)
        if not isinstance(ref, str):
            break
        target, _, fragment = ref.partition("#")
        if target:
            file = (file.parent / target).resolve()
        node: Any = json.loads(file.read_text(encoding="utf-8"))
        for part in (p for p in fragment.split("/") if p):
            node = node[part]
        merged = {**node, **merged}
    return _Node(schema=merged, file=file)


def _type_of(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"constant `{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type", "any JSON value")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _notes(node: _Node) -> list[str]:
    schema = node.schema
    notes = [f"{label} {schema[key]}" for key, label in _NOTES if key in schema]
    if "format" in schema:
        notes.append(f"format `{schema['format']}`")
    if "pattern" in schema:
        notes.append(f"pattern `{schema['pattern']}`")
    for choice in schema.get("anyOf", []):
        option = _resolve(choice, node.file).schema
        described = option.get("description", "")
        shape = f"pattern `{option['pattern']}`" if "pattern" in option else ""
        notes.append("or: " + "; ".join(part for part in (described, shape) if part))
    return notes


def _field_line(path: str, node: _Node, *, required: bool) -> str:
    schema = node.schema
    kind = _type_of(schema)
    if schema.get("type") == "array" and "items" in schema:
        kind += " of " + _type_of(_resolve(schema["items"], node.file).schema)
    head = f"- `{path}` — {kind}, {'required' if required else 'optional'}."
    description = str(schema.get("description", "")).rstrip(".")
    parts = [head] + ([description + "."] if description else [])
    notes = _notes(node)
    if notes:
        parts.append("(" + "; ".join(notes) + ")")
    return " ".join(parts)


def _fields(node: _Node, prefix: str) -> Iterator[str]:
    schema = node.schema
    required = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved = _resolve(child, node.file)
        yield _field_line(path, resolved, required=name in required)
        yield from _fields(resolved, f"{path}.")
        items = resolved.schema.get("items")
        if isinstance(items, dict):
            yield from _fields(_resolve(items, resolved.file), f"{path}.*.")


def _version_section(schemas: FileSchemaRegistry, event_type: str, version: int) -> list[str]:
    file = schemas.root / event_type / f"v{version}.json"
    node = _resolve(json.loads(file.read_text(encoding="utf-8")), file)
    examples = [
        name for name, body in schemas.examples(event_type) if body.get("schema_version") == version
    ]
    lines = [
        f"### {event_type} version {version}: {node.schema.get('title', '')}",
        "",
        str(node.schema.get("description", "")),
        "",
        (
            f"Schema: [`schemas/{event_type}/v{version}.json`]"
            f"(../schemas/{event_type}/v{version}.json)"
            f" (served at `GET /v1/schemas/{event_type}/{version}`)."
        ),
        "",
        "Fields:",
        "",
        *_fields(node, ""),
        "",
        "Examples:",
        "",
    ]
    lines += [f"- [`{name}`](../schemas/{event_type}/examples/{name})" for name in examples] or [
        "- (none)"
    ]
    return [*lines, ""]


def _readers(registry: DepartmentRegistry, event_type: str) -> list[str]:
    lines = ["### Who receives it (deploy/departments.yaml)", ""]
    for department in registry:
        if event_type not in department.event_types:
            continue
        area = (
            f" — council for `{department.local_authority}`, told only of changes in its area"
            if department.local_authority
            else ""
        )
        fields = ", ".join(f"`{path}`" for path in department.fields[event_type])
        lines.append(f"- **{department.id}** ({department.name}){area}: {fields}")
    if len(lines) == 2:
        lines.append("- nobody yet")
    return [*lines, ""]


def build_event_catalogue(schemas: FileSchemaRegistry, registry: DepartmentRegistry) -> str:
    """The whole catalogue as Markdown, ending with one newline."""
    types = schemas.event_types()
    lines = [
        "# Event catalogue",
        "",
        (
            "Generated by `tellusonce docs generate` from `schemas/` and"
            " `deploy/departments.yaml`; do not edit by hand. Field paths are dotted into the"
            " request body (`*` is every item of a list), as in the department registry; a"
            " department receives only the paths listed for it (and everything under them)."
        ),
        "",
        *[f"- [{t}](#{t}) (versions {', '.join(map(str, schemas.versions(t)))})" for t in types],
        "",
    ]
    for event_type in types:
        lines += [f"## {event_type}", ""]
        for version in schemas.versions(event_type):
            lines += _version_section(schemas, event_type, version)
        lines += _readers(registry, event_type)
    return "\n".join(lines).rstrip("\n") + "\n"
