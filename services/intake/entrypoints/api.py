"""Intake's part of the public HTTP app: its routes and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.core.interpreter import tune_for_service
from services.intake.bootstrap import IntakeRuntime, build_runtime
from services.intake.config import IntakeSettings
from services.intake.entrypoints import catalogue, changes

__all__ = ["Lifespan", "include_intake_routes", "intake_lifespan"]

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


def include_intake_routes(app: FastAPI) -> None:
    """Add intake's routes (changes, catalogue, health) to an app running its lifespan.

    Serve the app wrapped in ``entrypoints.fast_path.ChangesFastPath``: the same answers
    to ``POST /v1/changes`` for less CPU.
    """
    app.include_router(changes.router)
    app.include_router(catalogue.router)
