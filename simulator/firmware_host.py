"""The reference firmware (firmware/, MicroPython + aioble) as a device on the virtual radio.

Each device is MicroPython's unix port running ``firmware/main.py`` on the simulated board
(``firmware/board_sim.py``): its NimBLE host speaks HCI over a pseudo-terminal to a bumble
controller on the same :class:`~bumble.link.LocalLink` as everything else, so a controller
(bleak over bumble, ``device.link``) scans, connects and runs sessions against a production
BLE host stack instead of bumble's.

The firmware logs JSON lines on stdout (the same fields as ``sim serve --json``); faults are
injected at start (``FAULT@SECONDS``, as ``sim serve --fault``) or at once through a control
file. When the firmware process ends on its own (the ``reboot`` fault, or a crash: a
watchdog reset) its controller's links drop and it is started again on a fresh controller
with the same address, after the boot time.

As the simulator's devices (simulator/security.py), each firmware takes commands only from
a bonded controller: its pairing window opens for ``pairing_window_s`` after each boot
(None: always open) and again with :meth:`FirmwareWorld.open_pairing` (``sim serve``'s
SIGUSR1); it keeps its bonds in its own directory (``bonds.json``), across reboots.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bumble import hci, ll
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import Transport

from protocols import State, StopCause
from simulator.firmware import BOOT_S, ScheduledFault
from simulator.peripheral import EventLog, SimClock, address_for
from simulator.radio import RadioController
from simulator.specs import DeviceSpec, SimulatorError
from simulator.world import SimulatorWorld

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _firmware_dir() -> Path:
    """The reference firmware's source: ``firmware/`` beside the packages, in the source tree
    and in an installed wheel alike (it ships as a namespace package that CPython never
    imports; ``find_spec`` only locates it)."""
    beside = REPO_ROOT / "firmware"
    if (beside / "main.py").is_file():
        return beside
    spec = importlib.util.find_spec("firmware")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "main.py").is_file():
            return Path(location)
    return beside  # not installed: the error says where it was looked for


FIRMWARE_DIR = _firmware_dir()
MICROPYTHON_ENV = "THERAPYCTL_MICROPYTHON"
DEFAULT_MICROPYTHON = REPO_ROOT.parent / "shared" / "micropython" / "micropython"
BOOT_TIMEOUT_S = 20.0  # wall seconds for the firmware to power on and advertise
STOP_TIMEOUT_S = 5.0
REBOOT_EXIT_CODE = 75  # firmware/board_sim.py: the reboot fault (a watchdog reset)
_ACTIVE_SCANNING = 0x01
_Ext = hci.HCI_LE_Extended_Advertising_Report_Event
_LEGACY_ADV_IND = (
    _Ext.EventType.CONNECTABLE_ADVERTISING
    | _Ext.EventType.SCANNABLE_ADVERTISING
    | _Ext.EventType.LEGACY_ADVERTISING_PDU_USED
)
_LEGACY_SCAN_RSP = _LEGACY_ADV_IND | _Ext.EventType.SCAN_RESPONSE


def find_micropython(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The MicroPython unix binary with Bluetooth: ``explicit``, else ``$THERAPYCTL_MICROPYTHON``,
    else ``../shared/micropython/micropython`` beside the repository; None if there is none."""
    candidates = [explicit, os.environ.get(MICROPYTHON_ENV), DEFAULT_MICROPYTHON]
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate)
        if not path.is_file():
            found = shutil.which(str(candidate))
            path = Path(found) if found else path
        if path.is_file() and os.access(path, os.X_OK):
            return path
        if candidate is explicit or candidate == os.environ.get(MICROPYTHON_ENV):
            return None  # asked for this one: do not fall back silently
    return None


def micropython_path(micropython: Path) -> str:
    """MICROPYPATH for the firmware: frozen modules (asyncio) first, the firmware, then the
    aioble package shipped beside the binary (``lib/``)."""
    parts = [".frozen", str(FIRMWARE_DIR)]
    lib = micropython.parent / "lib"
    if lib.is_dir():
        parts.append(str(lib))
    return ":".join(parts)


