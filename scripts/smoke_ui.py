"""``therapyctl ui`` from an installed wheel, in tmux (``scripts/smoke_wheel.sh``): a simulated
heat pad shows in the device list, Enter connects it and its panel shows, q quits with exit 0.
Usage: ``python scripts/smoke_ui.py THERAPYCTL WORK_DIR`` (the repository's venv runs this, for
the tmux driver of ``tests/ui/tui/test_tmux.py``; THERAPYCTL is the installed command)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui.tui.test_tmux import DEVICE_ROW, STATE, Terminal


def main(therapyctl: str, work: Path) -> int:
    term = Terminal(work)
    env = {name: os.environ[name] for name in ("THERAPYCTL_DB", "THERAPYCTL_KEYS")}
    try:
        term.start([therapyctl, "ui", "--sim", "heat-pad", "--time-scale", "60"], env)
        term.wait_for("heat-pad in the device list", DEVICE_ROW.search)
        term.keys("Enter")
        term.wait_for("the heat-pad panel", STATE.search)
        term.keys("q")
        status = term.wait_exit()
    except AssertionError as exc:
        print(f"smoke_ui: {exc}", file=sys.stderr)
        return 1
    finally:
        term.kill()
    if status != 0:
        print(f"smoke_ui: therapyctl ui exited {status}:\n{term}", file=sys.stderr)
        return 1
    print("ui: the device listed, connected, its panel shown, quit with 0")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
