"""docs/protocol.md tells a firmware or client author everything, and its numbers are the
code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocols import Feature, Status
from protocols.therapy import MIN_ATT_MTU
from tests.protocols.test_golden import HEAT_PAD_FEATURE

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
FLAT = " ".join(DOC.split())  # line breaks do not matter


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match is not None, f"no section {title!r}"
    return match.group(1)


def test_the_conformance_checklist_is_numbered_and_covers_security() -> None:
    """The checklist is numbered 1..n, its security items point to the Security and pairing
    section, and that section states the rules they check."""
    checklist = _section("Conformance checklist")
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", checklist, re.M)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 25
    assert "Security (see [Security and pairing](#security-and-pairing))" in checklist
    security = _section("Security and pairing")
    for rule in (
        "0x0F (Insufficient Encryption)",
        "pairing window",
        "Just Works",
        "SMP reason 0x05",
    ):
        assert rule in security


@pytest.mark.parametrize(
    ("section", "statement"),
    [
        ("Services and UUIDs", "a Write Command (ATT opcode 0x52) to any of them"),
        ("Services and UUIDs", "fails with ATT error 0x03 (Write Not Permitted)"),
        ("Services and UUIDs", "Read Blob Requests"),
        ("Advertising", "legacy advertising PDUs**: ADV_IND (connectable, scannable"),
        ("Advertising", "| scan response | Complete Local Name"),
        ("Control Point (write with response + indicate)", "is ignored and never acted on"),
        ("Control Point (write with response + indicate)", "the setpoint field is ignored"),
        ("Control Point (write with response + indicate)", "The duration is 1 .. the Feature"),
        ("Lease (read, write with response)", "The lease belongs to the device, not to a"),
        ("Status (notify, read)", "*Lease active* (0x04): the lease has not run out"),
        ("Status (notify, read)", "**Idle.** A device that is not running or paused"),
    ],
)
def test_the_doc_states_what_the_byte_layouts_leave_out(section: str, statement: str) -> None:
    """Each rule the byte layouts leave out is written in its section."""
    assert statement in " ".join(_section(section).split())


def test_the_doc_sizes_are_the_codecs_sizes() -> None:
    """Status, MTU and Feature sizes in the doc are the codecs' sizes."""
    assert f"{Status._LAYOUT.size} bytes. Notified" in FLAT
    assert f"ATT_MTU ≥ {MIN_ATT_MTU}" in FLAT
    assert Status._LAYOUT.size == MIN_ATT_MTU - 3
    assert f"{Feature._HEAD.size} + 7n bytes" in FLAT
    assert f"({len(HEAT_PAD_FEATURE.encode())} for the heat pad below)" in FLAT
