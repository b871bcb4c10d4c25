"""``running_receiver``: ``cio-pipeline webhooks`` as a subprocess, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from cio_pipeline.worker.core.lifecycle import die_with_parent, listening_url, stop

__all__ = ["running_receiver"]

_PREFIX = "webhooks listening on "


def _listening_url(process: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        url = listening_url(process, _PREFIX, timeout_s)
    except TimeoutError:
        raise RuntimeError(f"webhook receiver not listening after {timeout_s} s") from None
    if url is None:
        raise RuntimeError(f"webhook receiver exited with {process.wait(timeout=5)}")
    return url


@contextmanager
def running_receiver(
    env: Mapping[str, str], *, log_path: str = os.devnull, start_timeout_s: float = 20.0
) -> Iterator[str]:
    """Start the receiver on a free loopback port with ``env`` (REDIS_URL, the signing key,
    ...); yields its base URL; stops it at the end. Its log goes to ``log_path``."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cio_pipeline.worker.cli",
                "webhooks",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            preexec_fn=die_with_parent,
        )
    try:
        yield _listening_url(process, start_timeout_s)
    finally:
        stop(process)
