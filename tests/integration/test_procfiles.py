"""Procfile (production) and Procfile.dev (the same plus the emulator) under honcho, as an
operator runs them: every process starts and answers, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from process_tree import Proc, alive, answers, descendants, wait_for
from rq import Worker
from support import free_port

from cio_pipeline.devtools.emulator.config import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 90.0  # five Python processes starting on two shared cores
STOP_TIMEOUT_S = 20.0  # honcho SIGKILLs what is left 5 s after its SIGTERM


def _processes(path: Path) -> list[tuple[str, str]]:
    """The ``(name, command)`` lines of a Procfile, in order."""
    lines = path.read_text().splitlines()
    pairs = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return [(name.strip(), command.strip()) for name, command in pairs]


def test_procfile_dev_is_procfile_plus_the_emulator() -> None:
    production = _processes(ROOT / "Procfile")
    development = _processes(ROOT / "Procfile.dev")
    assert [name for name, _ in production] == ["worker", "webhooks", "metrics", "dashboard"]
    assert development[:-1] == production
    name, command = development[-1]
    assert name == "emulator"
    assert "cio-pipeline emulator" in command


def test_the_dashboard_port_does_not_follow_honchos_port() -> None:
    (dashboard,) = [c for n, c in _processes(ROOT / "Procfile") if n == "dashboard"]
    assert "PORT:-" not in dashboard.replace("RQ_DASHBOARD_PORT:-", "")
    assert "--redis-url" not in dashboard  # the URL (and its password) stays out of argv


@contextmanager
def _honcho(procfile: str, env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen[str]]:
    (workdir / "empty.env").write_text("")  # no .env of the developer's is read
    log = (workdir / "honcho.log").open("w")
    command = [str(BIN / "honcho"), "-f", str(ROOT / procfile), "-d", str(workdir)]
    process = subprocess.Popen(
        [*command, "-e", str(workdir / "empty.env"), "start"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, like a shell's foreground job
    )
    family: list[Proc] = []
    try:
        yield process
    finally:
        if process.poll() is None:  # the test failed before its Ctrl-C
            family = descendants(process.pid)
            process.kill()
            process.wait(timeout=10)
            for proc in family:
                if alive(proc):
                    os.kill(proc.pid, signal.SIGKILL)
        log.close()


def _env(redis_url: str, ports: dict[str, int], customerio: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "RQ_DASHBOARD_", "VIRTUAL_ENV"))
    }
    env.update({name: str(port) for name, port in ports.items()})
    env.update(customerio)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "REDIS_URL": redis_url,
            "CUSTOMERIO_WEBHOOK_SIGNING_KEY": "procfile-test-signing-key",
            "PORT": "5300",  # honcho sets its own PORT per process; nothing may follow it
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.dev"])
def test_honcho_starts_every_process_and_ctrl_c_leaves_none(
    procfile: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path, request: Any
) -> None:
    names = ("WEBHOOKS_PORT", "METRICS_PORT", "RQ_DASHBOARD_PORT", "EMULATOR_PORT")
    ports = {name: free_port() for name in names}
    if procfile == "Procfile":  # production: a Customer.io (the emulator) started apart
        emulator = request.getfixturevalue("emulator")
        customerio = emulator.worker_env()
    else:
        emulated = f"http://127.0.0.1:{ports['EMULATOR_PORT']}"
        customerio = {
            "CUSTOMERIO_SITE_ID": DEV_SITE_ID,
            "CUSTOMERIO_API_KEY": DEV_API_KEY,
            "CUSTOMERIO_APP_API_KEY": DEV_APP_API_KEY,
            "CUSTOMERIO_TRACK_URL": emulated,
            "CUSTOMERIO_APP_URL": emulated,
        }
    checks = {
        "worker": lambda: len(Worker.all(connection=redis_client)) == 1,
        "webhooks": lambda: answers(f"http://127.0.0.1:{ports['WEBHOOKS_PORT']}/healthz"),
        "metrics": lambda: answers(f"http://127.0.0.1:{ports['METRICS_PORT']}/metrics"),
        "dashboard": lambda: answers(f"http://127.0.0.1:{ports['RQ_DASHBOARD_PORT']}/"),
    }
    if procfile == "Procfile.dev":
        state = f"http://127.0.0.1:{ports['EMULATOR_PORT']}/_emulator/state"
        checks["emulator"] = lambda: answers(state)

    with _honcho(procfile, _env(redis_url, ports, customerio), tmp_path) as honcho:
        log = tmp_path / "honcho.log"
        deadline = time.monotonic() + START_TIMEOUT_S
        for name, check in checks.items():
            remaining = max(deadline - time.monotonic(), 0.1)
            wait_for(lambda c=check: c() or honcho.poll() is not None, remaining, f"{name} answers")
            assert honcho.poll() is None, log.read_text()[-3000:]
        family = descendants(honcho.pid)
        commands = " | ".join(p.command for p in family)
        assert ("cio-pipeline emulator" in commands) == (procfile == "Procfile.dev")
        assert all(f"cio-pipeline {n}" in commands for n in ("worker", "webhooks", "metrics"))
        assert "rq-dashboard" in commands
        assert redis_url not in commands  # no Redis URL (nor its password) in any argv
        # the dashboard took its Redis from RQ_DASHBOARD_REDIS_URL's default, REDIS_URL
        (worker,) = Worker.all(connection=redis_client)
        dashboard = f"http://127.0.0.1:{ports['RQ_DASHBOARD_PORT']}/0/data/workers.json"
        assert worker.name in httpx.get(dashboard, timeout=10).text

        honcho.send_signal(signal.SIGINT)  # Ctrl-C
        honcho.wait(timeout=STOP_TIMEOUT_S)
        wait_for(lambda: not any(alive(p) for p in family), 10, "every child gone")
    output = log.read_text()
    assert "SIGINT received" in output
    assert "SIGKILL" not in output, output[-3000:]  # each stopped on honcho's SIGTERM
    assert "worker.1 stopped (rc=0)" in output  # the worker finished and exited 0
