"""TLS, Sentinel and replica settings: how they are checked and what they build."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.sentinel import SentinelConnectionPool

from cio_pipeline.producer.connection import connect
from cio_pipeline.producer.errors import NotReplicated
from cio_pipeline.producer.redis_endpoint import sentinel_addresses
from cio_pipeline.producer.replication import ReplicatedEnqueuer, enqueuer_for
from cio_pipeline.producer.settings import Settings


def test_sentinel_addresses_parse_and_refuse() -> None:
    assert sentinel_addresses("a:1, b:26379") == [("a", 1), ("b", 26379)]
    for bad in ("a", "a:", ":1", "a:x", "a:70000"):
        with pytest.raises(Exception, match="CIO_REDIS_SENTINELS"):
            sentinel_addresses(bad)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CIO_REDIS_SENTINELS": "a:1"}, "go together"),
        ({"CIO_REDIS_SENTINEL_MASTER": "cio"}, "go together"),
        ({"CIO_REDIS_SENTINELS": "a", "CIO_REDIS_SENTINEL_MASTER": "cio"}, "host:port"),
        (
            {"CIO_REDIS_TLS_CA_FILE": "/nonexistent.pem", "REDIS_URL": "rediss://h/0"},
            "CIO_REDIS_TLS_CA_FILE: no readable file",
        ),
        (
            {"CIO_REDIS_MIN_REPLICAS": "1", "CIO_REDIS_REPLICA_TIMEOUT_MS": "500"},
            "CIO_REDIS_REPLICA_TIMEOUT_MS must be under half",
        ),
        ({"CIO_REDIS_MIN_REPLICAS": "-1"}, "CIO_REDIS_MIN_REPLICAS must be >= 0"),
    ],
)
def test_bad_combinations_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(Exception, match=message):
        Settings.from_env(env)


def test_a_key_without_a_certificate_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(Exception, match="CIO_REDIS_TLS_KEY_FILE needs CIO_REDIS_TLS_CERT_FILE"):
        Settings(redis_url="rediss://h/0", redis_tls_key_file=str(key))


def test_tls_options_reach_the_connections(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    client = connect(Settings(redis_url="rediss://h:6380/3", redis_tls_ca_file=str(ca)))
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == str(ca) and kwargs["ssl_check_hostname"] is True
    assert kwargs["db"] == 3 and kwargs["host"] == "h"


def test_sentinels_replace_the_url_host() -> None:
    client = connect(
        Settings(
            redis_url="redis://:pw@ignored:1/2",
            redis_sentinels="s:26379",
            redis_sentinel_master="cio",
        )
    )
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "cio"
    assert "host" not in pool.connection_kwargs
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["password"] == "pw"


def test_min_replicas_picks_the_waiting_writer() -> None:
    plain = Settings()
    durable = Settings(redis_min_replicas=2)
    client = connect(plain)
    assert not isinstance(enqueuer_for(client, plain), ReplicatedEnqueuer)
    assert isinstance(enqueuer_for(client, durable), ReplicatedEnqueuer)


def test_not_replicated_keeps_its_type_and_says_may_not_survive() -> None:
    error = NotReplicated("0 of 1 replica(s): it may not survive a failover", written_ids=["b"])
    widened = error.regroup(written_ids=["a"], not_written_ids=["c"])
    assert type(widened) is NotReplicated
    assert widened.written_ids == ["a", "b"] and widened.not_written_ids == ["c"]
    assert "may not survive a failover" in str(error) and "job b enqueued" in str(error)
