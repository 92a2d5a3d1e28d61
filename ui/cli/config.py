"""The configuration file (TOML): ``[limits]``, which may only tighten, ``[mqtt]``, and
``[keys]``, the UI's keys by action name (checked by :mod:`ui.tui.keys`).

[limits]
heat_ceiling_c = 42

[mqtt]
url = "mqtt://broker.local"
remote_control = false

[keys]
stop_all = "ctrl+x"
"""

from __future__ import annotations

from pathlib import Path

from device.safety import DEFAULT_LIMITS, ConfigError, Limits, limits_from_table, line_of, read_toml

MQTT_KEYS = {"url", "ca_file", "cert_file", "key_file", "prefix", "node_id", "remote_control"}


def load_config(path: str | Path) -> tuple[Limits, dict[str, object]]:
    """A configuration file: ``[limits]`` (may only tighten) and ``[mqtt]`` settings."""
    source = str(path)
    data, text = read_toml(path)
    unknown = set(data) - {"limits", "mqtt", "keys"}
    if unknown:
        raise ConfigError(
            source,
            line_of(text, f"[{sorted(unknown)[0]}"),
            f"unknown section {sorted(unknown)[0]!r} (use [limits], [mqtt] and [keys])",
        )
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