class ScanResponseController(RadioController):
    """A controller on the virtual radio that answers a legacy advertiser's ADV_IND as a
    real scanner does: the advertising data, then (scanning actively) its scan response.

    bumble 0.0.236 reports a legacy PDU's advertising data twice instead (once as a "scan
    response"), so a device that puts its name in the scan response, as the firmware does
    (docs/protocol.md), would be seen without a name.
    """

    def on_ll_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if isinstance(packet, ll.AdvInd):
            scan_response = self._legacy_scan_response(packet.advertiser_address)
            if scan_response is not None:
                self._report_legacy(packet, scan_response)
                pending = self.pending_le_connection
                if pending is not None and pending.peer_address == packet.advertiser_address:
                    self.create_le_connection(packet.advertiser_address)
                return
        super().on_ll_advertising_pdu(packet)

    def _legacy_scan_response(self, address: hci.Address) -> bytes | None:
        for controller in self.link.controllers:
            advertiser = getattr(controller, "le_legacy_advertiser", None)
            if (
                controller is not self
                and advertiser is not None
                and advertiser.enabled
                and advertiser.address == address
            ):
                return bytes(advertiser.scan_response_data)
        return None

    def _report_legacy(self, packet: ll.AdvInd, scan_response: bytes) -> None:
        if not self.le_scan_enable:
            return
        address = packet.advertiser_address
        extended = bool(self.le_features & hci.LeFeatureMask.LE_EXTENDED_ADVERTISING)
        # bumble keeps no scan type for extended scanning; its hosts scan actively.
        active = extended or self.le_scan_type == _ACTIVE_SCANNING
        reports: list[tuple[int, bytes]] = [(_LEGACY_ADV_IND, bytes(packet.data))]
        if active:
            reports.append((_LEGACY_SCAN_RSP, scan_response))
        for event_type, data in reports:
            if extended:
                self.send_hci_packet(
                    _Ext(
                        [
                            _Ext.Report(
                                event_type=event_type,
                                address_type=address.address_type,
                                address=address,
                                primary_phy=hci.Phy.LE_1M,
                                secondary_phy=0,
                                advertising_sid=0xFF,
                                tx_power=0x7F,
                                rssi=-50,
                                periodic_advertising_interval=0,
                                direct_address_type=0,
                                direct_address=hci.Address.ANY,
                                data=data,
                            )
                        ]
                    )
                )
            else:
                legacy = hci.HCI_LE_Advertising_Report_Event.EventType
                self.send_hci_packet(
                    hci.HCI_LE_Advertising_Report_Event(
                        [
                            hci.HCI_LE_Advertising_Report_Event.Report(
                                event_type=(
                                    legacy.SCAN_RSP
                                    if event_type & _Ext.EventType.SCAN_RESPONSE
                                    else legacy.ADV_IND
                                ),
                                address_type=address.address_type,
                                address=address,
                                data=data,
                                rssi=-50,
                            )
                        ]
                    )
                )


