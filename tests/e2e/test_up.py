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
    port, broker_port, sandbox_port = free_port(), free_port(), free_port()
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
            "--sandbox-port",
            str(sandbox_port),
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
            lambda: any("[up] ready" in line for line in lines) or process.poll() is not None,
            timeout=90,
        )
        assert process.poll() is None, "".join(lines)
        yield process, port, tmp_path / "data", lines, sandbox_port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(60)
        reader.join(10)
        process.stdout.close()


def test_up_prints_ready_with_credentials_and_accepts_every_example(up):
    process, port, data_dir, lines, sandbox_port = up
    output = "".join(lines)
    credentials = json.loads((data_dir / "credentials.json").read_text())
    assert (data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700  # the stores in it hold personal data
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
    expected = set()
    for line in references:
        reference = line.split(": ")[1].split()[0]
        notified = line.split("telling ")[1].rstrip(")").split(", ")
        expected |= {(reference, department) for department in notified}

    def all_delivered():
        try:
            url = f"http://127.0.0.1:{sandbox_port}/sandbox/received"
            records = httpx.get(url).json()["received"]
        except httpx.HTTPError as exc:
            missing.add(("http error", repr(exc)))
            return False
        seen = {
            (r["body"]["reference"], r["department"]) for r in records if r["outcome"] == "accepted"
        }
        invalid = [r for r in records if not r["signature_valid"]]
        assert not invalid, [(r["department"], r["outcome"], r["headers"]) for r in invalid[:3]]
        missing.clear()
        missing.update(expected - seen)
        return not missing

    missing: set[tuple[str, str]] = set()
    try:
        poll(all_delivered, timeout=120, interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"never delivered: {sorted(missing)[:5]} {exc}") from None


def test_up_stops_cleanly_on_sigterm(up):
    process, port, _, _, _ = up
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
