"""The operator dashboard: one static page at ``/ops/`` that reads the token-protected ``/ops`` API.

The page and its assets hold no data, so they are served without a token; the page asks the
operator for one and sends it with every API call. Nothing is fetched from outside this app.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.web.problems import ProblemError

__all__ = ["router"]

_ASSETS_PACKAGE = "services.tracker.entrypoints"
_ASSETS_DIR = "dashboard_assets"
#: The only files served from ``/ops/assets/``, with their content types.
_CONTENT_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# Everything the page needs comes from this origin; scripts and styles only from files, so
# no injected markup could run. ``no-cache`` makes browsers revalidate after an upgrade.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["operations"])


@cache
def _asset(name: str) -> bytes:
    return (files(_ASSETS_PACKAGE) / _ASSETS_DIR / name).read_bytes()


@router.get("/ops", include_in_schema=False)
async def dashboard_without_slash() -> RedirectResponse:
    """Send ``/ops`` to ``/ops/``, so that the page's relative links resolve under it."""
    # Relative, so it also works behind a proxy that mounts the app under a prefix.
    return RedirectResponse("ops/", status_code=308)


@router.get("/ops/", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """The operator dashboard (HTML); it asks for an operator token and reads ``/ops/…``."""
    return HTMLResponse(_asset("index.html"), headers=_HEADERS)


@router.get("/ops/assets/{name}", include_in_schema=False)
async def dashboard_asset(name: str) -> Response:
    """The dashboard's script and style sheet."""
    media_type = _CONTENT_TYPES.get(name)
    if media_type is None:
        raise ProblemError(404, "There is no such dashboard asset.")
    return Response(_asset(name), media_type=media_type, headers=_HEADERS)
