"""The limits file (TOML) and the ``[limits]`` table of the configuration file: they may
only tighten the values in force.

heat_ceiling_c = 42
heat_max_session_s = 900
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from device.safety.limits import DEFAULT_LIMITS, Limits, LimitsError
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
    """A limits file: ``base`` tightened by each of its keys."""
    data, text = read_toml(path)
    return limits_from_table(data, text, str(path), base)


def parse_limits(text: str, source: str = "<limits>", base: Limits = DEFAULT_LIMITS) -> Limits:
    return limits_from_table(parse_toml(text, source), text, source, base)


def read_toml(path: str | Path) -> tuple[dict[str, object], str]:
    """A TOML file's table and its text; anything unusable is a ConfigError naming it."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, None, f"cannot read it: {exc}") from exc
    return parse_toml(text, source), text


def parse_toml(text: str, source: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        raise ConfigError(
            source, int(match.group(1)) if match else None, _TOML_LINE.sub("", str(exc)).strip()
        ) from None
    except ValueError:  # Python refuses to read an integer of over 4300 digits
        raise ConfigError(source, None, TOO_MANY_DIGITS) from None
    except RecursionError:
        raise ConfigError(source, None, TOO_DEEP) from None


TOO_MANY_DIGITS = "it holds a number with thousands of digits: not a usable value"
TOO_DEEP = "it nests arrays or tables too deeply to read"


def limits_from_table(
    table: dict[str, object], text: str, source: str, base: Limits = DEFAULT_LIMITS
) -> Limits:
    """``base`` tightened by each key of a TOML table (errors name the file and line)."""
    limits = base
    for key, value in table.items():
        try:
            limits = limits.tightened(**{key: value})
        except LimitsError as exc:
            raise ConfigError(source, line_of(text, key), str(exc)) from None
    return limits


def line_of(text: str, key: str) -> int | None:
    """The first line of ``text`` that starts with ``key`` (1-based), for error messages."""
    return next(
        (i + 1 for i, raw in enumerate(text.splitlines()) if raw.strip().startswith(key)), None
    )
