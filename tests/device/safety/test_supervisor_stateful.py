"""Hypothesis state machine: output on => running, reading fresh and valid, every limit held,
the temperature inside [floor, ceiling] whatever the mode, and no runaway.

The machine plays a device that keeps its output on until a stop reaches it, feeding the
supervisor arbitrary readings, batteries, contact and silences. After every step, either
the supervisor has asked for the output to go off, or every condition holds.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from device.safety import DEFAULT_LIMITS, AskAttended, Phase, SessionRequest, StopOutput, Supervisor
from protocols import Mode
from tests.device.helpers import BELT_800, THERMAL_PAD, status

LIMITS = DEFAULT_LIMITS.tightened(heat_dose_cem43_min=5.0)


class SupervisedDevice(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.device_on = False
        self.stop_asked = False
        self.temperature: float | None = 35.0
        self.battery = 90
        self.contact = True
        self.last_status_at = 0.0
        self.supervisor: Supervisor

    MODE = Mode.HEAT

    @initialize()
    def begin(self) -> None:
        self.start(self.MODE)

    def start(self, mode: Mode) -> None:
        feature = BELT_800 if mode == Mode.LIGHT else THERMAL_PAD
        request = SessionRequest(
            mode,
            1200,
            setpoint_c=None if mode == Mode.LIGHT else 40.0 if mode == Mode.HEAT else 15.0,
            level=2 if mode == Mode.LIGHT else 0,
        )
        self.mode = mode
        self.supervisor = Supervisor(LIMITS, feature)
        assert self.supervisor.plan(request, self.battery).start is not None
        self.supervisor.started(self.now)
        # Start near the limits, where the interesting cases are.
        self.temperature = {Mode.HEAT: 42.6, Mode.COLD: 10.4, Mode.LIGHT: 40.6}[mode]
        self.device_on = True
        self.on_from: float | None = None  # the first trusted reading with output on

    def _handle(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, StopOutput):
                self.supervisor.stopping(action.reason, action.detail)
                self.stop_asked = True

    def _send(self) -> None:
        reading = status(
            mode=self.mode,
            temperature_c=self.temperature,
            battery_pct=self.battery,
            output_on=self.device_on,
            contact=self.contact,
            power_mw=400 if self.mode == Mode.LIGHT else 9000,
        )
        self.last_status_at = self.now
        self.reported = reading
        self._handle(self.supervisor.on_status(reading, self.now))
        t = self.temperature
        limits = self.supervisor.limits
        fresh = self.on_from is None and self.device_on and not self.stop_asked
        if fresh and t is not None and limits.sensor_min_c <= t <= limits.sensor_max_c:
            self.on_from = t

    @rule(dt=st.sampled_from([1.0, 1.5, 2.0]), drift=st.sampled_from([-0.3, -0.1, 0.0, 0.1, 0.3]))
    def status_drifting(self, dt: float, drift: float) -> None:
        """A plausible next reading a moment later."""
        self.now += dt
        if self.temperature is not None:
            self.temperature = round(self.temperature + drift, 2)
        self._send()

    @rule(dt=st.floats(0.1, 5.0), reading=st.none() | st.floats(-20, 80).map(lambda t: round(t, 2)))
    def status_jumping(self, dt: float, reading: float | None) -> None:
        """Any reading at all, including none."""
        self.now += dt
        self.temperature = reading
        self._send()

    @rule(battery=st.integers(0, 100), contact=st.booleans())
    def device_changes(self, battery: int, contact: bool) -> None:
        self.battery = battery
        self.contact = contact

    @rule(dt=st.floats(0.1, 120.0))
    def time_passes(self, dt: float) -> None:
        """Time passes with no Status; the supervisor's timer runs when due."""
        target = self.now + dt
        while True:
            deadline = self.supervisor.next_deadline()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            actions = self.supervisor.on_timer(self.now)
            self._handle(actions)
            if self.stop_asked or not any(isinstance(a, AskAttended) for a in actions):
                break
        self.now = target
        self._handle(self.supervisor.on_timer(self.now))

    @rule()
    def user_answers(self) -> None:
        self._handle(self.supervisor.acknowledge(self.now))

    @precondition(lambda self: self.stop_asked)
    @rule()
    def stop_reaches_device(self) -> None:
        self.device_on = False

    @invariant()
    def output_on_means_safe(self) -> None:
        if not self.device_on or self.stop_asked:
            return
        sup = self.supervisor
        limits = sup.limits
        assert sup.phase == Phase.RUNNING
        assert self.now - self.last_status_at <= sup.stale_after_s + 1e-9, "stale reading"
        reported = getattr(self, "reported", None)
        if reported is None:
            return  # no Status yet since the start: only staleness applies
        t = reported.temperature_c
        assert t is not None, "no valid reading"
        assert limits.sensor_min_c <= t <= limits.sensor_max_c
        # The band holds in every mode (a belt has its own, lower ceiling).
        ceiling = limits.heat_ceiling_c
        if self.mode == Mode.LIGHT:
            ceiling = min(ceiling, limits.light_ceiling_c)
        assert limits.cold_floor_c <= t <= ceiling
        if self.mode == Mode.HEAT:
            assert sup.tally.cem43_min < limits.heat_dose_cem43_min
        # No runaway: heat never cools, cold never warms, beyond the margin.
        if self.on_from is not None and self.mode == Mode.HEAT:
            assert t >= min(self.on_from, 40.0) - limits.runaway_margin_c
        if self.on_from is not None and self.mode == Mode.COLD:
            assert t <= max(self.on_from, 15.0) + limits.runaway_margin_c
        # Implausible readings never reach the peak or the dose.
        peak = sup.tally.max_temperature_c
        assert peak is None or peak <= limits.sensor_max_c
        assert reported.battery_pct >= limits.battery_low_pct
        if self.mode == Mode.LIGHT:
            assert reported.skin_contact
        assert sup.tally.running_s <= sup.max_session_s(self.mode) + 2 * sup.status_period_s


class SupervisedCold(SupervisedDevice):
    MODE = Mode.COLD


class SupervisedLight(SupervisedDevice):
    MODE = Mode.LIGHT


_SETTINGS = settings(max_examples=200, stateful_step_count=50, deadline=None, derandomize=True)
TestHeat = SupervisedDevice.TestCase
TestHeat.settings = _SETTINGS
TestCold = SupervisedCold.TestCase
TestCold.settings = _SETTINGS
TestLight = SupervisedLight.TestCase
TestLight.settings = _SETTINGS
