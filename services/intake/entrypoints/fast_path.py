"""``POST /v1/changes`` answered in front of the FastAPI app (the intake's hot path).

FastAPI's middleware stack, router and request handling cost about a fifth of the
intake's CPU per change when profiled (the public app also carries the tracker's, the
operators' and the dashboard's routes), and ~6% more went to the app's outer layers
(its telemetry check, error and body-limit middleware) while the fast path sat inside
them. :class:`ChangesFastPath` wraps the app where it is served and answers exactly that
method and path itself, with the same function as the documented FastAPI route
(``changes.answer_submission``: same checks, same 202, same problem+json); every other
request goes to the app unchanged. An unexpected error is answered as the app's error
middleware answers it (500 problem+json) and re-raised for the server to log.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from services.intake.entrypoints.changes import answer_submission
from services.web.problems import internal_error_response

__all__ = ["SUBMIT_PATH", "ChangesFastPath"]

#: The one path served here (with method POST).
SUBMIT_PATH = "/v1/changes"


class ChangesFastPath:
    """ASGI app: ``POST /v1/changes`` directly, anything else (and lifespan) to ``app``.

    A request under a ``root_path`` (served behind a prefix) goes through the router as
    usual. ``app`` must carry intake's routes and lifespan (``app.state.runtime``).
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``POST /v1/changes`` here; pass anything else to the wrapped app."""
        if (
            scope["type"] == "http"
            and scope["path"] == SUBMIT_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            scope["app"] = self.app  # as the app sets it: ``request.app`` is the app
            request = Request(scope, receive)
            try:
                response = await answer_submission(request)
            except Exception:
                await internal_error_response(SUBMIT_PATH)(scope, receive, send)
                raise
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
