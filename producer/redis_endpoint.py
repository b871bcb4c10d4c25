"""Where Redis is and how to reach it: the one place that builds a Redis client.

The producer (:mod:`cio_pipeline.producer.connection`), the worker and every command
(``cio_pipeline.worker.runner.context.worker_connection``) ask :func:`redis_client` for their
client, so TLS and Sentinel work the same everywhere:

- **TLS**: ``REDIS_URL=rediss://...``; the certificate is verified (system CAs, or
  ``CIO_REDIS_TLS_CA_FILE``), hostname included unless ``CIO_REDIS_TLS_CHECK_HOSTNAME=0``;
  ``CIO_REDIS_TLS_CERT_FILE``/``_KEY_FILE`` give a client certificate. A certificate that
  does not verify is a configuration error, not an outage: :class:`SettingsError` naming the
  setting, instead of a connection error a worker would retry forever.
- **Sentinel**: ``CIO_REDIS_SENTINELS`` and ``CIO_REDIS_SENTINEL_MASTER`` replace the URL's
  host and port. Every new connection asks the Sentinels for the current master (redis-py's
  ``SentinelConnectionPool``), so a client follows a failover by reconnecting; replicas are
  never connected to, so never written to.

Each side adds its own behaviour to the connection class as mixins (the producer's handling
of ``READONLY``, the worker's wait for replicas), composed here over whichever class the
endpoint needs (plain, TLS, Sentinel-managed, both).
"""

from __future__ import annotations

import os
import ssl
from typing import TYPE_CHECKING, Any

import redis
from redis.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

from cio_pipeline.producer.compat.redis import SentinelReconnect, sentinel_master
from cio_pipeline.producer.errors import SettingsError

if TYPE_CHECKING:
    from cio_pipeline.producer.settings import Settings

__all__ = ["CertificateCheck", "check_endpoint", "redis_client", "sentinel_addresses"]

_TLS_FILES = (
    ("CIO_REDIS_TLS_CA_FILE", "redis_tls_ca_file"),
    ("CIO_REDIS_TLS_CERT_FILE", "redis_tls_cert_file"),
    ("CIO_REDIS_TLS_KEY_FILE", "redis_tls_key_file"),
)


