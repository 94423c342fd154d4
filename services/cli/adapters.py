"""``tellusonce adapters``: the department subscriber adapters."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click
import uvloop

from services.cli.options import server_options, settings_overrides
from services.core.errors import ConfigurationError
from services.core.logging import configure_logging
from services.delivery.bootstrap import build_runtime
from services.delivery.config import DeliverySettings
from services.delivery.entrypoints.runner import AdapterProcess

__all__ = ["adapters_command"]


async def _serve(settings: DeliverySettings) -> None:
    process = AdapterProcess(build_runtime(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await process.start()
    waiter = asyncio.create_task(process.wait())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        await process.stop()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await waiter
    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
        raise waiter.exception()  # type: ignore[misc]


@click.command("adapters")
@click.option(
    "--department",
    "departments_wanted",
    multiple=True,
    help="Serve only this department (repeatable; default: every department).",
)
@server_options
def adapters_command(departments_wanted: tuple[str, ...], **options: object) -> None:
    """Run the subscriber adapters: the changes topic read once for the departments served."""
    overrides = settings_overrides(**options)
    if "kafka_bootstrap" not in overrides:
        overrides["kafka_bootstrap"] = f"127.0.0.1:{options['broker_port']}"
    if departments_wanted:
        overrides["delivery_departments"] = departments_wanted
    try:
        settings = DeliverySettings(**overrides)
        configure_logging(settings.log_level, json=settings.log_json)
        # uvloop, as uvicorn uses for the HTTP services: measurably less CPU per delivery.
        uvloop.run(_serve(settings))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
