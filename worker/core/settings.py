"""Worker settings: credentials, hosts, timeouts, rate limits, retry and batching knobs.

A frozen dataclass built from the environment like :class:`producer.settings.Settings` (which it
embeds as ``queue``): every bad value raises :class:`SettingsError` naming the variable. The
credentials live only here, in the worker's process, never in Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from producer.errors import SettingsError
from producer.regions import Region, Regions
from producer.settings import EnvReader, Settings

__all__ = ["REGIONS", "WorkerSettings"]

#: Customer.io's regions by name (``us``, ``eu``), with their hosts.
REGIONS: dict[str, Region] = Regions.by_name()


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker process (and ``cio-pipeline check``) needs."""

    queue: Settings = field(default_factory=Settings)
    # credentials (never logged, never stored in Redis)
    site_id: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    app_api_key: str | None = field(default=None, repr=False)
    region: str = "us"
    track_url: str | None = None  # overrides the region's Track host (emulator, proxy)
    app_url: str | None = None  # overrides the region's App host
    # HTTP
    http_connect_timeout_s: float = 5.0
    http_read_timeout_s: float = 10.0
    # rate limits, requests per second, shared by every worker on every host
    track_rate: float = 100.0
    transactional_rate: float = 100.0
    app_rate: float = 10.0
    rate_burst: int = 0
    rate_headroom: float = 0.03  # run this fraction below each rate, for network jitter
    # retries
    max_attempts: int = 10
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    max_age_s: float = 86_400.0
    send_at_least_once: bool = False
    delivery_record_ttl_s: int = 7 * 86_400
    dead_letter_ttl_days: int = 30
    # Track batching
    lease_ttl_s: float = 10.0
    # Redis outages: the longest wait between two reconnect attempts
    redis_retry_cap_s: float = 5.0
    batch_max_ops: int = 1000
    batch_max_bytes: int = 475_000
    batch_linger_ms: int = 50
    track_keep_delivered_s: int = 0  # 0 = delete a delivered Track job when its batch settles
    # logging
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    webhook_signing_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise SettingsError(f"CUSTOMERIO_REGION must be us or eu, got {self.region!r}")
        for name, url in (
            ("CUSTOMERIO_TRACK_URL", self.track_url),
            ("CUSTOMERIO_APP_URL", self.app_url),
        ):
            if url is not None and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{name} must start with http:// or https://, got {url!r}")
        if self.backoff_cap_s < self.backoff_base_s:
            raise SettingsError("CIO_BACKOFF_CAP_S must be >= CIO_BACKOFF_BASE_S")
        for name, value, low, high, unit in self._ranges():
            if not low <= value <= high:
                raise SettingsError(f"{name} must be {unit} between {low} and {high}, got {value}")

    def _ranges(self) -> list[tuple[str, float, float, float, str]]:
        """(variable, value, lowest, highest, what) of every bounded number."""
        inf = float("inf")
        # A batch may hold one operation of up to 32 KB, and the request must stay < 500 KB.
        return [
            ("CIO_TRACK_RATE", self.track_rate, 0.001, inf, "requests/s"),
            ("CIO_TRANSACTIONAL_RATE", self.transactional_rate, 0.001, inf, "requests/s"),
            ("CIO_APP_RATE", self.app_rate, 0.001, inf, "requests/s"),
            ("CIO_RATE_HEADROOM", self.rate_headroom, 0.0, 0.5, "a fraction"),
            ("CIO_MAX_ATTEMPTS", self.max_attempts, 1, inf, "a count"),
            ("CIO_BATCH_MAX_OPS", self.batch_max_ops, 1, 10_000, "a count"),
            ("CIO_BATCH_MAX_BYTES", self.batch_max_bytes, 33_000, 500_000, "bytes"),
            ("CIO_HTTP_CONNECT_TIMEOUT_S", self.http_connect_timeout_s, 0.001, inf, "seconds"),
            ("CIO_HTTP_READ_TIMEOUT_S", self.http_read_timeout_s, 0.001, inf, "seconds"),
            ("CIO_LEASE_TTL_S", self.lease_ttl_s, 1, inf, "seconds"),
            ("CIO_TRACK_KEEP_DELIVERED_S", self.track_keep_delivered_s, 0, 7 * 86_400, "seconds"),
            ("CIO_REDIS_RETRY_CAP_S", self.redis_retry_cap_s, 0.1, 300, "seconds"),
        ]

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
        """Build from ``environ`` (default ``os.environ``); raises :class:`SettingsError`."""
        env = EnvReader(environ)
        d = cls()
        return cls(
            queue=Settings.from_env(environ),
            site_id=env.optional_text("CUSTOMERIO_SITE_ID"),
            api_key=env.optional_text("CUSTOMERIO_API_KEY"),
            app_api_key=env.optional_text("CUSTOMERIO_APP_API_KEY"),
            region=env.choice("CUSTOMERIO_REGION", d.region, tuple(REGIONS)),
            track_url=env.optional_text("CUSTOMERIO_TRACK_URL"),
            app_url=env.optional_text("CUSTOMERIO_APP_URL"),
            http_connect_timeout_s=env.number(
                "CIO_HTTP_CONNECT_TIMEOUT_S", d.http_connect_timeout_s
            ),
            http_read_timeout_s=env.number("CIO_HTTP_READ_TIMEOUT_S", d.http_read_timeout_s),
            track_rate=env.number("CIO_TRACK_RATE", d.track_rate),
            transactional_rate=env.number("CIO_TRANSACTIONAL_RATE", d.transactional_rate),
            app_rate=env.number("CIO_APP_RATE", d.app_rate),
            rate_burst=env.integer("CIO_RATE_BURST", d.rate_burst),
            rate_headroom=env.number("CIO_RATE_HEADROOM", d.rate_headroom),
            max_attempts=env.integer("CIO_MAX_ATTEMPTS", d.max_attempts, minimum=1),
            backoff_base_s=env.number("CIO_BACKOFF_BASE_S", d.backoff_base_s),
            backoff_cap_s=env.number("CIO_BACKOFF_CAP_S", d.backoff_cap_s),
            max_age_s=env.number("CIO_MAX_AGE_S", d.max_age_s),
            send_at_least_once=env.flag("CIO_SEND_AT_LEAST_ONCE", d.send_at_least_once),
            delivery_record_ttl_s=env.integer(
                "CIO_DELIVERY_RECORD_TTL_S", d.delivery_record_ttl_s, minimum=60
            ),
            dead_letter_ttl_days=env.integer(
                "CIO_DEAD_LETTER_TTL_DAYS", d.dead_letter_ttl_days, minimum=1
            ),
            lease_ttl_s=env.number("CIO_LEASE_TTL_S", d.lease_ttl_s),
            redis_retry_cap_s=env.number("CIO_REDIS_RETRY_CAP_S", d.redis_retry_cap_s),
            batch_max_ops=env.integer("CIO_BATCH_MAX_OPS", d.batch_max_ops, minimum=1),
            batch_max_bytes=env.integer("CIO_BATCH_MAX_BYTES", d.batch_max_bytes, minimum=1),
            batch_linger_ms=env.integer("CIO_BATCH_LINGER_MS", d.batch_linger_ms),
            track_keep_delivered_s=env.integer(
                "CIO_TRACK_KEEP_DELIVERED_S", d.track_keep_delivered_s
            ),
            log_format=env.choice("LOG_FORMAT", d.log_format, ("auto", "json", "console")),
            log_level=env.choice("LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
            webhook_signing_key=env.optional_text("CUSTOMERIO_WEBHOOK_SIGNING_KEY"),
        )
