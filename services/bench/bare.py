"""The bare baseline: a FastAPI endpoint that only parses the JSON body and answers 202.

Run as ``python -m services.bench.bare --port P``; it is what this machine can do for a
JSON POST through the same stack (uvicorn, uvloop, httptools, FastAPI) with no work at all.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

__all__ = ["ACCEPTED", "create_bare_app", "main", "serve", "server_arguments"]

#: The body every benchmark server answers a POST with.
ACCEPTED = b'{"status":"accepted"}'
_HEALTHY = b'{"status":"ok"}'


def create_bare_app() -> FastAPI:
    """The bare app: ``POST /v1/changes`` parses the body and answers 202; ``GET /healthz``."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/changes", status_code=202)
    async def accept(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(_HEALTHY, media_type="application/json")

    return app


def serve(app: FastAPI, port: int, host: str = "127.0.0.1") -> None:
    """Serve on one worker with uvloop and httptools, access log off (as the intake is)."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        workers=1,
    )


def server_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with ``--host`` and ``--port``, shared by the benchmark servers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m services.bench.bare --port P``."""
    arguments = server_arguments(__doc__.splitlines()[0] if __doc__ else "").parse_args(argv)
    serve(create_bare_app(), arguments.port, arguments.host)


if __name__ == "__main__":
    main()
