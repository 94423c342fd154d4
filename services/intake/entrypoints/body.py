"""Reading a JSON request body safely: media type, size limit, syntax."""

from __future__ import annotations

import orjson
from fastapi import Request

from services.core.schema_registry import Violation
from services.web.problems import ProblemError

__all__ = ["read_json_body"]


async def read_json_body(request: Request, limit: int) -> object:
    """The parsed body, or a ProblemError (415, 413 or 400) saying what is wrong."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(
            415,
            "Send the change as JSON (Content-Type: application/json).",
            errors=[Violation(path="", message="Content-Type must be application/json")],
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        # orjson's message names only the position, never the content.
        raise ProblemError(
            400,
            "The body is not valid JSON.",
            slug="malformed-json",
            errors=[Violation(path="", message=f"invalid JSON: {exc.msg} at position {exc.pos}")],
        ) from None


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413,
        f"The body is larger than the limit of {limit} bytes.",
        errors=[Violation(path="", message=f"must be at most {limit} bytes")],
    )
