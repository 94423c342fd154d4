"""``tellusonce tracker``: the delivery tracker's consumer, and with ``--port`` its HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator

import click
import uvicorn
import uvloop
from fastapi import FastAPI

from services.cli.options import server_options, settings_overrides
from services.core.errors import ConfigurationError
from services.core.interpreter import lower_cpu_priority
from services.core.logging import configure_logging
from services.tracker.bootstrap import build_runtime
from services.tracker.config import TrackerSettings
from services.tracker.entrypoints.api import create_app
from services.tracker.entrypoints.consumer import TrackerProcess
from services.tracker.readside import build_readside

__all__ = ["tracker_command"]


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server sharing the command's event loop; the command handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        """Leave signal handling to the command (it stops the server and the consumer)."""
        yield


async def _serve(process: TrackerProcess, server: uvicorn.Server | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await process.start()
    tasks = {
        asyncio.create_task(process.wait(), name="tracker:wait"),
        asyncio.create_task(stop.wait(), name="tracker:signal"),
    }
    api = None if server is None else asyncio.create_task(server.serve(), name="tracker:api")
    if api is not None:
        tasks.add(api)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if server is not None and api is not None:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception, SystemExit):
                await api
        await process.stop()
        for task in tasks:
            task.cancel()
    for task in done:
        if task.cancelled() or task.get_name() == "tracker:signal":
            continue
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        if task is api:
            raise click.ClickException("the tracker API stopped unexpectedly")


def _server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
        log_config=None,
        access_log=False,  # it would log references and query strings
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return _EmbeddedServer(config)


@click.command("tracker")
@server_options
@click.pass_context
def tracker_command(ctx: click.Context, /, **options: object) -> None:
    """Run the delivery tracker; with --port given, serve its HTTP API on --host/--port too.

    Tokens come from TUO_CHANNEL_TOKENS (``/v1/changes/{reference}``) and
    TUO_OPERATOR_TOKENS (``/ops``).
    """
    overrides = settings_overrides(**options)
    if "kafka_bootstrap" not in overrides:
        overrides["kafka_bootstrap"] = f"127.0.0.1:{options['broker_port']}"
    serve_api = ctx.get_parameter_source("port") is click.core.ParameterSource.COMMANDLINE
    try:
        settings = TrackerSettings(**overrides)
        configure_logging(settings.log_level, json=settings.log_json)
        lower_cpu_priority(settings.tracker_nice)  # before any thread starts
        runtime = build_runtime(settings)
        server = None
        if serve_api:
            app = create_app(settings, runtime, readside=build_readside(settings, runtime.store))
            server = _server(app, str(options["host"]), int(str(options["port"])))
    except (ConfigurationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    # uvloop, as the other long-running commands use.
    uvloop.run(_serve(TrackerProcess(runtime), server))