class FirmwareController(RadioController):
    """The controller a firmware's NimBLE host drives, with a stable address.

    NimBLE, given no public address, makes a random static one from the controller's LE
    Rand; until the host sets its random address this controller answers with ``address``
    (as an ESP32 derives its address from its MAC), so the device keeps its address across
    reboots and bonds hold. (A public address cannot be used: bumble's link carries LE data
    only from a controller's random address.) Later requests are random, as a real
    controller's.
    """

    def __init__(self, *args: Any, address: hci.Address, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stable_address = address
        self._address_given = False

    def on_hci_le_set_random_address_command(
        self, command: hci.HCI_LE_Set_Random_Address_Command
    ) -> hci.HCI_StatusReturnParameters:
        self._address_given = True
        return super().on_hci_le_set_random_address_command(command)

    def on_hci_le_rand_command(
        self, command: hci.HCI_LE_Rand_Command
    ) -> hci.HCI_LE_Rand_ReturnParameters:
        if self._address_given:
            return super().on_hci_le_rand_command(command)
        # NimBLE takes the first 6 bytes as the address, least significant byte first.
        little_endian = bytes(
            reversed(bytes.fromhex(str(self._stable_address)[:17].replace(":", "")))
        )
        return hci.HCI_LE_Rand_ReturnParameters(
            status=hci.HCI_ErrorCode.SUCCESS, random_number=little_endian + b"\0\0"
        )


def drop_links(controller: RadioController) -> None:
    """The host behind ``controller`` is gone: end its links (peers see a disconnection),
    stop its advertising and take it off the radio."""
    controller.le_legacy_advertiser.stop()
    for advertising_set in controller.advertising_sets.values():
        with contextlib.suppress(Exception):
            advertising_set.stop()
    for connection in list(controller.le_connections.values()):
        controller.on_hci_disconnect_command(
            hci.HCI_Disconnect_Command(
                connection_handle=connection.handle,
                reason=hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR,
            )
        )
    controller.link.remove_controller(controller)


def log_fields(event: dict[str, Any]) -> dict[str, Any]:
    """A firmware event as ``sim serve --json`` logs a simulated device's: a state change
    names its state and stop cause (the firmware logs their numbers)."""
    fields = {k: v for k, v in event.items() if k != "boot"}
    if fields.get("event") == "state":
        with contextlib.suppress(ValueError, TypeError):
            fields["state"] = State(fields["state"]).name.lower()
            fields["stop_cause"] = StopCause(fields["stop_cause"]).name.lower()
    return fields


@dataclass(frozen=True, slots=True)
class FirmwareOptions:
    """How the firmware processes run."""

    micropython: Path
    time_scale: float = 1.0
    require_bond: bool = True
    pairing_window_s: float | None = None  # after each boot; None: always open


class FirmwareDevice:
    """One firmware process and its controller on the virtual radio."""

    def __init__(
        self,
        spec: DeviceSpec,
        link: LocalLink,
        options: FirmwareOptions,
        workdir: Path,
        *,
        faults: tuple[ScheduledFault, ...] = (),
        serial_number: str = "FW-SIM",
        event_log: EventLog | None = None,
    ) -> None:
        self.name = spec.name
        self.kind_name = spec.kind
        self.address = address_for(spec.name)
        self.link = link
        self.options = options
        self.workdir = workdir
        self.faults = faults
        self.serial_number = serial_number
        self.event_log = event_log
        self.events: list[dict[str, Any]] = []
        self.boots = 0
        self.stderr = b""
        self.controller: RadioController | None = None
        self._transport: Transport | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._event_added = asyncio.Event()
        self.control_path = workdir / "control"
        self.control_path.write_text("")
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        """Power the firmware on; return once it advertises."""
        await self._boot()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"fw-{self.name}")

    async def _boot(self) -> None:
        hci_path = self.workdir / "hci"
        with contextlib.suppress(FileNotFoundError):
            hci_path.unlink()
        try:
            self._transport = await open_transport(f"pty:{hci_path}")
        except Exception as exc:
            raise SimulatorError(f"cannot open a pty for {self.name}: {exc}") from exc
        self.controller = FirmwareController(
            f"fw-{self.name}",
            host_source=self._transport.source,
            host_sink=self._transport.sink,
            link=self.link,
            address=self.address,
        )
        self.boots += 1
        boot = self.boots
        env = {
            **os.environ,
            "MICROPYBTUART": str(hci_path),
            "MICROPYPATH": micropython_path(self.options.micropython),
            "THERAPYCTL_FW_KIND": self.kind_name,
            "THERAPYCTL_FW_NAME": self.name,
            "THERAPYCTL_FW_SERIAL": self.serial_number,
            "THERAPYCTL_FW_TIME_SCALE": repr(self.options.time_scale),
            "THERAPYCTL_FW_FAULTS": ",".join(f"{f.kind.value}@{f.at_s:g}" for f in self.faults)
            if boot == 1
            else "",
            "THERAPYCTL_FW_CONTROL": str(self.control_path),
            "THERAPYCTL_FW_STATE": str(self.workdir / "state.json"),
            "THERAPYCTL_FW_REQUIRE_BOND": "1" if self.options.require_bond else "0",
            "THERAPYCTL_FW_BONDS": str(self.workdir / "bonds.json"),  # kept across reboots
        }
        if self.options.pairing_window_s is not None:
            env["THERAPYCTL_FW_PAIRING_WINDOW_S"] = repr(self.options.pairing_window_s)
        self.control_path.write_text("")  # faults already applied do not come back
        try:
            self._process = await asyncio.create_subprocess_exec(
                str(self.options.micropython),
                str(FIRMWARE_DIR / "main.py"),
                env=env,
                cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            await self._teardown_radio()
            raise SimulatorError(f"cannot run {self.options.micropython}: {exc}") from exc
        self._readers = [
            asyncio.create_task(self._read_events(self._process)),
            asyncio.create_task(self._read_stderr(self._process)),
        ]
        try:
            await self.wait_for(BOOT_TIMEOUT_S, event="advertising", boot=boot)
        except TimeoutError as exc:
            await self._kill()
            raise SimulatorError(
                f"the firmware of {self.name} did not start advertising:"
                f" {self.stderr.decode(errors='replace')[-2000:]}"
            ) from exc

    async def _supervise(self) -> None:
        """A firmware that ends on its own is started again (a watchdog reset)."""
        while not self._stopping:
            assert self._process is not None
            code = await self._process.wait()
            for reader in self._readers:
                with contextlib.suppress(Exception):
                    await reader
            if self._stopping:
                return
            self._record({"event": "exited", "code": code, "device": self.name})
            if code != REBOOT_EXIT_CODE:
                logger.warning(
                    "firmware %s exited with %s: %s",
                    self.name,
                    code,
                    self.stderr.decode(errors="replace")[-2000:],
                )
            await self._teardown_radio()
            await asyncio.sleep(BOOT_S / self.options.time_scale)
            if self._stopping:
                return
            try:
                await self._boot()
            except SimulatorError as exc:
                logger.error("firmware %s did not come back: %s", self.name, exc)
                return

    async def stop(self) -> None:
        self._stopping = True
        await self._kill()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    async def _kill(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        for reader in self._readers:
            with contextlib.suppress(Exception):
                await reader
        await self._teardown_radio()

    async def _teardown_radio(self) -> None:
        controller, self.controller = self.controller, None
        if controller is not None:
            drop_links(controller)
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(OSError):
                await transport.close()

    # ------------------------------------------------------------------ faults

    def inject(self, fault: str) -> None:
        """Apply ``fault`` now: a fault name of firmware/board_sim.py, ``battery=PCT`` or
        ``temperature=C``."""
        with self.control_path.open("a") as control:
            control.write(fault + "\n")

    # ------------------------------------------------------------------ events

    async def _read_events(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        boot = self.boots
        async for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "line": line, "device": self.name}
            if not isinstance(event, dict):
                event = {"event": "output", "line": line, "device": self.name}
            event["boot"] = boot
            self._record(event)

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            self.stderr = (self.stderr + raw)[-8192:]

    def _record(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.event_log is not None and event.get("event") != "output":
            self.event_log.write(**log_fields(event))
        self._event_added.set()

    async def wait_for(
        self, timeout_s: float = 10.0, *, since: int = 0, **match: Any
    ) -> dict[str, Any]:
        """The first event logged (from index ``since`` of :attr:`events` on) whose fields
        include ``match`` (waits for it)."""
        async with asyncio.timeout(timeout_s):
            seen = since
            while True:
                for event in self.events[seen:]:
                    if all(event.get(k) == v for k, v in match.items()):
                        return event
                seen = len(self.events)
                self._event_added.clear()
                await self._event_added.wait()


class FirmwareWorld(SimulatorWorld):
    """The reference firmware's devices on one virtual radio (as :class:`SimulatorWorld`'s
    simulated ones): in-process hosts take a :meth:`controller`, other processes one offered
    with :meth:`offer_hci`."""

    def __init__(
        self,
        devices: list[DeviceSpec],
        *,
        micropython: Path,
        faults: dict[str, list[ScheduledFault]] | None = None,
        time_scale: float = 1.0,
        event_log: EventLog | None = None,
        pairing_window_s: float | None = None,
        require_bond: bool = True,
    ) -> None:
        super().__init__(
            devices,
            faults=faults,
            time_scale=time_scale,
            event_log=event_log,
            pairing_window_s=pairing_window_s,
        )
        self.options = FirmwareOptions(micropython, time_scale, require_bond, pairing_window_s)
        self.firmware: dict[str, FirmwareDevice] = {}

    async def __aenter__(self) -> FirmwareWorld:
        self._link = LocalLink()  # type: ignore[no-untyped-call]
        self.clock = SimClock(self.time_scale)
        workdir = Path(tempfile.mkdtemp(prefix="therapyctl-fw-"))
        self._stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        for index, spec in enumerate(self.specs):
            directory = workdir / f"{index}-{spec.name}"
            directory.mkdir()
            device = FirmwareDevice(
                spec,
                self._link,
                self.options,
                directory,
                faults=tuple(self.faults.get(spec.name, ())),
                serial_number=f"SIM-FW{index + 1:04d}",
                event_log=self.event_log,
            )
            self.firmware[spec.name] = device
            self._stack.push_async_callback(device.stop)
        try:
            await asyncio.gather(*(device.start() for device in self.firmware.values()))
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    def new_controller(self, source: Any, sink: Any) -> RadioController:
        self._offered += 1
        return ScanResponseController(
            f"hci-{self._offered}", host_source=source, host_sink=sink, link=self._link
        )

    def open_pairing(self, seconds: float | None = None) -> None:
        """Hold every device's button: its pairing window opens (for ``seconds``, else its
        configured length). Safe from a signal handler: it appends to a file."""
        for device in self.firmware.values():
            device.inject("pairing" if seconds is None else f"pairing={seconds:g}")
