"""``running_receiver``: ``cio-pipeline webhooks`` as a subprocess, for tests and benchmarks."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

from worker.core.lifecycle import die_with_parent

__all__ = ["running_receiver"]

_PREFIX = "webhooks listening on "


def _listening_url(process: subprocess.Popen[str], timeout_s: float) -> str:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:  # drained for the life of the process: it never blocks on it
            lines.put(line)
        lines.put(None)

    assert process.stdout is not None  # we asked for a pipe
    threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            raise RuntimeError(f"webhook receiver not listening after {timeout_s} s") from None
        if line is None:
            raise RuntimeError(f"webhook receiver exited with {process.wait(timeout=5)}")
        if line.startswith(_PREFIX):
            return line[len(_PREFIX):].strip()


@contextmanager
def running_receiver(
    env: Mapping[str, str], *, log_path: str = os.devnull, start_timeout_s: float = 20.0
) -> Iterator[str]:
    """Start the receiver on a free loopback port with ``env`` (REDIS_URL, the signing key,
    ...); yields its base URL; stops it at the end. Its log goes to ``log_path``."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "webhooks", "--host", "127.0.0.1", "--port", "0"],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
            stderr=log, text=True, preexec_fn=die_with_parent,
        )
    try:
        yield _listening_url(process, start_timeout_s)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
