"""Intake's routes over fakes (publisher, idempotency store, ledger): no broker, no database."""

from __future__ import annotations

from fastapi import FastAPI

from services.core.departments import load_registry
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.testing import FakeClock, FakeEventPublisher
from services.intake.adapters.memory_change_ledger import InMemoryChangeLedger
from services.intake.adapters.memory_idempotency_store import InMemoryIdempotencyStore
from services.intake.bootstrap import IntakeRuntime
from services.intake.config import IntakeSettings
from services.intake.entrypoints.api import include_intake_routes
from services.intake.entrypoints.fast_path import ChangesFastPath
from services.intake.handlers import IntakeDeps
from services.web.auth import parse_channel_tokens
from services.web.problems import install_problem_handlers

CHANNEL_HEADERS = {"Authorization": "Bearer channel-secret-1"}


def fake_intake_runtime() -> IntakeRuntime:
    """A runtime whose ports are fakes; the channel token is ``channel-secret-1``."""
    schemas = FileSchemaRegistry(schemas_dir())
    publisher = FakeEventPublisher()
    idempotency = InMemoryIdempotencyStore()
    ledger = InMemoryChangeLedger()
    deps = IntakeDeps(
        schemas=schemas,
        departments=load_registry(
            default_departments_file(), known_event_types=set(schemas.event_types())
        ),
        publisher=publisher,
        idempotency=idempotency,
        ledger=ledger,
        clock=FakeClock(),
        citizen_key_secret=b"k",
    )
    return IntakeRuntime(
        settings=IntakeSettings(),
        deps=deps,
        tokens=parse_channel_tokens("online-form:channel-secret-1"),
        publisher=publisher,  # type: ignore[arg-type]  # never started here
        idempotency=idempotency,  # type: ignore[arg-type]
        ledger=ledger,  # type: ignore[arg-type]
        engine=None,  # type: ignore[arg-type]
    )


def intake_app() -> FastAPI:
    """An app with intake's routes over a fake runtime (add other routes to it freely).

    As served, it is wrapped in ``ChangesFastPath``: see :func:`served`.
    """
    app = FastAPI()
    install_problem_handlers(app)
    include_intake_routes(app)
    app.state.runtime = fake_intake_runtime()
    return app


def served(app: FastAPI) -> ChangesFastPath:
    """``app`` as ``tellusonce intake`` serves it: ``POST /v1/changes`` on the fast path."""
    return ChangesFastPath(app)
