"""The UI's keys by action name, and the config file's ``[keys]`` that remaps them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from device.safety import ConfigError
from ui.cli.config import load_config, load_keys
from ui.cli.main import cli
from ui.tui.keys import ACTIONS, check_keys, normal_key


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "therapyctl.toml"
    path.write_text(text)
    return path


def test_keys_are_remapped_by_action_name(tmp_path: Path) -> None:
    """[keys] maps action names to keys, normalised as Textual names them."""
    path = write(tmp_path, '[limits]\nheat_ceiling_c = 42\n\n[keys]\nstop_all = "f5"\nhelp = "?"\n')
    assert load_keys(path) == {"stop_all": "f5", "help": "question_mark"}
    load_config(path)  # the same file is a valid configuration for run and serve


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('[keys]\nquit = "q"\nstop_everything = "f5"\n', 3, "unknown action 'stop_everything'"),
        ('[keys]\n\nstop_all = "ctrl+banana"\n', 3, "'ctrl+banana' is not a key"),
        ('[keys]\nstop_all = ""\n', 2, "stop_all must be a key"),
        ('[keys]\nstop_all = "s"\n', 2, "s is already the key of start"),
        ('[keys]\nstart = "x"\nstop = "x"\n', 3, "x is already the key of start"),
        ('[keys]\nquit = "ctrl+p"\n', 2, "ctrl+p is reserved"),
    ],
)
def test_a_bad_keys_table_names_the_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    """Unknown action, not a key, a key used twice or reserved: one error naming the line."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_keys(path)
    assert caught.value.line == line and reason in caught.value.reason, str(caught.value)
    assert str(caught.value).startswith(f"{path}, line {line}: ")


def test_swapping_two_keys_is_allowed() -> None:
    """Two actions may trade keys: each key still does one thing."""
    assert check_keys({"start": "x", "stop": "s"}, "", "t.toml") == {"start": "x", "stop": "s"}


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("q", "q"),
        ("?", "question_mark"),
        ("ctrl+X", "ctrl+x"),
        ("F2", "f2"),
        ("alt+shift+s", "alt+shift+s"),
        ("escape", "escape"),
        ("full_stop", "full_stop"),
        ("ctrl+", None),
        ("hyperspace", None),
        ("banana", None),
        ("ctrl+ctrl+x", None),
        (" ", None),
    ],
)
def test_key_names(key: str, normal: str | None) -> None:
    """Characters, key names and modifiers are keys; anything else is not."""
    assert normal_key(key) == normal


def test_every_default_key_is_a_key() -> None:
    """The defaults themselves pass the check (each a real key, none used twice)."""
    assert check_keys({name: action.keys for name, action in ACTIONS.items()}, "", "t") is not None


def test_the_ui_command_refuses_a_bad_keys_table_in_one_line(tmp_path: Path) -> None:
    """`therapyctl ui --config FILE` with an unknown action: one line naming the file and
    line, exit 1, before the app starts."""
    path = write(tmp_path, '[keys]\nstop_everything = "f5"\n')
    result = CliRunner().invoke(cli, ["ui", "--sim", "heat-pad", "--config", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"therapyctl: error: {path}, line 2: "), lines
