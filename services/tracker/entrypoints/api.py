"""The tracker HTTP API: a change's status for channels, plus the operators' ``/ops`` routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from services.core.references import normalise_reference
from services.tracker.bootstrap import TrackerRuntime, build_runtime
from services.tracker.config import TrackerSettings
from services.tracker.entrypoints import dashboard, metrics, ops
from services.tracker.entrypoints.deps import ChannelDep, ReadSideDep
from services.tracker.readside import TrackerReadSide, build_readside
from services.web.openapi import CHANNEL_SCHEME, complete_openapi, problem_responses
from services.web.problems import ProblemError, install_problem_handlers

__all__ = ["create_app", "create_tracker_router", "tracker_lifespan"]

_status_router = APIRouter(tags=["changes"])


@_status_router.get(
    "/v1/changes/{reference}",
    responses=problem_responses(
        {
            401: "Missing or unknown channel token",
            404: "No change has that reference",
            422: "The reference is not valid",
        }
    ),
    openapi_extra={"security": [{CHANNEL_SCHEME: []}]},
)
async def change_status(
    reference: str, readside: ReadSideDep, _channel: ChannelDep
) -> dict[str, Any]:
    """Where a change stands with every organisation it was sent to, and what each receives."""
    canonical = normalise_reference(reference)
    found = await readside.store.change(canonical) if canonical else None
    if found is None:
        raise ProblemError(404, "No change has that reference.")
    change, deliveries = found
    receipt = []
    for delivery in deliveries:
        spec = readside.registry.get(delivery.department)
        receipt.append(
            {
                "department": delivery.department,
                "name": spec.name if spec else delivery.department,
                "fields": list(spec.fields.get(change.type, ())) if spec else [],
            }
        )
    return {
        "reference": change.reference,
        "event_id": change.event_id,
        "type": change.type,
        "received_at": change.received_at.isoformat(),
        "deliveries": [
            {
                "department": d.department,
                "status": d.status.value,
                "attempts": len(d.attempts),
                "last_attempt_at": d.last_attempt_at.isoformat() if d.last_attempt_at else None,
                "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                "reason": d.reason,
            }
            for d in deliveries
        ],
        "receipt": receipt,
    }


def create_tracker_router() -> APIRouter:
    """The tracker's routes, for this app or another one to include.

    The including app must put a ``TrackerReadSide`` on ``app.state.tracker`` and install
    the problem handlers (``services.web.problems.install_problem_handlers``).
    """
    router = APIRouter()
    router.include_router(_status_router)
    router.include_router(ops.router)
    router.include_router(dashboard.router)
    router.include_router(metrics.router)
    return router


def tracker_lifespan(
    settings: TrackerSettings,
    runtime: TrackerRuntime | None = None,
    *,
    readside: TrackerReadSide | None = None,
    purge: bool = True,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the read side and put it on ``app.state.tracker``.

    With ``readside`` given it is used as it is (tests); otherwise one is built over
    ``runtime``'s store. A given ``runtime`` is started and stopped by its owner (the
    consumer process); without one, the lifespan builds, starts and stops its own (which
    migrates the store, and purges expired personal data unless ``purge`` is false).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned: TrackerRuntime | None = None
        running = readside
        if running is None:
            source = runtime
            if source is None:
                source = owned = build_runtime(settings)
                await owned.start(purge=purge)
            running = build_readside(settings, source.store)
        await running.start()
        app.state.tracker = running
        try:
            yield
        finally:
            await running.stop()
            if owned is not None:
                await owned.stop()

    return lifespan


def create_app(
    settings: TrackerSettings,
    runtime: TrackerRuntime | None = None,
    *,
    readside: TrackerReadSide | None = None,
) -> FastAPI:
    """The tracker's own app (see ``tracker_lifespan`` for ``runtime`` and ``readside``)."""
    app = FastAPI(
        title="Tell Us Once — tracker",
        version="1.0.0",
        description="Where each change stands, and the operators' controls.",
        lifespan=tracker_lifespan(settings, runtime, readside=readside),
    )
    install_problem_handlers(app)
    complete_openapi(app)
    app.include_router(create_tracker_router())
    return app
