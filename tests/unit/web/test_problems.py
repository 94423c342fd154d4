"""Every error an app answers is problem+json, an unexpected one too, and tells nothing of it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.web.problems import PROBLEM_JSON, ProblemError, install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("jane.doe@example.org broke it")  # personal data in a message

    @app.get("/refuse")
    async def refuse() -> None:
        raise ProblemError(409, "Already done.")

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.get(path)


async def test_an_unexpected_error_is_a_500_problem_that_says_nothing_of_it():
    response = await _get("/crash")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "The request failed on an unexpected error in the server.",
        "instance": "/crash",
    }
    assert "jane" not in response.text


async def test_our_own_problems_and_unknown_paths_keep_their_status():
    refused, missing = await _get("/refuse"), await _get("/nowhere")
    assert (refused.status_code, refused.json()["detail"]) == (409, "Already done.")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON
