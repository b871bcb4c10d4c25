"""Producer settings: one frozen dataclass, built from the environment.

Every variable this project reads is listed in :data:`KNOWN_VARIABLES` (and documented in
``config/example.env``); an unknown ``CIO_*`` variable is reported as a :class:`SettingsError`
rather than silently ignored, because a misspelt knob that does nothing is worse than a crash at
start-up.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from producer.errors import SettingsError

__all__ = ["KNOWN_VARIABLES", "EnvReader", "Settings"]

#: Every environment variable the project reads (producer, worker, emulator, CLI).
KNOWN_VARIABLES: Final = frozenset(
    {
        # producer
        "REDIS_URL",
        "CIO_QUEUE_PREFIX",
        "CIO_PARTITIONS",
        "CIO_REDIS_TIMEOUT_S",
        # Customer.io credentials and hosts (worker only)
        "CUSTOMERIO_SITE_ID",
        "CUSTOMERIO_API_KEY",
        "CUSTOMERIO_APP_API_KEY",
        "CUSTOMERIO_REGION",
        "CUSTOMERIO_TRACK_URL",
        "CUSTOMERIO_APP_URL",
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY",
        # HTTP
        "CIO_HTTP_CONNECT_TIMEOUT_S",
        "CIO_HTTP_READ_TIMEOUT_S",
        # rate limits
        "CIO_TRACK_RATE",
        "CIO_TRANSACTIONAL_RATE",
        "CIO_APP_RATE",
        "CIO_RATE_BURST",
        "CIO_RATE_HEADROOM",
        # retries and dead letters
        "CIO_MAX_ATTEMPTS",
        "CIO_BACKOFF_BASE_S",
        "CIO_BACKOFF_CAP_S",
        "CIO_MAX_AGE_S",
        "CIO_SEND_AT_LEAST_ONCE",
        "CIO_DELIVERY_RECORD_TTL_S",
        "CIO_DEAD_LETTER_TTL_DAYS",
        # Track batching
        "CIO_LEASE_TTL_S",
        "CIO_REDIS_RETRY_CAP_S",
        "CIO_BATCH_MAX_OPS",
        "CIO_BATCH_MAX_BYTES",
        "CIO_BATCH_LINGER_MS",
        "CIO_TRACK_KEEP_DELIVERED_S",
        # logging
        "LOG_FORMAT",
        "LOG_LEVEL",
    }
)

_PREFIXES = ("CIO_", "CUSTOMERIO_")


class EnvReader:
    """Typed access to an environment mapping; every error names the variable."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def check_unknown(self) -> None:
        """Raise :class:`SettingsError` for a ``CIO_*``/``CUSTOMERIO_*`` variable we never read."""
        for name in sorted(self.environ):
            if name.startswith(_PREFIXES) and name not in KNOWN_VARIABLES:
                close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise SettingsError(
                    f"{name} is not a variable cio-pipeline reads{hint}; "
                    "see config/example.env for the list"
                )

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str) -> str:
        value = self.raw(name)
        return default if value is None else value

    def optional_text(self, name: str) -> str | None:
        return self.raw(name)

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {value!r}") from None
        if number < minimum:
            raise SettingsError(f"{name} must be >= {minimum}, got {number}")
        return number

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {value!r}") from None
        if not number >= minimum or number == float("inf"):
            raise SettingsError(f"{name} must be a finite number >= {minimum}, got {value!r}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be 1/0 (or true/false), got {value!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return value


@dataclass(frozen=True)
class Settings:
    """What the producer needs: where Redis is and how the queues are named."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_prefix: str = "cio"
    partitions: int = 8
    redis_timeout_s: float = 1.0

    def __post_init__(self) -> None:
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
        if not 1 <= self.partitions <= 1024:
            raise SettingsError(f"CIO_PARTITIONS must be between 1 and 1024, got {self.partitions}")
        if not 0 < self.redis_timeout_s <= 60:
            raise SettingsError(
                f"CIO_REDIS_TIMEOUT_S must be > 0 and <= 60 seconds, got {self.redis_timeout_s}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build from ``environ`` (default ``os.environ``); raises :class:`SettingsError`."""
        env = EnvReader(environ)
        env.check_unknown()
        return cls(
            redis_url=env.text("REDIS_URL", cls.redis_url),
            queue_prefix=env.text("CIO_QUEUE_PREFIX", cls.queue_prefix),
            partitions=env.integer("CIO_PARTITIONS", cls.partitions, minimum=1),
            redis_timeout_s=env.number("CIO_REDIS_TIMEOUT_S", cls.redis_timeout_s),
        )


def _redact_url(url: str) -> str:
    """Hide a password in a URL before it goes into an error message."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
