"""Bonds made through a bumble radio: the keys, and this controller's own stable address.

A device remembers a bond by the controller's identity address, so the controller keeps one
random static address for good. Both live in the user's data directory (``$THERAPYCTL_KEYS``
overrides it), never in the repository: ``host.json`` (our address) and ``keys.json``
(bumble's key store format). In-process simulated devices use keys in memory only.
BlueZ keeps its own bonds for the system adapter (bleak's ``pair()``).
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

from protocols import TherapyctlError


class BondStoreError(TherapyctlError):
    """The bond files cannot be read or written."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"bonds {path}: {reason}")


def bonds_dir() -> Path:
    """Where bonds are kept: ``$THERAPYCTL_KEYS``, or the user's data directory."""
    env = os.environ.get("THERAPYCTL_KEYS")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("therapyctl", appauthor=False) / "bonds"


def random_static_address() -> str:
    """A random static address: six random octets, the top two bits set."""
    octets = [random.randrange(256) for _ in range(6)]
    octets[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in octets)


_ADDRESS = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}")


def host_address(directory: Path) -> str:
    """This controller's identity address: made once, then the same every run."""
    path = directory / "host.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        text = data.get("address") if isinstance(data, dict) else None
        if isinstance(text, str) and _ADDRESS.fullmatch(text):
            return text
        raise ValueError("no address in it")
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BondStoreError(path, f"it is damaged ({exc}); remove it and pair again") from exc
    address = random_static_address()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({"address": address}), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise BondStoreError(path, f"it cannot be written: {exc}") from exc
    return address
