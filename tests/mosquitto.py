"""A real Mosquitto broker on a free loopback port, for the MQTT tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest

if TYPE_CHECKING:
    from device.mqtt import MqttBridge

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    port: int
    config: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}")
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def mosquitto(directory: Path, *, user: tuple[str, str] | None = None) -> Iterator[Broker]:
    """Start mosquitto (installed by scripts/setup.sh) on a free loopback port."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed: run scripts/setup.sh")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "persistence false"]
    if os.geteuid() == 0:
        # As root mosquitto drops to its own user, which cannot read pytest's private
        # temporary directories (the password file): stay as we are.
        lines.append("user root")
    if user is None:
        lines.append("allow_anonymous true")
    else:
        password_file = directory / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-b", "-c", str(password_file), *user],
            check=True,
            capture_output=True,
        )
        password_file.chmod(0o600)
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    config = directory / f"mosquitto-{port}.conf"
    config.write_text("\n".join(lines) + "\n")
    broker = Broker(port, config)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Watcher:
    """A separate MQTT subscriber that records everything it sees (and reconnects)."""

    port: int
    topics: tuple[str, ...] = ("#",)
    messages: list[tuple[str, Any, bool]] = field(default_factory=list)
    connections: int = 0
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        connected = asyncio.Event()

        async def loop() -> None:
            while True:
                try:
                    async with aiomqtt.Client("127.0.0.1", self.port, timeout=2) as client:
                        for topic in self.topics:
                            await client.subscribe(topic, qos=1)
                        self.connections += 1
                        connected.set()
                        async for message in client.messages:
                            raw = message.payload
                            text = raw.decode() if isinstance(raw, bytes) else str(raw)
                            try:
                                payload: Any = json.loads(text)
                            except ValueError:
                                payload = text
                            self.messages.append((str(message.topic), payload, message.retain))
                except aiomqtt.MqttError:
                    await asyncio.sleep(0.1)

        self._task = asyncio.create_task(loop())
        await asyncio.wait_for(connected.wait(), 10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def on(self, suffix: str) -> list[Any]:
        return [p for t, p, _ in self.messages if t.endswith(suffix)]

    async def wait_for(self, predicate: Any, timeout_s: float = 20.0) -> Any:
        """The first recorded (topic, payload, retained) that satisfies ``predicate``."""
        async with asyncio.timeout(timeout_s):
            while True:
                for item in self.messages:
                    if predicate(*item):
                        return item
                await asyncio.sleep(0.02)


async def publish(port: int, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
    async with aiomqtt.Client("127.0.0.1", port, timeout=5) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


def make_tls_files(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        name: directory / name
        for name in (
            "ca.key",
            "ca.crt",
            "server.key",
            "server.csr",
            "server.crt",
            "client.key",
            "client.csr",
            "client.crt",
            "san.cnf",
        )
    }

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    files["san.cnf"].write_text("subjectAltName = IP:127.0.0.1\n")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=therapyctl test CA",
        "-keyout",
        str(files["ca.key"]),
        "-out",
        str(files["ca.crt"]),
    )
    for who in ("server", "client"):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={who}",
            "-keyout",
            str(files[f"{who}.key"]),
            "-out",
            str(files[f"{who}.csr"]),
        )
        extra = ["-extfile", str(files["san.cnf"])] if who == "server" else []
        openssl(
            "x509",
            "-req",
            "-in",
            str(files[f"{who}.csr"]),
            "-CA",
            str(files["ca.crt"]),
            "-CAkey",
            str(files["ca.key"]),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            str(files[f"{who}.crt"]),
            *extra,
        )
    return files


@contextlib.contextmanager
def mosquitto_tls(directory: Path) -> Iterator[tuple[Broker, dict[str, Path]]]:
    """A TLS-only broker that requires a client certificate signed by the test CA."""
    files = make_tls_files(directory / "tls")
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "persistence false",
        "allow_anonymous true",
        f"cafile {files['ca.crt']}",
        f"certfile {files['server.crt']}",
        f"keyfile {files['server.key']}",
        "require_certificate true",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    config = directory / f"mosquitto-tls-{port}.conf"
    config.write_text("\n".join(lines) + "\n")
    broker = Broker(port, config)
    broker.start()
    try:
        yield broker, files
    finally:
        broker.stop()


@asynccontextmanager
async def running(bridge: MqttBridge) -> AsyncIterator[MqttBridge]:
    """``bridge.run()`` in a task, connected (holding its node); closed (flushed, offline)
    and stopped after."""
    task = asyncio.create_task(bridge.run())
    try:
        await bridge.wait_first_attempt(20)
        async with asyncio.timeout(20):
            await bridge.connected.wait()
        yield bridge
    finally:
        await bridge.close(timeout_s=15)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
