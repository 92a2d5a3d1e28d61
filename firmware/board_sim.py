"""A simulated board for MicroPython's unix port: the pad's or belt's physics, its sensor,
battery and skin contact, and the faults the conformance tests inject.

The physics mirrors simulator/pad.py and simulator/belt.py (one lumped thermal mass coupled
to the room and the body). Device time runs ``time_scale`` times faster than wall time.

Configured from the environment (the host launcher, simulator/firmware_host.py, sets it):

- ``THERAPYCTL_FW_KIND``, ``THERAPYCTL_FW_NAME``, ``THERAPYCTL_FW_SERIAL``,
  ``THERAPYCTL_FW_TIME_SCALE``, ``THERAPYCTL_FW_PAIRING_WINDOW_S``;
- ``THERAPYCTL_FW_FAULTS``: ``overheat@30,link-drop@5`` - each fault that many device seconds
  after the first session started (as ``sim serve --fault``);
- ``THERAPYCTL_FW_CONTROL``: a file the host appends lines to, each applied at once: a fault
  name (``overheat``, ``overcool``, ``sensor-open``, ``sensor-stuck``, ``contact-lost``,
  ``battery-drain``, ``nack``, ``reboot``, ``link-drop``), ``battery=PCT`` or
  ``temperature=C`` (the true temperature, as if warmed or cooled from outside),
  ``pairing`` or ``pairing=SECONDS`` (the pairing button held: the window opens),
  ``repair`` (the injected faults are gone, as a board built anew; for benchmarks);
- ``THERAPYCTL_FW_STATE``: where the true temperature and battery survive a reboot (the
  world does not reset when the firmware does);
- ``THERAPYCTL_FW_REQUIRE_BOND`` (``1``: only a bonded peer may command) and
  ``THERAPYCTL_FW_BONDS``: the bond store (NimBLE's keys), kept across reboots;
  ``THERAPYCTL_FW_PAIRING_WINDOW_S``: how long the window is open after boot (unset: always).
"""

import json
import os
import sys
import time

from wire import MODE_COLD, MODE_HEAT

ROOM_C = 22.0
BODY_C = 34.0
PHYSICS_STEP_S = 0.5  # the largest integration step, device seconds
SENSOR_NOISE_C = 0.03  # peak sensor noise
LINK_DOWN_S = 5.0  # a dropped link stays silent this long (device seconds)
BOOT_S = 2.0  # a reboot takes this long before the device advertises again
REBOOT_EXIT_CODE = 75  # the host launcher restarts the firmware: a watchdog reset

FAULTS = (
    "overheat",
    "overcool",
    "sensor-stuck",
    "sensor-open",
    "link-drop",
    "battery-drain",
    "contact-lost",
    "nack",
    "reboot",
)


class _PadPhysics:
    heat_capacity_j_per_k = 300.0
    k_room_w_per_k = 0.25
    k_skin_w_per_k = 0.35
    heater_max_w = 15.0
    cooler_max_w = 30.0
    cooler_cop = 0.6
    capacity_wh = 40.0

    def __init__(self, can_cool):
        self.can_cool = can_cool

    def heat_w(self, mode, drive_mw, stuck_on, stuck_cold):
        """(heat into the mass W, electrical draw W)."""
        if stuck_cold and self.can_cool:
            cool = self.cooler_max_w * self.cooler_cop
            return -cool, self.cooler_max_w
        if stuck_on:
            return self.heater_max_w, self.heater_max_w
        if mode == MODE_HEAT:
            w = min(drive_mw / 1000, self.heater_max_w)
            return w, w
        if mode == MODE_COLD and self.can_cool:
            drawn = min(drive_mw / 1000, self.cooler_max_w)
            return -drawn * self.cooler_cop, drawn
        return 0.0, 0.0


class _BeltPhysics:
    heat_capacity_j_per_k = 150.0
    k_room_w_per_k = 0.1
    k_skin_w_per_k = 0.3
    wall_plug_efficiency = 0.4
    runaway_w = 8.0
    capacity_wh = 20.0

    def heat_w(self, mode, drive_mw, stuck_on, stuck_cold):
        electrical = drive_mw / 1000 / self.wall_plug_efficiency
        loss = electrical - drive_mw / 1000
        if stuck_on:
            loss += self.runaway_w
            electrical += self.runaway_w
        return loss, electrical


