"""What each kind of device is: its Feature values (the same numbers as simulator/).

``spec_for("heat-pad")``, ``spec_for("light-belt-800")``: the kind comes from the device's
configuration (device_config.py on a board, argv/environment on the unix port).
"""

from wire import (
    KIND_HEAT_PAD,
    KIND_LIGHT_BELT,
    KIND_THERMAL_PAD,
    MODE_COLD,
    MODE_HEAT,
    MODE_LIGHT,
)

LEASE_MIN_MS = 1000
LEASE_MAX_MS = 60000
DEFAULT_LEASE_MS = 10000  # the lease after power-on (docs/protocol.md)
STATUS_INTERVAL_MS = 1000

# Pads. Guidance: heat at low or moderate temperature for up to 20 min; the device allows
# setpoints to 45 C and cuts out at 47 C, above the controller's cap.
HEAT_MIN_C = 30.0
HEAT_MAX_C = 45.0
COLD_MIN_C = 8.0
COLD_MAX_C = 20.0
PAD_CUTOUT_HIGH_C = 47.0
PAD_CUTOUT_LOW_C = 4.0
PAD_MAX_SESSION_S = 1800
HEATER_MAX_MW = 15000
COOLER_MAX_MW = 30000

# Belts: common models emit 420, 800 or 1000 mW (guidance); about 30 min a day.
BELT_POWERS_MW = (420, 800, 1000)
BELT_CUTOUT_HIGH_C = 45.0
BELT_MAX_SESSION_S = 3600
BELT_LEVEL_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
# Each simulated belt model's emitting area, cm2 (sent in Feature, for J/cm2): the
# simulator's documented numbers (simulator/belt.py), not a vendor's - 15 x 10, 20 x 10 and
# 30 x 10 cm. A real board sends its own (device_config.EMITTING_AREA_CM2; 0: unknown).
BELT_AREAS_CM2 = {420: 150.0, 800: 200.0, 1000: 300.0}
EMITTING_AREA_MAX_CM2 = 2000.0  # the protocol's largest (docs/protocol.md)

# (No starred expression in a tuple display: MicroPython's compiler rejects it.)
KINDS = ("heat-pad", "thermal-pad") + tuple(f"light-belt-{mw}" for mw in BELT_POWERS_MW)  # noqa: RUF005


class Spec:
    """A device's Feature values; ``levels`` are (mode, optical power mW, setpoint C)."""

    def __init__(self, name, kind, modes, levels, **values):
        self.kind_name = name
        self.kind = kind
        self.modes = modes
        self.levels = levels
        self.heat_min_c = values.get("heat_min_c")
        self.heat_max_c = values.get("heat_max_c")
        self.cold_min_c = values.get("cold_min_c")
        self.cold_max_c = values.get("cold_max_c")
        self.cutout_high_c = values.get("cutout_high_c")
        self.cutout_low_c = values.get("cutout_low_c")
        self.max_session_s = values["max_session_s"]
        self.max_power_mw = values["max_power_mw"]
        self.status_interval_ms = STATUS_INTERVAL_MS
        self.lease_min_ms = LEASE_MIN_MS
        self.lease_max_ms = LEASE_MAX_MS
        self.time_scale = 1.0
        self.emitting_area_cm2 = None  # the light emitter's area, cm2 (None: not sent)

    def levels_for(self, mode):
        return [level for level in self.levels if level[0] == mode]

    def supports(self, mode):
        if mode == MODE_HEAT and self.heat_max_c is not None:
            return True
        if mode == MODE_COLD and self.cold_min_c is not None:
            return True
        return any(level[0] == mode for level in self.levels)


def spec_for(kind_name, time_scale=1.0, emitting_area_cm2=None):
    """The Spec of a kind name; ValueError for an unknown one. A belt's emitting area is
    ``emitting_area_cm2`` (0: unknown, not sent), else its model's documented one; a pad
    has none. ValueError for an area outside 0..2000 cm2."""
    if kind_name in ("heat-pad", "thermal-pad"):
        thermal = kind_name == "thermal-pad"
        levels = [(MODE_HEAT, 0, c) for c in (37.0, 39.0, 41.0, 43.0)]
        if thermal:
            levels += [(MODE_COLD, 0, c) for c in (18.0, 15.0, 12.0)]
        spec = Spec(
            kind_name,
            KIND_THERMAL_PAD if thermal else KIND_HEAT_PAD,
            0x03 if thermal else 0x01,
            levels,
            heat_min_c=HEAT_MIN_C,
            heat_max_c=HEAT_MAX_C,
            cold_min_c=COLD_MIN_C if thermal else None,
            cold_max_c=COLD_MAX_C if thermal else None,
            cutout_high_c=PAD_CUTOUT_HIGH_C,
            cutout_low_c=PAD_CUTOUT_LOW_C if thermal else None,
            max_session_s=PAD_MAX_SESSION_S,
            max_power_mw=COOLER_MAX_MW if thermal else HEATER_MAX_MW,
        )
    elif kind_name.startswith("light-belt-") and kind_name in KINDS:
        max_mw = int(kind_name[len("light-belt-") :])
        spec = Spec(
            kind_name,
            KIND_LIGHT_BELT,
            0x04,
            [(MODE_LIGHT, round(max_mw * f), None) for f in BELT_LEVEL_FRACTIONS],
            cutout_high_c=BELT_CUTOUT_HIGH_C,
            max_session_s=BELT_MAX_SESSION_S,
            max_power_mw=max_mw,
        )
        if emitting_area_cm2 is None:
            emitting_area_cm2 = BELT_AREAS_CM2.get(max_mw, 0)
        # (not "0 <= x <= max": a NaN must fail too)
        if not (emitting_area_cm2 >= 0 and emitting_area_cm2 <= EMITTING_AREA_MAX_CM2):
            raise ValueError("EMITTING_AREA_CM2 must be 0 (unknown) to 2000 cm2")
        spec.emitting_area_cm2 = float(emitting_area_cm2) or None
    else:
        raise ValueError("unknown device kind " + kind_name)
    spec.time_scale = time_scale
    # The Status period in device time: one a second, or as often as a 5 ms loop allows.
    spec.status_interval_ms = min(0xFFFF, round(max(1000, 5 * time_scale)))
    return spec
