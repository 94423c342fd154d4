"""Catalogue and health endpoints: organisations, schemas, liveness, readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from services.intake.entrypoints.deps import RuntimeDep
from services.intake.entrypoints.schemas import Organisation, SchemaSummary
from services.web.openapi import problem_responses
from services.web.problems import ProblemError

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/organisations", response_model=list[Organisation], tags=["catalogue"])
async def organisations(runtime: RuntimeDep) -> list[Organisation]:
    """Every organisation a citizen can ask us to tell, with the event types it takes."""
    return [
        Organisation(
            id=d.id,
            name=d.name,
            event_types=list(d.event_types),
            local_authority=d.local_authority,
        )
        for d in runtime.deps.departments
    ]


@router.get("/v1/schemas", response_model=list[SchemaSummary], tags=["catalogue"])
async def schemas(runtime: RuntimeDep) -> list[SchemaSummary]:
    """Every event type and its schema versions."""
    registry = runtime.deps.schemas
    return [
        SchemaSummary(
            type=t,
            versions=registry.versions(t),
            latest=registry.versions(t)[-1],
            url=f"/v1/schemas/{t}/{registry.versions(t)[-1]}",
        )
        for t in registry.event_types()
    ]


@router.get(
    "/v1/schemas/{event_type}/{version}",
    responses=problem_responses({404: "No such type or version"}),
    tags=["catalogue"],
)
async def schema(event_type: str, version: int, runtime: RuntimeDep) -> dict[str, Any]:
    """The JSON Schema of one version, with its valid example bodies as ``examples``."""
    registry = runtime.deps.schemas
    document = registry.schema(event_type, version)
    if document is None:
        raise ProblemError(404, f"There is no schema {event_type} version {version}.")
    examples = [
        body for _, body in registry.examples(event_type) if body.get("schema_version") == version
    ]
    return {**document, "examples": examples}


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses={503: {"description": "Not ready"}})
async def readyz(runtime: RuntimeDep) -> Response:
    """Readiness: connected to the broker, so a change can be accepted."""
    if runtime.publisher.is_ready():
        return Response(b'{"status":"ready"}', media_type="application/json")
    return Response(
        b'{"status":"waiting for the broker"}', status_code=503, media_type="application/json"
    )
