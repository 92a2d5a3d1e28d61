"""The limits configuration file (TOML): it may only tighten the hard caps in code.

heat_ceiling_c = 42
heat_max_session_s = 900
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from device.limits import DEFAULT_LIMITS, Limits, LimitsError
from protocols import TherapyctlError


class ConfigError(TherapyctlError):
    """A configuration file that cannot be used; names the file and, where known, the line."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        super().__init__(f"{source}{f', line {line}' if line else ''}: {reason}")


_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def load_limits(path: str | Path, base: Limits = DEFAULT_LIMITS) -> Limits:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, None, f"cannot read it: {exc}") from exc
    return parse_limits(text, source, base)


def parse_limits(text: str, source: str = "<limits>", base: Limits = DEFAULT_LIMITS) -> Limits:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        raise ConfigError(
            source, int(match.group(1)) if match else None, _TOML_LINE.sub("", str(exc)).strip()
        ) from None
    limits = base
    for key, value in data.items():
        line = next(
            (i + 1 for i, raw in enumerate(text.splitlines()) if raw.strip().startswith(key)), None
        )
        try:
            limits = limits.tightened(**{key: value})
        except LimitsError as exc:
            raise ConfigError(source, line, str(exc)) from None
    return limits


_MQTT_KEYS = {"url", "ca_file", "cert_file", "key_file", "prefix", "node_id", "remote_control"}


def load_config(path: str | Path) -> tuple[Limits, dict[str, object]]:
    """A configuration file: ``[limits]`` (may only tighten) and ``[mqtt]`` settings."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, None, f"cannot read it: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        raise ConfigError(
            source, int(match.group(1)) if match else None, _TOML_LINE.sub("", str(exc)).strip()
        ) from None
    unknown = set(data) - {"limits", "mqtt"}
    if unknown:
        raise ConfigError(
            source,
            _line(text, f"[{sorted(unknown)[0]}"),
            f"unknown section {sorted(unknown)[0]!r} (use [limits] and [mqtt])",
        )
    limits_table = data.get("limits", {})
    mqtt_table = data.get("mqtt", {})
    if not isinstance(limits_table, dict) or not isinstance(mqtt_table, dict):
        raise ConfigError(source, None, "[limits] and [mqtt] must be tables")
    limits = DEFAULT_LIMITS
    for key, value in limits_table.items():
        try:
            limits = limits.tightened(**{key: value})
        except LimitsError as exc:
            raise ConfigError(source, _line(text, key), str(exc)) from None
    for key, value in mqtt_table.items():
        if key not in _MQTT_KEYS:
            raise ConfigError(source, _line(text, key), f"unknown [mqtt] key {key!r}")
        expected = bool if key == "remote_control" else str
        if not isinstance(value, expected):
            raise ConfigError(
                source,
                _line(text, key),
                f"[mqtt] {key} must be {'true or false' if expected is bool else 'a string'}",
            )
    return limits, dict(mqtt_table)


def _line(text: str, key: str) -> int | None:
    return next(
        (i + 1 for i, raw in enumerate(text.splitlines()) if raw.strip().startswith(key)), None
    )
