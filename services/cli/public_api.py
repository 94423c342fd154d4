"""The public HTTP API on one port: intake, change status, operator API, dashboard, metrics.

Intake and the tracker are separate services that never import each other; this module,
above both, composes their routes into the one app that ``tellusonce intake`` (and so
``tellusonce up``) serves. The tracker's routes only read its store (and publish operator
commands), so any number of these processes can serve beside one tracker consumer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.intake.bootstrap import IntakeRuntime
from services.intake.config import IntakeSettings
from services.intake.entrypoints.api import include_intake_routes, intake_lifespan
from services.tracker.config import TrackerSettings
from services.tracker.entrypoints.api import create_tracker_router, tracker_lifespan
from services.web.openapi import complete_openapi
from services.web.problems import install_problem_handlers

__all__ = ["create_public_app"]


def create_public_app(
    intake: IntakeSettings, tracker: TrackerSettings, runtime: IntakeRuntime | None = None
) -> FastAPI:
    """Intake's and the tracker's routes in one app, each started by its own lifespan."""
    start_tracker = tracker_lifespan(tracker, purge=False)  # the tracker consumer purges
    start_intake = intake_lifespan(intake, runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Intake last: its start-up ends by freezing the garbage collector's long-lived heap.
        async with start_tracker(app), start_intake(app):
            yield

    app = FastAPI(
        title="Tell Us Once",
        version="1.0.0",
        description=(
            "Tell government about a change of circumstance once; see who has been told; "
            "operators watch and repair delivery."
        ),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    complete_openapi(app)
    include_intake_routes(app)
    app.include_router(create_tracker_router())
    return app