class SimBoard:
    """The board the firmware drives on the unix port (see the module docstring)."""

    def __init__(self, env=None):
        getenv = env.get if env is not None else os.getenv
        self.kind_name = getenv("THERAPYCTL_FW_KIND") or "heat-pad"
        self.name = getenv("THERAPYCTL_FW_NAME") or self.kind_name
        self.serial = getenv("THERAPYCTL_FW_SERIAL") or "FW-SIM"
        self.time_scale = float(getenv("THERAPYCTL_FW_TIME_SCALE") or "1")
        self.emitting_area_cm2 = None  # a belt model's documented area, as simulator/'s
        window = getenv("THERAPYCTL_FW_PAIRING_WINDOW_S")
        self.pairing_window_s = float(window) if window else None
        self.require_bond = (getenv("THERAPYCTL_FW_REQUIRE_BOND") or "0") == "1"
        self.bond_path = getenv("THERAPYCTL_FW_BONDS") or "bonds.json"
        self._state_path = getenv("THERAPYCTL_FW_STATE")
        self._scheduled = _parse_faults(getenv("THERAPYCTL_FW_FAULTS") or "")
        self._control = None
        control = getenv("THERAPYCTL_FW_CONTROL")
        if control:
            try:
                self._control = open(control)  # noqa: SIM115 - read for the device's life
            except OSError:
                self._control = None
        if self.kind_name.startswith("light-belt-"):
            self.physics = _BeltPhysics()
        else:
            self.physics = _PadPhysics(self.kind_name == "thermal-pad")
        p = self.physics
        self.true_c = (p.k_room_w_per_k * ROOM_C + p.k_skin_w_per_k * BODY_C) / (
            p.k_room_w_per_k + p.k_skin_w_per_k
        )
        self.battery = 100.0
        self._restore()
        self.contact = True
        self.stuck_on = False
        self.stuck_cold = False
        self.sensor_open = False
        self.sensor_stuck_c = None
        self.nack = False
        self._drain_pct_s = 0.0
        self._mode = 0
        self._drive_mw = 0
        self._seed = 12345
        self._t0 = time.ticks_ms()
        self._wall_ms = 0
        self._last_physics_ms = 0
        self.max_true_c = self.true_c

    # ------------------------------------------------------------------ time

    def now_ms(self):
        """Device milliseconds since boot (time scale applied)."""
        now = time.ticks_ms()
        self._wall_ms += time.ticks_diff(now, self._t0)
        self._t0 = now
        return int(self._wall_ms * self.time_scale)

    def wall_now_ms(self):
        """Wall milliseconds since boot (for the pairing window: a person's time)."""
        self.now_ms()
        return self._wall_ms

    def wall_ms(self, device_ms):
        return max(1, int(device_ms / self.time_scale))

    # ------------------------------------------------------------------ inputs

    def _noise(self):
        self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
        return (self._seed / 0x7FFFFFFF * 2 - 1) * SENSOR_NOISE_C

    def read_temperature_c(self):
        """The firmware's own sensor: None when it gives no valid reading."""
        if self.sensor_open:
            return None
        if self.sensor_stuck_c is not None:
            return self.sensor_stuck_c
        return round(self.true_c + self._noise(), 2)

    def cutout_temperature_c(self):
        """The independent cut-out input: the true pad temperature (the thermal fuse)."""
        return self.true_c

    def skin_contact(self):
        return self.contact

    def battery_pct(self):
        return self.battery

    def rejects_commands(self):
        return self.nack

    # ------------------------------------------------------------------ outputs

    def set_output(self, mode, drive_mw):
        self._mode = mode
        self._drive_mw = drive_mw

    def cut_supply(self):
        """The thermal fuse opens: a stuck output stage loses its supply."""
        self.stuck_on = False
        self.stuck_cold = False

    def feed_watchdog(self):
        pass

    def pairing_button_held(self):
        return False

    # ------------------------------------------------------------------ world

    def poll(self, now_ms, first_start_ms):
        """Integrate the physics up to ``now_ms`` and apply due faults; returns the events
        the firmware acts on (``"link-drop"``, ``"reboot"``)."""
        events = []
        while self._last_physics_ms < now_ms:
            step_ms = min(int(PHYSICS_STEP_S * 1000), now_ms - self._last_physics_ms)
            self._last_physics_ms += step_ms
            self._step(step_ms / 1000)
        if first_start_ms is not None:
            while self._scheduled and first_start_ms + self._scheduled[0][1] <= now_ms:
                self._apply(self._scheduled.pop(0)[0], events)
        if self._control is not None:
            while True:
                line = self._control.readline()
                if not line:
                    break
                line = line.strip()
                if line.startswith("battery="):
                    self.battery = float(line[len("battery=") :])
                elif line.startswith("temperature="):  # the world: a pad warmed or cooled
                    self.true_c = float(line[len("temperature=") :])
                elif line in FAULTS:
                    self._apply(line, events)
                elif line == "repair":
                    self._repair()
                elif line == "pairing" or line.startswith("pairing="):
                    events.append(line)  # the button held: the firmware opens its window
        return events

    def _step(self, dt_s):
        p = self.physics
        heat_w, draw_w = p.heat_w(self._mode, self._drive_mw, self.stuck_on, self.stuck_cold)
        t = self.true_c
        k_skin = p.k_skin_w_per_k if self.contact else 0.0
        flow_w = heat_w - p.k_room_w_per_k * (t - ROOM_C) - k_skin * (t - BODY_C)
        self.true_c = t + flow_w * dt_s / p.heat_capacity_j_per_k
        self.max_true_c = max(self.max_true_c, self.true_c)
        used = (draw_w + 0.05) / (p.capacity_wh * 3600) * 100
        self.battery = max(0.0, self.battery - dt_s * (self._drain_pct_s + used))

    def _apply(self, fault, events):
        self.log(event="fault", fault=fault)
        if fault == "overheat":
            self.stuck_on = True
        elif fault == "overcool":
            self.stuck_cold = True
        elif fault == "sensor-open":
            self.sensor_open = True
        elif fault == "sensor-stuck":
            self.sensor_stuck_c = round(self.true_c, 2)
        elif fault == "contact-lost":
            self.contact = False
        elif fault == "battery-drain":
            self._drain_pct_s = 1.0  # a failing cell: 1 % per device second
        elif fault == "nack":
            self.nack = True
        else:
            events.append(fault)  # link-drop, reboot: the firmware acts on them

    def _repair(self):
        self.log(event="repair")
        self.contact = True
        self.stuck_on = self.stuck_cold = self.sensor_open = self.nack = False
        self.sensor_stuck_c = None
        self._drain_pct_s = 0.0

    def reboot(self):
        """A watchdog reset: the world keeps its temperature and charge; the host starts
        the firmware again."""
        self._save()
        self.log(event="reboot", down_s=BOOT_S)
        sys.exit(REBOOT_EXIT_CODE)

    def _save(self):
        if self._state_path:
            with open(self._state_path, "w") as f:
                f.write(json.dumps({"true_c": self.true_c, "battery": self.battery}))

    def _restore(self):
        if not self._state_path:
            return
        try:
            with open(self._state_path) as f:
                state = json.loads(f.read())
        except (OSError, ValueError):
            return
        self.true_c = state.get("true_c", self.true_c)
        self.battery = state.get("battery", self.battery)

    # ------------------------------------------------------------------ log

    def log(self, **fields):
        """One JSON line on stdout, as ``sim serve --json`` logs its devices."""
        fields["t_s"] = self.now_ms() / 1000
        fields["device"] = self.name
        fields["true_c"] = round(self.true_c, 2)
        print(json.dumps(fields))

    def log_state(self, state, output_on, stop_cause, faults):
        self.log(
            event="state", state=state, output_on=output_on, stop_cause=stop_cause, faults=faults
        )


def _parse_faults(text):
    """``overheat@30,link-drop@5`` -> [(fault, at_ms)], earliest first."""
    faults = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, _, at = item.partition("@")
        if name not in FAULTS:
            raise ValueError("unknown fault " + name)
        faults.append((name, int(float(at) * 1000)))
    faults.sort(key=lambda f: f[1])
    return faults
