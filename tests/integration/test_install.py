"""A core install (no extras, as a production image installs it) runs every core command.

The package is installed, non-editable, into a fresh venv of its own; the commands that need
an extra end with exit 2 and one line naming the extra, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cio_pipeline.worker.core.extras import EXTRA_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_extra_the_cli_checks_is_declared_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(EXTRA_MODULES) <= set(declared)


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv holding cio-pipeline alone, built from a copy of the source (so the build
    writes nothing into the work tree)."""
    base = tmp_path_factory.mktemp("core-install")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # the import root (its links to the folders beside it kept as links) and those folders
    for package in ("cio_pipeline", "producer", "worker", "devtools"):
        shutil.copytree(
            ROOT / package,
            source / package,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    yield venv


def _run(
    venv: Path,
    *args: str,
    redis_url: str = "redis://127.0.0.1:1/0",
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "PYTHON", "VIRTUAL_ENV"))
    }
    env["REDIS_URL"] = redis_url
    # run from the venv, away from the work tree, so the source checkout cannot be imported
    return subprocess.run([*args], cwd=venv, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.integration
def test_core_install_has_no_extras(core_venv: Path) -> None:
    probe = _run(
        core_venv,
        str(core_venv / "bin" / "python"),
        "-c",
        "import importlib.util as u, sys; "
        "sys.exit(any(u.find_spec(m) for m in ('starlette', 'uvicorn', 'rich')))",
    )
    assert probe.returncode == 0, "the core venv holds an extra's module"


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
    ],
)
def test_help_of_every_command(core_venv: Path, args: tuple[str, ...]) -> None:
    result = _run(core_venv, str(core_venv / "bin" / "cio-pipeline"), *args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: cio-pipeline" in result.stdout


@pytest.mark.integration
def test_dlq_list_and_producer_against_real_redis(
    core_venv: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    code = (
        "from cio_pipeline.producer import CustomerIO, Settings; import os; "
        "cio = CustomerIO(settings=Settings(redis_url=os.environ['REDIS_URL'])); "
        "print(cio.identify('42', email='ann@example.com'))"
    )
    produced = _run(core_venv, str(core_venv / "bin" / "python"), "-c", code, redis_url=redis_url)
    assert produced.returncode == 0, produced.stderr
    job_id = produced.stdout.strip()
    assert redis_client.exists(f"rq:job:{job_id}")
    listed = _run(
        core_venv, str(core_venv / "bin" / "cio-pipeline"), "dlq", "list", redis_url=redis_url
    )
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    for command in (("stats",), ("stats", "--json"), ("health",)):  # core commands too
        ran = _run(
            core_venv, str(core_venv / "bin" / "cio-pipeline"), *command, redis_url=redis_url
        )
        assert "Traceback" not in ran.stderr, ran.stderr
        assert ran.returncode == (1 if command == ("health",) else 0), ran.stderr


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
def test_a_command_without_its_extra_names_it(
    core_venv: Path, command: tuple[str, ...], extra: str
) -> None:
    result = _run(core_venv, str(core_venv / "bin" / command[0]), *command[1:])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pip install 'cio-pipeline[{extra}]'" in lines[0]


@pytest.mark.integration
def test_import_runs_on_a_core_install(
    core_venv: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("id,plan\np1,pro\np2,free\n")
    result = _run(
        core_venv, str(core_venv / "bin" / "cio-pipeline"), "import", str(rows), redis_url=redis_url
    )
    assert result.returncode == 0, result.stderr
    assert "operations enqueued: 2" in result.stdout
    assert sum(redis_client.llen(f"rq:queue:cio-track-{p}") for p in range(8)) == 2
