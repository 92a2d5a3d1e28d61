"""The firmware rules every simulated device shares, as a pure state machine.

Nothing here reads a clock or does I/O: the GATT layer passes simulated time in
(``advance(now_s)``, ``handle_request(data, now_s)``) and acts on the events returned.
Kind modules (``pad``, ``belt``) supply the physics and the kind's own rules.

What a real device does and this reproduces:
- its own session timer: output stops at the end even if the controller is gone;
- a lease: output stops when the controller does not renew it in time;
- a hard over/under-temperature cut-out acting on the true temperature (an independent
  thermal fuse, not the firmware's sensor), latched until STOP once back in range;
- parameter checks answered with control-point result codes;
- light output only with skin contact; a critical battery stops the output.
"""

from __future__ import annotations

import abc
import enum
import math
import random
from dataclasses import dataclass, field

from protocols import (
    Fault,
    Feature,
    LeaseConfig,
    Mode,
    Pause,
    ProtocolError,
    RenewLease,
    Request,
    Response,
    ResultCode,
    Resume,
    SetTarget,
    Start,
    State,
    Status,
    StatusFlag,
    Stop,
    StopCause,
    UnsupportedOpcodeError,
    decode_request,
)

PHYSICS_STEP_S = 0.5  # the largest integration step of the physics, in simulated seconds
DEFAULT_LEASE_MS = 10_000
LEASE_MIN_MS = 1_000
LEASE_MAX_MS = 60_000
BATTERY_CRITICAL_PCT = 3.0  # the firmware stops its output at or below this charge
CUTOUT_RESET_MARGIN_C = 3.0  # a tripped cut-out resets this far back inside its limit
SENSOR_NOISE_C = 0.03  # peak sensor noise; a real reading is never perfectly flat
LINK_DOWN_S = 5.0  # how long a dropped link stays silent before advertising again
BOOT_S = 2.0  # how long a reboot takes before the device advertises again
SENSOR_SPIKE_C = 2000.0  # the sensor-spike fault's one wild reading (an ADC glitch)
SENSOR_SPIKE_S = 1.0  # ... lasts this long (or 1.5 Status periods), then reads normally
STATUS_GARBAGE_S = 3.0  # how long the status-garbage fault sends malformed notifications


_NO_FAULT = Fault(0)


class FaultKind(enum.StrEnum):
    OVERHEAT = "overheat"  # heater (or emitter) stuck on
    OVERCOOL = "overcool"  # cooler stuck on (thermal pad)
    SENSOR_STUCK = "sensor-stuck"
    SENSOR_OPEN = "sensor-open"
    LINK_DROP = "link-drop"
    BATTERY_DRAIN = "battery-drain"
    CONTACT_LOST = "contact-lost"
    NACK = "nack"
    REBOOT = "reboot"
    SENSOR_SPIKE = "sensor-spike"  # one wild reading for SENSOR_SPIKE_S, then normal again
    STATUS_GARBAGE = "status-garbage"  # malformed Status notifications for STATUS_GARBAGE_S


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault that fires ``at_s`` simulated seconds after the device's first session start."""

    kind: FaultKind
    at_s: float


@dataclass(frozen=True, slots=True)
class LinkDrop:
    """Event: the radio link drops and the device stays silent for ``down_s``."""

    down_s: float


