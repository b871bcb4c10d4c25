"""The demo's child processes: the emulator and the workers, started as an operator would.

Each child runs in its own session, so the terminal's Ctrl-C reaches only the demo, which then
stops them in order: workers first (they hand back or finish the batch in hand while the
emulator still answers), then the emulator. Each also asks Linux for SIGTERM should the demo
itself die (``die_with_parent``). Their output goes to log files in a temporary directory.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from worker.core.lifecycle import die_with_parent
from worker.emulator.cli import LISTENING_PREFIX
from worker.emulator.config import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID
from worker.emulator.testing import EmulatorHandle

__all__ = ["ChildFailed", "DemoProcesses", "child_environment"]

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 30.0
#: Variables of the user's shell that must not reach the children: the demo sets its own.
_OWN_PREFIXES = ("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_")


class ChildFailed(RuntimeError):
    """A child process did not start, or exited while the demo needed it."""


def child_environment(environ: Mapping[str, str], redis_url: str, prefix: str) -> dict[str, str]:
    """The environment of every child: the user's, less our own variables, plus the demo's."""
    env = {k: v for k, v in environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update({
        "REDIS_URL": redis_url, "CIO_QUEUE_PREFIX": prefix, "LOG_FORMAT": "json",
        "CUSTOMERIO_SITE_ID": DEV_SITE_ID, "CUSTOMERIO_API_KEY": DEV_API_KEY,
        "CUSTOMERIO_APP_API_KEY": DEV_APP_API_KEY, "PYTHONUNBUFFERED": "1",
    })
    return env


class DemoProcesses:
    """Starts the emulator and workers; :meth:`stop_all` stops every one of them."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.workers: list[subprocess.Popen[bytes]] = []
        self.emulator_process: subprocess.Popen[str] | None = None
        self.emulator: EmulatorHandle | None = None
        self._client: httpx.Client | None = None

    def _popen_log(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.logdir / f"{name}.log").open("wb") as log:
            return subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=die_with_parent)

    def start_emulator(self, track_rate: float) -> EmulatorHandle:
        """``python -m worker.emulator`` on a free port, Track limited to ``track_rate``/s."""
        args = [sys.executable, "-m", "worker.emulator", "--host", "127.0.0.1", "--port", "0",
                "--track-rate", str(track_rate)]
        with (self.logdir / "emulator.log").open("w") as stderr:
            process = subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE,
                                       stderr=stderr, text=True, start_new_session=True,
                                       preexec_fn=die_with_parent)
        self.emulator_process = process
        url = self._await_listening(process)
        self._client = httpx.Client(base_url=url, timeout=10.0)
        self.emulator = EmulatorHandle(url, DEV_SITE_ID, DEV_API_KEY, DEV_APP_API_KEY,
                                       process, self._client)
        self.env.update({"CUSTOMERIO_TRACK_URL": url, "CUSTOMERIO_APP_URL": url})
        return self.emulator

    def _await_listening(self, process: subprocess.Popen[str]) -> str:
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: IO[str]) -> None:
            # drains stdout for the life of the process, so the child never blocks on it
            for line in stream:
                lines.put(line)
            lines.put(None)

        assert process.stdout is not None  # we asked for a pipe
        threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ChildFailed(f"the emulator did not listen within {_START_TIMEOUT_S:.0f} s"
                                  f" (log: {self.logdir / 'emulator.log'})") from None
            if line is None:
                raise ChildFailed(f"the emulator exited (log: {self.logdir / 'emulator.log'})")
            if line.startswith(LISTENING_PREFIX):
                return line[len(LISTENING_PREFIX):].strip()

    def start_workers(self, count: int) -> None:
        """``count`` ``cio-pipeline worker`` processes (``python -m worker.cli worker``)."""
        for n in range(count):
            self.workers.append(self._popen_log(
                f"worker-{n + 1}",
                [sys.executable, "-m", "worker.cli", "worker", "--name", f"ciodemo-{os.getpid()}"
                 f"-{n + 1}"],
            ))

    def check_alive(self) -> None:
        """Raise :class:`ChildFailed` if a worker or the emulator has exited."""
        for n, worker in enumerate(self.workers, 1):
            if worker.poll() is not None:
                raise ChildFailed(f"worker {n} exited with {worker.returncode} "
                                  f"(log: {self.logdir / f'worker-{n}.log'})")
        if self.emulator_process is not None and self.emulator_process.poll() is not None:
            raise ChildFailed(f"the emulator exited (log: {self.logdir / 'emulator.log'})")

    def stop_all(self) -> None:
        """SIGTERM the workers and wait, then the emulator; SIGKILL whatever lingers."""
        _stop([*self.workers])
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.emulator_process is not None:
            _stop([self.emulator_process])


def _stop(processes: list[subprocess.Popen[bytes]] | list[subprocess.Popen[str]]) -> None:
    live = [p for p in processes if p.poll() is None]
    for process in live:
        process.terminate()
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    for process in live:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
