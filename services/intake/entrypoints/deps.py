"""FastAPI dependencies: the runtime placed on ``app.state`` by the lifespan.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread
pool, which cost ~3x the intake's throughput when measured.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.bootstrap import IntakeRuntime
from services.web.auth import Principal
from services.web.problems import ProblemError

__all__ = ["ChannelDep", "RuntimeDep", "authenticate_channel"]


async def get_runtime(request: Request) -> IntakeRuntime:
    """The running intake."""
    runtime: IntakeRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[IntakeRuntime, Depends(get_runtime)]


def authenticate_channel(request: Request, runtime: IntakeRuntime) -> Principal:
    """The calling channel, from its bearer token (401 otherwise)."""
    principal = runtime.tokens.authenticate(request.headers.get("authorization"))
    if principal is None:
        raise ProblemError(
            401,
            "A valid channel token is required (Authorization: Bearer <token>).",
            headers={"WWW-Authenticate": 'Bearer realm="tellusonce"'},
        )
    return principal


async def get_channel(request: Request, runtime: RuntimeDep) -> Principal:
    """The calling channel, as a FastAPI dependency."""
    return authenticate_channel(request, runtime)


ChannelDep = Annotated[Principal, Depends(get_channel)]
