"""Running ``therapyctl sim serve`` as a subprocess on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

THERAPYCTL = shutil.which("therapyctl") or str(
    __import__("pathlib").Path(sys.executable).with_name("therapyctl")
)


@dataclass
class SimServe:
    process: asyncio.subprocess.Process
    radio: str  # tcp-client moniker for --radio
    devices: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    def address(self, name: str) -> str:
        return next(d["address"] for d in self.devices if d["name"] == name)

    async def pair(self, name: str) -> None:
        """``therapyctl pair NAME --radio ...`` (the pairing window is open at the start)."""
        process = await asyncio.create_subprocess_exec(
            THERAPYCTL,
            "pair",
            name,
            "--radio",
            self.radio,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert out.decode().startswith(f"paired with {name} ")

    async def wait_for(self, timeout_s: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first logged event whose fields include ``match``."""
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.events:
                    if all(event.get(k) == v for k, v in match.items()):
                        return event
                await asyncio.sleep(0.01)


@asynccontextmanager
async def sim_serve(*args: str, time_scale: float = 20.0) -> AsyncIterator[SimServe]:
    """Start ``sim serve`` with ``args``; stop it with SIGINT and check it exits cleanly."""
    process = await asyncio.create_subprocess_exec(
        THERAPYCTL,
        "sim",
        "serve",
        *args,
        "--hci",
        "tcp-server:127.0.0.1:0",
        "--time-scale",
        str(time_scale),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            while True:
                line = await process.stdout.readline()
                if not line:
                    err = await process.stderr.read() if process.stderr else b""
                    raise RuntimeError(f"sim serve exited: {err.decode()}")
                event = json.loads(line)
                if event.get("event") == "ready":
                    break
        serve = SimServe(process, event["radio"][0], event["devices"])

        async def pump() -> None:
            assert process.stdout is not None
            async for raw in process.stdout:
                serve.events.append(json.loads(raw))

        serve._reader = asyncio.create_task(pump())
        yield serve
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
    assert process.returncode == 0, await process.stderr.read() if process.stderr else b""
