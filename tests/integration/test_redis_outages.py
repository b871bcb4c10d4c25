"""Redis restarts, outages and a full Redis are non-events for the workers.

Each test runs its own redis-server (``private_redis``), restarts or fills it, and checks the
accounting afterwards: every worker is the same live process, every operation delivered (each
person's order kept), no send twice, no anonymous dead letter.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from support import (
    PrivateRedis,
    WorkerFleet,
    WorkerProcess,
    enqueue_sends,
    finished_count,
    queue_report,
    track_drained,
    wait_until,
)

from cio_pipeline.producer import CustomerIO, Settings
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer

pytestmark = pytest.mark.integration

QUEUE = "cio-transactional"
PEOPLE, STEPS, SENDS = 150, 4, 20
#: slow enough that the drain is still going when Redis goes away
WORKER_ENV = {
    "CIO_TRACK_RATE": "8",
    "CIO_BATCH_MAX_OPS": "10",
    "CIO_TRANSACTIONAL_RATE": "4",
    "CIO_LEASE_TTL_S": "3",
    "CIO_REDIS_RETRY_CAP_S": "1",
}
#: How long Redis stays away once every worker has noticed: past the lease TTL above (leases
#: run out during the outage) and several times the retry cap (the retries reach it).
OUTAGE_S = 7


def _produce_track(redis_url: str) -> None:
    """STEPS operations for each of PEOPLE people, alternating identify and event."""
    cio = CustomerIO(settings=Settings(redis_url=redis_url))
    with cio.pipeline() as pipe:
        for step in range(STEPS):
            for person in range(PEOPLE):
                if step % 2 == 0:
                    pipe.identify(f"u{person}", seq=step)
                else:
                    pipe.track(f"u{person}", "step", {"seq": step})
    cio.close()


def _arrivals(emulator: Any) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    track = [r for r in emulator.requests("track") if r["status"] == 200]
    for request in sorted(track, key=lambda r: r["seq"]):
        for op in request["body"]["batch"]:
            seen[op["identifiers"]["id"]].append(op["attributes"]["seq"])
    return seen


def _assert_track_in_order(emulator: Any) -> None:
    arrivals = _arrivals(emulator)
    assert len(arrivals) == PEOPLE
    for person, numbers in arrivals.items():
        first: dict[int, int] = {}
        for position, number in enumerate(numbers):
            first.setdefault(number, position)
        assert sorted(first) == list(range(STEPS)), f"{person} misses operations: {numbers}"
        positions = [first[n] for n in range(STEPS)]
        assert positions == sorted(positions), f"{person} out of order: {numbers}"


def _assert_sends_once_and_resolved(client: redis.Redis, emulator: Any) -> None:
    sent = Counter(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])
    assert max(sent.values()) == 1, f"sent twice: {sent}"
    dead = FailedJobRegistry(QUEUE, connection=client, serializer=SafeSerializer).get_job_ids()
    for job_id in dead:  # only ambiguous dead letters, each with its full reason
        job = Job.fetch(job_id, connection=client, serializer=SafeSerializer)
        letter = job.meta.get("dead_letter")
        assert letter is not None, f"anonymous dead letter {job_id}: {job.latest_result()}"
        assert letter["ambiguous"] and letter["operation"] and letter["reason"]
        assert letter["attempts"] >= 1
    # every send is delivered, or parked as ambiguous: none lost
    assert len(sent) + len(dead) >= SENDS
    assert set(sent) | {int(n) for n in _dead_numbers(client, dead)} == set(range(SENDS))


def _dead_numbers(client: redis.Redis, job_ids: list[str]) -> list[int]:
    return [
        Job.fetch(i, connection=client, serializer=SafeSerializer).args[0]["message_data"]["n"]
        for i in job_ids
    ]


def _sends_settled(client: redis.Redis) -> bool:
    failed = FailedJobRegistry(QUEUE, connection=client).count
    return finished_count(client, QUEUE) + failed >= SENDS


def _track_dead(client: redis.Redis) -> list[str]:
    return [
        j
        for q in Keys().track_queues
        for j in FailedJobRegistry(q, connection=client).get_job_ids()
    ]


def _assert_same_live_processes(workers: list[WorkerProcess], pids: list[int]) -> None:
    for worker, pid in zip(workers, pids, strict=True):
        assert worker.process.pid == pid
        assert worker.process.poll() is None, f"worker {pid} exited: {worker.log()[-3000:]}"


def _watch_alive_through_the_outage(
    workers: list[WorkerProcess], pids: list[int], seconds: float
) -> None:
    """The outage itself lasts ``seconds``: a worker that exits meanwhile fails the test
    at once (waiting on the process, not polling it)."""
    deadline = time.monotonic() + seconds
    for worker in workers:
        try:
            code = worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            continue  # still running, as it should
        pytest.fail(f"worker exited ({code}) during the outage: {worker.log()[-3000:]}")
    _assert_same_live_processes(workers, pids)


def _settled(client: redis.Redis) -> bool:
    return track_drained(client) and _sends_settled(client)


def test_a_redis_restart_mid_drain_is_a_non_event(
    private_redis: PrivateRedis, private_fleet: WorkerFleet, emulator: Any
) -> None:
    emulator.set_faults({"app": {"latency_ms": 400}, "track": {"latency_ms": 50}})
    client = redis.Redis.from_url(private_redis.url)
    _produce_track(private_redis.url)
    enqueue_sends(private_redis.url, SENDS)
    workers = private_fleet.start(2, **WORKER_ENV)
    pids = [w.process.pid for w in workers]
    wait_until(
        lambda: (
            len(emulator.state()["sends"]) >= 3
            and sum(r["ops"] for r in emulator.requests("track")) >= 100
        ),
        60,
        "the drain to be under way",
    )

    private_redis.shutdown_save()
    wait_until(
        lambda: all("redis_unavailable" in w.log() for w in workers),
        30,
        "every worker to notice Redis is away",
    )
    _watch_alive_through_the_outage(workers, pids, OUTAGE_S)
    private_redis.start()

    wait_until(
        lambda: _settled(client),
        90,
        "everything delivered after the restart",
        lambda: queue_report(client, QUEUE),
    )
    _assert_same_live_processes(workers, pids)
    _assert_track_in_order(emulator)
    assert _track_dead(client) == []
    _assert_sends_once_and_resolved(client, emulator)
    for worker in workers:
        log = worker.log()
        assert "redis_unavailable" in log and "redis_available" in log
        assert "Traceback" not in log, log[-3000:]
        assert worker.stop() == 0


def test_a_worker_started_while_redis_is_down_waits_for_it(
    private_redis: PrivateRedis, private_fleet: WorkerFleet, emulator: Any
) -> None:
    client = redis.Redis.from_url(private_redis.url)
    _produce_track(private_redis.url)
    enqueue_sends(private_redis.url, SENDS)
    private_redis.shutdown_save()

    workers = private_fleet.start(2, **WORKER_ENV)
    pids = [w.process.pid for w in workers]
    wait_until(
        lambda: all("redis_unavailable" in w.log() for w in workers),
        30,
        "the workers to notice Redis is away",
    )
    _assert_same_live_processes(workers, pids)
    private_redis.start()

    wait_until(
        lambda: _settled(client),
        90,
        "everything delivered once Redis is up",
        lambda: queue_report(client, QUEUE),
    )
    _assert_same_live_processes(workers, pids)
    _assert_track_in_order(emulator)
    assert _track_dead(client) == []
    _assert_sends_once_and_resolved(client, emulator)
    for worker in workers:
        assert worker.stop() == 0


def test_a_full_redis_is_drained_by_the_workers(
    tmp_path: Any, emulator: Any, private_fleet: WorkerFleet, private_redis: PrivateRedis
) -> None:
    from cio_pipeline.producer.errors import RedisFull

    client = redis.Redis.from_url(private_redis.url)
    version = str(client.info("server")["redis_version"])
    if int(version.split(".")[0]) < 7:
        # Draining a full Redis needs Lua script flags (allow-oom), new in Redis 7.
        pytest.skip(f"redis-server {version} has no script flags; Redis >= 7 drains when full")
    base = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", base + 2_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    cio = CustomerIO(settings=Settings(redis_url=private_redis.url))
    produced = 0
    with pytest.raises(RedisFull):
        for n in range(100_000):
            cio.identify(f"f{n}", seq=0, pad="x" * 200)
            produced += 1
    workers = private_fleet.start(2, CIO_LEASE_TTL_S="3")
    pids = [w.process.pid for w in workers]
    wait_until(lambda: track_drained(client), 90, f"{produced} operations drained")
    _assert_same_live_processes(workers, pids)
    cio.identify("after", seq=1)  # production works again
    wait_until(lambda: track_drained(client), 30, "the new operation")
    cio.close()
