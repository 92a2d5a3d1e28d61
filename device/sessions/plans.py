"""Therapy plans: sequences of sessions and rests. Built-in ones, and user plans in TOML.

A user plan::

    name = "evening contrast"

    [[step]]
    mode = "heat"          # heat | cold | light
    minutes = 15
    setpoint_c = 40        # or: level = 2   (light: power_mw = 800, or level)

    [[step]]
    rest_minutes = 10

    [[step]]
    mode = "cold"
    minutes = 10
    setpoint_c = 15
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.safety import ConfigError, SessionRequest, describe, parse_toml, plain_number
from protocols import Mode, TherapyctlError

DEFAULT_HEAT_C = 40.0  # guidance: low or moderate temperature
DEFAULT_COLD_C = 15.0


class PlanError(TherapyctlError):
    """A plan file that cannot be used; names the file and line."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Step:
    """A session (``request``) or a rest of ``rest_s`` simulated seconds."""

    request: SessionRequest | None = None
    rest_s: float = 0.0

    @property
    def minutes(self) -> float:
        return (self.request.duration_s if self.request else self.rest_s) / 60

    def describe(self) -> str:
        if self.request is None:
            return f"rest {self.minutes:g} min"
        r = self.request
        target = (
            f"level {r.level}"
            if r.level
            else f"{r.power_mw} mW"
            if r.power_mw is not None
            else f"{r.setpoint_c:g} °C"
            if r.setpoint_c is not None
            else ""
        )
        return f"{r.mode.name.lower()} {self.minutes:g} min {target}".strip()


@dataclass(frozen=True, slots=True)
class TherapyPlan:
    name: str
    steps: tuple[Step, ...]

    @property
    def minutes(self) -> float:
        return sum(step.minutes for step in self.steps)

    @property
    def modes(self) -> set[Mode]:
        return {step.request.mode for step in self.steps if step.request}


def _session(mode: Mode, minutes: float, setpoint_c: float | None = None) -> Step:
    if setpoint_c is None and mode != Mode.LIGHT:
        setpoint_c = DEFAULT_HEAT_C if mode == Mode.HEAT else DEFAULT_COLD_C
    return Step(SessionRequest(mode, minutes * 60, setpoint_c=setpoint_c))


def _rest(minutes: float) -> Step:
    return Step(rest_s=minutes * 60)


BUILTIN_PLANS: dict[str, TherapyPlan] = {
    # Guidance: heat up to 20 min at a time.
    "heat": TherapyPlan("heat", (_session(Mode.HEAT, 20),)),
    # Guidance: cold 10-20 min, never over 20.
    "cold": TherapyPlan("cold", (_session(Mode.COLD, 15),)),
    # Guidance: contrast = heat 20 min, rest 20 min, cold 20 min.
    "contrast": TherapyPlan(
        "contrast", (_session(Mode.HEAT, 20), _rest(20), _session(Mode.COLD, 20))
    ),
    # Guidance: cold may repeat every 2 h in the first 48-72 h of a spasm (three rounds here).
    "acute-cold": TherapyPlan(
        "acute-cold",
        (
            _session(Mode.COLD, 15),
            _rest(105),
            _session(Mode.COLD, 15),
            _rest(105),
            _session(Mode.COLD, 15),
        ),
    ),
    # Guidance: light belts about 30 min a day.
    "light-daily": TherapyPlan("light-daily", (_session(Mode.LIGHT, 30),)),
}


