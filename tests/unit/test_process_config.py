"""config/: supervisord and systemd run the production processes of Procfile, on loopback, and
no emulator (development tooling: Procfile.dev)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "config"
PRODUCTION = {"worker", "webhooks", "metrics", "rq-dashboard"}


def _program(command: str) -> str:
    """The process a command line runs: a cio-pipeline sub-command, or rq-dashboard."""
    words = command.replace("'", " ").split()
    for i, word in enumerate(words):
        if word.endswith("/cio-pipeline"):
            return words[i + 1]
        if word.endswith("/rq-dashboard"):
            return "rq-dashboard"
    raise AssertionError(f"runs neither cio-pipeline nor rq-dashboard: {command}")


def _supervisord_commands() -> list[str]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=None)
    parser.read(CONFIG / "supervisord.conf")
    return [parser[s]["command"] for s in parser.sections() if s.startswith("program:")]


def _systemd_commands() -> dict[Path, str]:
    found = {}
    for unit in sorted(CONFIG.glob("*.service")):
        lines = unit.read_text().splitlines()
        (exec_start,) = [ln.split("=", 1)[1] for ln in lines if ln.startswith("ExecStart=")]
        found[unit] = exec_start
    return found


@pytest.mark.parametrize("source", ["supervisord", "systemd"])
def test_the_production_processes_and_no_emulator(source: str) -> None:
    commands = (
        _supervisord_commands() if source == "supervisord" else list(_systemd_commands().values())
    )
    assert {_program(c) for c in commands} == PRODUCTION
    for command in commands:
        assert "--redis-url" not in command  # rq-dashboard reads it from its env file
        if _program(command) in ("webhooks", "metrics"):
            assert ("--host 127.0.0.1" in command) or ("--bind 127.0.0.1" in command), command


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the systemd package)")
    venv_bin = str(Path(sys.executable).parent) + "/"
    for unit in CONFIG.glob("*.service"):  # with executables that exist here
        text = unit.read_text().replace("/opt/cio-pipeline/.venv/bin/", venv_bin)
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
