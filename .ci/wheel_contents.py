"""List a built wheel and sdist, and fail unless they hold exactly the product (.ci/wheel).

Usage: wheel_contents.py WHEEL SDIST SOURCE_TREE

The wheel must install one import root, ``cio_pipeline``, holding as real files exactly the
source tree's ``cio_pipeline/__init__.py``, its ``py.typed`` marker and the Python, Lua and
JSON files of ``producer/``, ``worker/`` and ``devtools/`` (which ``cio_pipeline/`` links to):
nothing missing (package data included), nothing else (no tests, no bench, no ``.venv`` or
``__pycache__`` leftovers), and no emulator or demo inside the worker package. The sdist holds
the same tree plus metadata.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath

PACKAGE_FOLDERS = ("producer", "worker", "devtools")
PACKAGE_SUFFIXES = (".py", ".lua", ".json")
FORBIDDEN_PARTS = {"tests", "bench", ".venv", "__pycache__", ".git", ".ci"}
SDIST_EXTRAS = {"PKG-INFO", "README.md", "pyproject.toml", "setup.cfg"}
CONSOLE_SCRIPT = "cio-pipeline = cio_pipeline.worker.cli:main"


def expected_files(source: Path) -> set[str]:
    """The wheel paths of the product's files in the source tree."""
    files = {"cio_pipeline/__init__.py", "cio_pipeline/py.typed"}
    for folder in PACKAGE_FOLDERS:
        for path in (source / folder).rglob("*"):
            relative = path.relative_to(source)
            if path.is_file() and path.suffix in PACKAGE_SUFFIXES:
                if not FORBIDDEN_PARTS & set(relative.parts):
                    files.add(f"cio_pipeline/{relative.as_posix()}")
    return files


def problems_of(names: list[str], expected: set[str], top_level: str) -> list[str]:
    """Everything wrong with a wheel holding ``names`` (with its top_level.txt text)."""
    problems = []
    installed = [n for n in names if ".dist-info/" not in n]
    roots = {PurePosixPath(n).parts[0] for n in installed}
    if roots != {"cio_pipeline"}:
        problems.append(f"top-level names {sorted(roots)} instead of ['cio_pipeline']")
    if top_level.split() != ["cio_pipeline"]:
        problems.append(f"top_level.txt says {top_level.split()}")
    for name in installed:
        parts = set(PurePosixPath(name).parts)
        if parts & FORBIDDEN_PARTS or name.endswith((".pyc", ".pyo")):
            problems.append(f"does not belong in the wheel: {name}")
        if name.startswith(("cio_pipeline/worker/emulator/", "cio_pipeline/worker/demo/")):
            problems.append(f"development tooling inside the worker package: {name}")
    for name in sorted(expected - set(installed)):
        problems.append(f"missing from the wheel: {name}")
    for name in sorted(set(installed) - expected):
        problems.append(f"not a product file of the source tree: {name}")
    return problems


def sdist_problems(names: list[str]) -> list[str]:
    """Files of the sdist that are neither the package nor its metadata."""
    problems = []
    for name in names:
        parts = PurePosixPath(name).parts[1:]  # below cio_pipeline-VERSION/
        if not parts or (parts[0] == "cio_pipeline" and not FORBIDDEN_PARTS & set(parts)):
            continue
        if (len(parts) == 1 and parts[0] in SDIST_EXTRAS) or parts[0].endswith(".egg-info"):
            continue
        problems.append(f"does not belong in the sdist: {name}")
    return problems


def print_listing(names: list[str]) -> None:
    """One line per folder: its files, so a reviewer sees the whole wheel at a glance."""
    by_folder: dict[str, list[str]] = defaultdict(list)
    for name in names:
        path = PurePosixPath(name)
        by_folder[str(path.parent)].append(path.name)
    roots = sorted({PurePosixPath(n).parts[0] for n in names if ".dist-info/" not in n})
    print(f"   top-level names: {' '.join(roots)} ({len(names)} files with the metadata)")
    for folder in sorted(by_folder):
        print(f"   {folder}/: {' '.join(sorted(by_folder[folder]))}")


def main(wheel: str, sdist: str, source: str) -> int:
    """Print the wheel's listing and every problem found; 1 if there is any."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        top_level = archive.read(info).decode()
        points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(points).decode()
    with tarfile.open(sdist) as archive:
        sdist_names = [m.name for m in archive.getmembers() if m.isfile()]
    print_listing(names)
    problems = problems_of(names, expected_files(Path(source)), top_level)
    if CONSOLE_SCRIPT not in entry_points:
        problems.append(f"the console script is not {CONSOLE_SCRIPT!r}")
    problems += sdist_problems(sdist_names)
    for problem in problems:
        print(f"wheel: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