def resolve_plan(name_or_path: str) -> TherapyPlan:
    """A built-in plan by name, or a TOML plan file."""
    if name_or_path in BUILTIN_PLANS:
        return BUILTIN_PLANS[name_or_path]
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        raise PlanError(
            name_or_path,
            None,
            f"no such plan; built-in plans: {', '.join(BUILTIN_PLANS)}, or give a .toml file",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(str(path), None, f"cannot read the plan: {exc}") from exc
    return parse_plan(text, str(path))


_STEP_KEYS = {"mode", "minutes", "setpoint_c", "level", "power_mw", "rest_minutes"}


def parse_plan(text: str, source: str = "<plan>") -> TherapyPlan:
    """Parse a TOML plan; every problem is a PlanError naming the line."""
    try:
        data = parse_toml(text, source)
    except ConfigError as exc:
        raise PlanError(source, exc.line, exc.reason) from None
    step_lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == "[[step]]"]
    unknown = set(data) - {"name", "step"}
    if unknown:
        raise PlanError(
            source, _line_of(text, sorted(unknown)[0]), f"unknown key {sorted(unknown)[0]!r}"
        )
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip():
        raise PlanError(source, _line_of(text, "name"), "name must be a non-empty string")
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PlanError(source, None, "a plan needs at least one [[step]]")
    steps = []
    for index, raw in enumerate(raw_steps):
        line = step_lines[index] if index < len(step_lines) else None
        steps.append(_parse_step(raw, source, line, index + 1))
    if all(step.request is None for step in steps):
        raise PlanError(source, None, "a plan needs at least one session step, not only rests")
    return TherapyPlan(name.strip(), tuple(steps))


def _line_of(text: str, key: str) -> int | None:
    for i, line in enumerate(text.splitlines()):
        if line.strip().startswith(key):
            return i + 1
    return None


def _number(
    raw: dict[str, Any], key: str, where: tuple[str, int | None], low: float, high: float
) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    number = plain_number(value)
    if number is None:
        raise PlanError(where[0], where[1], f"{key} must be a number, got {describe(value)}")
    if not low <= number <= high:
        raise PlanError(
            where[0], where[1], f"{key} must be between {low:g} and {high:g}, got {number:g}"
        )
    return number


def _parse_step(raw: Any, source: str, line: int | None, number: int) -> Step:
    where = (source, line)
    if not isinstance(raw, dict):
        raise PlanError(source, line, f"step {number} must be a table")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise PlanError(source, line, f"step {number}: unknown key {sorted(unknown)[0]!r}")
    if "rest_minutes" in raw:
        if len(raw) != 1:
            raise PlanError(source, line, f"step {number}: a rest step has only rest_minutes")
        rest = _number(raw, "rest_minutes", where, 0.1, 24 * 60)
        assert rest is not None
        return _rest(rest)
    mode_name = raw.get("mode")
    modes = {"heat": Mode.HEAT, "cold": Mode.COLD, "light": Mode.LIGHT}
    if mode_name not in modes:
        raise PlanError(
            source, line, f"step {number}: mode must be heat, cold or light, got {mode_name!r}"
        )
    mode = modes[mode_name]
    minutes = _number(raw, "minutes", where, 0.1, 24 * 60)
    if minutes is None:
        raise PlanError(source, line, f"step {number}: minutes is missing")
    setpoint = _number(raw, "setpoint_c", where, -20, 80)
    level = _number(raw, "level", where, 1, 255)
    power = _number(raw, "power_mw", where, 1, 65535)
    given = [k for k in ("setpoint_c", "level", "power_mw") if raw.get(k) is not None]
    if len(given) > 1:
        raise PlanError(source, line, f"step {number}: give one of setpoint_c, level, power_mw")
    if setpoint is not None and mode == Mode.LIGHT:
        raise PlanError(source, line, f"step {number}: light takes level or power_mw")
    if power is not None and mode != Mode.LIGHT:
        raise PlanError(source, line, f"step {number}: power_mw is for light")
    if not given and mode != Mode.LIGHT:
        setpoint = DEFAULT_HEAT_C if mode == Mode.HEAT else DEFAULT_COLD_C
    return Step(
        SessionRequest(
            mode,
            minutes * 60,
            setpoint_c=setpoint,
            level=int(level or 0),
            power_mw=int(power) if power is not None else None,
        )
    )
