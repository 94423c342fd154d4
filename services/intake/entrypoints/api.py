"""The intake HTTP application: wires the routers, the lifespan and the error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.core.interpreter import tune_for_service
from services.intake.bootstrap import IntakeRuntime, build_runtime
from services.intake.config import IntakeSettings
from services.intake.entrypoints import catalogue, changes
from services.intake.entrypoints.fast_path import install_fast_path
from services.web.openapi import complete_openapi
from services.web.problems import install_problem_handlers

__all__ = ["Lifespan", "create_app", "include_intake_routes", "intake_lifespan"]

#: A FastAPI lifespan: entered at start-up, left at shutdown.
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def intake_lifespan(settings: IntakeSettings, runtime: IntakeRuntime | None = None) -> Lifespan:
    """Start intake (``runtime``, or one built from ``settings``) and put it on ``app.state``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = runtime or build_runtime(settings)
        await running.start()
        app.state.runtime = running
        tune_for_service()
        try:
            yield
        finally:
            await running.stop()

    return lifespan


def include_intake_routes(app: FastAPI, *, fast_path: bool = True) -> None:
    """Add intake's routes (changes, catalogue, health) to an app running its lifespan.

    ``fast_path`` also answers ``POST /v1/changes`` in front of the app's routing (the
    same answers, less CPU: see ``entrypoints/fast_path.py``).
    """
    app.include_router(changes.router)
    app.include_router(catalogue.router)
    if fast_path:
        install_fast_path(app)


def create_app(settings: IntakeSettings, runtime: IntakeRuntime | None = None) -> FastAPI:
    """The intake app alone; ``runtime`` is built from ``settings`` at start-up unless given."""
    app = FastAPI(
        title="Tell Us Once — intake",
        version="1.0.0",
        description="Tell government about a change of circumstance once.",
        lifespan=intake_lifespan(settings, runtime),
    )
    install_problem_handlers(app)
    complete_openapi(app)
    include_intake_routes(app)
    return app
