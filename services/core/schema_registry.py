"""The shared, versioned JSON Schemas: loaded once, validated fast, explained safely.

Request-path validation uses jsonschema-rs (full draft 2020-12, formats on); the reference
``jsonschema`` implementation is kept for tests and tooling, which check that the two
agree. Error messages are written from the kind of violation, never from the value, so
they carry no personal data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jsonschema_rs

__all__ = ["FileSchemaRegistry", "SchemaRegistry", "Violation", "pointer"]

_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One reason a document was refused: a JSON Pointer into it and a safe message."""

    path: str
    message: str


def pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """RFC 6901 JSON Pointer for a list of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class SchemaRegistry(Protocol):
    """Knows every event type and version, and validates change documents against them."""

    def event_types(self) -> list[str]:
        """Every event type, sorted."""
        ...

    def versions(self, event_type: str) -> list[int]:
        """The versions of one type, ascending (empty if the type is unknown)."""
        ...

    def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        """The JSON Schema document, or None."""
        ...

    def examples(self, event_type: str) -> list[tuple[str, dict[str, Any]]]:
        """The shipped valid example bodies of a type, as (file name, body)."""
        ...

    def validate(self, document: object) -> list[Violation]:
        """Every violation of the document's own type and version (empty when valid)."""
        ...


class FileSchemaRegistry:
    """Schemas read from ``<root>/<type>/v<N>.json``; ``<root>/common`` holds shared defs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._schemas: dict[tuple[str, int], dict[str, Any]] = {}
        shared: list[tuple[str, dict[str, Any]]] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for file in sorted(folder.glob("v*.json")):
                match = _VERSION_FILE.match(file.name)
                if not match:
                    continue
                document = json.loads(file.read_text(encoding="utf-8"))
                shared.append((document.get("$id", file.resolve().as_uri()), document))
                if folder.name != "common":
                    self._schemas[(folder.name, int(match.group(1)))] = document
        self.resources = shared
        self._versions: dict[str, list[int]] = {}
        for event_type, version in sorted(self._schemas):
            self._versions.setdefault(event_type, []).append(version)
        registry = jsonschema_rs.Registry(shared)
        self._validators = {
            key: jsonschema_rs.validator_for(schema, registry=registry, validate_formats=True)
            for key, schema in self._schemas.items()
        }
        self._pattern_names = _pattern_descriptions(shared)

    def event_types(self) -> list[str]:
        """Every event type, sorted."""
        return sorted({event_type for event_type, _ in self._schemas})

    def versions(self, event_type: str) -> list[int]:
        """The versions of one type, ascending (empty if the type is unknown)."""
        return list(self._versions.get(event_type, ()))

    def schema(self, event_type: str, version: int) -> dict[str, Any] | None:
        """The JSON Schema document, or None."""
        return self._schemas.get((event_type, version))

    def examples(self, event_type: str) -> list[tuple[str, dict[str, Any]]]:
        """The shipped valid example bodies of a type, as (file name, body)."""
        folder = self.root / event_type / "examples"
        return [
            (file.name, json.loads(file.read_text(encoding="utf-8")))
            for file in sorted(folder.glob("*.json"))
        ]

    def validate(self, document: object) -> list[Violation]:  # noqa: PLR0911 - one exit per check
        """Every violation of the document's own type and version (empty when valid)."""
        if not isinstance(document, dict):
            return [Violation(path="", message="must be a JSON object")]
        event_type = document.get("type")
        version = document.get("schema_version")
        if not isinstance(event_type, str):
            return [Violation(path="/type", message=_missing_or_type(document, "type", "string"))]
        if not self.versions(event_type):
            return [Violation(path="/type", message="is not a known event type (GET /v1/schemas)")]
        if not isinstance(version, int) or isinstance(version, bool):
            message = _missing_or_type(document, "schema_version", "integer")
            return [Violation(path="/schema_version", message=message)]
        validator = self._validators.get((event_type, version))
        if validator is None:
            known = ", ".join(str(v) for v in self.versions(event_type))
            message = f"is not a supported version of {event_type} (supported: {known})"
            return [Violation(path="/schema_version", message=message)]
        if validator.is_valid(document):
            return []
        violations = [v for e in validator.iter_errors(document) for v in self._explain(e)]
        return sorted(set(violations), key=lambda v: (v.path, v.message))

    def _explain(self, error: Any) -> list[Violation]:  # noqa: ANN401 - jsonschema_rs error
        path = pointer(list(error.instance_path))
        kind = error.kind
        name = type(kind).__name__
        if name == "Required":
            return [Violation(path=f"{path}/{kind.property}", message="is required")]
        if name in {"AdditionalProperties", "UnevaluatedProperties"}:
            unexpected = getattr(kind, "unexpected", None) or []
            return [Violation(path=f"{path}/{key}", message="is not allowed") for key in unexpected]
        return [Violation(path=path, message=self._message(name, kind))]

    def _message(self, name: str, kind: Any) -> str:  # noqa: ANN401 - one case per kind
        limit = getattr(kind, "limit", None)
        if name == "Pattern":
            return self._pattern_names.get(kind.pattern, "does not have the expected format")
        if name == "Format":
            return f"must be a valid {kind.format}" + (
                " (YYYY-MM-DD, a real calendar date)" if kind.format == "date" else ""
            )
        if name == "Type":
            return "must be of type " + " or ".join(kind.types)
        if name == "Enum":
            return "must be one of: " + ", ".join(json.dumps(o) for o in kind.options)
        if name == "Constant":
            return f"must be {json.dumps(kind.expected_value)}"
        simple = {
            "MinLength": f"must be at least {limit} characters long",
            "MaxLength": f"must be at most {limit} characters long",
            "MinItems": f"must have at least {limit} items",
            "MaxItems": f"must have at most {limit} items",
            "UniqueItems": "must not contain duplicates",
            "Minimum": f"must be at least {limit}",
            "Maximum": f"must be at most {limit}",
            "AnyOf": "does not match any of the allowed forms",
            "OneOfNotValid": "does not match any of the allowed forms",
            "OneOfMultipleValid": "matches more than one of the allowed forms",
        }
        return simple.get(name, f"violates the schema ({kind.name})")


def _missing_or_type(document: dict[str, Any], key: str, json_type: str) -> str:
    return "is required" if key not in document else f"must be of type {json_type}"


def _pattern_descriptions(resources: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Map each pattern in the schemas to a readable rule, from the nearest description."""
    found: dict[str, str] = {}

    def walk(node: object, description: str | None) -> None:
        if isinstance(node, dict):
            here = node.get("description", description)
            pattern = node.get("pattern")
            if isinstance(pattern, str) and isinstance(here, str) and pattern not in found:
                found[pattern] = "must be " + here[0].lower() + here[1:].rstrip(".")
            for value in node.values():
                walk(value, here if isinstance(here, str) and "pattern" in node else None)
        elif isinstance(node, list):
            for value in node:
                walk(value, None)

    for _, document in resources:
        walk(document, None)
    return found