@dataclass(frozen=True, slots=True)
class Rebooted:
    """Event: the firmware restarted; links drop and advertising resumes after ``down_s``."""

    down_s: float


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Event: state, output or stop cause changed (for logs and the simulator's own tests)."""

    state: State
    output_on: bool
    stop_cause: StopCause
    faults: Fault


FirmwareEvent = LinkDrop | Rebooted | StateChanged


class Physics(abc.ABC):
    """The physical side of one device: what the firmware drives and what sensors read."""

    true_temperature_c: float
    skin_contact: bool = True
    stuck_on: bool = False  # the overheat fault: the output stage ignores the firmware
    stuck_cold: bool = False  # the overcool fault: the cooler ignores the firmware

    @abc.abstractmethod
    def step(self, dt_s: float, mode: Mode, power_mw: int) -> float:
        """Advance ``dt_s`` with the firmware commanding ``power_mw`` in ``mode``.

        Returns the electrical power drawn, in W, for the battery.
        """


@dataclass(slots=True)
class Session:
    mode: Mode
    level: int
    setpoint_c: float | None
    power_mw: int  # the level's optical power (light); 0 for pads
    duration_s: int
    elapsed_s: float = 0.0


@dataclass(slots=True)
class _Sensor:
    rng: random.Random
    stuck_value: float | None = None
    stuck: bool = False
    open: bool = False
    spike_until_s: float = -math.inf  # the sensor-spike fault reads SENSOR_SPIKE_C until then

    def read(self, true_c: float, now_s: float) -> float | None:
        if self.open:
            return None
        if now_s < self.spike_until_s:
            return SENSOR_SPIKE_C
        if self.stuck:
            if self.stuck_value is None:
                self.stuck_value = round(true_c, 2)
            return self.stuck_value
        return round(true_c + self.rng.uniform(-SENSOR_NOISE_C, SENSOR_NOISE_C), 2)


@dataclass(slots=True)
class _Pending:
    faults: list[ScheduledFault] = field(default_factory=list)


class Firmware(abc.ABC):
    """Firmware of one simulated device. Subclasses give the Feature and the output rule."""

    battery_capacity_wh: float = 20.0
    idle_draw_w: float = 0.05

    def __init__(
        self,
        feature: Feature,
        physics: Physics,
        *,
        now_s: float,
        faults: tuple[ScheduledFault, ...] = (),
        seed: int = 0,
        battery_pct: float = 100.0,
    ) -> None:
        self.feature = feature
        self.physics = physics
        self._sensor = _Sensor(random.Random(seed))
        self._pending = sorted(faults, key=lambda f: f.at_s)
        self._first_start_s: float | None = None
        self.active_faults: set[FaultKind] = set()
        self.battery_pct = battery_pct
        self._battery_drain_pct_s = 0.0
        self._garbage_rng = random.Random(seed + 1)
        self._garbage_until_s = -math.inf
        self._last_s = now_s
        self._events: list[FirmwareEvent] = []
        self._boot(now_s)

    # ------------------------------------------------------------------ state

    def _boot(self, now_s: float) -> None:
        self.state = State.IDLE
        self.session: Session | None = None
        self.stop_cause = StopCause.POWER_ON
        self.faults = Fault(0)
        self.seq = 0
        self.lease_ms = DEFAULT_LEASE_MS
        self._lease_deadline_s = now_s + DEFAULT_LEASE_MS / 1000
        self._drive_mw = 0
        self._last_reported: tuple[State, bool, StopCause, Fault] | None = None

    @property
    def output_on(self) -> bool:
        return self.state == State.RUNNING

    @property
    def temperature_c(self) -> float | None:
        """What the device's own sensor reads now (None: no valid reading)."""
        return self._sensor.read(self.physics.true_temperature_c, self._last_s)

    @property
    def drive_mw(self) -> int:
        """The power the firmware commands now: heater/cooler drive or optical output."""
        return self._drive_mw if self.output_on else 0

    def status(self) -> Status:
        """The next Status notification (each call takes a new sequence number)."""
        self.seq = (self.seq + 1) & 0xFFFF
        session = self.session
        flags = StatusFlag(0)
        if self.output_on:
            flags |= StatusFlag.OUTPUT_ON
        if self.physics.skin_contact:
            flags |= StatusFlag.SKIN_CONTACT
        if self._last_s <= self._lease_deadline_s:
            flags |= StatusFlag.LEASE_ACTIVE
        elapsed = int(session.elapsed_s) if session else 0
        remaining = max(0, math.ceil(session.duration_s - session.elapsed_s)) if session else 0
        return Status(
            seq=self.seq,
            state=self.state,
            mode=session.mode if session else Mode.NONE,
            level=session.level if session else 0,
            setpoint_c=session.setpoint_c if session else None,
            temperature_c=self.temperature_c,
            power_mw=min(self.drive_mw, 0xFFFF),
            flags=flags,
            elapsed_s=min(elapsed, 0xFFFF),
            remaining_s=min(remaining, 0xFFFF),
            faults=self.faults,
            stop_cause=self.stop_cause,
            battery_pct=max(0, min(100, math.ceil(self.battery_pct))),
        )

    def status_notification(self, status: Status) -> bytes:
        """The bytes notified for ``status``: its encoding or, while the status-garbage fault
        lasts, random bytes of a wrong length (a corrupted buffer; reads stay valid)."""
        encoded = status.encode()
        if self._last_s >= self._garbage_until_s:
            return encoded
        rng = self._garbage_rng
        length = rng.choice([n for n in range(1, 2 * len(encoded) + 1) if n != len(encoded)])
        return rng.randbytes(length)

    # ------------------------------------------------------------------ commands

    def handle_request(self, data: bytes, now_s: float) -> Response:
        """Process one control-point write and return the indication to send."""
        self._run_until(now_s)
        try:
            request = decode_request(data)
        except UnsupportedOpcodeError as exc:
            return Response(exc.opcode, ResultCode.OPCODE_NOT_SUPPORTED)
        except ProtocolError:
            return Response(data[0] if data else 0, ResultCode.INVALID_PARAMETER)
        if FaultKind.NACK in self.active_faults:
            return Response(request.OPCODE, ResultCode.OPERATION_FAILED)
        result = self._dispatch(request, now_s)
        if result == ResultCode.SUCCESS:
            self._lease_deadline_s = now_s + self.lease_ms / 1000
        self._note_change()
        return Response(request.OPCODE, result)

    def set_lease(self, config: LeaseConfig, now_s: float) -> ResultCode:
        """Write of the Lease characteristic: set the lease time and renew it."""
        self._run_until(now_s)
        if FaultKind.NACK in self.active_faults:
            return ResultCode.OPERATION_FAILED
        if not self.feature.lease_min_ms <= config.lease_ms <= self.feature.lease_max_ms:
            return ResultCode.INVALID_PARAMETER
        self.lease_ms = config.lease_ms
        self._lease_deadline_s = now_s + config.lease_ms / 1000
        return ResultCode.SUCCESS

    def _dispatch(self, request: Request, now_s: float) -> ResultCode:
        match request:
            case Start():
                return self._start(request, now_s)
            case Stop():
                if self.state in (State.RUNNING, State.PAUSED):
                    self._end(StopCause.STOP_COMMAND)
                elif self.state == State.FAULT and self._cutout_cleared():
                    self.state = State.IDLE
                return ResultCode.SUCCESS  # a stop always succeeds: output is off after it
            case Pause():
                if self.state != State.RUNNING:
                    return ResultCode.NOT_PERMITTED
                self.state = State.PAUSED
                return ResultCode.SUCCESS
            case Resume():
                if self.state != State.PAUSED:
                    return ResultCode.NOT_PERMITTED
                assert self.session is not None
                refusal = self._refuse_output(self.session.mode)
                if refusal is not None:
                    return refusal
                self.state = State.RUNNING
                return ResultCode.SUCCESS
            case SetTarget():
                if self.state not in (State.RUNNING, State.PAUSED) or self.session is None:
                    return ResultCode.NOT_PERMITTED
                target = self._resolve_target(self.session.mode, request.level, request.setpoint_c)
                if target is None:
                    return ResultCode.INVALID_PARAMETER
                self.session.level, self.session.setpoint_c, self.session.power_mw = target
                return ResultCode.SUCCESS
            case RenewLease():
                return ResultCode.SUCCESS
        return ResultCode.OPCODE_NOT_SUPPORTED  # pragma: no cover - Request is closed

    def _start(self, request: Start, now_s: float) -> ResultCode:
        if self.state != State.IDLE:
            return ResultCode.NOT_PERMITTED
        if request.mode == Mode.NONE or not self.supports(request.mode):
            return ResultCode.INVALID_PARAMETER
        if not 1 <= request.duration_s <= self.feature.max_session_s:
            return ResultCode.INVALID_PARAMETER
        target = self._resolve_target(request.mode, request.level, request.setpoint_c)
        if target is None:
            return ResultCode.INVALID_PARAMETER
        refusal = self._refuse_output(request.mode)
        if refusal is not None:
            return refusal
        level, setpoint_c, power_mw = target
        self.session = Session(request.mode, level, setpoint_c, power_mw, request.duration_s)
        self.state = State.RUNNING
        self.stop_cause = StopCause.NONE
        self.faults = Fault(0)
        self._on_start()
        self._drive_mw = self._control(self.session, 0.0)
        if self._first_start_s is None:
            self._first_start_s = now_s
        return ResultCode.SUCCESS

    def supports(self, mode: Mode) -> bool:
        return (
            any(level.mode == mode for level in self.feature.levels)
            or (mode == Mode.HEAT and self.feature.heat_max_c is not None)
            or (mode == Mode.COLD and self.feature.cold_min_c is not None)
        )

    def _resolve_target(
        self, mode: Mode, level: int, setpoint_c: float | None
    ) -> tuple[int, float | None, int] | None:
        """(level, setpoint, optical power) for a request, or None if out of range."""
        levels = self.feature.levels_for(mode)
        if level:
            if level > len(levels):
                return None
            chosen = levels[level - 1]
            return level, chosen.setpoint_c, chosen.power_mw
        if mode == Mode.HEAT:
            low, high = self.feature.heat_min_c, self.feature.heat_max_c
        elif mode == Mode.COLD:
            low, high = self.feature.cold_min_c, self.feature.cold_max_c
        else:
            return None  # light needs a level
        if setpoint_c is None or low is None or high is None or not low <= setpoint_c <= high:
            return None
        return 0, setpoint_c, 0

    def _refuse_output(self, mode: Mode) -> ResultCode | None:
        """Why output may not go on now, as a result code; None if it may."""
        if self.battery_pct <= BATTERY_CRITICAL_PCT:
            return ResultCode.NOT_PERMITTED
        if self._sensor.open:
            return ResultCode.OPERATION_FAILED
        if mode == Mode.LIGHT and not self.physics.skin_contact:
            return ResultCode.NOT_PERMITTED
        return None

    def _end(self, cause: StopCause, fault: Fault = _NO_FAULT) -> None:
        self.state = State.FAULT if fault & _LATCHING else State.IDLE
        self.stop_cause = cause
        self.faults |= fault
        self._drive_mw = 0

    def _cutout_cleared(self) -> bool:
        t = self.physics.true_temperature_c
        high, low = self.feature.cutout_high_c, self.feature.cutout_low_c
        if high is not None and t > high - CUTOUT_RESET_MARGIN_C:
            return False
        return not (low is not None and t < low + CUTOUT_RESET_MARGIN_C)

    # ------------------------------------------------------------------ time

    def advance(self, now_s: float) -> list[FirmwareEvent]:
        """Run physics and firmware up to ``now_s``; return the events since the last call."""
        self._run_until(now_s)
        events, self._events = self._events, []
        return events

    def _run_until(self, now_s: float) -> None:
        while self._last_s < now_s:
            dt = min(PHYSICS_STEP_S, now_s - self._last_s)
            self._last_s += dt
            self._fire_faults(self._last_s)
            self._tick(dt, self._last_s)

    def _tick(self, dt: float, now_s: float) -> None:
        session = self.session
        if self.output_on and session is not None:
            self._drive_mw = self._control(session, dt)
        else:
            self._drive_mw = 0
        mode = session.mode if session else Mode.NONE
        draw_w = self.physics.step(dt, mode, self.drive_mw)
        self.battery_pct -= dt * (
            self._battery_drain_pct_s
            + (draw_w + self.idle_draw_w) / (self.battery_capacity_wh * 3600) * 100
        )
        self.battery_pct = max(0.0, self.battery_pct)
        if self.state == State.RUNNING and session is not None:
            session.elapsed_s += dt
        self._check_limits(now_s)
        self._note_change()

    def _check_limits(self, now_s: float) -> None:
        t = self.physics.true_temperature_c
        high, low = self.feature.cutout_high_c, self.feature.cutout_low_c
        if high is not None and t >= high and self.state != State.FAULT:
            self.physics.stuck_on = False  # the thermal fuse opens the output's supply
            self.active_faults.discard(FaultKind.OVERHEAT)
            self._end(StopCause.OVER_TEMPERATURE_CUTOUT, Fault.OVER_TEMPERATURE_CUTOUT)
            return
        if low is not None and t <= low and self.state != State.FAULT:
            self.physics.stuck_cold = False
            self.active_faults.discard(FaultKind.OVERCOOL)
            self._end(StopCause.UNDER_TEMPERATURE_CUTOUT, Fault.UNDER_TEMPERATURE_CUTOUT)
            return
        if self.state not in (State.RUNNING, State.PAUSED) or self.session is None:
            return
        if self._sensor.open:
            self._end(StopCause.SENSOR_INVALID, Fault.SENSOR_INVALID)
        elif self.battery_pct <= BATTERY_CRITICAL_PCT:
            self._end(StopCause.BATTERY_CRITICAL, Fault.BATTERY_CRITICAL)
        elif self.session.mode == Mode.LIGHT and not self.physics.skin_contact:
            self._end(StopCause.CONTACT_LOST, Fault.NO_SKIN_CONTACT)
        elif now_s > self._lease_deadline_s:
            self._end(StopCause.LEASE_EXPIRED, Fault.LEASE_EXPIRED)
        elif self.session.elapsed_s >= self.session.duration_s:
            self._end(StopCause.COMPLETED)

    def _fire_faults(self, now_s: float) -> None:
        if self._first_start_s is None:
            return
        while self._pending and self._first_start_s + self._pending[0].at_s <= now_s:
            self._apply_fault(self._pending.pop(0).kind, now_s)

    def _apply_fault(self, kind: FaultKind, now_s: float) -> None:
        self.active_faults.add(kind)
        match kind:
            case FaultKind.OVERHEAT:
                self.physics.stuck_on = True
            case FaultKind.OVERCOOL:
                self.physics.stuck_cold = True
            case FaultKind.SENSOR_STUCK:
                self._sensor.stuck = True
            case FaultKind.SENSOR_OPEN:
                self._sensor.open = True
            case FaultKind.BATTERY_DRAIN:
                self._battery_drain_pct_s = 1.0  # a failing cell: 1 % per second
            case FaultKind.CONTACT_LOST:
                self.physics.skin_contact = False
            case FaultKind.LINK_DROP:
                self.active_faults.discard(kind)
                self._events.append(LinkDrop(LINK_DOWN_S))
            case FaultKind.REBOOT:
                self.active_faults.discard(kind)
                self._boot(now_s)
                self._events.append(Rebooted(BOOT_S))
            case FaultKind.SENSOR_SPIKE:
                self.active_faults.discard(kind)  # transient: the sensor holds the window
                # Long enough for one Status to carry it, at any time scale.
                period_s = 1.5 * self.feature.status_interval_ms / 1000
                self._sensor.spike_until_s = now_s + max(SENSOR_SPIKE_S, period_s)
            case FaultKind.STATUS_GARBAGE:
                self.active_faults.discard(kind)
                self._garbage_until_s = now_s + STATUS_GARBAGE_S
            case FaultKind.NACK:
                pass

    def _note_change(self) -> None:
        key = (self.state, self.output_on, self.stop_cause, self.faults)
        if key != self._last_reported:
            self._last_reported = key
            self._events.append(StateChanged(*key))

    # ------------------------------------------------------------------ kind rules

    @abc.abstractmethod
    def _control(self, session: Session, dt_s: float) -> int:
        """The drive (mW) the firmware commands this step while output is on."""

    def _on_start(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Reset kind-specific controller state at a session start."""


_LATCHING = Fault.OVER_TEMPERATURE_CUTOUT | Fault.UNDER_TEMPERATURE_CUTOUT
