"""The intake HTTP application: wires the routers, the lifespan and the error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.intake.bootstrap import IntakeRuntime, build_runtime
from services.intake.config import IntakeSettings
from services.intake.entrypoints import catalogue, changes
from services.web.problems import install_problem_handlers

__all__ = ["create_app"]


def create_app(settings: IntakeSettings, runtime: IntakeRuntime | None = None) -> FastAPI:
    """The intake app; ``runtime`` is built from ``settings`` at start-up unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = runtime or build_runtime(settings)
        await running.start()
        app.state.runtime = running
        # Long-lived start-up objects (schemas, validators, FastAPI's models) never become
        # garbage: freezing them keeps the collector's full passes short under load.
        gc.freeze()
        try:
            yield
        finally:
            await running.stop()

    app = FastAPI(
        title="Tell Us Once — intake",
        version="1.0.0",
        description="Tell government about a change of circumstance once.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(changes.router)
    app.include_router(catalogue.router)
    return app
