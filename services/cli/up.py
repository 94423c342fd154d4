"""``tellusonce up``: the whole bus on one machine, as supervised child processes."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import click
import httpx
import yaml
from aiokafka.errors import KafkaError

from services.broker.admin import ensure_topics
from services.broker.embedded import wait_for_port
from services.cli.credentials import Credentials, load_or_generate
from services.cli.options import server_options
from services.cli.run import department_ids
from services.cli.supervisor import Child, Supervisor
from services.core.config import CoreSettings
from services.core.errors import ConfigurationError

__all__ = ["up_command"]


def _wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def signing_variables(departments: Path | None) -> list[str]:
    """The ``env:VAR`` names of signing secrets in the department registry."""
    settings = CoreSettings(departments=departments) if departments else CoreSettings()
    raw = yaml.safe_load(settings.departments.read_text(encoding="utf-8")) or {}
    names = []
    for entry in raw.get("departments", []):
        secret = str(entry.get("signing_secret", "")) if isinstance(entry, dict) else ""
        if secret.startswith("env:"):
            names.append(secret.removeprefix("env:"))
    return names


def _announce(
    base: str, bootstrap: str, sandbox: str, credentials: Credentials, data_dir: Path
) -> None:
    channel = credentials.channel_tokens.split(",")[0].partition(":")
    operator = credentials.operator_tokens.split(",")[0].split(":")
    click.echo(f"[up] API       {base}/v1  (OpenAPI: {base}/docs)")
    click.echo(f"[up] dashboard {base}/ops/  (metrics: {base}/metrics)")
    click.echo(f"[up] kafka     {bootstrap}")
    click.echo(f"[up] sandbox departments {sandbox}/sandbox/received")
    click.echo(f"[up] channel token ({channel[0]}): {channel[2]}")
    click.echo(f"[up] operator token ({operator[0]}, scope {operator[2]}): {operator[1]}")
    click.echo(f"[up] credentials are kept in {data_dir / 'credentials.json'}")


@click.command("up")
@server_options
def up_command(**options: object) -> None:
    """Run the whole bus on this machine and print its URLs and credentials."""
    host, port = str(options["host"]), int(str(options["port"]))
    broker_port = int(str(options["broker_port"]))
    data_dir = options["data_dir"]
    assert isinstance(data_dir, Path)  # noqa: S101 - click converts it
    departments_file = options["departments"]
    assert departments_file is None or isinstance(departments_file, Path)  # noqa: S101
    credentials = load_or_generate(data_dir, signing_variables(departments_file))
    env = {
        **credentials.signing_secrets,
        "TUO_CHANNEL_TOKENS": credentials.channel_tokens,
        "TUO_OPERATOR_TOKENS": credentials.operator_tokens,
        "TUO_CITIZEN_KEY_SECRET": credentials.citizen_key_secret,
        "TUO_DATA_DIR": str(data_dir.resolve()),
    }
    for option, variable in (
        ("database_url", "TUO_DATABASE_URL"),
        ("departments", "TUO_DEPARTMENTS"),
    ):
        if options[option] is not None:
            env[variable] = str(options[option])
    children = []
    bootstrap = options["kafka_bootstrap"]
    if bootstrap is None:
        bootstrap = f"{host}:{broker_port}"
        # The embedded broker has no idempotent producer (see docs/operations.md).
        env["TUO_KAFKA_IDEMPOTENT_PRODUCER"] = "false"
        children.append(
            Child(
                name="broker",
                args=["broker", "--host", host, "--broker-port", str(broker_port)],
                env=env,
            )
        )
    env["TUO_KAFKA_BOOTSTRAP"] = str(bootstrap)
    sandbox_port = str(options["sandbox_port"])
    env["TUO_SANDBOX_PORT"] = sandbox_port  # the shipped registry's endpoints use it
    children += [
        Child(
            name="sandbox",
            args=["sandbox", "--host", host, "--sandbox-port", sandbox_port],
            env=env,
        ),
        Child(name="adapters", args=["adapters"], env=env),
        Child(name="tracker", args=["tracker"], env=env),
        Child(name="intake", args=["intake", "--host", host, "--port", str(port)], env=env),
    ]
    supervisor = Supervisor(children, say=lambda line: click.echo(f"[up] {line}"))
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    click.echo(f"[up] starting {', '.join(c.name for c in children)}")
    if children[0].name == "broker":
        children[0].start()
        if not wait_for_port(host, broker_port, 30):
            supervisor.stop_all()
            raise click.ClickException(f"the embedded broker did not start on port {broker_port}")
    # Topics before any client: a client's metadata request would auto-create them with the
    # broker's default partition count instead of ours.
    try:
        ids = department_ids(departments_file)
        asyncio.run(ensure_topics(CoreSettings(kafka_bootstrap=str(bootstrap)), ids))
    except (KafkaError, ConfigurationError) as exc:
        supervisor.stop_all()
        raise click.ClickException(f"cannot prepare the topics on {bootstrap}: {exc}") from None
    for child in children:
        if child.process is None:
            child.start()
    base = f"http://{host}:{port}"
    sandbox_ready = _wait_ready(f"http://{host}:{sandbox_port}/healthz", timeout=90)
    if not sandbox_ready or not _wait_ready(f"{base}/readyz", timeout=90):
        supervisor.stop_all()
        raise click.ClickException("the bus did not become ready within 90 s")
    _announce(base, str(bootstrap), f"http://{host}:{sandbox_port}", credentials, data_dir)
    click.echo(f"[up] ready at {base}")
    supervisor.watch()
    click.echo("[up] stopped")
