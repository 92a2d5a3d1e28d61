"""therapyctl reference firmware: the GATT profile of docs/protocol.md on aioble.

One firmware for every kind (heat pad, thermal pad, light belt): the kind comes from the
board's configuration. Runs on an ESP32 (board_esp32, device_config.py) and on MicroPython's
unix port (board_sim, configured from the environment by simulator/firmware_host.py).

Tasks: advertising and the connection; the control point; and the main loop,
which runs the physics (simulated board), the rules (therapy.Therapy), the Status
notifications, the pairing button and the watchdog. The main loop is the program: if it
fails, the output is turned off and the exception ends the program (the watchdog, or the
host, restarts it). Who may command the device is decided in the IRQ handler, by
pairing.Trust: bonds in the board's bond store, made in the pairing window.
"""

import asyncio
import binascii
import gc
import json
import os
import sys

import aioble
import bluetooth
import kinds
import micropython
import pairing
import wire
from therapy import Therapy

try:
    from aioble import security  # the bond store (NimBLE's keys, kept in a file)
except ImportError:  # an aioble without pairing support: the firmware cannot require bonds
    security = None

MANUFACTURER = "therapyctl reference firmware"
FIRMWARE_REVISION = "fw-0.1.0"
ADVERTISING_INTERVAL_US = 20000  # 20 ms, as the simulator
TICK_MS = 250  # device ms between two runs of the rules (and physics steps)
ADVERTISING_REFRESH_MS = 2000  # wall ms: the battery in the scan response stays current
INDICATION_TIMEOUT_MS = 2000
ADVERTISING_RETRY_MS = 50  # wall ms
HEAP_REPORT_MS = 10000  # device ms between two heap reports in the log
MTU = 247
_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_ENCRYPTION_UPDATE = 28
_IRQ_SET_SECRET = 30
_FLAG_WRITE_ENCRYPTED = 0x1000  # only an encrypted (bonded) link may write

_DEVICE_INFORMATION = bluetooth.UUID(0x180A)
_BATTERY = bluetooth.UUID(0x180F)
_THERAPY = bluetooth.UUID("7a9e0001-5d1c-4b8e-9f3a-2c6d8e4b1a70")


def _therapy_uuid(n):
    return bluetooth.UUID(f"7a9e{n:04x}-5d1c-4b8e-9f3a-2c6d8e4b1a70")


def make_board():
    if sys.platform == "linux":
        from board_sim import SimBoard

        return SimBoard()
    import device_config
    from board_esp32 import Esp32Board

    return Esp32Board(device_config)


class _StatusCharacteristic(aioble.BufferedCharacteristic):
    """Status: every read takes the next sequence number (where the port lets a read be
    intercepted: the unix port does; on an ESP32 a read returns the last notified Status)."""

    firmware = None

    def on_read(self, connection):
        # A notification reads the value too, with no connection: it carries what was
        # just written, so it takes no second number.
        if self.firmware is not None and connection is not None:
            self.write(self.firmware.core.status(self.firmware.board.now_ms()))
        return 0


