"""FastAPI dependencies of the tracker API: the read side and the calling principal.

They are ``async def`` so FastAPI does not run them in its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.tracker.readside import TrackerReadSide
from services.web.auth import Principal, TokenTable
from services.web.problems import ProblemError

__all__ = ["ChannelDep", "OperatorDep", "ReadSideDep", "ensure_in_scope"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tellusonce"'}


async def _get_readside(request: Request) -> TrackerReadSide:
    readside: TrackerReadSide = request.app.state.tracker
    return readside


ReadSideDep = Annotated[TrackerReadSide, Depends(_get_readside)]


def _authenticate(request: Request, tokens: TokenTable, kind: str) -> Principal:
    principal = tokens.authenticate(request.headers.get("authorization"))
    if principal is None:
        raise ProblemError(
            401,
            f"A valid {kind} token is required (Authorization: Bearer <token>).",
            headers=_CHALLENGE,
        )
    return principal


async def _get_channel(request: Request, readside: ReadSideDep) -> Principal:
    return _authenticate(request, readside.channel_tokens, "channel")


async def _get_operator(request: Request, readside: ReadSideDep) -> Principal:
    return _authenticate(request, readside.operator_tokens, "operator")


ChannelDep = Annotated[Principal, Depends(_get_channel)]
OperatorDep = Annotated[Principal, Depends(_get_operator)]


def ensure_in_scope(operator: Principal, department: str) -> None:
    """Raise a 403 problem unless the operator may act on ``department``."""
    if operator.scope not in {"*", department}:
        raise ProblemError(403, "This operator token does not cover that department.")
