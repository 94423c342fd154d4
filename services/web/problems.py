"""RFC 9457 problem details: every error we answer is ``application/problem+json``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from services.core.schema_registry import Violation, pointer

__all__ = [
    "PROBLEM_JSON",
    "ProblemError",
    "install_problem_handlers",
    "internal_error_response",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Malformed request",
    401: "Unauthorised",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemError(Exception):
    """Raised by an endpoint to answer with a problem document (message is safe to show)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: Iterable[Violation] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _TITLES.get(status, "error").lower().replace(" ", "-")
        self.errors = list(errors)
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Iterable[Violation] = (),
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    """A problem+json response; ``errors`` name each violation by JSON Pointer."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug or _TITLES.get(status, 'error').lower().replace(' ', '-')}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    errors = list(errors)
    if errors:
        body["errors"] = [{"path": e.path, "message": e.message} for e in errors]
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def internal_error_response(instance: str | None = None) -> Response:
    """The 500 of an unexpected error: nothing about the error itself (it is logged)."""
    return problem_response(
        500, "The request failed on an unexpected error in the server.", instance=instance
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Map our errors, FastAPI's parameter validation, Starlette's HTTP errors and the rest.

    Any other exception is answered with :func:`internal_error_response` by Starlette's
    outermost middleware, which then re-raises it for the server to log.
    """

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)  # noqa: S101 - registered for this type only
        return problem_response(
            exc.status,
            exc.detail,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [
            Violation(path=pointer([str(p) for p in err["loc"]]), message=str(err["msg"]))
            for err in exc.errors()
        ]
        return problem_response(
            422, "The request is not valid.", errors=errors, instance=request.url.path
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(
            exc.status_code, detail, headers=exc.headers, instance=request.url.path
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)

    async def on_unexpected(request: Request, _exc: Exception) -> Response:
        return internal_error_response(request.url.path)

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
