"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import signal
import sys

__all__ = ["die_with_parent"]

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
