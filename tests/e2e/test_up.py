"""`tellusonce up` brings the bus up, prints ready and credentials; `submit` sends examples."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import httpx
import pytest

from services.core.resources import schemas_dir
from tests.support.net import free_port, poll

pytestmark = pytest.mark.e2e


@pytest.fixture
def up(tmp_path):
    port, broker_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUO_")} | {
        "TUO_DATA_DIR": str(tmp_path / "data")
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--port",
            str(port),
            "--broker-port",
            str(broker_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        poll(
            lambda: any("ready" in line for line in lines) or process.poll() is not None, timeout=90
        )
        assert process.poll() is None, "".join(lines)
        yield process, port, tmp_path / "data", lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(60)
        reader.join(10)
        process.stdout.close()


def test_up_prints_ready_with_credentials_and_accepts_every_example(up):
    process, port, data_dir, lines = up
    output = "".join(lines)
    credentials = json.loads((data_dir / "credentials.json").read_text())
    assert (data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    token = credentials["channel_tokens"].split(",")[0].split(":")[1]
    assert token in output  # printed once for the person who ran `up`
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    examples = sorted(str(p) for p in schemas_dir().glob("*/examples/*.json"))
    submitted = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "submit",
            "--url",
            f"http://127.0.0.1:{port}",
            "--data-dir",
            str(data_dir),
            *examples,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    references = [line for line in submitted.stdout.splitlines() if "telling" in line]
    assert len(references) == len(examples)


def test_up_stops_cleanly_on_sigterm(up):
    process, port, _, _ = up
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
