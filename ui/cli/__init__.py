"""The ``therapyctl`` command line: the group and ``main`` (:mod:`ui.cli.main`), the options
``run``, ``serve`` and ``ui`` share (:mod:`ui.cli.options`), the composition root that wires
radio, device, journal and broker (:mod:`ui.cli.compose`), and a module per command family.

Every command that turns a device's output on goes through ``device.sessions`` and so
through the safety supervisor. Command modules import ``device`` lazily, inside the command,
so ``therapyctl --help`` starts fast.

Exit codes: 0 success (``run``: the session completed); 1 an error (device, radio,
simulator, file); 2 a usage error (bad option); 3 ``run`` ended by a safety stop; 130 stopped
by the user (Ctrl-C / SIGTERM), with the device's output turned off first.
"""

from ui.cli.main import cli, main

__all__ = ["cli", "main"]
