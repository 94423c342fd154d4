"""The naive intake, and the minimal one: validate, then one ``send_and_wait`` per request.

Run as ``python -m services.bench.naive --port P --bootstrap H:P [--validator compiled]``.

- ``--validator reference`` (the default), the *naive* intake: the obvious first
  implementation the real intake must beat. The reference validator is called per
  request (``jsonschema.validate`` re-checks the schema each time).
- ``--validator compiled``, the *minimal* intake: the least an intake can do and still
  refuse invalid changes and answer only once the broker has them. The real intake's
  validator (jsonschema-rs, compiled once per schema), nothing else: no consent or date
  rules, no reference, ids or citizen key, no CloudEvent, no ledger.

Both publish the request's own bytes with a plain aiokafka producer (``acks="all"``),
awaited per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
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

__all__ = ["VALIDATORS", "create_naive_app", "main"]

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


def _reference_validator() -> Callable[[dict[str, Any]], bool]:
    schemas, registry = _schemas()

    def valid(body: dict[str, Any]) -> bool:
        event_type, version = body.get("type"), body.get("schema_version")
        if not isinstance(event_type, str) or not isinstance(version, int):
            return False
        schema = schemas.get((event_type, version))
        if schema is None:
            return False
        try:
            jsonschema.validate(body, schema, registry=registry)
        except jsonschema.ValidationError:
            return False
        return True

    return valid


def _compiled_validator() -> Callable[[dict[str, Any]], bool]:
    schemas = FileSchemaRegistry(schemas_dir())
    return lambda body: not schemas.validate(body)


VALIDATORS = {"reference": _reference_validator, "compiled": _compiled_validator}


def create_naive_app(bootstrap: str, validator: str = "reference") -> FastAPI:
    """``POST /v1/changes`` validates, sends and waits; ``GET /healthz``.

    ``validator``: ``reference`` (the naive intake) or ``compiled`` (the minimal one).
    """
    valid = VALIDATORS[validator]()
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
        if not valid(orjson.loads(raw)):
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
    parser.add_argument("--validator", choices=sorted(VALIDATORS), default="reference")
    arguments = parser.parse_args(argv)
    app = create_naive_app(arguments.bootstrap, arguments.validator)
    serve(app, arguments.port, arguments.host)


if __name__ == "__main__":
    main()