class Firmware:
    def __init__(self, board):
        self.board = board
        self.spec = kinds.spec_for(
            board.kind_name, board.time_scale, getattr(board, "emitting_area_cm2", None)
        )
        self.core = Therapy(self.spec, board, board.now_ms())
        self.connection = None
        self.down_until_ms = 0
        self._last_battery = -1
        self.require_bond = board.require_bond and security is not None
        self.window = pairing.PairingWindow(_window_ms(board), board.wall_now_ms())
        self.trust = pairing.Trust(self.require_bond)
        self._button_was_held = False
        self._refused_keys = []  # peers whose bond was made with the window closed
        self._build_services()

    def _build_services(self):
        # Values are written after registering: a BufferedCharacteristic's buffer is set
        # up after its initial value, and would drop it.
        values = []
        info = aioble.Service(_DEVICE_INFORMATION)
        for uuid16, text in (
            (0x2A29, MANUFACTURER),
            (0x2A24, self.spec.kind_name),
            (0x2A25, self.board.serial),
            (0x2A26, FIRMWARE_REVISION),
        ):
            char = aioble.BufferedCharacteristic(
                info, bluetooth.UUID(uuid16), read=True, max_len=32
            )
            values.append((char, text.encode()))
        battery = aioble.Service(_BATTERY)
        self.battery_char = aioble.Characteristic(
            battery, bluetooth.UUID(0x2A19), read=True, notify=True, initial=b"\x64"
        )
        therapy = aioble.Service(_THERAPY)
        feature = wire.feature_bytes(self.spec)
        char = aioble.BufferedCharacteristic(
            therapy, _therapy_uuid(2), read=True, max_len=len(feature)
        )
        values.append((char, feature))
        self.control_point = aioble.BufferedCharacteristic(
            therapy, _therapy_uuid(3), write=True, indicate=True, capture=True, max_len=32
        )
        self.status_char = _StatusCharacteristic(
            therapy, _therapy_uuid(4), read=True, notify=True, max_len=24
        )
        self.status_char.firmware = self
        # The Lease is handled in the write's IRQ, before any read can follow it: the
        # stack has answered the write with success already (MicroPython cannot refuse
        # one), so a refused value must read back as the lease in force at once.
        self.lease = aioble.BufferedCharacteristic(
            therapy, _therapy_uuid(5), read=True, write=True, max_len=8
        )
        values.append((self.lease, wire.lease_bytes(self.core.lease_ms)))
        if self.require_bond:
            self.control_point.flags |= _FLAG_WRITE_ENCRYPTED
            self.lease.flags |= _FLAG_WRITE_ENCRYPTED
        # NimBLE reports a notification that fails (the link just went) as a failed
        # indication; aioble then looks for indication state on a notify-only
        # characteristic, and its IRQ handler fails. Give them that state.
        self.battery_char._indicate_connection = None
        self.status_char._indicate_connection = None
        aioble.register_services(info, battery, therapy)
        for char, value in values:
            char.write(value)
        # First of aioble's handlers: aioble.security answers (and so ends the dispatch of)
        # a stored key, which this handler must see. It returns None for every event.
        aioble.core._irq_handlers.insert(0, self._irq)
        self.status_char.write(self.core.status(self.board.now_ms()))
        self.core.seq = 0  # the first Status a client sees is 1

    # ------------------------------------------------------------------ radio

    async def advertise_loop(self):
        board = self.board
        while True:
            now = board.now_ms()
            if now < self.down_until_ms:
                await asyncio.sleep_ms(board.wall_ms(self.down_until_ms - now))
                continue
            battery = self.core.battery_pct()
            try:
                connection = await aioble.advertise(
                    ADVERTISING_INTERVAL_US,
                    adv_data=wire.advertising_data(self.spec.kind, self.spec.max_power_mw),
                    resp_data=wire.scan_response(board.name, battery),
                    timeout_ms=ADVERTISING_REFRESH_MS,
                )
            except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin one
                continue  # advertise again, with the battery level of now
            except OSError as exc:  # the stack is busy (a link still closing): try again
                board.log(event="advertising-failed", error=repr(exc))
                await asyncio.sleep_ms(ADVERTISING_RETRY_MS)
                continue
            self.connection = connection
            self._last_battery = -1
            board.log(event="connected", peer=connection.device.addr_hex())
            await connection.disconnected(timeout_ms=None)
            self.connection = None
            board.log(event="disconnected")

    async def drop_link(self, down_s):
        """The link-drop fault: disconnect and stay silent for ``down_s`` device seconds."""
        self.down_until_ms = self.board.now_ms() + int(down_s * 1000)
        connection = self.connection
        self.board.log(event="link-drop", down_s=down_s)
        if connection is not None:
            try:
                await connection.disconnect()
            except Exception as exc:  # already gone
                self.board.log(event="disconnect-failed", error=repr(exc))

    # ------------------------------------------------------------------ GATT writes

    async def control_point_loop(self):
        while True:
            connection, data = await self.control_point.written()
            if self._may_command(connection):
                response = self.core.handle_request(bytes(data), self.board.now_ms())
            else:  # not bonded: ignored (MicroPython cannot answer the write with an error)
                opcode = data[0] if len(data) else 0
                self.board.log(event="write-refused", characteristic="control-point", opcode=opcode)
                response = wire.response_bytes(opcode, wire.RESULT_NOT_PERMITTED)
            if connection is None or not connection.is_connected():
                continue
            try:
                await self.control_point.indicate(
                    connection, response, timeout_ms=INDICATION_TIMEOUT_MS
                )
            except Exception as exc:  # the link may be gone; the rules have acted already
                self.board.log(event="indication-failed", error=repr(exc))

    def _may_command(self, connection):
        # Judged by the verdict the link had when the write was made (kept on its
        # connection object, which outlives the link).
        return not self.require_bond or getattr(connection, "may_command", False)

    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE and data[1] == self.lease._value_handle:
            value = bytes(self.lease.read())
            connection = aioble.device.DeviceConnection._connected.get(data[0])
            if self._may_command(connection):
                result = self.core.set_lease(value, self.board.now_ms())
            else:
                result = wire.RESULT_NOT_PERMITTED
            if result != wire.RESULT_SUCCESS:
                self.board.log(event="lease-refused", result=result, data=value.hex())
            self.lease.write(wire.lease_bytes(self.core.lease_ms))  # what a read returns
        elif not self.require_bond:
            pass
        elif event == _IRQ_CENTRAL_CONNECT:
            self.trust.connected(data[0], data[1], data[2])
        elif event == _IRQ_CENTRAL_DISCONNECT:
            self.trust.disconnected(data[0])
        elif event == _IRQ_ENCRYPTION_UPDATE:
            handle, encrypted, bonded = data[0], data[1], data[3]
            verdict = self.trust.encryption_changed(handle, encrypted, bonded, security._secrets)
            self._trust_changed(handle, verdict)
        elif event == _IRQ_SET_SECRET and data[2] is not None:  # a pairing stores its keys
            handle = self.trust.current_handle()
            was_trusted = self.trust.may_write(handle)
            window_open = self.window.is_open(self.board.wall_now_ms())
            verdict = self.trust.keys_stored(data[0], window_open)
            if verdict == pairing.REFUSED:
                first = not self._refused_keys
                self._refused_keys.append(bytes(data[1]))
                if first:  # forgotten once aioble.security has stored them (scheduled)
                    micropython.schedule(self._refuse_bond, handle)
                    self._trust_changed(handle, verdict)
            elif verdict == pairing.PAIRED and not was_trusted:
                self._trust_changed(handle, verdict)

    # ------------------------------------------------------------------ bonds

    def _trust_changed(self, handle, verdict):
        connection = aioble.device.DeviceConnection._connected.get(handle)
        if connection is not None:  # the verdict goes with the writes queued from it
            connection.may_command = self.trust.may_write(handle)
        peer = connection.device.addr_hex() if connection is not None else None
        if verdict == pairing.PAIRED:
            self.board.log(event="paired", peer=peer)
        elif verdict == pairing.REFUSED:
            reason = "the pairing window is closed"
            self.board.log(event="pairing_refused", peer=peer, reason=reason)
        else:
            self.board.log(event="encryption", peer=peer, verdict=verdict)

    def _refuse_bond(self, handle):
        """A bond made with the window closed: its keys are forgotten, the link dropped."""
        keys, self._refused_keys = self._refused_keys, []
        for key in keys:
            for key_type in pairing.BOND_KEY_TYPES:
                security._secrets.pop((key_type, key), None)
        security._save_secrets()
        _disconnect(handle)

    def open_pairing(self, length_ms=None):
        """The button held (or the host's control line): new bonds are taken again."""
        now = self.board.wall_now_ms()
        self.window.open(now, length_ms)
        left = self.window.left_ms(now)
        self.board.log(event="pairing_window", open_s=None if left is None else left / 1000)

    # ------------------------------------------------------------------ main loop

    async def run(self):
        board = self.board
        board.log(event="advertising", kind=self.spec.kind_name, name=board.name)
        tasks = [
            asyncio.create_task(self.advertise_loop()),
            asyncio.create_task(self.control_point_loop()),
        ]
        next_status_ms = 0
        next_heap_ms = 0
        tick_wall_ms = board.wall_ms(TICK_MS)
        try:
            while True:
                now = board.now_ms()
                for event in board.poll(now, self.core.first_start_ms):
                    if event == "reboot":
                        board.set_output(wire.MODE_NONE, 0)
                        board.reboot()
                    elif event == "link-drop":
                        await self.drop_link(5.0)
                    elif event.startswith("pairing"):  # "pairing" or "pairing=SECONDS"
                        _, _, seconds = event.partition("=")
                        self.open_pairing(int(float(seconds) * 1000) if seconds else None)
                held = board.pairing_button_held()
                if held and not self._button_was_held:
                    self.open_pairing()
                self._button_was_held = held
                self.core.advance(now)
                for task in tasks:
                    if task.done():  # a radio task failed: let the watchdog restart us
                        raise RuntimeError("a firmware task ended")
                board.feed_watchdog()
                if now >= next_heap_ms:
                    next_heap_ms = now + HEAP_REPORT_MS
                    peak = gc.mem_alloc()  # before collecting: what the loop had in use
                    gc.collect()
                    board.log(event="heap", alloc=gc.mem_alloc(), peak=peak, free=gc.mem_free())
                if self.connection is not None and now >= next_status_ms:
                    next_status_ms = now + self.spec.status_interval_ms
                    self._notify(now)
                await asyncio.sleep_ms(tick_wall_ms)
        finally:
            board.set_output(wire.MODE_NONE, 0)  # whatever ended the loop: output off
            for task in tasks:
                task.cancel()

    def _notify(self, now):
        # Written with send_update: the stack notifies only clients that subscribed.
        self.status_char.write(self.core.status(now), True)
        battery = self.core.battery_pct()
        if battery != self._last_battery:
            self._last_battery = battery
            self.battery_char.write(bytes((battery,)), True)


