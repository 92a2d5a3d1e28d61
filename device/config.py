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
