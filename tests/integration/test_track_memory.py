"""Draining Track work frees Redis: delivered jobs are deleted as their batches settle
(``CIO_TRACK_KEEP_DELIVERED_S=0``), or kept with a TTL when asked. Measured on a private
redis-server, so other test sessions cannot move the figure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.registry import FinishedJobRegistry
from support import PrivateRedis, WorkerFleet, track_drained, wait_until

from cio_pipeline.producer import CustomerIO, Settings

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def _fleet(server: PrivateRedis, emulator: Any, workdir: Path) -> WorkerFleet:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
    }
    env.update(emulator.worker_env())
    env.update(
        {
            "REDIS_URL": server.url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "warning",
            "CIO_TRACK_RATE": "100000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return WorkerFleet(env, workdir, [])


def _produce(server: PrivateRedis, count: int) -> None:
    cio = CustomerIO(settings=Settings(redis_url=server.url))
    for start in range(0, count, 10_000):
        with cio.pipeline() as pipe:
            for n in range(start, min(start + 10_000, count)):
                pipe.identify(f"p{n % 5000}", n=n, plan="pro")
    cio.close()


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


@pytest.mark.parametrize(
    "count",
    [
        # a leak of 150 bytes or more per operation shows at 20,000 (3 MB, the bound below)
        pytest.param(20_000, id="20k"),
        # the large run: 30 bytes per operation show
        pytest.param(100_000, id="100k", marks=pytest.mark.slow),
    ],
)
def test_a_drain_leaves_redis_as_it_found_it(
    private_redis: PrivateRedis, emulator: Any, tmp_path: Path, count: int
) -> None:
    client = redis.Redis.from_url(private_redis.url)
    empty = _used(client)
    _produce(private_redis, count)
    queued = _used(client)
    assert queued - empty > count * 200  # the backlog itself is in Redis (about 250 B each)
    fleet = _fleet(private_redis, emulator, tmp_path)
    try:
        fleet.start(2)
        wait_until(
            lambda: track_drained(client),
            90,
            f"{count} operations drained",
            lambda: fleet.workers[0].log()[-2000:],
        )
        drained = _used(client)
    finally:
        fleet.stop_all()
    assert int(client.hget("cio:counters", "track_delivered") or 0) == count
    assert not list(client.scan_iter(match="rq:job:*", count=10_000))
    assert drained - empty < 3 * MB, (empty, queued, drained)
    client.close()


def test_delivered_jobs_are_kept_with_a_ttl_when_asked(
    private_redis: PrivateRedis, emulator: Any, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(private_redis.url)
    _produce(private_redis, 200)
    fleet = _fleet(private_redis, emulator, tmp_path)
    fleet.run_burst(CIO_TRACK_KEEP_DELIVERED_S="60")
    keys = list(client.scan_iter(match="rq:job:*"))
    assert len(keys) == 200
    assert all(0 < client.ttl(key) <= 60 for key in keys)
    finished = sum(FinishedJobRegistry(f"cio-track-{p}", connection=client).count for p in range(8))
    assert finished == 200
    client.close()
