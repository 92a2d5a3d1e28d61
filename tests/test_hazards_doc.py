"""docs/hazards.md, the safety case, stays true: every hazard names its rule, its fault and
tests, and every test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "hazards.md").read_text(encoding="utf-8")
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")
HAZARD = re.compile(r"^### (H\d+) (.+)$", re.MULTILINE)


def top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_every_test_the_safety_case_names_exists() -> None:
    """Each `file::test` reference in docs/hazards.md is a test defined in that file."""
    references = REFERENCE.findall(DOC)
    assert len(references) >= 40
    missing = []
    for file, name in references:
        path = ROOT / file
        if not path.exists():
            missing.append(file)
        elif name and name not in top_level_names(path):
            missing.append(f"{file}::{name}")
    assert not missing, missing


def test_every_hazard_has_its_cause_rule_device_layer_fault_and_tests() -> None:
    """The twenty hazards each say their cause, the controller's rule, the device's own layer,
    the fault that provokes them and at least one test."""
    sections = HAZARD.split(DOC)[1:]
    hazards = list(zip(sections[0::3], sections[1::3], sections[2::3], strict=True))
    assert [h[0] for h in hazards] == [f"H{n}" for n in range(1, len(hazards) + 1)]
    assert len(hazards) >= 20
    for number, title, body in hazards:
        for field in ("**Cause**", "**Controller**", "**Device**", "**Fault**", "**Tests**"):
            assert field in body, f"{number} {title}: no {field}"
        tests = body.split("**Tests**", 1)[1]
        assert REFERENCE.search(tests), f"{number} {title}: names no test"
