"""The commands the demo suggests at its end work as printed, from the folder it ran in."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from cio_pipeline.devtools.demo.hints import keep_command, look_next

VENV_HOME = Path(sys.executable).parent.parent.parent  # the folder holding .venv


def _program(line: str) -> str:
    words = shlex.split(line.split("   # ")[0])
    return next(w for w in words if "=" not in w)  # after the VAR=value words


def test_every_suggested_program_exists_from_the_folder_the_demo_ran_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(VENV_HOME)
    lines = [keep_command(), *look_next("redis://127.0.0.1:6390/0", "ciodemo")]
    for line in lines:
        program = _program(line)
        # a path from the folder the demo ran in (the venv's, e.g. .venv/bin/...), or absolute
        assert "/bin/" in program and Path(program).is_file(), line


def test_no_redis_url_in_the_dashboards_arguments() -> None:
    dashboard = look_next("redis://:secret@127.0.0.1:6390/0", "ciodemo")[0]
    words = shlex.split(dashboard)
    assert words[0] == "RQ_DASHBOARD_REDIS_URL=redis://:secret@127.0.0.1:6390/0"
    assert not [w for w in words[1:] if "secret" in w]
    assert "--redis-url" not in words
