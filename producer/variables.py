"""Every environment variable cio-pipeline reads, declared once: name, default, range, meaning.

The settings dataclasses bind their fields to these declarations (:func:`env_field`); reading
the environment, range checks, the list of known variables (what is not in it:
:mod:`cio_pipeline.producer.unknown_variables`) and the test that
``config/example.env`` documents exactly these, with these defaults, all derive from
:data:`VARIABLES`. The table lives in the producer, the bottom layer, because the producer's
check of unknown variables must know the worker's variables too (an application and its
workers often share one environment file).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.producer.regions import Regions

__all__ = [
    "BY_NAME",
    "VARIABLES",
    "Variable",
    "check_fields",
    "env_field",
    "read_fields",
]

Kind = Literal["text", "secret", "int", "number", "flag", "choice"]
_INF: Final = math.inf


@dataclass(frozen=True)
class Variable:
    """One environment variable: how it is read and what it means."""

    name: str
    default: Any
    meaning: str
    kind: Kind = "text"
    low: float = -_INF
    high: float = _INF
    unit: str = ""
    choices: tuple[str, ...] = ()

    def read(self, environ: Mapping[str, str]) -> Any:
        """The value in ``environ`` (blank or missing: the default), parsed by kind."""
        raw = environ.get(self.name)
        if raw is None or raw.strip() == "":
            return self.default
        text = raw.strip()
        if self.kind in ("text", "secret"):
            return text
        if self.kind == "choice":
            return text.lower()
        if self.kind == "flag":
            return _flag(self.name, text)
        try:
            return int(text) if self.kind == "int" else float(text)
        except ValueError:
            what = "an integer" if self.kind == "int" else "a number"
            raise SettingsError(f"{self.name} must be {what}, got {text!r}") from None

    def check(self, value: Any) -> None:
        """Raise :class:`SettingsError` naming the variable when ``value`` is out of range."""
        if self.kind == "choice" and value not in self.choices:
            raise SettingsError(
                f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}"
            )
        if self.kind in ("int", "number") and not (
            self.low <= value <= self.high and math.isfinite(value)
        ):
            unit = f" {self.unit}" if self.unit else ""
            high = "" if self.high == _INF else f" and <= {_plain(self.high)}"
            raise SettingsError(
                f"{self.name} must be >= {_plain(self.low)}{high}{unit}, got {value!r}"
            )


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0 (or true/false), got {text!r}")


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _v(name: str, default: Any, meaning: str, kind: Kind = "text", **bounds: Any) -> Variable:
    return Variable(name, default, meaning, kind, **bounds)


_SECONDS: Final = {"unit": "seconds"}

#: Every variable, grouped as config/example.env documents them.
VARIABLES: Final[tuple[Variable, ...]] = (
    # Redis and queues (producer and worker)
    _v("REDIS_URL", "redis://127.0.0.1:6379/0", "where the queues live"),
    _v("CIO_QUEUE_PREFIX", "cio", "prefix of every queue name and key"),
    _v("CIO_PARTITIONS", 8, "number of Track partitions", "int", low=1, high=1024),
    _v(
        "CIO_REDIS_TIMEOUT_S",
        1.0,
        "a producer call's Redis budget",
        "number",
        low=0.001,
        high=60,
        **_SECONDS,
    ),
    # Redis beyond one server: TLS, Sentinel, replicated writes (producer and worker)
    _v("CIO_REDIS_TLS_CA_FILE", None, "CA bundle that signs Redis's TLS certificate"),
    _v("CIO_REDIS_TLS_CERT_FILE", None, "client certificate for Redis TLS"),
    _v("CIO_REDIS_TLS_KEY_FILE", None, "client certificate's private key"),
    _v("CIO_REDIS_TLS_CHECK_HOSTNAME", True, "check Redis's certificate names its host", "flag"),
    _v("CIO_REDIS_SENTINELS", None, "Sentinel addresses host:port,host:port"),
    _v("CIO_REDIS_SENTINEL_MASTER", None, "the master's name in Sentinel"),
    _v(
        "CIO_REDIS_MIN_REPLICAS",
        0,
        "replicas that must acknowledge each write",
        "int",
        low=0,
        high=16,
    ),
    _v(
        "CIO_REDIS_REPLICA_TIMEOUT_MS",
        100,
        "how long one WAIT for replicas may take (ms)",
        "int",
        low=1,
        high=30_000,
    ),
    _v(
        "CIO_ERASE_RETENTION_S",
        30 * 86_400,
        "how long an erased person's new calls are refused",
        "int",
        low=60,
        **_SECONDS,
    ),
    # Customer.io credentials and hosts (worker only)
    _v("CUSTOMERIO_SITE_ID", None, "Track API site id", "secret"),
    _v("CUSTOMERIO_API_KEY", None, "Track API key", "secret"),
    _v("CUSTOMERIO_APP_API_KEY", None, "App API key", "secret"),
    _v(
        "CUSTOMERIO_REGION",
        "us",
        "the workspace's region",
        "choice",
        choices=tuple(Regions.by_name()),
    ),
    _v("CUSTOMERIO_TRACK_URL", None, "Track API base URL override"),
    _v("CUSTOMERIO_APP_URL", None, "App API base URL override"),
    _v("CUSTOMERIO_WEBHOOK_SIGNING_KEY", None, "reporting-webhook signing key(s)", "secret"),
    # HTTP
    _v("CIO_HTTP_CONNECT_TIMEOUT_S", 5.0, "connect timeout", "number", low=0.001, **_SECONDS),
    _v("CIO_HTTP_READ_TIMEOUT_S", 10.0, "answer timeout", "number", low=0.001, **_SECONDS),
    # rate limits, shared by every worker on every host
    _v("CIO_TRACK_RATE", 100.0, "Track requests/s", "number", low=0.001, unit="requests/s"),
    _v("CIO_TRANSACTIONAL_RATE", 100.0, "sends/s", "number", low=0.001, unit="requests/s"),
    _v("CIO_APP_RATE", 10.0, "other App API requests/s", "number", low=0.001, unit="requests/s"),
    _v("CIO_RATE_BURST", 0, "extra requests at once above even spacing", "int", low=0),
    _v("CIO_RATE_HEADROOM", 0.03, "fraction run below each rate", "number", low=0, high=0.5),
    # retries and dead letters
    _v("CIO_MAX_ATTEMPTS", 10, "attempts before a dead letter", "int", low=1),
    _v("CIO_BACKOFF_BASE_S", 1.0, "backoff base", "number", low=0, **_SECONDS),
    _v("CIO_BACKOFF_CAP_S", 300.0, "backoff cap", "number", low=0, **_SECONDS),
    _v(
        "CIO_MAX_AGE_S",
        86_400.0,
        "age after which a job is dead-lettered",
        "number",
        low=0,
        **_SECONDS,
    ),
    _v("CIO_SEND_AT_LEAST_ONCE", False, "retry ambiguous sends (may send twice)", "flag"),
    _v(
        "CIO_DELIVERY_RECORD_TTL_S",
        7 * 86_400,
        "how long delivery records are kept",
        "int",
        low=60,
        **_SECONDS,
    ),
    _v("CIO_DEAD_LETTER_TTL_DAYS", 30, "how long dead letters are kept (days)", "int", low=1),
    # Track batching
    _v("CIO_LEASE_TTL_S", 10.0, "partition lease TTL", "number", low=1, **_SECONDS),
    _v("CIO_BATCH_MAX_OPS", 1000, "operations per batch request", "int", low=1, high=10_000),
    _v(
        "CIO_BATCH_MAX_BYTES",
        475_000,
        "bytes per batch request",
        "int",
        low=33_000,
        high=500_000,
        unit="bytes",
    ),
    _v("CIO_BATCH_LINGER_MS", 50, "wait for a short batch to fill (ms)", "int", low=0),
    _v(
        "CIO_TRACK_KEEP_DELIVERED_S",
        0,
        "keep delivered Track jobs this long",
        "int",
        low=0,
        high=7 * 86_400,
        **_SECONDS,
    ),
    # operations
    _v("CIO_COUNTERS", True, "keep delivery counters in Redis (stats, metrics)", "flag"),
    # reporting webhooks (receiver and worker)
    _v(
        "CIO_WEBHOOK_TOLERANCE_S",
        300,
        "accepted clock difference of a webhook's timestamp",
        "int",
        low=1,
        high=86_400,
        **_SECONDS,
    ),
    _v("CIO_WEBHOOK_PATH", "/webhooks/customerio", "the receiver's URL path"),
    _v(
        "CIO_WEBHOOK_MAX_BODY_BYTES",
        1_048_576,
        "largest webhook body accepted",
        "int",
        low=1024,
        high=16_777_216,
        unit="bytes",
    ),
    _v(
        "CIO_WEBHOOK_REDIS_TIMEOUT_S",
        0.5,
        "the receiver's Redis budget per request (then 503)",
        "number",
        low=0.01,
        high=3.5,  # below Customer.io's 4 s wait, so it hears 503 rather than a timeout
        **_SECONDS,
    ),
    _v("CIO_WEBHOOK_HOOK", None, "the application's hook, package.module:function"),
    _v(
        "CIO_WEBHOOK_DEDUP_TTL_S",
        8 * 86_400,
        "how long processed event ids are remembered",
        "int",
        low=60,
        **_SECONDS,
    ),
    # Redis outages
    _v(
        "CIO_REDIS_RETRY_CAP_S",
        5.0,
        "longest wait between reconnects",
        "number",
        low=0.1,
        high=300,
        **_SECONDS,
    ),
    # logging
    _v("LOG_FORMAT", "auto", "log format", "choice", choices=("auto", "json", "console")),
    _v("LOG_LEVEL", "info", "log level", "choice", choices=("debug", "info", "warning", "error")),
)

BY_NAME: Final[dict[str, Variable]] = {v.name: v for v in VARIABLES}


def env_field(name: str) -> Any:
    """A dataclass field bound to variable ``name``: its default, and secrets kept out of
    ``repr``. (``Any``, like :func:`dataclasses.field`, so the annotation types the field.)"""
    variable = BY_NAME[name]
    return field(default=variable.default, repr=variable.kind != "secret", metadata={"env": name})


def read_fields(cls: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """``{field name: value}`` for every field of dataclass ``cls`` bound to a variable."""
    return {
        f.name: BY_NAME[f.metadata["env"]].read(environ)
        for f in cls.__dataclass_fields__.values()  # type: ignore[attr-defined]
        if "env" in f.metadata
    }


def check_fields(instance: Any) -> None:
    """Range-check every field of a settings dataclass bound to a variable."""
    for f in type(instance).__dataclass_fields__.values():
        if "env" in f.metadata:
            value = getattr(instance, f.name)
            if value is not None:
                BY_NAME[f.metadata["env"]].check(value)
