"""Producer settings: one frozen dataclass, built from the environment.

Each field is bound to its variable's declaration in :mod:`cio_pipeline.producer.variables` (name,
default, range, meaning), which also lists every variable the project reads (documented in
``config/example.env``). An unknown ``CIO_*``/``CUSTOMERIO_*`` variable is never silently
ignored: the worker and the commands (``strict``) refuse it with a :class:`SettingsError`,
because a misspelt knob that does nothing is worse than a stop at start-up; the producer, a
library inside someone else's process whose environment may hold its own ``CIO_SITE_ID``,
warns once (:class:`~cio_pipeline.producer.errors.UnknownSettingWarning`) and goes on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.producer.masking import mask_url
from cio_pipeline.producer.redis_endpoint import check_endpoint
from cio_pipeline.producer.regions import Region, Regions
from cio_pipeline.producer.unknown_variables import check_unknown, warn_unknown
from cio_pipeline.producer.variables import (
    BY_NAME,
    check_fields,
    env_field,
    read_fields,
)

__all__ = ["KNOWN_VARIABLES", "Settings", "check_region"]

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
    # a send's record is written when it is enqueued (cio_pipeline.producer.send_records)
    delivery_record_ttl_s: int = env_field("CIO_DELIVERY_RECORD_TTL_S")
    # privacy (cio_pipeline.producer.erase)
    erase_retention_s: int = env_field("CIO_ERASE_RETENTION_S")

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                "REDIS_URL must start with redis://, rediss:// or unix://, "
                f"got {mask_url(self.redis_url)!r}"
            )
        _check_url_parts(self.redis_url)
        if not self.queue_prefix or not all(c.isalnum() or c in "-_" for c in self.queue_prefix):
            raise SettingsError(
                "CIO_QUEUE_PREFIX must be non-empty and use only letters, digits, '-' and '_' "
                f"(Redis Cluster hash tags are not supported); got {self.queue_prefix!r}"
            )
        check_endpoint(self)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, strict: bool = False
    ) -> Settings:
        """Build from ``environ`` (default ``os.environ``); raises :class:`SettingsError` for
        a bad value. An unknown ``CIO_*``/``CUSTOMERIO_*`` variable is warned about
        (:class:`UnknownSettingWarning`, once) and ignored, or with ``strict`` (the worker
        and the commands) refused with a :class:`SettingsError`."""
        environ = os.environ if environ is None else environ
        if strict:
            check_unknown(environ)
        else:
            warn_unknown(environ)
        return cls(**read_fields(cls, environ))


def _check_url_parts(url: str) -> None:
    """A port and a database number redis-py can use (it would raise a bare ValueError)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SettingsError(
            f"REDIS_URL has a port that is not a number from 1 to 65535: {mask_url(url)!r}"
        ) from None
    if port == 0:
        raise SettingsError(f"REDIS_URL has port 0: {mask_url(url)!r}")
    db = parts.path.strip("/") if parts.scheme != "unix" else ""
    if db and not db.isdigit():
        raise SettingsError(
            f"REDIS_URL's path must be a database number (/0), got {mask_url(url)!r}"
        )


def check_region(region: Region, environ: Mapping[str, str] | None = None) -> None:
    """Refuse an SDK ``region=`` the workers will not deliver to.

    The producer only enqueues: the worker sends, to the region of its own
    ``CUSTOMERIO_REGION``, so a region given here cannot choose the hosts. Rather than
    ignore it silently, it must agree with ``CUSTOMERIO_REGION`` as this process sees it
    (the same environment file as the workers', or the variable set here too); the default,
    ``Regions.US``, is always accepted, since it cannot be told from an argument not given.
    Raises :class:`SettingsError` naming both.
    """
    if region == Regions.US:
        return
    environ = os.environ if environ is None else environ
    workers = BY_NAME["CUSTOMERIO_REGION"].read(environ)
    if region.name != workers:
        raise SettingsError(
            f"region=Regions.{region.name.upper()}, but CUSTOMERIO_REGION is {workers!r} "
            "here: the workers send to the region of their own CUSTOMERIO_REGION (this "
            f"producer only enqueues), so set CUSTOMERIO_REGION={region.name} for the workers "
            "and in this process's environment, or drop region="
        )
