"""A virtual radio with simulated devices on it, in-process or offered over HCI transports.

Every simulated device has its own bumble controller on one :class:`bumble.link.LocalLink`.
``offer_hci(moniker)`` adds one more controller to that link and serves it on a bumble
transport (``tcp-server:127.0.0.1:9001``), so another process - ours with
``--radio tcp-client:...``, or any bumble tool - uses it as its Bluetooth controller.
In-process hosts take one from :meth:`SimulatorWorld.controller`.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from bumble import hci
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import StreamPacketSource

from protocols import TIME_SCALE_MAX, TIME_SCALE_MIN, DeviceKind
from simulator.belt import BeltFirmware
from simulator.firmware import Firmware, ScheduledFault
from simulator.pad import PadFirmware
from simulator.peripheral import EventLog, SimClock, SimulatedDevice, status_interval_ms
from simulator.radio import RadioController
from simulator.security import PairingWindow
from simulator.specs import (
    DEVICE_KINDS,
    DeviceSpec,
    SimulatorError,
)


def make_firmware(
    kind: str,
    *,
    time_scale: float,
    now_s: float,
    faults: tuple[ScheduledFault, ...] = (),
    seed: int = 0,
) -> Firmware:
    interval_ms = status_interval_ms(time_scale)
    # The Feature reports the time scale: a controller elsewhere runs its clock at it.
    options: dict[str, Any] = {
        "now_s": now_s,
        "faults": faults,
        "seed": seed,
        "time_scale": time_scale,
    }
    if kind == "heat-pad":
        return PadFirmware(DeviceKind.HEAT_PAD, interval_ms, **options)
    if kind == "thermal-pad":
        return PadFirmware(DeviceKind.THERMAL_PAD, interval_ms, **options)
    if kind.startswith("light-belt-") and kind in DEVICE_KINDS:
        return BeltFirmware(int(kind.rsplit("-", 1)[1]), interval_ms, **options)
    raise SimulatorError(f"unknown device kind {kind!r}")


class SimulatorWorld:
    """Simulated devices on one virtual radio; an async context manager."""

    def __init__(
        self,
        devices: list[DeviceSpec],
        *,
        faults: dict[str, list[ScheduledFault]] | None = None,
        time_scale: float = 1.0,
        event_log: EventLog | None = None,
        pairing_window_s: float | None = None,
    ) -> None:
        """``pairing_window_s``: how long after the start the devices accept a new bond
        (wall seconds; None: always - in-process devices are yours)."""
        if not devices:
            raise SimulatorError("give at least one device to simulate")
        names = [spec.name for spec in devices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SimulatorError(f"device names must be unique: {', '.join(duplicates)}")
        unknown = sorted(set(faults or {}) - set(names))
        if unknown:
            raise SimulatorError(f"fault for a device that is not simulated: {', '.join(unknown)}")
        if not TIME_SCALE_MIN <= time_scale <= TIME_SCALE_MAX:  # what Feature can report
            raise SimulatorError(
                f"time scale must be from {TIME_SCALE_MIN:g} to {TIME_SCALE_MAX:g},"
                f" got {time_scale:g}"
            )
        self.specs = devices
        self.faults = faults or {}
        self.time_scale = time_scale
        self.event_log = event_log
        self.pairing_window_s = pairing_window_s
        self.devices: dict[str, SimulatedDevice] = {}
        self._stack = AsyncExitStack()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._offered = 0
        self._hci_clients: set[_HciClient] = set()

    @property
    def link(self) -> LocalLink:
        return self._link

    async def __aenter__(self) -> SimulatorWorld:
        self._link = LocalLink()  # type: ignore[no-untyped-call]
        self.clock = SimClock(self.time_scale)
        for spec in self.specs:
            seed = int.from_bytes(hashlib.sha256(spec.name.encode()).digest()[:4], "little")
            firmware = make_firmware(
                spec.kind,
                time_scale=self.time_scale,
                now_s=self.clock.now(),
                faults=tuple(self.faults.get(spec.name, ())),
                seed=seed,
            )
            device = SimulatedDevice(
                spec.name,
                firmware,
                self.clock,
                self._link,
                serial_number=f"SIM-{seed:08X}",
                event_log=self.event_log,
                pairing=PairingWindow(self.pairing_window_s),
            )
            self.devices[spec.name] = device
        for device in self.devices.values():
            self._tasks.append(asyncio.create_task(device.run(self._stop), name=device.name))
        # Wait until every device is powered on and advertising (or one failed to start).
        ready: list[asyncio.Task[Any]] = [
            asyncio.create_task(d.ready.wait()) for d in self.devices.values()
        ]
        try:
            pending: set[asyncio.Task[Any]] = set(ready)
            while pending:
                done, pending = await asyncio.wait(
                    pending | {t for t in self._tasks if not t.done()},
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    if task in self._tasks:
                        await task  # a device loop ended before it was ready: surface why
                        raise SimulatorError(f"simulated device {task.get_name()} stopped")
                pending &= set(ready)
        finally:
            for task in ready:
                task.cancel()
        return self

    def open_pairing(self, seconds: float | None = None) -> None:
        """Reopen every device's pairing window (the button held on a real one)."""
        for device in self.devices.values():
            device.pairing.open(seconds)

    async def offer_hci(self, moniker: str) -> str:
        """Serve one more controller on this radio through the bumble transport ``moniker``.

        ``tcp-server:HOST:PORT`` gives each TCP client a fresh controller of its own, torn
        down (its links terminated) when the client goes: processes can come and go, as
        they do with a real adapter. Other monikers get one controller, as bumble offers it.
        Returns the moniker a client uses; ``tcp-server:127.0.0.1:0`` picks a free port.
        """
        scheme, _, spec = moniker.partition(":")
        if scheme == "tcp-server":
            host, _, port = spec.rpartition(":")
            try:
                server = await asyncio.get_running_loop().create_server(
                    lambda: _HciClient(self), None if host in ("", "_") else host, int(port)
                )
            except (OSError, ValueError, OverflowError) as exc:
                raise SimulatorError(f"cannot open HCI transport {moniker!r}: {exc}") from exc
            self._stack.push_async_callback(self._close_server, server)
            bound_host, bound_port = server.sockets[0].getsockname()[:2]
            return f"tcp-client:{bound_host}:{bound_port}"
        try:
            transport = await open_transport(moniker)
        except Exception as exc:  # bumble raises many kinds; all mean "cannot open"
            raise SimulatorError(f"cannot open HCI transport {moniker!r}: {exc}") from exc
        self._stack.push_async_callback(transport.close)
        self.new_controller(transport.source, transport.sink)
        return moniker

    async def _close_server(self, server: asyncio.Server) -> None:
        server.close()
        for client in list(self._hci_clients):
            client.close()
        await server.wait_closed()

    def controller(self) -> RadioController:
        """A new controller on this radio, for an in-process host (``Radio.attach``)."""
        return self.new_controller(None, None)

    def new_controller(self, source: Any, sink: Any) -> RadioController:
        self._offered += 1
        return RadioController(
            f"hci-{self._offered}",
            host_source=source,
            host_sink=sink,
            link=self._link,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stack.aclose()
        for result in results:
            if isinstance(result, Exception) and exc is None:
                raise result


class _HciClient(asyncio.Protocol):
    """One TCP client of an offered HCI transport: a controller of its own on the radio."""

    def __init__(self, world: SimulatorWorld) -> None:
        self._world = world
        self._transport: asyncio.Transport | None = None
        self._source = StreamPacketSource()
        self._controller: RadioController | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._controller = self._world.new_controller(self._source, self)
        self._world._hci_clients.add(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def on_packet(self, packet: bytes) -> None:  # the controller's host sink
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(packet)

    def data_received(self, data: bytes) -> None:
        self._source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._world._hci_clients.discard(self)
        controller, self._controller = self._controller, None
        if controller is None:
            return
        # The host is gone: terminate its links so the devices advertise again.
        for connection in list(controller.le_connections.values()):
            controller.on_hci_disconnect_command(
                hci.HCI_Disconnect_Command(
                    connection_handle=connection.handle,
                    reason=hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR,
                )
            )
        self._world.link.remove_controller(controller)
