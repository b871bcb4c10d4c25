"""Integration fixtures (helpers in support.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import PrivateRedis, WorkerFleet, free_port


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A started private redis-server, stopped at the end of the test."""
    for attempt in range(3):
        # the free port may be taken before redis-server binds it (parallel tests, other
        # sessions on this machine): then another one
        server = PrivateRedis(free_port(), tmp_path)
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    yield server
    server.stop()


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A running emulator subprocess
    (``cio_pipeline.devtools.emulator_process.running_emulator``)."""
    from cio_pipeline.devtools.emulator_process import running_emulator

    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Any]:
    """One emulator subprocess for a whole test module (seeded faults)."""
    from cio_pipeline.devtools.emulator_process import running_emulator

    with running_emulator(seed=1) as handle:
        yield handle


@pytest.fixture
def emu(module_emulator: Any) -> Any:
    """The module's emulator, with empty state and no faults."""
    module_emulator.reset()
    module_emulator.clear_faults()
    return module_emulator


def _fleet_env(redis_url: str, emulator: Any) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
    }
    env.update(emulator.worker_env())
    env.update({"REDIS_URL": redis_url, "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture
def fleet(redis_url: str, emulator: Any, tmp_path: Path) -> Iterator[WorkerFleet]:
    """Worker subprocesses pointed at the test's Redis database and the emulator."""
    workers = WorkerFleet(_fleet_env(redis_url, emulator), tmp_path, [])
    yield workers
    workers.stop_all()


@pytest.fixture
def private_fleet(
    private_redis: PrivateRedis, emulator: Any, tmp_path: Path
) -> Iterator[WorkerFleet]:
    """Worker subprocesses pointed at the test's private redis-server and the emulator."""
    workers = WorkerFleet(_fleet_env(private_redis.url, emulator), tmp_path, [])
    yield workers
    workers.stop_all()
