"""The UI's keys by action name: the defaults, and a configuration file's ``[keys]`` checked.

Every key the app binds has a name here; ``[keys]`` in the ``--config`` file remaps it::

    [keys]
    stop_all = "ctrl+x"
    quit = "q"
    help = "question_mark,f1"   # several keys: comma-separated

A key is a character (``q``, ``?``), a key name (``f2``, ``escape``, ``space``) or either with
modifiers (``ctrl+x``, ``alt+shift+s``). Textual is imported only to check key names, so the
CLI can check a file before the app is built.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from device.safety import ConfigError


@dataclass(frozen=True, slots=True)
class KeyAction:
    """One bound action: its name (``[keys]``, the binding's id), default keys, what it does."""

    name: str
    keys: str
    action: str
    description: str
    show: bool = True
    priority: bool = False


# In the order the help and the footer list them, the ones a session needs first: a narrow
# footer (80 columns) cuts off the last. Shown in the footer where ``show`` (and where the
# app's check_action allows them).
KEY_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("help", "question_mark,f1", "help", "Help"),
    KeyAction("quit", "q", "quit", "Quit"),
    # Works from anywhere: another tab, a question, a field.
    KeyAction("stop_all", "ctrl+x", "stop_all", "Stop all", priority=True),
    KeyAction("start", "s", "start", "Start"),
    KeyAction("pause", "p", "pause", "Pause"),
    KeyAction("resume", "u", "resume", "Resume"),
    KeyAction("stop", "x", "stop", "Stop"),
    KeyAction("history", "h", "history", "History"),
    KeyAction("rescan", "r", "rescan", "Rescan"),
    KeyAction("disconnect", "d", "disconnect", "Disconnect"),
    KeyAction("alias", "a", "alias", "Alias"),
    KeyAction("site", "w", "site", "Site"),  # where on the body the device is used
    KeyAction("today", "t", "today", "Today", show=False),
    KeyAction("pair", "b", "pair", "Pair", show=False),
    KeyAction("leave_field", "escape", "leave_field", "Leave the field", show=False),
    *(KeyAction(f"tab_{n}", str(n), f"tab({n})", f"Tab {n}", show=False) for n in range(1, 10)),
)
ACTIONS = {a.name: a for a in KEY_ACTIONS}
# Textual's own, and ctrl+q (quit, always): not for remapping.
RESERVED = frozenset({"ctrl+c", "ctrl+p", "ctrl+q", "tab", "shift+tab", "enter"})
MODIFIERS = ("ctrl", "alt", "shift", "meta", "super", "hyper")


def normal_key(text: str) -> str | None:
    """Textual's name of one key (``?`` -> ``question_mark``), or None if it is not a key."""
    from textual.keys import KEY_NAME_REPLACEMENTS, Keys, key_to_character

    *modifiers, base = text.strip().split("+")
    if any(m not in MODIFIERS for m in modifiers) or len(set(modifiers)) != len(modifiers):
        return None
    if len(base) == 1:
        if not base.isprintable() or base.isspace():
            return None
        if modifiers and base.isalpha():
            base = base.lower()  # ctrl+x, never ctrl+X
        elif not base.isalnum():
            name = unicodedata.name(base, "").lower().replace("-", "_").replace(" ", "_")
            base = KEY_NAME_REPLACEMENTS.get(name, name)
    elif base.lower() in {k.value for k in Keys if "+" not in k.value and "<" not in k.value}:
        base = base.lower()
    elif not (char := key_to_character(base)) or not (char.isascii() and char.isprintable()):
        return None  # a name of an ASCII character ("full_stop") or of a key; not "banana"
    return "+".join([*modifiers, base]) if base else None


def default_keymap() -> dict[str, str]:
    """Every action's default keys, normalised (action name -> "key,key")."""
    return {a.name: _normal_list(a.keys) or a.keys for a in KEY_ACTIONS}


def _normal_list(keys: str) -> str | None:
    normal = [normal_key(k) for k in keys.split(",")]
    return None if any(k is None for k in normal) else ",".join(k for k in normal if k)


def check_keys(table: Mapping[str, object], text: str, source: str) -> dict[str, str]:
    """A ``[keys]`` table checked: known action names, real keys, no key used twice.

    Returns the remapped actions (name -> normalised keys); a problem is a ConfigError naming
    the file and the line, as for ``[limits]``."""
    chosen: dict[str, str] = {}
    for name, value in table.items():
        line = _line_of(text, name)
        if name not in ACTIONS:
            raise ConfigError(
                source, line, f"unknown action {name!r} in [keys] (one of: {', '.join(ACTIONS)})"
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(source, line, f'[keys] {name} must be a key, e.g. "ctrl+x" or "f2"')
        keys = _normal_list(value)
        if keys is None:
            raise ConfigError(
                source,
                line,
                f'[keys] {name}: {value!r} is not a key (e.g. "q", "?", "f2", "ctrl+x")',
            )
        if reserved := sorted(set(keys.split(",")) & RESERVED):
            raise ConfigError(source, line, f"[keys] {name}: {reserved[0]} is reserved")
        chosen[name] = keys
    owner: dict[str, str] = {}
    for name, keys in (default_keymap() | chosen).items():
        for key in keys.split(","):
            if key in owner:
                # Name the remapped one: that is the line to change.
                culprit, other = (name, owner[key]) if name in chosen else (owner[key], name)
                raise ConfigError(
                    source,
                    _line_of(text, culprit),
                    f"[keys] {culprit}: {key} is already the key of {other}",
                )
            owner[key] = name
    return chosen


def _line_of(text: str, name: str) -> int | None:
    """The line of ``name = ...`` in the ``[keys]`` table (1-based)."""
    in_keys = False
    assignment = re.compile(rf"""\s*["']?{re.escape(name)}["']?\s*=""")
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("["):
            in_keys = stripped.replace(" ", "") == "[keys]"
        elif in_keys and assignment.match(raw):
            return number
    return None
