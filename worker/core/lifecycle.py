"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

__all__ = ["die_with_parent", "listening_url", "stop"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (no-op elsewhere).

    Used in forked children: RQ's scheduler process (forked by a worker: without this, a
    SIGKILLed or OOM-killed worker leaves its scheduler running on its own, holding the
    scheduler lock), and the emulator and worker subprocesses of tests and benchmarks.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def listening_url(process: subprocess.Popen[str], prefix: str, timeout_s: float) -> str | None:
    """Wait for the child's ``<prefix><url>`` line on its stdout (a pipe) and return the URL;
    None when the child exited first. Raises :class:`TimeoutError` after ``timeout_s``.

    The child's stdout is drained in a thread for the life of the process, so the child can
    never block writing to it.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    assert process.stdout is not None  # the caller asked for a pipe
    threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"not listening after {timeout_s:.0f} s") from None
        if line is None:
            return None
        if line.startswith(prefix):
            return line[len(prefix) :].strip()


def stop(process: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """SIGTERM the child and wait for it; SIGKILL it if it does not end within ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
