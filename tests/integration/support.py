"""Helpers of the integration tests: private redis-server processes, worker subprocesses,
bounded waiting. The fixtures that use them are in conftest.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from cio_pipeline.devtools.emulator_process import die_with_parent
from cio_pipeline.devtools.redis_server import server_args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateRedis:
    """A redis-server of the test's own on a loopback port; stop/start it at will.

    Its RDB file lives in ``workdir``: :meth:`shutdown_save` then :meth:`start` is a Redis
    restart that keeps the data. ``maxmemory`` (e.g. ``"4mb"``) caps it with ``noeviction``,
    like a Redis that fills up."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    maxmemory: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                *server_args(self.port, self.workdir),
                *(
                    ["--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction"]
                    if self.maxmemory
                    else []
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(
                        f"private redis-server on {self.port} did not start"
                    ) from None
                time.sleep(0.02)  # polling a server that exposes no readiness event
            finally:
                client.close()

    def shutdown_save(self, timeout_s: float = 30.0) -> None:
        """``SHUTDOWN SAVE``: the data goes to the RDB file, every client is cut off."""
        assert self.process is not None
        client = redis.Redis(port=self.port, socket_connect_timeout=2)
        try:
            client.shutdown(save=True)
        except redis.ConnectionError:
            pass  # the server closes our connection as it goes
        finally:
            client.close()
        self.process.wait(timeout=timeout_s)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


# ---- worker subprocesses ------------------------------------------------------------------

#: How long a clean-up waits for workers before SIGKILL: a worker stops within 2 s of SIGTERM
#: (issue 16), so 3 s. Tests that check a stop call ``WorkerProcess.stop()``, with its own
#: bound; a clean-up checks nothing, and a slow stop (the rq/redis-py SIGTERM hang, up to 60 s)
#: must not hold the suite: it cost 10 s in most fleet teardowns.
TEARDOWN_STOP_S = 3.0


@dataclass
class WorkerProcess:
    """One ``cio-pipeline worker`` subprocess; its log lines go to ``log_path``."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait for the exit code (SIGKILL after ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class WorkerFleet:
    """Starts worker subprocesses with a shared environment; stops them all at the end."""

    env: dict[str, str]
    workdir: Path
    workers: list[WorkerProcess]

    def start(self, count: int = 1, *args: str, **env: str) -> list[WorkerProcess]:
        started = []
        for _ in range(count):
            log_path = self.workdir / f"worker-{len(self.workers)}.log"
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", "cio_pipeline.worker.cli", "worker", *args],
                    env={**self.env, **env},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            worker = WorkerProcess(process, log_path)
            self.workers.append(worker)
            started.append(worker)
        return started

    def run_burst(self, timeout_s: float = 60.0, **env: str) -> WorkerProcess:
        """Run one ``--burst`` worker to completion; fails the test on a non-zero exit."""
        (worker,) = self.start(1, "--burst", **env)
        try:
            code = worker.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            # e.g. rq 3 with redis-py 8.2: RQ's teardown waits up to 60 s in unsubscribe()
            # (issue 16, item 2); its last log line then says "unsubscribing from channel"
            pytest.fail(
                f"the burst worker did not exit within {timeout_s} s; its log ends with:\n"
                + "\n".join(worker.log().splitlines()[-5:])
            )
        assert code == 0, worker.log()[-3000:]
        return worker

    def stop_all(self, timeout_s: float = TEARDOWN_STOP_S) -> None:
        """Clean-up: SIGTERM every worker at once, then wait for them within one bound (SIGKILL
        for any still running then), so a fleet stops in the time of its slowest worker."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        deadline = time.monotonic() + timeout_s
        try:
            for worker in self.workers:
                try:
                    worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass  # killed below
        finally:
            # also when the wait is cut short (pytest-timeout): a worker left running would
            # take the next test's jobs from the same Redis database
            for worker in self.workers:
                if worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait(timeout=10)


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    what: str,
    diagnose: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` (bounded) until it holds; fail the test with ``what`` (and what
    ``diagnose`` says about the state of things) otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            detail = f": {diagnose()}" if diagnose is not None else ""
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}{detail}")
        time.sleep(0.05)


def enqueue_sends(
    redis_url: str,
    count: int,
    start: int = 0,
    *,
    data: dict[str, Any] | None = None,
    **send_kwargs: Any,
) -> list[str]:
    """``count`` e-mail sends numbered ``start``.. (``message_data["n"]``), in one pipeline;
    ``data`` is added to each message_data, ``send_kwargs`` go to ``send_email``."""
    from cio_pipeline.producer import APIClient, SendEmailRequest, Settings

    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    with api.pipeline() as pipe:
        ids = [
            pipe.send_email(
                SendEmailRequest(
                    transactional_message_id=1,
                    to=f"p{n}@example.com",
                    identifiers={"id": str(n)},
                    message_data={"n": n, **(data or {})},
                ),
                **send_kwargs,
            )
            for n in range(start, start + count)
        ]
    api.close()
    return ids


def queue_report(client: redis.Redis, queue: str) -> str:
    """Where a queue's jobs are: queued, in RQ's intermediate queue, in each registry."""
    from rq import Queue
    from rq.registry import (
        FailedJobRegistry,
        FinishedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    q = Queue(queue, connection=client)
    parts = {
        "queued": client.llen(q.key),
        "intermediate": client.llen(q.intermediate_queue_key),
        "started": StartedJobRegistry(queue, connection=client).count,
        "scheduled": ScheduledJobRegistry(queue, connection=client).count,
        "finished": FinishedJobRegistry(queue, connection=client).count,
        "failed": FailedJobRegistry(queue, connection=client).count,
        "workers": client.scard("rq:workers"),
    }
    return ", ".join(f"{k} {v}" for k, v in parts.items())


def track_drained(client: redis.Redis, partitions: int = 8, prefix: str = "cio") -> bool:
    """Every Track partition queue and claimed list is empty: all delivered or dead.

    Tests wait on Redis rather than polling the emulator: its state and request log grow
    with every operation, and serialising them every 50 ms would block its event loop and
    skew the very arrival times a rate test measures.
    """
    with client.pipeline(transaction=False) as pipe:
        for p in range(partitions):
            pipe.llen(f"rq:queue:{prefix}-track-{p}")
            pipe.llen(f"{prefix}:claimed:{p}")
        return sum(pipe.execute()) == 0


def finished_count(client: redis.Redis, queue: str) -> int:
    """How many jobs of ``queue`` finished (RQ's finished-job registry)."""
    from rq.registry import FinishedJobRegistry

    return int(FinishedJobRegistry(queue, connection=client).count)
