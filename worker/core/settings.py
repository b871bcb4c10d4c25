"""Worker settings: credentials, hosts, timeouts, rate limits, retry and batching knobs.

A frozen dataclass built from the environment like :class:`cio_pipeline.producer.settings.Settings`
(which it embeds as ``queue``): every bad value raises :class:`SettingsError` naming the variable.
The credentials live only here, in the worker's process, never in Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.producer.regions import Region, Regions
from cio_pipeline.producer.settings import Settings
from cio_pipeline.producer.variables import check_fields, env_field, read_fields

__all__ = ["REGIONS", "WorkerSettings"]

#: Customer.io's regions by name (``us``, ``eu``), with their hosts.
REGIONS: dict[str, Region] = Regions.by_name()


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker process (and ``cio-pipeline check``) needs."""

    queue: Settings = field(default_factory=Settings)
    # credentials (never logged, never stored in Redis)
    site_id: str | None = env_field("CUSTOMERIO_SITE_ID")
    api_key: str | None = env_field("CUSTOMERIO_API_KEY")
    app_api_key: str | None = env_field("CUSTOMERIO_APP_API_KEY")
    region: str = env_field("CUSTOMERIO_REGION")
    track_url: str | None = env_field("CUSTOMERIO_TRACK_URL")  # emulator, proxy
    app_url: str | None = env_field("CUSTOMERIO_APP_URL")
    webhook_signing_key: str | None = env_field("CUSTOMERIO_WEBHOOK_SIGNING_KEY")
    # HTTP
    http_connect_timeout_s: float = env_field("CIO_HTTP_CONNECT_TIMEOUT_S")
    http_read_timeout_s: float = env_field("CIO_HTTP_READ_TIMEOUT_S")
    # rate limits, requests per second, shared by every worker on every host
    track_rate: float = env_field("CIO_TRACK_RATE")
    transactional_rate: float = env_field("CIO_TRANSACTIONAL_RATE")
    app_rate: float = env_field("CIO_APP_RATE")
    rate_burst: int = env_field("CIO_RATE_BURST")
    rate_headroom: float = env_field("CIO_RATE_HEADROOM")
    # retries and dead letters
    max_attempts: int = env_field("CIO_MAX_ATTEMPTS")
    backoff_base_s: float = env_field("CIO_BACKOFF_BASE_S")
    backoff_cap_s: float = env_field("CIO_BACKOFF_CAP_S")
    max_age_s: float = env_field("CIO_MAX_AGE_S")
    send_at_least_once: bool = env_field("CIO_SEND_AT_LEAST_ONCE")
    delivery_record_ttl_s: int = env_field("CIO_DELIVERY_RECORD_TTL_S")
    dead_letter_ttl_days: int = env_field("CIO_DEAD_LETTER_TTL_DAYS")
    # Track batching
    lease_ttl_s: float = env_field("CIO_LEASE_TTL_S")
    batch_max_ops: int = env_field("CIO_BATCH_MAX_OPS")
    batch_max_bytes: int = env_field("CIO_BATCH_MAX_BYTES")
    batch_linger_ms: int = env_field("CIO_BATCH_LINGER_MS")
    track_keep_delivered_s: int = env_field("CIO_TRACK_KEEP_DELIVERED_S")
    # operations
    counters: bool = env_field("CIO_COUNTERS")
    # reporting webhooks
    webhook_tolerance_s: int = env_field("CIO_WEBHOOK_TOLERANCE_S")
    webhook_path: str = env_field("CIO_WEBHOOK_PATH")
    webhook_max_body_bytes: int = env_field("CIO_WEBHOOK_MAX_BODY_BYTES")
    webhook_redis_timeout_s: float = env_field("CIO_WEBHOOK_REDIS_TIMEOUT_S")
    webhook_hook: str | None = env_field("CIO_WEBHOOK_HOOK")
    webhook_dedup_ttl_s: int = env_field("CIO_WEBHOOK_DEDUP_TTL_S")
    # Redis outages
    redis_retry_cap_s: float = env_field("CIO_REDIS_RETRY_CAP_S")
    # logging
    log_format: str = env_field("LOG_FORMAT")
    log_level: str = env_field("LOG_LEVEL")

    def __post_init__(self) -> None:
        check_fields(self)
        for name, url in (
            ("CUSTOMERIO_TRACK_URL", self.track_url),
            ("CUSTOMERIO_APP_URL", self.app_url),
        ):
            if url is not None and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{name} must start with http:// or https://, got {url!r}")
        if not self.webhook_path.startswith("/"):
            raise SettingsError(f"CIO_WEBHOOK_PATH must start with '/', got {self.webhook_path!r}")
        if self.backoff_cap_s < self.backoff_base_s:
            raise SettingsError("CIO_BACKOFF_CAP_S must be >= CIO_BACKOFF_BASE_S")

    @property
    def track_base_url(self) -> str:
        """Track API base URL: ``CUSTOMERIO_TRACK_URL`` or the region's host."""
        return (self.track_url or REGIONS[self.region].track_url).rstrip("/")

    @property
    def app_base_url(self) -> str:
        """App API base URL: ``CUSTOMERIO_APP_URL`` or the region's host."""
        return (self.app_url or REGIONS[self.region].api_url).rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """Build from ``environ`` (default ``os.environ``); raises :class:`SettingsError`,
        also for an unknown ``CIO_*``/``CUSTOMERIO_*`` variable."""
        environ = os.environ if environ is None else environ
        return cls(queue=Settings.from_env(environ, strict=True), **read_fields(cls, environ))
