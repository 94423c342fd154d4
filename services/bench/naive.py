"""The naive intake: ``jsonschema.validate`` and one ``send_and_wait`` per request.

Run as ``python -m services.bench.naive --port P --bootstrap H:P``. It is the obvious first
implementation the real intake must beat: the reference validator called per request (it
re-checks the schema each time) and a plain aiokafka producer awaited per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no type information shipped
import orjson
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response
from referencing import Registry, Resource

from services.bench.bare import ACCEPTED, serve, server_arguments
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.topics import CHANGES

__all__ = ["create_naive_app", "main"]

_HEALTHY = b'{"status":"ok"}'


def _schemas() -> tuple[dict[tuple[str, int], dict[str, Any]], Registry[Any]]:
    files = FileSchemaRegistry(schemas_dir())
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(document)) for uri, document in files.resources
    )
    by_version = {
        (event_type, version): document
        for event_type in files.event_types()
        for version in files.versions(event_type)
        if (document := files.schema(event_type, version)) is not None
    }
    return by_version, registry


def create_naive_app(bootstrap: str) -> FastAPI:
    """The naive app: ``POST /v1/changes`` validates, sends and waits; ``GET /healthz``."""
    schemas, registry = _schemas()
    producer: AIOKafkaProducer | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal producer
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False
        )
        await producer.start()
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.post("/v1/changes", status_code=202)
    async def accept(request: Request) -> Response:
        raw = await request.body()
        body = orjson.loads(raw)
        schema = schemas.get((body.get("type"), body.get("schema_version")))
        if schema is None:
            return Response(b'{"status":"unknown type"}', status_code=422)
        try:
            jsonschema.validate(body, schema, registry=registry)
        except jsonschema.ValidationError:
            return Response(b'{"status":"invalid"}', status_code=422)
        assert producer is not None  # noqa: S101 - started by the lifespan
        await producer.send_and_wait(CHANGES, value=raw)
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(_HEALTHY, media_type="application/json")

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m services.bench.naive --port P --bootstrap H:P``."""
    parser = server_arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the Kafka broker")
    arguments = parser.parse_args(argv)
    serve(create_naive_app(arguments.bootstrap), arguments.port, arguments.host)


if __name__ == "__main__":
    main()
