"""The ESP32 board: the heater (or LED strip) MOSFET on PWM, an NTC thermistor on the ADC,
the pairing button, the supply cut-out and a hardware watchdog.

Wiring (docs/diy.md): 5 V USB pad or 660/850 nm LED strip switched low-side by a
logic-level MOSFET on ``OUTPUT_PIN``; a second MOSFET (or relay) on ``SUPPLY_PIN`` in series,
opened by the cut-out; a 10 k NTC (B = 3950) from 3.3 V to ``NTC_PIN`` with a 10 k resistor
to ground; the BOOT button on ``BUTTON_PIN``; a thermal fuse in series with the pad, which
needs no software at all. Pin numbers and the kind come from device_config.py.
"""

import math
import time

import machine

PWM_FREQ_HZ = 1000
ADC_MAX = 65535
NTC_R25_OHM = 10000.0
NTC_BETA_K = 3950.0
NTC_SERIES_OHM = 10000.0
KELVIN = 273.15
SENSOR_MIN_C = -20.0  # readings outside this range are a broken or shorted sensor
SENSOR_MAX_C = 90.0
BUTTON_HOLD_MS = 3000  # hold to open the pairing window (docs/protocol.md)
WATCHDOG_MS = 4000


def ntc_celsius(adc_fraction, r25=NTC_R25_OHM, beta=NTC_BETA_K, series=NTC_SERIES_OHM):
    """The NTC's temperature from the divider's output (0..1 of the supply), beta model;
    None for an open or shorted sensor."""
    if adc_fraction <= 0.001 or adc_fraction >= 0.999:
        return None  # open (no current) or shorted: no valid reading
    resistance = series * (1.0 - adc_fraction) / adc_fraction
    celsius = 1.0 / (1.0 / (25.0 + KELVIN) + math.log(resistance / r25) / beta) - KELVIN
    if not SENSOR_MIN_C <= celsius <= SENSOR_MAX_C:
        return None
    return round(celsius, 2)


class Esp32Board:
    """The real board (see the module docstring); ``config`` is device_config."""

    def __init__(self, config):
        self.kind_name = config.KIND
        self.name = config.NAME
        self.serial = config.SERIAL
        self.time_scale = 1.0
        self.require_bond = getattr(config, "REQUIRE_BOND", True)
        self.pairing_window_s = getattr(config, "PAIRING_WINDOW_S", 0)
        self.bond_path = "bonds.json"  # on the board's flash: bonds survive a power cycle
        self.max_drive_mw = config.MAX_DRIVE_MW
        self.emitting_area_cm2 = getattr(config, "EMITTING_AREA_CM2", 0)  # measure yours
        self._supply = machine.Pin(config.SUPPLY_PIN, machine.Pin.OUT, value=0)
        self._pwm = machine.PWM(machine.Pin(config.OUTPUT_PIN), freq=PWM_FREQ_HZ, duty_u16=0)
        self._adc = machine.ADC(machine.Pin(config.NTC_PIN))
        self._adc.atten(machine.ADC.ATTN_11DB)
        self._button = machine.Pin(config.BUTTON_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self._contact = (
            machine.Pin(config.CONTACT_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
            if getattr(config, "CONTACT_PIN", None) is not None
            else None
        )
        self._battery_adc = (
            machine.ADC(machine.Pin(config.BATTERY_PIN))
            if getattr(config, "BATTERY_PIN", None) is not None
            else None
        )
        self._wdt = machine.WDT(timeout=WATCHDOG_MS)
        self._t0 = time.ticks_ms()
        self._ms = 0
        self._pressed_since = None

    # ------------------------------------------------------------------ time

    def now_ms(self):
        now = time.ticks_ms()
        self._ms += time.ticks_diff(now, self._t0)  # ticks wrap; the sum does not
        self._t0 = now
        return self._ms

    def wall_now_ms(self):
        return self.now_ms()

    def wall_ms(self, device_ms):
        return max(1, int(device_ms))

    # ------------------------------------------------------------------ inputs

    def read_temperature_c(self):
        samples = [self._adc.read_u16() for _ in range(8)]
        samples.sort()
        return ntc_celsius(sum(samples[2:6]) / 4 / ADC_MAX)  # the middle four

    def cutout_temperature_c(self):
        # The same sensor; the thermal fuse is the independent layer in hardware.
        return self.read_temperature_c()

    def skin_contact(self):
        return self._contact is None or self._contact.value() == 0

    def battery_pct(self):
        if self._battery_adc is None:
            return 100.0  # USB powered
        volts = self._battery_adc.read_uv() * 2 / 1e6  # a 1:1 divider
        return max(0.0, min(100.0, (volts - 3.3) / (4.2 - 3.3) * 100))

    def rejects_commands(self):
        return False

    # ------------------------------------------------------------------ outputs

    def set_output(self, mode, drive_mw):
        if not drive_mw:
            self._pwm.duty_u16(0)
            self._supply.value(0)
            return
        self._supply.value(1)
        duty = min(ADC_MAX, int(drive_mw * ADC_MAX // self.max_drive_mw))
        self._pwm.duty_u16(duty)

    def cut_supply(self):
        """The cut-out: both MOSFETs off (the rules keep them off until the fault clears)."""
        self._pwm.duty_u16(0)
        self._supply.value(0)

    def feed_watchdog(self):
        self._wdt.feed()

    def pairing_button_held(self):
        if self._button.value():
            self._pressed_since = None
            return False
        now = time.ticks_ms()
        if self._pressed_since is None:
            self._pressed_since = now
        return time.ticks_diff(now, self._pressed_since) >= BUTTON_HOLD_MS

    # ------------------------------------------------------------------ world

    def poll(self, now_ms, first_start_ms):
        return []

    def reboot(self):
        machine.reset()

    def log(self, **fields):
        pass

    def log_state(self, state, output_on, stop_cause, faults):
        print("state", state, "output", output_on, "cause", stop_cause, "faults", faults)
