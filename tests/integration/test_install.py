"""The built wheel, installed alone (no extras, the lock as constraints), as a production image
or an application installs it.

The wheel is built from a copy of the source (so the build writes nothing into the work tree)
and installed into a fresh venv inside an application folder that has its own ``worker.py``
and ``producer.py`` on the import path: cio_pipeline must never import them. The core install
runs the producer, ``worker``, ``dlq`` and ``check``; the commands that need an extra end with
exit 2 and one line naming the extra and a command that installs it, never a traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import redis

from cio_pipeline.worker.core.extras import EXTRA_MODULES

ROOT = Path(__file__).resolve().parents[2]
_APP_MODULE = "raise SystemExit('the application\\'s own {name}.py was imported')\n"


def test_every_extra_the_cli_checks_is_declared_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(EXTRA_MODULES) <= set(declared)


def _uv() -> str:
    """The pinned uv of .ci/run and demo.sh, else the one on PATH (uv installs the lock)."""
    pinned = ROOT / ".ci" / ".uv" / "bin" / "uv"
    found = str(pinned) if pinned.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to install the lock as constraints: run .ci/run once")
    return found


def _uv_run(*args: str, cwd: Path = ROOT) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [_uv(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built with the locked build tools (``--no-isolation``) from a source copy."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "cio_pipeline", source / "cio_pipeline", symlinks=True)
    for package in ("producer", "worker", "devtools"):
        shutil.copytree(
            ROOT / package,
            source / package,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    command = [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir"]
    built = subprocess.run(
        [*command, str(base), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = base.glob("cio_pipeline-*.whl")
    return found


@pytest.fixture(scope="module")
def constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uv.lock as a constraints file (every extra's pins; the project itself left out)."""
    path = tmp_path_factory.mktemp("lock") / "constraints.txt"
    _uv_run(
        "export", "--frozen", "--no-hashes", "--no-emit-project", "--all-extras", "-o", str(path)
    )
    return path


@dataclass(frozen=True)
class App:
    """An application folder with its own worker.py and producer.py, and a venv holding the
    cio-pipeline wheel alone."""

    folder: Path

    @property
    def python(self) -> str:
        return str(self.folder / ".venv" / "bin" / "python")

    def bin(self, name: str) -> str:
        return str(self.folder / ".venv" / "bin" / name)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        redis_url: str = "redis://127.0.0.1:1/0",
    ) -> subprocess.CompletedProcess[str]:
        """``args`` from the application folder, with that folder first on the import path
        and none of our variables but ``env`` and ``REDIS_URL``."""
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "PYTHON", "VIRTUAL_ENV"))
        }
        clean.update({"REDIS_URL": redis_url, "PYTHONPATH": str(self.folder), **(env or {})})
        return subprocess.run(
            list(args), cwd=self.folder, env=clean, capture_output=True, text=True, timeout=60
        )


def _make_app(folder: Path, wheel: Path, constraints: Path) -> App:
    folder.mkdir()
    for name in ("worker", "producer"):
        (folder / f"{name}.py").write_text(_APP_MODULE.format(name=name))
    base_python = getattr(sys, "_base_executable", sys.executable)
    _uv_run("venv", "--quiet", "--python", base_python, str(folder / ".venv"), cwd=folder)
    _uv_run(
        "pip", "install", "--quiet", "--python", str(folder / ".venv" / "bin" / "python"),
        "-c", str(constraints), str(wheel), cwd=folder,
    )  # fmt: skip
    return App(folder)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, wheel: Path, constraints: Path) -> App:
    """One core install for the module's read-only checks."""
    return _make_app(tmp_path_factory.mktemp("core") / "app", wheel, constraints)


@pytest.mark.integration
def test_the_wheel_installs_one_import_root_and_no_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if ".dist-info/" not in n]
    assert {PurePosixPath(n).parts[0] for n in names} == {"cio_pipeline"}
    parts = {part for n in names for part in PurePosixPath(n).parts}
    assert not parts & {"tests", "bench", ".venv", "__pycache__"}
    # real files under the links, package data included
    for needed in (
        "cio_pipeline/py.typed",  # PEP 561: applications type-check against our annotations
        "cio_pipeline/producer/__init__.py",
        "cio_pipeline/producer/lua/enqueue.lua",
        "cio_pipeline/worker/track/claim_batch.lua",
        "cio_pipeline/devtools/emulator/track-api.openapi.json",
    ):
        assert needed in names
    assert not [
        n
        for n in names
        if n.startswith(("cio_pipeline/worker/emulator/", "cio_pipeline/worker/demo/"))
    ]


