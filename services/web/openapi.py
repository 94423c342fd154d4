"""How our APIs document their errors and tokens in OpenAPI (shared by every router).

Every error is ``application/problem+json`` (``services.web.problems``); FastAPI's default
422 entry (``HTTPValidationError`` as ``application/json``) would describe a body we never
send, so routes list their problems with ``problem_responses`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from services.web.problems import PROBLEM_JSON

__all__ = [
    "CHANNEL_SCHEME",
    "OPERATOR_SCHEME",
    "ProblemDetail",
    "ProblemViolation",
    "complete_openapi",
    "problem_responses",
]

#: Security scheme names: a channel's bearer token (``/v1``) and an operator's (``/ops``).
CHANNEL_SCHEME = "ChannelToken"
OPERATOR_SCHEME = "OperatorToken"


class ProblemViolation(BaseModel):
    """One violation: where (JSON Pointer into the body) and why."""

    path: str
    message: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemViolation] = Field(default_factory=list)


def problem_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: each status served as a problem+json document."""
    return {
        status: {
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
            "description": text,
        }
        for status, text in descriptions.items()
    }


def complete_openapi(app: FastAPI) -> None:
    """Add what FastAPI cannot infer: the problem schema and the bearer-token schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {})
            problem = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
            models = components.setdefault("schemas", {})
            models.update(problem.pop("$defs", {}))
            models["ProblemDetail"] = problem
            schemes = components.setdefault("securitySchemes", {})
            for name, what in ((CHANNEL_SCHEME, "a channel"), (OPERATOR_SCHEME, "an operator")):
                schemes[name] = {
                    "type": "http",
                    "scheme": "bearer",
                    "description": f"The token of {what} (TUO_{name[:-5].upper()}_TOKENS).",
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
