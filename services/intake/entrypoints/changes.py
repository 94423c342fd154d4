"""Change endpoints: submit once, preview what each organisation would receive."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from services.core.logging import get_logger
from services.core.schema_registry import Violation
from services.intake.bootstrap import IntakeRuntime
from services.intake.domain import (
    BrokerUnavailableError,
    ChangeRejectedError,
    IdempotencyConflictError,
)
from services.intake.entrypoints.body import read_json_body
from services.intake.entrypoints.deps import ChannelDep, RuntimeDep, authenticate_channel
from services.intake.entrypoints.schemas import (
    AcceptedResponse,
    ChangeRequest,
    OrganisationPreviewOut,
    PreviewResponse,
)
from services.intake.handlers import Accepted, SubmitChange, preview_change, submit_change
from services.intake.metrics import count_change, outcome_for_status
from services.web.openapi import CHANNEL_SCHEME, problem_responses
from services.web.problems import ProblemError, problem_response

__all__ = ["PROBLEMS", "answer_submission", "router"]

_log = get_logger(__name__)
_std_log = logging.getLogger(__name__)  # the stdlib logger behind _log: the level to check
_KEY_LIMIT = 255
router = APIRouter(tags=["changes"])

PROBLEMS = problem_responses(
    {
        400: "Malformed JSON",
        401: "Missing or unknown channel token",
        409: "Idempotency-Key reused with a different body",
        413: "Body over the size limit",
        415: "Body is not JSON",
        422: "Schema, consent or date violations, each with its JSON Pointer",
        503: "The broker did not acknowledge in time; retry after Retry-After seconds",
    }
)


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON Schema with its ``$defs`` written in place.

    Pydantic refers to nested models as ``#/$defs/<name>``; inside the OpenAPI document
    ``#`` is the document's root, which has no ``$defs``, so such a reference dangles
    (tools that resolve it, schemathesis among them, drop the whole body).
    """
    definitions = schema.pop("$defs", {})

    def resolve(node: object) -> object:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)  # type: ignore[return-value]  # a dict stays a dict


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(ChangeRequest.model_json_schema())}},
    },
    "security": [{CHANNEL_SCHEME: []}],
}


_SUBMIT_DOC = {
    **_BODY_DOC,
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Retries with the same key and body get the same answer, once.",
        }
    ],
}


@router.post(
    "/v1/changes",
    status_code=202,
    response_model=AcceptedResponse,
    responses=PROBLEMS,
    openapi_extra=_SUBMIT_DOC,
)
async def submit(request: Request) -> Response:
    """Submit a change once; answered 202 only when it is durably on Kafka."""
    # Served by ChangesFastPath in front of the app (the same function, without FastAPI's
    # routing); this route documents the endpoint and serves it when there is no fast path.
    return await answer_submission(request)


async def answer_submission(request: Request) -> Response:
    """The answer to ``POST /v1/changes``: 202, or the problem+json of a refusal.

    Unexpected errors propagate (the app's error middleware answers 500).
    """
    # The hot path reads the runtime, token and header itself instead of through FastAPI
    # dependencies: solving them cost ~18% of the intake's CPU when profiled.
    runtime: IntakeRuntime = request.app.state.runtime
    body: object = None
    try:
        channel = authenticate_channel(request, runtime)
        idempotency_key = _idempotency_key(request)
        body = await read_json_body(request, runtime.settings.intake_max_body_bytes)
        command = SubmitChange(body=body, channel=channel.name, idempotency_key=idempotency_key)
        accepted = await _submit(command, runtime)
    except ProblemError as exc:
        count_change(outcome_for_status(exc.status), body, runtime.deps.schemas)
        # Exactly what the app's ProblemError handler answers (services.web.problems).
        return problem_response(
            exc.status,
            exc.detail,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
        )
    except Exception:
        count_change("error", body, runtime.deps.schemas)
        raise
    count_change("replayed" if accepted.replayed else "accepted", body, runtime.deps.schemas)
    if _std_log.isEnabledFor(logging.INFO):  # binding a dropped event still cost ~2% of CPU
        _log.info(
            "change accepted",
            reference=accepted.reference,
            event_id=accepted.event_id,
            replayed=accepted.replayed,
            channel=channel.name,
        )
    answer = {
        "reference": accepted.reference,
        "event_id": accepted.event_id,
        "notified": list(accepted.notified),
        "status_url": f"/v1/changes/{accepted.reference}",
    }
    return Response(orjson.dumps(answer), status_code=202, media_type="application/json")


def _idempotency_key(request: Request) -> str | None:
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= _KEY_LIMIT:
        raise ProblemError(
            422,
            "The Idempotency-Key header is not valid.",
            errors=[
                Violation(path="", message=f"Idempotency-Key must be 1 to {_KEY_LIMIT} characters")
            ],
        )
    return idempotency_key


async def _submit(command: SubmitChange, runtime: IntakeRuntime) -> Accepted:
    """The handler's answer, or its refusal as a problem."""
    try:
        return await submit_change(command, runtime.deps)
    except ChangeRejectedError as exc:
        raise _rejected(exc) from None
    except IdempotencyConflictError:
        raise ProblemError(
            409,
            "This Idempotency-Key was already used with a different body.",
            errors=[Violation(path="", message="differs from the first use of the key")],
        ) from None
    except BrokerUnavailableError:
        raise ProblemError(
            503,
            "The change was not accepted: the event broker is unavailable. Retry later.",
            slug="broker-unavailable",
            headers={"Retry-After": str(runtime.settings.intake_retry_after_s)},
        ) from None


@router.post(
    "/v1/changes/preview",
    response_model=PreviewResponse,
    responses=PROBLEMS,
    openapi_extra=_BODY_DOC,
)
async def preview(request: Request, runtime: RuntimeDep, _channel: ChannelDep) -> PreviewResponse:
    """Show, per consented organisation, exactly which facts it would receive."""
    body = await read_json_body(request, runtime.settings.intake_max_body_bytes)
    try:
        organisations = preview_change(body, runtime.deps)
    except ChangeRejectedError as exc:
        raise _rejected(exc) from None
    assert isinstance(body, dict)  # noqa: S101 - validated
    return PreviewResponse(
        type=body["type"],
        schema_version=body["schema_version"],
        organisations=[
            OrganisationPreviewOut(id=o.id, name=o.name, fields=list(o.fields), receives=o.receives)
            for o in organisations
        ],
    )


def _rejected(exc: ChangeRejectedError) -> ProblemError:
    return ProblemError(
        422,
        "The change is not valid; see errors for each problem.",
        slug="validation-failed",
        errors=exc.violations,
    )