@pytest.mark.integration
def test_core_install_has_no_extras(app: App) -> None:
    probe = app.run(
        app.python,
        "-c",
        "import importlib.util as u, sys; "
        "sys.exit(any(u.find_spec(m) for m in ('starlette', 'uvicorn', 'rich')))",
    )
    assert probe.returncode == 0, "the core venv holds an extra's module"


@pytest.mark.integration
def test_the_switch_line_imports_beside_the_applications_own_modules(app: App) -> None:
    result = app.run(
        app.python, "-c", "from cio_pipeline import CustomerIO, APIClient, SendEmailRequest"
    )
    assert result.returncode == 0, result.stderr
    # and the application's modules are still its own
    own = app.run(app.python, "-c", "import worker")
    assert "the application's own worker.py was imported" in own.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    "args",
    [
        (),
        ("worker",),
        ("dlq",),
        ("check",),
        ("emulator",),
        ("demo",),
        ("import",),
        ("stats",),
        ("health",),
        ("metrics",),
        ("webhooks",),
        ("suppressions",),
        ("sends",),
    ],
)
def test_help_of_every_command(app: App, args: tuple[str, ...]) -> None:
    result = app.run(app.bin("cio-pipeline"), *args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: cio-pipeline" in result.stdout


@pytest.mark.integration
def test_core_install_produces_checks_delivers_and_lists(
    app: App, redis_url: str, redis_client: redis.Redis, emulator: Any
) -> None:
    code = (
        "from cio_pipeline import CustomerIO, Settings; import os; "
        "cio = CustomerIO(settings=Settings(redis_url=os.environ['REDIS_URL'])); "
        "print(cio.identify('42', email='ann@example.com'))"
    )
    produced = app.run(app.python, "-c", code, redis_url=redis_url)
    assert produced.returncode == 0, produced.stderr
    assert redis_client.exists(f"rq:job:{produced.stdout.strip()}")

    cio = app.bin("cio-pipeline")
    checked = app.run(cio, "check", env=emulator.worker_env(), redis_url=redis_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    worked = app.run(cio, "worker", "--burst", env=emulator.worker_env(), redis_url=redis_url)
    assert worked.returncode == 0, worked.stderr[-3000:]
    # --burst returned: the identify was delivered before the worker exited
    assert emulator.state()["people"]["42"]["attributes"] == {"email": "ann@example.com"}

    listed = app.run(cio, "dlq", "list", redis_url=redis_url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no dead letters"
    for command in (("stats",), ("stats", "--json"), ("health",)):  # core commands too
        ran = app.run(cio, *command, redis_url=redis_url)
        assert "Traceback" not in ran.stderr, ran.stderr
        assert ran.returncode == (1 if command == ("health",) else 0), ran.stderr


def _missing_extra_line(app: App, *command: str) -> str:
    result = app.run(app.bin(command[0]), *command[1:])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (("cio-pipeline", "emulator"), "emulator"),
        (("cio-pipeline", "demo"), "demo"),
        (("cio-pipeline", "metrics"), "metrics"),
        (("cio-pipeline", "stats", "--watch"), "ops"),
        (("cio-pipeline", "webhooks"), "webhooks"),
        (("python", "-m", "cio_pipeline.devtools.emulator"), "emulator"),
    ],
)
def test_a_command_without_its_extra_names_it_and_how_to_install_it(
    app: App, wheel: Path, command: tuple[str, ...], extra: str
) -> None:
    line = _missing_extra_line(app, *command)
    assert f"needs the '{extra}' extra" in line
    # installed from a wheel file by uv: that file with the extra, into this venv
    assert f"pip install --python {app.python} {shlex.quote(f'{wheel}[{extra}]')}" in line
    assert "'cio-pipeline[" not in line  # not on PyPI: that command cannot work


@pytest.mark.integration
def test_the_printed_install_command_adds_the_extra(
    tmp_path: Path, wheel: Path, constraints: Path
) -> None:
    own = _make_app(tmp_path / "app", wheel, constraints)
    # uv installed the application (INSTALLER=uv), so uv is on its owner's PATH
    path = f"{Path(_uv()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = own.run(own.bin("cio-pipeline"), "metrics", env={"PATH": path})
    assert result.returncode == 2, result.stderr
    command = result.stderr.strip().split("is not installed): ", 1)[1]
    assert command.startswith("uv pip install --python "), command
    env = {**os.environ, "PATH": path, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    installed = subprocess.run(
        command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    probe = own.run(own.python, "-c", "import prometheus_client")
    assert probe.returncode == 0, probe.stderr


@pytest.mark.integration
def test_import_runs_on_a_core_install(
    app: App, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("id,plan\np1,pro\np2,free\n")
    result = app.run(app.bin("cio-pipeline"), "import", str(rows), redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    assert "operations enqueued: 2" in result.stdout
    assert sum(redis_client.llen(f"rq:queue:cio-track-{p}") for p in range(8)) == 2
