"""``POST /v1/changes`` answered in front of FastAPI's routing (the intake's hot path).

FastAPI's middleware stack, router and request handling cost about a fifth of the
intake's CPU per change when profiled (the public app also carries the tracker's, the
operators' and the dashboard's routes). This ASGI middleware answers exactly that method
and path itself, with the same function as the documented FastAPI route
(``changes.answer_submission``: same checks, same 202, same problem+json), and passes
every other request on unchanged. It sits inside the app's error middleware, so an
unexpected error is still answered 500 by it.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.intake.entrypoints.changes import answer_submission

__all__ = ["SUBMIT_PATH", "ChangesFastPath", "install_fast_path"]

#: The one path served here (with method POST).
SUBMIT_PATH = "/v1/changes"


class ChangesFastPath:
    """ASGI middleware: ``POST /v1/changes`` directly, anything else to the wrapped app.

    A request under a ``root_path`` (the app mounted behind a prefix) goes through the
    router as usual.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``POST /v1/changes`` here; pass anything else to the wrapped app."""
        if (
            scope["type"] == "http"
            and scope["path"] == SUBMIT_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            request = Request(scope, receive)
            response = await answer_submission(request)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_fast_path(app: FastAPI) -> None:
    """Serve ``POST /v1/changes`` through :class:`ChangesFastPath` (before start-up)."""
    app.add_middleware(ChangesFastPath)
