"""The device's own rules: the therapy state machine and its safety layer.

Pure: the board passes readings in, time is passed in (device milliseconds, an int), and
the output is commanded through ``board.set_output``. The same rules as the Python
simulator (simulator/firmware.py) and docs/protocol.md:

- output off at boot (stop cause "power on"); the first 10 s are the power-on lease;
- its own session timer; a lease that stops the output when nobody renews it;
- a hard over/under-temperature cut-out on the independent cut-out input (the board's
  thermal-fuse side), latched until a Stop once 3 C back inside;
- no valid sensor reading stops the output; a critical battery stops it; light only with
  skin contact;
- parameter checks answered with control-point result codes.
"""

import wire
from kinds import COOLER_MAX_MW, DEFAULT_LEASE_MS, HEATER_MAX_MW
from wire import (
    FAULT_BATTERY_CRITICAL,
    FAULT_LEASE_EXPIRED,
    FAULT_NO_SKIN_CONTACT,
    FAULT_OVER_TEMPERATURE,
    FAULT_SENSOR_INVALID,
    FAULT_UNDER_TEMPERATURE,
    FLAG_LEASE_ACTIVE,
    FLAG_OUTPUT_ON,
    FLAG_SKIN_CONTACT,
    MODE_COLD,
    MODE_HEAT,
    MODE_LIGHT,
    MODE_NONE,
    OP_PAUSE,
    OP_RENEW_LEASE,
    OP_RESUME,
    OP_SET_TARGET,
    OP_START,
    OP_STOP,
    RESULT_INVALID_PARAMETER,
    RESULT_NOT_PERMITTED,
    RESULT_OPERATION_FAILED,
    RESULT_SUCCESS,
    STATE_FAULT,
    STATE_IDLE,
    STATE_PAUSED,
    STATE_RUNNING,
    STOP_BATTERY_CRITICAL,
    STOP_COMMAND,
    STOP_COMPLETED,
    STOP_CONTACT_LOST,
    STOP_LEASE_EXPIRED,
    STOP_NONE,
    STOP_OVER_TEMPERATURE,
    STOP_POWER_ON,
    STOP_SENSOR_INVALID,
    STOP_UNDER_TEMPERATURE,
)

BATTERY_CRITICAL_PCT = 3.0  # output stops at or below this charge (docs/protocol.md)
CUTOUT_RESET_MARGIN_C = 3.0  # a tripped cut-out resets this far back inside its limit
_LATCHING = FAULT_OVER_TEMPERATURE | FAULT_UNDER_TEMPERATURE

# The pad's PI thermostat (as simulator/pad.py).
_KP_W_PER_K = 4.0
_KI_W_PER_K_S = 0.02


class Session:
    def __init__(self, mode, level, setpoint_c, power_mw, duration_s):
        self.mode = mode
        self.level = level
        self.setpoint_c = setpoint_c
        self.power_mw = power_mw  # the level's optical power (light); 0 for pads
        self.duration_ms = duration_s * 1000
        self.elapsed_ms = 0


