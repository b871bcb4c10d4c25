"""How this cio-pipeline was installed, and the commands that work for that install.

cio-pipeline is not on PyPI, so ``pip install 'cio-pipeline[dashboard]'`` cannot work; what
does work depends on where the running copy came from. pip and uv record it in the
distribution's ``direct_url.json`` (PEP 610) and the tool in ``INSTALLER``:

- a checkout, editable (``pip install -e .``, ``uv sync``): ``... install -e '/checkout[x]'``
- a checkout or an sdist/wheel file, not editable: ``... install '/that/path[x]'``
- a VCS URL: ``... install 'cio-pipeline[x] @ git+URL@COMMIT'``
- an index (no ``direct_url.json``): ``... install 'cio-pipeline[x]'``

The command names the interpreter that runs this code (``/venv/bin/python -m pip``, or
``uv pip install --python /venv/bin/python`` when uv installed it: uv's venvs hold no pip; but
``python -m pip`` when no uv is to be found and the environment has pip), so it installs into
the environment that lacks the extra, activated or not.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = [
    "InstallOrigin",
    "install_command",
    "install_origin",
    "origin_from_direct_url",
    "script_command",
]

DISTRIBUTION = "cio-pipeline"


@dataclass(frozen=True)
class InstallOrigin:
    """Where the installed distribution came from.

    ``requirement`` is what an install command names (a path, a direct reference or the bare
    distribution name, without the extra); ``editable`` adds ``-e``; ``installer`` is the tool
    that installed it (``pip``, ``uv``, ...; ``""`` when unknown).
    """

    requirement: str
    editable: bool
    installer: str


def install_origin() -> InstallOrigin:
    """The origin of the running cio-pipeline, read from its distribution's metadata.

    Only a distribution an installer recorded counts: a build leaves ``cio_pipeline.egg-info``
    in the checkout, which ``python -m`` run there would otherwise find first (the current
    folder leads ``sys.path``). Run from a source tree that was never installed
    (``PYTHONPATH=.``), the tree itself.
    """
    installed = [
        dist
        for dist in metadata.distributions(name=DISTRIBUTION)
        if dist.read_text("INSTALLER") is not None
    ]
    if not installed:
        return InstallOrigin(str(_source_root()), editable=True, installer="")
    dist = installed[0]
    installer = (dist.read_text("INSTALLER") or "").strip()
    direct = dist.read_text("direct_url.json")
    if not direct:
        return InstallOrigin(DISTRIBUTION, editable=False, installer=installer)
    return origin_from_direct_url(json.loads(direct), installer)


def origin_from_direct_url(record: dict[str, object], installer: str) -> InstallOrigin:
    """The origin a PEP 610 ``direct_url.json`` record describes (installed by ``installer``)."""
    url = str(record.get("url", ""))
    vcs = record.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        at = f"@{commit}" if commit else ""
        return InstallOrigin(f"{vcs.get('vcs', 'git')}+{url}{at}", False, installer)
    parsed = urlparse(url)
    if parsed.scheme != "file":  # an archive at an https URL: a direct reference works
        return InstallOrigin(url, editable=False, installer=installer)
    path = unquote(parsed.path)
    dir_info = record.get("dir_info")
    editable = isinstance(dir_info, dict) and bool(dir_info.get("editable"))
    return InstallOrigin(path, editable=editable, installer=installer)


def _source_root() -> Path:
    # producer/ and worker/ are linked into cio_pipeline/ from the checkout's top level; the
    # checkout is the folder above the cio_pipeline package.
    return Path(__file__).resolve().parents[2]


def install_command(extra: str, origin: InstallOrigin | None = None) -> str:
    """A shell command that adds ``extra`` to the environment running this code."""
    origin = origin or install_origin()
    target = _with_extra(origin.requirement, extra)
    editable = ["-e"] if origin.editable else []
    uv = _uv() if origin.installer == "uv" else None
    if uv is not None and (uv != "uv" or not _has_pip()):
        # uv's venvs hold no pip; a bare "uv" (none found) only when pip is not there either
        tool = [uv, "pip", "install", "--python", sys.executable]
    else:
        tool = [sys.executable, "-m", "pip", "install"]
    return shlex.join([*tool, *editable, target])


def _with_extra(requirement: str, extra: str) -> str:
    if requirement == DISTRIBUTION:
        return f"{DISTRIBUTION}[{extra}]"
    if "://" in requirement or requirement.startswith(("git+", "hg+", "svn+", "bzr+")):
        return f"{DISTRIBUTION}[{extra}] @ {requirement}"
    # pip and uv both accept a local path followed by extras: '/path/to/checkout[x]'
    return f"{requirement}[{extra}]"


def _has_pip() -> bool:
    import importlib.util

    return importlib.util.find_spec("pip") is not None


def _uv() -> str:
    if shutil.which("uv"):
        return "uv"
    # .ci/run and demo.sh keep a pinned uv in the checkout's .ci/.uv when none is on PATH
    pinned = _source_root() / ".ci" / ".uv" / "bin" / "uv"
    return str(pinned) if pinned.is_file() else "uv"


def script_command(name: str) -> str:
    """How to run console script ``name`` of this environment without activating it.

    The script beside the running interpreter (``.venv/bin/cio-pipeline``), relative to the
    current folder when it lies beneath it; also when it is not there yet, so long as our own
    ``cio-pipeline`` is (an extra installed later puts its scripts beside it). The bare name
    when the interpreter's folder holds neither (scripts went to some other ``bin``).
    """
    folder = Path(sys.executable).parent
    script = folder / name
    if not script.is_file() and not (folder / "cio-pipeline").is_file():
        return name
    cwd = Path.cwd()
    if script.is_relative_to(cwd):
        return shlex.quote(str(script.relative_to(cwd)))
    return shlex.quote(os.path.abspath(script))
