"""Checks a built sdist and wheel (``scripts/smoke_wheel.sh``, CI): the wheel carries every
package of the source tree, the licence and the console script; the sdist carries the licence,
the docs, the tests and the scripts. Usage: ``python scripts/check_dist.py DIST_DIR``; exit 1
with one line per problem."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("protocols", "device", "simulator", "ui", "therapyctl", "firmware")
SDIST_TREES = ("docs", "tests", "bench", "scripts")  # besides the packages
SKIPPED = ("__pycache__", ".pyc", ".pyo")


def source_files(*tops: str) -> set[str]:
    """The files under ``tops`` in the working tree, relative to it (no byte code)."""
    return {
        path.relative_to(REPO).as_posix()
        for top in tops
        for path in (REPO / top).rglob("*")
        if path.is_file() and not any(part in path.as_posix() for part in SKIPPED)
    }


def check_wheel(wheel: Path) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    missing = sorted(source_files(*PACKAGES) - names)
    problems += [f"wheel {wheel.name}: {name} is missing" for name in missing]
    if metadata["License-Expression"] != "Apache-2.0":
        problems.append(f"wheel: License-Expression is {metadata['License-Expression']!r}")
    if f"{info}/licenses/LICENSE" not in names:
        problems.append("wheel: the LICENSE file is missing")
    if "therapyctl = ui.cli:main" not in entry_points:
        problems.append("wheel: no `therapyctl` console script")
    return problems


def check_sdist(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        names = {name.removeprefix(f"{root}/") for name in archive.getnames()}
    wanted = source_files(*PACKAGES, *SDIST_TREES) | {"LICENSE", "README.md", "pyproject.toml"}
    return [f"sdist {sdist.name}: {name} is missing" for name in sorted(wanted - names)]


def main(dist: Path) -> int:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"check_dist: expected one wheel and one sdist in {dist}", file=sys.stderr)
        return 1
    problems = check_wheel(wheels[0]) + check_sdist(sdists[0])
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"{wheels[0].name} and {sdists[0].name}: every package, the licence, docs and tests")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
