"""The reference firmware from an installed wheel (``scripts/smoke_wheel.sh``): the firmware's
source is in the installed package, not the repository; and, when a MicroPython unix binary
with Bluetooth is found (``$THERAPYCTL_MICROPYTHON`` or ``../shared/micropython``), `sim serve
--firmware` runs it, `pair` bonds, and a one-minute heat `run` completes on it.

Usage: ``python scripts/smoke_firmware.py VENV_BIN REPO``; exit 1 with a line on failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

MICROPYTHON = "THERAPYCTL_MICROPYTHON"


def fail(text: str) -> int:
    print(f"smoke_firmware: {text}", file=sys.stderr)
    return 1


def main(bin_dir: Path, repo: Path) -> int:
    python, therapyctl = str(bin_dir / "python"), str(bin_dir / "therapyctl")
    where = subprocess.run(
        [python, "-c", "from simulator.firmware_host import FIRMWARE_DIR; print(FIRMWARE_DIR)"],
        capture_output=True,
        text=True,
        check=False,
    )
    firmware = Path(where.stdout.strip())
    if where.returncode or not (firmware / "main.py").is_file():
        return fail(f"the installed package has no firmware source ({where.stderr.strip()})")
    if firmware.resolve().is_relative_to(repo.resolve()):
        return fail(f"the firmware came from the repository ({firmware}), not the wheel")
    print(f"firmware source installed at {firmware}")

    binary = os.environ.get(MICROPYTHON) or str(
        repo.parent / "shared" / "micropython" / "micropython"
    )
    if not Path(binary).is_file():
        print("no MicroPython unix binary here: the firmware run is skipped")
        return 0
    serve = subprocess.Popen(
        [
            *(therapyctl, "sim", "serve", "--firmware", "--micropython", binary),
            *("--device", "heat-pad:pad", "--hci", "tcp-server:127.0.0.1:0"),
            *("--time-scale", "60", "--json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        radio = None
        for line in serve.stdout:  # `ready` comes within the boot timeout, or the process ends
            event = json.loads(line)
            if event.get("event") == "ready":
                radio = event["radio"][0]
                break
        if radio is None:
            return fail(f"sim serve --firmware did not start: {serve.stderr.read()}")  # type: ignore[union-attr]
        steps = (
            ["pair", "pad", "--radio", radio],
            [
                *("run", "--device", "pad", "--radio", radio, "--mode", "heat"),
                *("--minutes", "1", "--attended-ack", "auto", "--json"),
            ],
        )
        for args in steps:
            done = subprocess.run(
                [therapyctl, *args], capture_output=True, text=True, timeout=90, check=False
            )
            if done.returncode:
                return fail(f"{args[0]} exited {done.returncode}: {done.stderr.strip()}")
        summary = json.loads(done.stdout)
        if summary.get("end_reason") != "completed":
            return fail(f"the session on the firmware ended {summary.get('end_reason')!r}")
        print("firmware: sim serve --firmware ran it, pair bonded, a heat session completed")
        return 0
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