class Therapy:
    """One device's firmware state. ``now_ms`` is device time (time scale applied)."""

    def __init__(self, spec, board, now_ms):
        self.spec = spec
        self.board = board
        self.state = STATE_IDLE  # output off at boot, whatever was on before
        self.session = None
        self.stop_cause = STOP_POWER_ON
        self.faults = 0
        self.seq = 0
        self.lease_ms = DEFAULT_LEASE_MS
        self.lease_deadline_ms = now_ms + DEFAULT_LEASE_MS
        self.drive_mw = 0
        self.reading_c = None
        self.first_start_ms = None
        self._integral_w = 0.0
        self._last_ms = now_ms
        self._reported = None
        board.set_output(MODE_NONE, 0)
        self.reading_c = board.read_temperature_c()

    # ------------------------------------------------------------------ Status

    @property
    def output_on(self):
        return self.state == STATE_RUNNING

    def battery_pct(self):
        pct = self.board.battery_pct()
        whole = int(pct)
        if whole < pct:
            whole += 1  # rounded up, as the simulator reports it
        return max(0, min(100, whole))

    def status(self, now_ms):
        """The next Status (each call takes a new sequence number)."""
        self.seq = (self.seq + 1) & 0xFFFF
        session = self.session
        flags = 0
        if self.output_on:
            flags |= FLAG_OUTPUT_ON
        if self.board.skin_contact():
            flags |= FLAG_SKIN_CONTACT
        if now_ms <= self.lease_deadline_ms:
            flags |= FLAG_LEASE_ACTIVE
        if session is not None:
            elapsed_s = session.elapsed_ms // 1000
            left_ms = session.duration_ms - session.elapsed_ms
            remaining_s = max(0, (left_ms + 999) // 1000)
            mode, level, setpoint_c = session.mode, session.level, session.setpoint_c
        else:
            elapsed_s = remaining_s = 0
            mode, level, setpoint_c = MODE_NONE, 0, None
        return wire.status_bytes(
            self.seq,
            self.state,
            mode,
            level,
            setpoint_c,
            self.reading_c,
            self.drive_mw if self.output_on else 0,
            flags,
            elapsed_s,
            remaining_s,
            self.faults,
            self.stop_cause,
            self.battery_pct(),
        )

    # ------------------------------------------------------------------ commands

    def handle_request(self, data, now_ms):
        """One control-point write: the indication's bytes (80 opcode result)."""
        self.advance(now_ms)
        try:
            request = wire.decode_request(data)
        except wire.WireError as exc:
            return wire.response_bytes(exc.opcode, exc.result)
        opcode = request[0]
        if self.board.rejects_commands():
            return wire.response_bytes(opcode, RESULT_OPERATION_FAILED)
        result = self._dispatch(request, now_ms)
        if result == RESULT_SUCCESS:
            self.lease_deadline_ms = now_ms + self.lease_ms
        self._note_change()
        return wire.response_bytes(opcode, result)

    def set_lease(self, data, now_ms):
        """A Lease write: a result code (INVALID_PARAMETER: out of range or wrong length)."""
        self.advance(now_ms)
        if self.board.rejects_commands():
            return RESULT_OPERATION_FAILED
        try:
            lease_ms = wire.decode_lease(data)
        except ValueError:
            return RESULT_INVALID_PARAMETER
        if not self.spec.lease_min_ms <= lease_ms <= self.spec.lease_max_ms:
            return RESULT_INVALID_PARAMETER
        self.lease_ms = lease_ms
        self.lease_deadline_ms = now_ms + lease_ms
        return RESULT_SUCCESS

    def _dispatch(self, request, now_ms):
        opcode = request[0]
        if opcode == OP_START:
            return self._start(request, now_ms)
        if opcode == OP_STOP:
            if self.state in (STATE_RUNNING, STATE_PAUSED):
                self._end(STOP_COMMAND, 0)
            elif self.state == STATE_FAULT and self._cutout_cleared():
                self.state = STATE_IDLE
            return RESULT_SUCCESS  # a stop always succeeds: output is off after it
        if opcode == OP_PAUSE:
            if self.state != STATE_RUNNING:
                return RESULT_NOT_PERMITTED
            self.state = STATE_PAUSED
            self._apply_output()
            return RESULT_SUCCESS
        if opcode == OP_RESUME:
            if self.state != STATE_PAUSED:
                return RESULT_NOT_PERMITTED
            refusal = self._refuse_output(self.session.mode)
            if refusal:
                return refusal
            self.state = STATE_RUNNING
            return RESULT_SUCCESS
        if opcode == OP_SET_TARGET:
            if self.state not in (STATE_RUNNING, STATE_PAUSED) or self.session is None:
                return RESULT_NOT_PERMITTED
            target = self._resolve_target(self.session.mode, request[1], request[2])
            if target is None:
                return RESULT_INVALID_PARAMETER
            self.session.level, self.session.setpoint_c, self.session.power_mw = target
            return RESULT_SUCCESS
        if opcode == OP_RENEW_LEASE:
            return RESULT_SUCCESS
        return RESULT_INVALID_PARAMETER  # pragma: no cover - decode_request knows them all

    def _start(self, request, now_ms):
        _, mode, level, setpoint_c, duration_s = request
        if self.state != STATE_IDLE:
            return RESULT_NOT_PERMITTED
        if mode == MODE_NONE or not self.spec.supports(mode):
            return RESULT_INVALID_PARAMETER
        if not 1 <= duration_s <= self.spec.max_session_s:
            return RESULT_INVALID_PARAMETER
        target = self._resolve_target(mode, level, setpoint_c)
        if target is None:
            return RESULT_INVALID_PARAMETER
        refusal = self._refuse_output(mode)
        if refusal:
            return refusal
        level, setpoint_c, power_mw = target
        self.session = Session(mode, level, setpoint_c, power_mw, duration_s)
        self.state = STATE_RUNNING
        self.stop_cause = STOP_NONE
        self.faults = 0
        self._integral_w = 0.0
        self.drive_mw = self._control(self.session, 0.0)
        self._apply_output()
        if self.first_start_ms is None:
            self.first_start_ms = now_ms
        return RESULT_SUCCESS

    def _resolve_target(self, mode, level, setpoint_c):
        """(level, setpoint, optical power) for a request, or None if out of range."""
        levels = self.spec.levels_for(mode)
        if level:
            if level > len(levels):
                return None
            chosen = levels[level - 1]
            return level, chosen[2], chosen[1]
        if mode == MODE_HEAT:
            low, high = self.spec.heat_min_c, self.spec.heat_max_c
        elif mode == MODE_COLD:
            low, high = self.spec.cold_min_c, self.spec.cold_max_c
        else:
            return None  # light needs a level
        if setpoint_c is None or low is None or high is None or not low <= setpoint_c <= high:
            return None
        return 0, setpoint_c, 0

    def _refuse_output(self, mode):
        """Why output may not go on now, as a result code; 0 if it may."""
        if self.board.battery_pct() <= BATTERY_CRITICAL_PCT:
            return RESULT_NOT_PERMITTED
        if self.reading_c is None:
            return RESULT_OPERATION_FAILED
        if mode == MODE_LIGHT and not self.board.skin_contact():
            return RESULT_NOT_PERMITTED
        return 0

    def _end(self, cause, fault):
        self.state = STATE_FAULT if fault & _LATCHING else STATE_IDLE
        self.stop_cause = cause
        self.faults |= fault
        self.drive_mw = 0
        self._apply_output()

    def _cutout_cleared(self):
        t = self.board.cutout_temperature_c()
        high, low = self.spec.cutout_high_c, self.spec.cutout_low_c
        if t is None:
            return False
        if high is not None and t > high - CUTOUT_RESET_MARGIN_C:
            return False
        return not (low is not None and t < low + CUTOUT_RESET_MARGIN_C)

    # ------------------------------------------------------------------ time

    def advance(self, now_ms):
        """Run the rules up to ``now_ms`` (one step; the board integrates its own physics)."""
        dt_ms = now_ms - self._last_ms
        if dt_ms <= 0:
            return
        self._last_ms = now_ms
        self.reading_c = self.board.read_temperature_c()
        session = self.session
        if self.state == STATE_RUNNING and session is not None:
            self.drive_mw = self._control(session, dt_ms / 1000)
            session.elapsed_ms += dt_ms
        else:
            self.drive_mw = 0
        self._apply_output()
        self._check_limits(now_ms)
        self._note_change()

    def _check_limits(self, now_ms):
        t = self.board.cutout_temperature_c()
        high, low = self.spec.cutout_high_c, self.spec.cutout_low_c
        if self.state != STATE_FAULT and t is not None:
            if high is not None and t >= high:
                self.board.cut_supply()  # the thermal fuse opens the output's supply
                self._end(STOP_OVER_TEMPERATURE, FAULT_OVER_TEMPERATURE)
                return
            if low is not None and t <= low:
                self.board.cut_supply()
                self._end(STOP_UNDER_TEMPERATURE, FAULT_UNDER_TEMPERATURE)
                return
        session = self.session
        if self.state not in (STATE_RUNNING, STATE_PAUSED) or session is None:
            return
        if self.reading_c is None:
            self._end(STOP_SENSOR_INVALID, FAULT_SENSOR_INVALID)
        elif self.board.battery_pct() <= BATTERY_CRITICAL_PCT:
            self._end(STOP_BATTERY_CRITICAL, FAULT_BATTERY_CRITICAL)
        elif session.mode == MODE_LIGHT and not self.board.skin_contact():
            self._end(STOP_CONTACT_LOST, FAULT_NO_SKIN_CONTACT)
        elif now_ms > self.lease_deadline_ms:
            self._end(STOP_LEASE_EXPIRED, FAULT_LEASE_EXPIRED)
        elif session.elapsed_ms >= session.duration_ms:
            self._end(STOP_COMPLETED, 0)

    def _apply_output(self):
        session = self.session
        if self.state == STATE_RUNNING and session is not None:
            self.board.set_output(session.mode, self.drive_mw)
        else:
            self.board.set_output(MODE_NONE, 0)

    def _control(self, session, dt_s):
        """The drive (mW) commanded while output is on: the pad's PI thermostat on its own
        sensor, or the belt's level."""
        if session.mode == MODE_LIGHT:
            return session.power_mw
        reading = self.reading_c
        if reading is None or session.setpoint_c is None:
            return 0
        error_k = session.setpoint_c - reading
        if session.mode == MODE_COLD:
            error_k = -error_k
        max_w = (COOLER_MAX_MW if session.mode == MODE_COLD else HEATER_MAX_MW) / 1000
        demand_w = _KP_W_PER_K * error_k + self._integral_w
        if 0.0 < demand_w < max_w or (demand_w >= max_w) != (error_k > 0):
            # integrate only while not saturated in the error's direction (anti-windup)
            self._integral_w += _KI_W_PER_K_S * error_k * dt_s
            self._integral_w = min(max(self._integral_w, 0.0), max_w)
        return int(min(max(demand_w, 0.0), max_w) * 1000)

    def _note_change(self):
        key = (self.state, self.output_on, self.stop_cause, self.faults)
        if key != self._reported:
            self._reported = key
            self.board.log_state(self.state, self.output_on, self.stop_cause, self.faults)
