"""Producer settings: one frozen dataclass, built from the environment.

Each field is bound to its variable's declaration in :mod:`cio_pipeline.producer.variables` (name,
default, range, meaning), which also lists every variable the project reads (documented in
``config/example.env``); an unknown ``CIO_*`` variable is reported as a :class:`SettingsError`
rather than silently ignored, because a misspelt knob that does nothing is worse than a crash at
start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.producer.redis_endpoint import check_endpoint
from cio_pipeline.producer.variables import (
    BY_NAME,
    check_fields,
    check_unknown,
    env_field,
    read_fields,
)

__all__ = ["KNOWN_VARIABLES", "Settings"]

#: Every environment variable the project reads (producer, worker, emulator, CLI).
KNOWN_VARIABLES: Final = frozenset(BY_NAME)


@dataclass(frozen=True)
class Settings:
    """What the producer needs: where Redis is and how the queues are named."""

    redis_url: str = env_field("REDIS_URL")
    queue_prefix: str = env_field("CIO_QUEUE_PREFIX")
    partitions: int = env_field("CIO_PARTITIONS")
    redis_timeout_s: float = env_field("CIO_REDIS_TIMEOUT_S")
    # beyond one Redis server (cio_pipeline.producer.redis_endpoint)
    redis_tls_ca_file: str | None = env_field("CIO_REDIS_TLS_CA_FILE")
    redis_tls_cert_file: str | None = env_field("CIO_REDIS_TLS_CERT_FILE")
    redis_tls_key_file: str | None = env_field("CIO_REDIS_TLS_KEY_FILE")
    redis_tls_check_hostname: bool = env_field("CIO_REDIS_TLS_CHECK_HOSTNAME")
    redis_sentinels: str | None = env_field("CIO_REDIS_SENTINELS")
    redis_sentinel_master: str | None = env_field("CIO_REDIS_SENTINEL_MASTER")
    redis_min_replicas: int = env_field("CIO_REDIS_MIN_REPLICAS")
    redis_replica_timeout_ms: int = env_field("CIO_REDIS_REPLICA_TIMEOUT_MS")
    # privacy (cio_pipeline.producer.erase)
    erase_retention_s: int = env_field("CIO_ERASE_RETENTION_S")

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                "REDIS_URL must start with redis://, rediss:// or unix://, "
                f"got {_redact_url(self.redis_url)!r}"
            )
        if not self.queue_prefix or not all(c.isalnum() or c in "-_{}" for c in self.queue_prefix):
            raise SettingsError(
                "CIO_QUEUE_PREFIX must be non-empty and use only letters, digits, '-', '_' "
                f"and '{{}}' (for a Redis Cluster hash tag); got {self.queue_prefix!r}"
            )
        check_endpoint(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build from ``environ`` (default ``os.environ``); raises :class:`SettingsError`."""
        environ = os.environ if environ is None else environ
        check_unknown(environ)
        return cls(**read_fields(cls, environ))


def _redact_url(url: str) -> str:
    """Hide a password in a URL before it goes into an error message."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
