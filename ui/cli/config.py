"""The configuration file (TOML): ``[limits]``, which may only tighten, ``[mqtt]``,
``[keys]``, the UI's keys by action name (checked by :mod:`ui.tui.keys`), and ``[regimen]``,
the waking hours reminders keep to (``therapyctl next``, the UI's Today tab).

[limits]
heat_ceiling_c = 42

[mqtt]
url = "mqtt://broker.local"
remote_control = false

[keys]
stop_all = "ctrl+x"

[regimen]
awake = "07:00-22:00"
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from device.safety import DEFAULT_LIMITS, ConfigError, Limits, limits_from_table, line_of, read_toml

if TYPE_CHECKING:
    from device.sessions import RegimenSettings

SECTIONS = ("limits", "mqtt", "keys", "regimen")
REGIMEN_KEYS = {"awake"}  # the waking hours: due times at night move to the next morning
MQTT_KEYS = {"url", "ca_file", "cert_file", "key_file", "prefix", "node_id", "remote_control"}


def load_config(path: str | Path) -> tuple[Limits, dict[str, object]]:
    """A configuration file: ``[limits]`` (may only tighten) and ``[mqtt]`` settings."""
    source = str(path)
    data, text = read_toml(path)
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            source,
            line_of(text, f"[{sorted(unknown)[0]}"),
            f"unknown section {sorted(unknown)[0]!r} (use [limits], [mqtt], [keys] and [regimen])",
        )
    regimen_from_table(data.get("regimen", {}), text, source)
    limits_table = data.get("limits", {})
    mqtt_table = data.get("mqtt", {})
    if not isinstance(limits_table, dict) or not isinstance(mqtt_table, dict):
        raise ConfigError(source, None, "[limits] and [mqtt] must be tables")
    limits = limits_from_table(limits_table, text, source, DEFAULT_LIMITS)
    for key, value in mqtt_table.items():
        if key not in MQTT_KEYS:
            raise ConfigError(source, line_of(text, key), f"unknown [mqtt] key {key!r}")
        expected = bool if key == "remote_control" else str
        if not isinstance(value, expected):
            raise ConfigError(
                source,
                line_of(text, key),
                f"[mqtt] {key} must be {'true or false' if expected is bool else 'a string'}",
            )
    return limits, dict(mqtt_table)


def load_keys(path: str | Path) -> dict[str, str]:
    """The configuration file's ``[keys]``: action name -> keys, checked (unknown action, not
    a key, a key used twice: a ConfigError naming the file and line)."""
    from ui.tui.keys import check_keys

    source = str(path)
    data, text = read_toml(path)
    table = data.get("keys", {})
    if not isinstance(table, dict):
        raise ConfigError(source, line_of(text, "keys"), "[keys] must be a table")
    return check_keys(table, text, source)


def load_regimen(path: str | Path | None) -> RegimenSettings:
    """The configuration file's ``[regimen]`` (the defaults without a file or a table):
    unknown keys and values that cannot be used are a ConfigError naming the file and line."""
    if path is None:
        return regimen_from_table({}, "", "")
    source = str(path)
    data, text = read_toml(path)
    return regimen_from_table(data.get("regimen", {}), text, source)


def regimen_from_table(table: object, text: str, source: str) -> RegimenSettings:
    """``[regimen]`` checked: ``awake = "HH:MM-HH:MM"`` (the waking hours)."""
    from device.safety import Awake, RegimenError
    from device.sessions import RegimenSettings

    if not isinstance(table, dict):
        raise ConfigError(source, line_of(text, "regimen"), "[regimen] must be a table")
    for key in table:
        if key not in REGIMEN_KEYS:
            raise ConfigError(
                source,
                _line_in_table(text, "regimen", key),
                f'unknown [regimen] key {key!r} (use awake = "07:00-22:00")',
            )
    awake = Awake()
    if "awake" in table:
        value = table["awake"]
        if not isinstance(value, str):
            raise ConfigError(
                source,
                _line_in_table(text, "regimen", "awake"),
                '[regimen] awake must be a string like "07:00-22:00"',
            )
        try:
            awake = Awake.parse(value)
        except RegimenError as exc:
            raise ConfigError(
                source, _line_in_table(text, "regimen", "awake"), f"[regimen] {exc}"
            ) from exc
    return RegimenSettings(awake=awake)


def _line_in_table(text: str, table: str, key: str) -> int | None:
    """The line of ``key`` inside ``[table]`` (1-based), else the first line naming it."""
    inside = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            inside = line.split("]", 1)[0].strip("[ ") == table
        elif inside and line.split("=", 1)[0].strip().strip("\"'") == key:
            return number
    return line_of(text, key)
