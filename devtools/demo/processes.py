"""The demo's child processes: the emulator, the webhook receiver and the workers, started as
an operator would.

The receiver (``cio-pipeline webhooks``) listens on a free loopback port with a random signing
key; the emulator posts its signed reporting webhooks there. Both start at once: the emulator
retries a webhook the receiver is not yet there to take, as Customer.io does.

Each child runs in its own session, so the terminal's Ctrl-C reaches only the demo, which then
stops them in order: workers first (they hand back or finish the batch in hand while the
emulator still answers), then the emulator (no more webhooks), then the receiver. Each also
asks Linux for SIGTERM should the demo itself die (``die_with_parent``). Their output goes to
log files in a temporary directory.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from cio_pipeline.devtools.emulator.cli import LISTENING_PREFIX
from cio_pipeline.devtools.emulator.config import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID
from cio_pipeline.devtools.emulator_process import EmulatorHandle
from cio_pipeline.devtools.redis_server import free_port
from cio_pipeline.worker.core.lifecycle import die_with_parent, listening_url
from cio_pipeline.worker.webhooks.serve import LISTENING_PREFIX as RECEIVER_LISTENING_PREFIX

__all__ = ["ChildFailed", "DemoProcesses", "child_environment"]

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 30.0
#: Variables of the user's shell that must not reach the children: the demo sets its own.
_OWN_PREFIXES = ("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_")


class ChildFailed(RuntimeError):
    """A child process did not start, or exited while the demo needed it."""


def child_environment(
    environ: Mapping[str, str], redis_env: Mapping[str, str], prefix: str
) -> dict[str, str]:
    """The environment of every child: the user's, less our own variables, plus the demo's
    Redis variables (``redis_env``: ``REDIS_URL`` and any ``CIO_REDIS_*`` it needs) and a
    random webhook signing key for this run."""
    env = {k: v for k, v in environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(redis_env)
    env.update(
        {
            "CIO_QUEUE_PREFIX": prefix,
            "LOG_FORMAT": "json",
            "CUSTOMERIO_WEBHOOK_SIGNING_KEY": secrets.token_hex(32),
            "CUSTOMERIO_SITE_ID": DEV_SITE_ID,
            "CUSTOMERIO_API_KEY": DEV_API_KEY,
            "CUSTOMERIO_APP_API_KEY": DEV_APP_API_KEY,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class DemoProcesses:
    """Starts the emulator, the receiver and workers; :meth:`stop_all` stops every one."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.workers: list[subprocess.Popen[bytes]] = []
        self.emulator_process: subprocess.Popen[str] | None = None
        self.emulator: EmulatorHandle | None = None
        self.receiver_process: subprocess.Popen[str] | None = None
        #: HTTP client on the emulator's URL (its ``/_emulator`` control calls)
        self.control: httpx.Client | None = None

    def _popen_log(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.logdir / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def _popen_announcing(self, name: str, args: list[str]) -> subprocess.Popen[str]:
        """A child that prints its listening line on stdout; stderr goes to its log."""
        with (self.logdir / f"{name}.log").open("w") as stderr:
            return subprocess.Popen(
                args,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def start_emulator_and_receiver(self, track_rate: float) -> tuple[EmulatorHandle, str]:
        """``python -m cio_pipeline.devtools.emulator`` on a free port, Track limited to
        ``track_rate``/s, posting webhooks to ``cio-pipeline webhooks`` on another; (emulator,
        receiver URL)."""
        receiver_url = f"http://127.0.0.1:{free_port()}"
        self.receiver_process = self._popen_announcing(
            "webhooks",
            [
                sys.executable,
                "-m",
                "cio_pipeline.worker.cli",
                "webhooks",
                "--host",
                "127.0.0.1",
                "--port",
                receiver_url.rsplit(":", 1)[1],
            ],
        )
        # the signing key reaches the emulator in its environment, never on a command line
        process = self._popen_announcing(
            "emulator",
            [
                sys.executable,
                "-m",
                "cio_pipeline.devtools.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--track-rate",
                str(track_rate),
                "--webhook-url",
                f"{receiver_url}/webhooks/customerio",
            ],
        )
        self.emulator_process = process
        url = self._await_listening(process, "emulator", LISTENING_PREFIX)
        self._await_listening(self.receiver_process, "webhooks", RECEIVER_LISTENING_PREFIX)
        self.control = httpx.Client(base_url=url, timeout=10.0)
        self.emulator = EmulatorHandle(
            url, DEV_SITE_ID, DEV_API_KEY, DEV_APP_API_KEY, process, self.control
        )
        self.env.update({"CUSTOMERIO_TRACK_URL": url, "CUSTOMERIO_APP_URL": url})
        return self.emulator, receiver_url

    def _await_listening(self, process: subprocess.Popen[str], name: str, prefix: str) -> str:
        log = f"log: {self.logdir / name}.log"
        try:
            url = listening_url(process, prefix, _START_TIMEOUT_S)
        except TimeoutError:
            raise ChildFailed(
                f"{_TITLES[name]} did not listen within {_START_TIMEOUT_S:.0f} s ({log})"
            ) from None
        if url is None:
            raise ChildFailed(f"{_TITLES[name]} exited ({log})")
        return url

    def start_workers(self, count: int) -> None:
        """``count`` ``cio-pipeline worker`` processes (``python -m cio_pipeline.worker.cli
        worker``)."""
        for n in range(count):
            self.workers.append(
                self._popen_log(
                    f"worker-{n + 1}",
                    [
                        sys.executable,
                        "-m",
                        "cio_pipeline.worker.cli",
                        "worker",
                        "--name",
                        f"ciodemo-{os.getpid()}-{n + 1}",
                    ],
                )
            )

    def check_alive(self) -> None:
        """Raise :class:`ChildFailed` if a worker or the emulator has exited."""
        for n, worker in enumerate(self.workers, 1):
            if worker.poll() is not None:
                raise ChildFailed(
                    f"worker {n} exited with {worker.returncode} "
                    f"(log: {self.logdir / f'worker-{n}.log'})"
                )
        for name, process in (
            ("emulator", self.emulator_process),
            ("webhooks", self.receiver_process),
        ):
            if process is not None and process.poll() is not None:
                raise ChildFailed(f"{_TITLES[name]} exited (log: {self.logdir / name}.log)")

    def stop_all(self) -> None:
        """SIGTERM the workers and wait, then the emulator, then the receiver; SIGKILL
        whatever lingers."""
        _stop([*self.workers])
        if self.control is not None:
            self.control.close()
            self.control = None
        for process in (self.emulator_process, self.receiver_process):
            if process is not None:
                _stop([process])


_TITLES = {"emulator": "the emulator", "webhooks": "the webhook receiver"}


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
