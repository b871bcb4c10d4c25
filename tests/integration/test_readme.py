"""README.md's code blocks run as written: its Python blocks and its ``cio-pipeline`` command
blocks (not the two set-up commands, not install commands), against real Redis, a real
worker and the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def readme_blocks() -> tuple[list[str], list[str]]:
    """(python blocks, cio-pipeline command lines), in README order."""
    python, commands = [], []
    for language, body in _BLOCK.findall(README.read_text(encoding="utf-8")):
        if language == "python":
            python.append(body)
        elif language in ("", "console", "bash", "sh"):
            for line in body.splitlines():
                command = line.split("#", 1)[0].strip()
                if command.startswith("cio-pipeline "):
                    commands.append(command)
    return python, commands


def _env(redis_url: str, emulator: Any) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
    }
    env.update(emulator.worker_env())
    env.update({"REDIS_URL": redis_url, "CIO_QUEUE_PREFIX": "readme", "LOG_FORMAT": "json"})
    return env


def test_the_readme_has_runnable_blocks() -> None:
    python, commands = readme_blocks()
    assert python, "README has no Python block"
    assert any(c.startswith("cio-pipeline worker") for c in commands), commands


def test_every_readme_block_runs_as_written(redis_url: str, emulator: Any) -> None:
    python, commands = readme_blocks()
    env = _env(redis_url, emulator)
    bin_dir = Path(sys.executable).parent
    for block in python:
        done = subprocess.run(
            [sys.executable, "-c", block], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{block}\n{done.stderr[-2000:]}"
    for command in commands:
        argv = command.split()
        argv[0] = str(bin_dir / "cio-pipeline")
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stderr[-2000:]}"
    # What the quickstart queued reached Customer.io (the emulator) through the worker.
    state = emulator.state()
    assert "42" in str(state["people"]), state["people"]
    assert state["sends"], "the quickstart's e-mail was not delivered"
