"""The dashboard page and its assets: served without a token, self-contained, typed, locked down."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.tracker.entrypoints import dashboard
from services.web.problems import install_problem_handlers


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(dashboard.router)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_the_page_is_served_without_a_token_and_only_from_this_origin(client):
    response = await client.get("/ops/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert 'src="assets/app.js"' in response.text
    assert 'href="assets/app.css"' in response.text


async def test_ops_without_a_slash_redirects_to_the_page(client):
    response = await client.get("/ops")
    assert response.status_code == 308
    assert httpx.URL("http://t/ops").join(response.headers["location"]) == "http://t/ops/"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
async def test_each_asset_is_served_with_its_content_type(client, name, content_type):
    response = await client.get(f"/ops/assets/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content


@pytest.mark.parametrize("name", ["index.html", "missing.js", "..%2Fdashboard.py", "%2E%2E"])
async def test_anything_else_under_assets_is_a_404_problem(client, name):
    response = await client.get(f"/ops/assets/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_nothing_is_loaded_from_another_origin(client):
    for path in ("/ops/", "/ops/assets/app.js", "/ops/assets/app.css"):
        text = (await client.get(path)).text
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path


async def test_the_script_never_inserts_markup(client):
    script = (await client.get("/ops/assets/app.js")).text
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
