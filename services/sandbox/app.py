"""The sandbox departments: one signed-webhook endpoint per department, plus a control API."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.core.departments import DepartmentRegistry
from services.core.logging import get_logger
from services.core.schema_registry import Violation
from services.sandbox.faults import FaultBook, FaultKind, FaultRule, FaultRuleError, FaultTarget
from services.sandbox.recorder import KEPT_HEADERS, Recorder
from services.sandbox.signatures import SignatureChecker
from services.web.problems import ProblemError, install_problem_handlers, problem_response

__all__ = ["FaultRequest", "create_sandbox_app"]

_log = get_logger(__name__)
_RAW_SEND = "tellusonce.sandbox.raw_send"
_Text = Annotated[str | None, Field(min_length=1, max_length=200)]


class FaultRequest(BaseModel):
    """The JSON body of ``POST /sandbox/departments/{id}/faults`` (see ``FaultRule``)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    status: int | None = Field(default=None, ge=200, le=599)
    reason: str | None = Field(default=None, max_length=500)
    retry_after_s: int | None = Field(default=None, ge=0, le=86_400)
    seconds: float | None = Field(default=None, ge=0, le=3600)
    times: int | None = Field(default=None, ge=1)
    event_id: _Text = None
    reference: _Text = None
    event_type: _Text = None
    citizen: _Text = None


class _SandboxApp(FastAPI):
    """Keeps the server's own ``send`` in the scope: the ``drop`` fault needs its transport."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_RAW_SEND] = send
        await super().__call__(scope, receive, send)


def create_sandbox_app(
    registry: DepartmentRegistry,
    *,
    tolerance_s: float = 300,
    journal: Path | None = None,
) -> FastAPI:
    """Every department in ``registry`` at ``POST /departments/{id}/events``.

    Each push is checked in order: signature (401 problem+json if bad, recorded as
    ``rejected_signature``), JSON object body (400), the first matching fault rule, then
    recorded and answered ``200 {"received": true, "duplicate": bool}``. Redelivering a
    webhook-id already accepted is idempotent: 200 again, flagged ``duplicate``.
    Secrets are resolved now, so an unset ``env:VAR`` raises ``ConfigurationError``.
    The control API is under ``/sandbox/`` (unauthenticated: bind it to localhost).
    """
    sandbox = _Sandbox(registry, tolerance_s=tolerance_s, journal=journal)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            sandbox.recorder.close()

    app = _SandboxApp(title="Tell Us Once — sandbox departments", lifespan=lifespan)
    install_problem_handlers(app)
    app.state.sandbox = sandbox
    app.add_api_route(
        "/departments/{department_id}/events",
        sandbox.receive_push,
        methods=["POST"],
        include_in_schema=False,
    )
    app.include_router(_control_router(sandbox))
    return app


class _Sandbox:
    """The departments' secrets, what they received and the fault rules in force."""

    def __init__(
        self, registry: DepartmentRegistry, *, tolerance_s: float, journal: Path | None
    ) -> None:
        self.ids = registry.ids()
        self.checkers = {
            d.id: SignatureChecker(d.secrets(), tolerance_s=tolerance_s) for d in registry
        }
        self.recorder = Recorder(journal=journal)
        self.faults = FaultBook()

    def checker(self, department_id: str) -> SignatureChecker:
        checker = self.checkers.get(department_id)
        if checker is None:
            raise ProblemError(404, f"there is no sandbox department {department_id!r}")
        return checker

    async def receive_push(self, department_id: str, request: Request) -> Response:
        checker = self.checker(department_id)
        raw = await request.body()
        headers = {k: v for k in KEPT_HEADERS if (v := request.headers.get(k)) is not None}
        webhook_id = headers.get("webhook-id")
        body = _json_or_none(raw)
        log = _log.bind(department=department_id, webhook_id=webhook_id)
        refuse = functools.partial(
            self.recorder.refuse, department_id, webhook_id=webhook_id, body=body, headers=headers
        )
        problem = checker.problem(request.headers, raw)
        if problem is not None:
            refuse(outcome="rejected_signature", status=401, signature_valid=False)
            log.warning("sandbox push refused", status=401, reason=problem)
            raise ProblemError(401, problem, slug="invalid-signature")
        if not isinstance(body, dict) or webhook_id is None:
            refuse(outcome="rejected_body", status=400)
            raise ProblemError(400, "the body must be a JSON object")
        rule = self.faults.take(FaultTarget.from_body(department_id, body))
        if rule is not None and rule.kind != "slow":
            status = 429 if rule.kind == "rate_limited" else rule.status
            refuse(outcome="faulted", status=status, fault=rule.kind)
            log.info("sandbox fault applied", fault=rule.kind, status=status)
            return await _misbehave(rule, request)
        if rule is not None and rule.seconds:
            await asyncio.sleep(rule.seconds)  # the fault itself: a slow department
        record = self.recorder.accept(
            department_id, webhook_id=webhook_id, body=body, headers=headers
        )
        log.info("sandbox push received", status=200, duplicate=record.duplicate)
        return _json({"received": True, "duplicate": record.duplicate})


def _control_router(sandbox: _Sandbox) -> APIRouter:
    router = APIRouter()

    @router.get("/sandbox/departments/{department_id}/received")
    async def received(department_id: str, *, unique: bool = False) -> Response:
        sandbox.checker(department_id)
        records = sandbox.recorder.received(department_id, unique=unique)
        return _json({"department": department_id, "received": [r.to_json() for r in records]})

    @router.get("/sandbox/received")
    async def received_anywhere(
        reference: str | None = None, event_id: str | None = None
    ) -> Response:
        records = sandbox.recorder.find(reference=reference, event_id=event_id)
        return _json({"received": [r.to_json() for r in records]})

    @router.post("/sandbox/departments/{department_id}/faults", status_code=201)
    async def add_fault(department_id: str, spec: FaultRequest) -> Response:
        sandbox.checker(department_id)
        try:
            rule = FaultRule(department=department_id, **spec.model_dump())
        except FaultRuleError as exc:
            violation = Violation(path=f"/{exc.field}", message=exc.message)
            raise ProblemError(422, "The fault rule is not valid.", errors=[violation]) from None
        rule_id = sandbox.faults.add(rule)
        _log.info("sandbox fault added", department=department_id, fault=rule.kind, id=rule_id)
        return _json({"id": rule_id, **rule.to_json()}, status=201)

    @router.get("/sandbox/departments/{department_id}/faults")
    async def list_faults(department_id: str) -> Response:
        sandbox.checker(department_id)
        rules = sandbox.faults.rules(department_id)
        return _json({"faults": [{"id": i, **r.to_json()} for i, r in rules.items()]})

    @router.delete("/sandbox/departments/{department_id}/faults")
    async def clear_faults(department_id: str) -> Response:
        sandbox.checker(department_id)
        return _json({"cleared": sandbox.faults.clear(department_id)})

    @router.post("/sandbox/reset")
    async def reset() -> Response:
        cleared = sandbox.faults.clear()
        sandbox.recorder.reset()
        _log.info("sandbox reset", faults_cleared=cleared)
        return _json({"reset": True})

    @router.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok", "departments": sandbox.ids})

    return router


async def _misbehave(rule: FaultRule, request: Request) -> Response:
    """The answer (or lack of one) a fault rule calls for; ``slow`` is handled by the caller."""
    headers = {"Retry-After": str(rule.retry_after_s)} if rule.retry_after_s is not None else {}
    if rule.kind == "timeout":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_disconnected(request), rule.seconds)
        return problem_response(504, f"held for {rule.seconds:g} s by a sandbox fault")
    if rule.kind == "drop":
        await _drop_connection(request)
        return Response(status_code=500)  # never sent: the connection is gone
    status = rule.status or 429
    if status < 400:
        return Response(status_code=status, headers=headers)
    detail = rule.reason or f"sandbox fault: {rule.kind} {status}"
    return problem_response(status, detail, slug="sandbox-fault", headers=headers)


async def _drop_connection(request: Request) -> None:
    """Close the TCP connection with no response at all (uvicorn's transport, if reachable).

    ASGI has no message for this, so the server's own ``send`` (a bound method of uvicorn's
    request cycle) leads to the transport. Elsewhere (an in-process test transport) an
    exception is raised instead, which such transports surface to the caller.
    """
    owner = getattr(request.scope.get(_RAW_SEND), "__self__", None)
    transport = getattr(owner, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionAbortedError("sandbox fault: drop (no transport to close)")
    transport.abort()
    await _until_disconnected(request)


async def _until_disconnected(request: Request) -> None:
    """Wait until the caller goes away (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _json_or_none(raw: bytes) -> Any:  # noqa: ANN401 - any JSON
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _json(content: object, *, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")
