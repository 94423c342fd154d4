"""The department registry: who may be told what, where, and how fast (deploy/*.yaml)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from services.core.errors import ConfigurationError
from services.core.minimise import collect_local_authorities

__all__ = ["DepartmentRegistry", "DepartmentSpec", "load_registry"]

_Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def _expand(text: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in endpoints, so one registry serves every host."""
    return _VARIABLE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)


class DepartmentSpec(BaseModel):
    """One department (or council) the bus can tell, as configured in the registry file.

    ``fields`` maps each subscribed event type to the dotted field paths the department is
    entitled to (see ``services.core.minimise``); nothing else ever leaves for it.
    ``signing_secret`` is a Standard Webhooks ``whsec_`` secret or ``env:VAR``; several
    secrets separated by spaces sign with each during a rotation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: _Id
    name: str = Field(min_length=1, max_length=120)
    endpoint: AnyHttpUrl
    signing_secret: SecretStr
    event_types: tuple[str, ...] = Field(min_length=1)
    fields: dict[str, tuple[str, ...]]
    max_concurrency: int = Field(ge=1, le=1024)
    rate_limit_per_s: float = Field(gt=0)
    timeout_s: float = Field(gt=0, le=300)
    retry_schedule_s: tuple[float, ...] = Field(min_length=0, max_length=50)
    local_authority: str | None = Field(default=None, pattern=r"^[ENSW][0-9]{8}$")
    transform: str | None = None

    @field_validator("retry_schedule_s")
    @classmethod
    def _non_negative(cls, delays: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in delays):
            raise ValueError("retry delays must be zero or more seconds")
        return delays

    @model_validator(mode="after")
    def _fields_match_event_types(self) -> DepartmentSpec:
        missing = [t for t in self.event_types if t not in self.fields]
        extra = [t for t in self.fields if t not in self.event_types]
        if missing:
            raise ValueError(f"no allowed fields given for event types {missing}")
        if extra:
            raise ValueError(f"allowed fields given for unsubscribed event types {extra}")
        return self

    @property
    def is_council(self) -> bool:
        """Councils are routed by local authority as well as by event type."""
        return self.local_authority is not None

    def is_entitled(self, event_type: str, document: dict[str, Any]) -> bool:
        """Whether this department may receive this change at all (before consent)."""
        if event_type not in self.event_types:
            return False
        if self.local_authority is None:  # not a council: no need to look for addresses
            return True
        return self.covers(collect_local_authorities(document))

    def covers(self, authorities: set[str]) -> bool:
        """Whether a change naming these local authorities concerns this department.

        Only councils are routed by area. A correction or withdrawal names no address: it
        goes to whoever had the original.
        """
        return (
            self.local_authority is None or not authorities or self.local_authority in authorities
        )

    def secrets(self) -> list[str]:
        """The signing secrets in force (resolving ``env:VAR``); raises if one is missing."""
        raw = self.signing_secret.get_secret_value()
        if raw.startswith("env:"):
            variable = raw.removeprefix("env:")
            raw = os.environ.get(variable, "")
            if not raw:
                raise ConfigurationError(
                    f"department {self.id}: environment variable {variable} is not set"
                )
        secrets = raw.split()
        if not all(secret.startswith("whsec_") for secret in secrets):
            raise ConfigurationError(f"department {self.id}: signing secret must be whsec_…")
        return secrets


class DepartmentRegistry:
    """All departments, by id, in file order."""

    def __init__(self, departments: Iterable[DepartmentSpec]) -> None:
        self._by_id: dict[str, DepartmentSpec] = {}
        for department in departments:
            if department.id in self._by_id:
                raise ConfigurationError(f"department id {department.id} appears twice")
            self._by_id[department.id] = department

    def __iter__(self) -> Iterator[DepartmentSpec]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, department_id: str) -> DepartmentSpec | None:
        """The department with this id, or None."""
        return self._by_id.get(department_id)

    def ids(self) -> list[str]:
        """Every department id, in file order."""
        return list(self._by_id)


def load_registry(
    path: Path, *, known_event_types: set[str], require_secrets: bool = False
) -> DepartmentRegistry:
    """Read and validate a registry file; every problem is a ``ConfigurationError``.

    Args:
        path: the YAML file (top-level key ``departments``).
        known_event_types: event types with a schema; a department naming another fails.
        require_secrets: resolve every signing secret now (adapters do; intake does not).
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read department registry {path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("departments"), list):
        raise ConfigurationError(f"{path}: expected a top-level 'departments' list")
    departments = []
    for index, raw_entry in enumerate(raw["departments"]):
        entry = raw_entry
        label = entry.get("id", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        if isinstance(entry, dict) and isinstance(entry.get("endpoint"), str):
            entry = {**entry, "endpoint": _expand(entry["endpoint"])}
        try:
            department = DepartmentSpec.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(entry)'}: {err['msg']}"
                for err in exc.errors(include_input=False)
            )
            raise ConfigurationError(f"{path}: department {label}: {problems}") from None
        unknown = sorted(set(department.event_types) - known_event_types)
        if unknown:
            raise ConfigurationError(f"{path}: department {label}: unknown event types {unknown}")
        if require_secrets:
            department.secrets()
        departments.append(department)
    return DepartmentRegistry(departments)
