"""The worker on the transactional path: real Redis, real worker subprocesses, the emulator."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from support import wait_until

from producer import APIClient, SendEmailRequest, Settings
from producer.serializer import SafeSerializer

pytestmark = pytest.mark.integration

QUEUE = "cio-transactional"


def _enqueue(redis_url: str, count: int, **kwargs: Any) -> list[str]:
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    with api.pipeline() as pipe:
        ids = [
            pipe.send_email(
                SendEmailRequest(transactional_message_id=1, to=f"p{n}@example.com",
                                 identifiers={"id": str(n)}, message_data={"n": n}),
                **kwargs,
            )
            for n in range(count)
        ]
    api.close()
    return ids


def _sent_numbers(emulator: Any) -> Counter[int]:
    return Counter(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])


def _dead(client: redis.Redis) -> list[Job]:
    registry = FailedJobRegistry(QUEUE, connection=client, serializer=SafeSerializer)
    return [Job.fetch(i, connection=client, serializer=SafeSerializer)
            for i in registry.get_job_ids()]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def _max_in_window(times: list[float], window_s: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_rate_limit_shared_by_four_workers(redis_url: str, emulator: Any, fleet: Any) -> None:
    _enqueue(redis_url, 600)
    fleet.start(4, CIO_TRANSACTIONAL_RATE="20")
    wait_until(lambda: len(emulator.state()["sends"]) >= 600, 60, "600 sends")
    sends = [r for r in emulator.requests("app") if r["path"].startswith("/v1/send/")]
    times = [r["at"] for r in sends]
    assert len(sends) == 600
    assert _max_in_window(times) <= 20
    # ideal: 600 sends at 20/s = 599 intervals of 50 ms; allow 10 %
    assert max(times) - min(times) <= 599 / 20 * 1.10
    assert sorted(_sent_numbers(emulator).values()) == [1] * 600
