"""Operator routes of the tracker API (``/ops``): deliveries, redelivery, pause and health.

Every route needs an operator token; a department-scoped token acts on its department only.
Commands are published for the department adapters to apply, so they answer 202.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.core.references import normalise_reference
from services.tracker.domain import Attempt, DeliveryStatus, TrackedDelivery
from services.tracker.entrypoints.deps import OperatorDep, ReadSideDep, ensure_in_scope
from services.tracker.readside import ControlUnavailableError, TrackerReadSide
from services.web.auth import Principal
from services.web.openapi import OPERATOR_SCHEME, problem_responses
from services.web.problems import ProblemError

__all__ = ["router"]

#: Seconds a client should wait before retrying a command the broker did not take.
_RETRY_AFTER_S = 5
_ACCEPTED = {"accepted": True}

_OPERATOR: dict[str, Any] = {"security": [{OPERATOR_SCHEME: []}]}
_PROBLEMS = problem_responses(
    {
        401: "Missing or unknown operator token",
        403: "The token's scope does not cover that department",
        404: "No such delivery or department",
        422: "A query or path parameter is not valid",
        503: "The command could not be passed on; retry after Retry-After seconds",
    }
)
router = APIRouter(
    tags=["operations"],
    responses=_PROBLEMS,
    # Every /ops route needs an operator token.
)


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "at": _moment(attempt.at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
    }


def _ops_delivery(delivery: TrackedDelivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "reference": delivery.reference,
        "event_id": delivery.event_id,
        "department": delivery.department,
        "status": delivery.status.value,
        "attempts": [_attempt(a) for a in delivery.attempts],
    }


def _known_department(readside: TrackerReadSide, department: str) -> None:
    if readside.registry.get(department) is None:
        raise ProblemError(404, f"There is no department {department!r}.")


async def _command(
    readside: TrackerReadSide, action: str, department: str, delivery_id: str | None = None
) -> dict[str, bool]:
    try:
        await readside.command(action, department, delivery_id)
    except ControlUnavailableError:
        raise ProblemError(
            503,
            "The command could not be passed on; try again shortly.",
            headers={"Retry-After": str(_RETRY_AFTER_S)},
        ) from None
    return _ACCEPTED


@router.get("/ops/deliveries", openapi_extra=_OPERATOR)
async def list_deliveries(
    *,
    readside: ReadSideDep,
    operator: OperatorDep,
    department: str | None = None,
    status: DeliveryStatus | None = None,
    reference: str | None = None,
    delivery_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: str | None = None,
) -> dict[str, Any]:
    """One page of deliveries; a department-scoped token sees only its department."""
    department = _scoped_department(operator, department)
    if reference is not None:
        reference = normalise_reference(reference) or reference
    try:
        items, cursor = await readside.store.deliveries(
            department=department,
            status=status.value if status else None,
            reference=reference,
            delivery_id=delivery_id,
            limit=limit,
            after=after,
        )
    except ValueError:
        raise ProblemError(400, "The 'after' cursor is not valid.") from None
    return {"items": [_ops_delivery(d) for d in items], "next": cursor}


@router.post("/ops/deliveries/{delivery_id}/redeliver", status_code=202, openapi_extra=_OPERATOR)
async def redeliver(
    delivery_id: str, readside: ReadSideDep, operator: OperatorDep
) -> dict[str, bool]:
    """Ask the department's adapter to deliver a finished delivery again."""
    delivery = await readside.find_delivery(delivery_id)
    if delivery is None:
        raise ProblemError(404, "No delivery has that id.")
    ensure_in_scope(operator, delivery.department)
    return await _command(readside, "redeliver", delivery.department, delivery_id)


@router.post(
    "/ops/departments/{department}/redeliver-failed", status_code=202, openapi_extra=_OPERATOR
)
async def redeliver_failed(
    department: str, readside: ReadSideDep, operator: OperatorDep
) -> dict[str, bool]:
    """Ask the department's adapter to deliver all its dead letters again."""
    _known_department(readside, department)
    ensure_in_scope(operator, department)
    return await _command(readside, "redeliver_failed", department)


@router.post("/ops/departments/{department}/pause", status_code=202, openapi_extra=_OPERATOR)
async def pause(department: str, readside: ReadSideDep, operator: OperatorDep) -> dict[str, bool]:
    """Hold the department's deliveries until it is resumed."""
    _known_department(readside, department)
    ensure_in_scope(operator, department)
    return await _command(readside, "pause", department)


@router.post("/ops/departments/{department}/resume", status_code=202, openapi_extra=_OPERATOR)
async def resume(department: str, readside: ReadSideDep, operator: OperatorDep) -> dict[str, bool]:
    """Let the department's held deliveries go again."""
    _known_department(readside, department)
    ensure_in_scope(operator, department)
    return await _command(readside, "resume", department)


@router.get("/ops/departments", openapi_extra=_OPERATOR)
async def departments(readside: ReadSideDep, operator: OperatorDep) -> list[dict[str, Any]]:
    """Each department's health, and its pause and circuit state as its adapters report it.

    ``circuit`` is ``closed``, ``open`` or ``half_open``; it is ``unknown`` (and ``paused``
    false) for a department whose adapters have not reported since the tracker's store
    was created. They report every change and, as a heartbeat, every few seconds:
    ``state_reported_at`` says when they last did.
    """
    now = readside.clock.now()
    states = await readside.store.department_states()
    listed = []
    for spec in readside.registry:
        if operator.scope not in {"*", spec.id}:
            continue
        health = await readside.store.department_health(spec.id, now)
        state = states.get(spec.id)
        listed.append(
            {
                "id": spec.id,
                "name": spec.name,
                "delivered_per_min": health["delivered_per_min"],
                "failure_rate": health["failure_rate"],
                "backlog": int(health["backlog"]),
                "oldest_pending_s": health["oldest_pending_s"],
                "failed": int(health["failed"]),
                "circuit": state.circuit.value if state else "unknown",
                "paused": state.paused if state else False,
                "state_reported_at": _moment(state.at) if state else None,
            }
        )
    return listed


def _scoped_department(operator: Principal, department: str | None) -> str | None:
    """The department filter an operator may use (forced to its own if scoped)."""
    if operator.scope == "*":
        return department
    if department is not None:
        ensure_in_scope(operator, department)
    return operator.scope
