"""MQTT is never silent (issue #12, finding 7): `run --mqtt` says in one line whether the
broker was reached, and an unreachable one does not stop the session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.mosquitto import mosquitto
from tests.simserve import THERAPYCTL

pytestmark = pytest.mark.slow

RUN = ["run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--time-scale", "120"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *RUN, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_an_unreachable_broker_is_said_in_one_line_and_the_session_runs() -> None:
    """A broker nobody listens on: one line saying so (not only with -v); exit 0."""
    result = run("--mqtt", "mqtt://127.0.0.1:1")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("MQTT:")]
    assert said == [
        "MQTT: cannot reach the broker 127.0.0.1:1 ([Errno 111] Connection refused);"
        " retrying in the background - sessions are not affected"
    ]


def test_a_reachable_broker_is_confirmed(tmp_path: Path) -> None:
    """A real broker: "MQTT: connected to HOST:PORT as PREFIX/NODE" before the device."""
    with mosquitto(tmp_path) as broker:
        result = run("--mqtt", broker.url, "--mqtt-node", "said")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"MQTT: connected to 127.0.0.1:{broker.port} as therapyctl/said"
    assert lines[1].startswith("connected to heat-pad")