def sentinel_addresses(text: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as pairs; raises :class:`SettingsError` naming the variable."""
    pairs = []
    for part in (p.strip() for p in text.split(",")):
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(
                f"CIO_REDIS_SENTINELS must be host:port[,host:port...], got {part!r}"
            )
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def check_endpoint(settings: Settings) -> None:
    """The TLS, Sentinel and replica settings fit together (raises :class:`SettingsError`)."""
    tls = settings.redis_url.startswith("rediss://")
    for name, attr in _TLS_FILES:
        path = getattr(settings, attr)
        if path is None:
            continue
        if not tls:
            raise SettingsError(f"{name} is set but REDIS_URL is not rediss:// (TLS)")
        if not os.access(path, os.R_OK):
            raise SettingsError(f"{name}: no readable file at {path!r}")
    if settings.redis_tls_key_file and not settings.redis_tls_cert_file:
        raise SettingsError("CIO_REDIS_TLS_KEY_FILE needs CIO_REDIS_TLS_CERT_FILE")
    if bool(settings.redis_sentinels) != bool(settings.redis_sentinel_master):
        raise SettingsError("CIO_REDIS_SENTINELS and CIO_REDIS_SENTINEL_MASTER go together")
    if settings.redis_sentinels:
        if settings.redis_url.startswith("unix://"):
            raise SettingsError("CIO_REDIS_SENTINELS needs a redis:// or rediss:// REDIS_URL")
        sentinel_addresses(settings.redis_sentinels)
    half_ms = settings.redis_timeout_s * 500
    if settings.redis_min_replicas and settings.redis_replica_timeout_ms >= half_ms:
        raise SettingsError(
            "CIO_REDIS_REPLICA_TIMEOUT_MS must be under half of CIO_REDIS_TIMEOUT_S "
            f"({half_ms:g} ms): the producer reads WAIT's answer within that budget"
        )


class CertificateCheck(AbstractConnection):
    """Mixin: a TLS certificate that does not verify raises :class:`SettingsError` naming
    the setting to fix (redis-py would raise a ``ConnectionError``, which looks like an
    outage and which a worker retries forever)."""

    def _connect(self) -> Any:
        try:
            return super()._connect()  # type: ignore[no-untyped-call,safe-super]
        except ssl.SSLCertVerificationError as exc:
            # verify_message is OpenSSL's reason ("unable to get local issuer certificate",
            # "Hostname mismatch, ..."): no secret in it.
            raise SettingsError(
                f"Redis's TLS certificate did not verify ({exc.verify_message}): check "
                "CIO_REDIS_TLS_CA_FILE (the CA that signed it; the system CAs when unset) "
                "and CIO_REDIS_TLS_CHECK_HOSTNAME (the certificate must name the host)"
            ) from None


def redis_client(
    settings: Settings, *, mixins: tuple[type, ...] = (), **options: Any
) -> redis.Redis:
    """A client for the settings' Redis (URL, TLS, Sentinel); ``options`` are redis-py
    connection options (timeouts, ``retry``), ``mixins`` go in front of the connection
    class."""
    url = parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
    base: type = url.pop("connection_class", Connection)
    tls = base is SSLConnection
    kwargs: dict[str, Any] = {**url, **options}
    if base is UnixDomainSocketConnection:  # TCP-only options: redis-py raises a TypeError
        for name in ("socket_keepalive", "socket_keepalive_options"):
            kwargs.pop(name, None)
    if tls:
        kwargs.update(
            ssl_ca_certs=settings.redis_tls_ca_file,
            ssl_certfile=settings.redis_tls_cert_file,
            ssl_keyfile=settings.redis_tls_key_file,
            ssl_check_hostname=settings.redis_tls_check_hostname,
            ssl_cert_reqs="required",
        )
    if not settings.redis_sentinels or base is UnixDomainSocketConnection:
        cls = _compose((*mixins, CertificateCheck) if tls else mixins, base)
        pool = redis.ConnectionPool(connection_class=cls, **kwargs)
        return redis.Redis(connection_pool=pool)
    return _sentinel_client(
        settings.redis_sentinels, settings.redis_sentinel_master, tls, mixins, kwargs
    )


def _sentinel_client(
    sentinels: str,
    master: str | None,
    tls: bool,
    mixins: tuple[type, ...],
    kwargs: dict[str, Any],
) -> redis.Redis:
    kwargs.pop("host", None)
    kwargs.pop("port", None)
    base = SentinelManagedSSLConnection if tls else SentinelManagedConnection
    # SentinelReconnect: a reconnect asks the Sentinels again (compat.redis, 7)
    cls = _compose(
        (*mixins, SentinelReconnect, CertificateCheck) if tls else (*mixins, SentinelReconnect),
        base,
    )
    # Sentinels are asked with bounded waits (a Sentinel that hangs must not stall a
    # reconnect) and over the same TLS as the data nodes when REDIS_URL is rediss://.
    timeout = kwargs.get("socket_timeout") or 5.0
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": kwargs.get("socket_connect_timeout") or timeout,
    }
    if tls:
        sentinel_kwargs.update({k: v for k, v in kwargs.items() if k.startswith("ssl_")}, ssl=True)
    return sentinel_master(
        sentinel_addresses(sentinels), sentinel_kwargs, master, connection_class=cls, **kwargs
    )


_composed: dict[tuple[type, ...], type] = {}


def _compose(mixins: tuple[type, ...], base: type) -> type:
    """``class _(*mixins, base)``, made once per combination."""
    if not mixins:
        return base
    key = (*mixins, base)
    cls = _composed.get(key)
    if cls is None:
        name = "".join(m.__name__ for m in mixins) + base.__name__
        cls = _composed[key] = type(name, key, {})
    return cls