def _window_ms(board):
    seconds = getattr(board, "pairing_window_s", 0)
    return None if seconds is None else int(seconds * 1000)


def _bond_saver(board):
    """aioble.security's save, made atomic (a reset while writing keeps the old bonds:
    aioble would write in place and lose them all) and logged."""

    def save(_arg=None):
        path = security._path
        entries = [
            (key[0], binascii.b2a_base64(key[1]), binascii.b2a_base64(value))
            for key, value in security._secrets.items()
        ]
        temporary = path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(entries, f)
        os.rename(temporary, path)
        security._modified = False
        peers = len([key for key in security._secrets if key[0] == pairing.BOND_KEY_TYPES[1]])
        board.log(event="bonds_saved", peers=peers)

    return save


def _disconnect(handle):
    try:  # noqa: SIM105 - MicroPython has no contextlib built in
        aioble.core.ble.gap_disconnect(handle)
    except OSError:  # already gone
        pass


def main():
    board = make_board()
    board.set_output(wire.MODE_NONE, 0)  # output off at boot, before anything else
    if board.require_bond and security is not None:
        security.load_secrets(board.bond_path)  # before the stack starts: it reads them
        security._save_secrets = _bond_saver(board)  # (aioble calls it by this name)
    aioble.config(gap_name=board.name, mtu=MTU)
    if board.require_bond:
        aioble.config(bond=True, le_secure=True, mitm=False, io=3)  # NoInputNoOutput
    firmware = Firmware(board)
    asyncio.run(firmware.run())


main()
