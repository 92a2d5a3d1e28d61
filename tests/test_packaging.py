"""Packaging (issue #12, findings 1 and 15): every package found, not listed by hand; the
Apache-2.0 LICENSE and its SPDX expression; the sdist's docs and tests; the smoke test of the
installed wheel in the test command. The built artifacts themselves are checked by
``scripts/check_dist.py`` in ``scripts/smoke_wheel.sh``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_of_the_source_tree_is_found_for_the_wheel() -> None:
    """packages.find covers every directory of Python modules (ui.tui.widgets included)."""
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find.get("namespaces", True), "ui.tui is a namespace package: keep namespaces on"
    found = set(find_namespace_packages(where=str(ROOT), include=find["include"]))
    tops = ("protocols", "device", "simulator", "ui", "therapyctl")
    wanted = {
        path.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for top in tops
        for path in (ROOT / top).rglob("*.py")
    }
    assert {"ui.tui.widgets", "therapyctl"} <= wanted
    assert wanted <= found, sorted(wanted - found)
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == {"find"}  # no hand-kept list


def test_license_is_apache_2_0_as_an_spdx_expression_with_its_file() -> None:
    """The full Apache-2.0 text in LICENSE, declared as `license = "Apache-2.0"`."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    requires = PYPROJECT["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires), requires


def test_sdist_manifest_carries_the_docs_tests_and_licence() -> None:
    """MANIFEST.in takes the licence, docs/, tests/ (snapshots too), bench/ and scripts/."""
    lines = (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    for wanted in ("graft docs", "graft tests", "graft bench", "graft scripts"):
        assert wanted in lines
    assert any(line.startswith("include ") and "LICENSE" in line for line in lines)


def test_python_m_therapyctl_has_a_main_module_and_is_packaged() -> None:
    """`therapyctl/__main__.py` runs the command; the package is in the wheel's list."""
    main = (ROOT / "therapyctl" / "__main__.py").read_text(encoding="utf-8")
    assert "from ui.cli import main" in main
    assert "therapyctl" in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]


def test_the_test_command_smoke_tests_the_installed_wheel() -> None:
    """scripts/test.sh (what .ci/run runs) runs the wheel smoke test, which fails CI."""
    test_sh = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert "set -euo pipefail" in test_sh and "bash scripts/smoke_wheel.sh" in test_sh
    smoke = (ROOT / "scripts" / "smoke_wheel.sh").read_text(encoding="utf-8")
    assert "set -euo pipefail" in smoke
    for step in ("-m build", "check_dist.py", "-m venv", "--version", "run --sim", "smoke_ui.py"):
        assert step in smoke, step
