"""A Sentinel failover mid-drain, with CIO_REDIS_MIN_REPLICAS=1.

Real processes on loopback: a master, one replica, three Sentinels, two workers draining
Track operations and sends while a producer keeps producing until the failover is behind it
(it is stopped only once it has had operations confirmed by the new master, so the outage
always falls inside its run, however fast or slow the machine). The master is SIGKILLed; the
Sentinels promote the replica; the old master comes back and Sentinel makes it the new
master's replica (with one replica required, nothing is counted until one exists). Workers
and producer follow without restarting: every operation the producer was told was enqueued
is delivered, each person's order kept, no send twice. The outage as the producer saw it and
the time to resume delivery are printed (``-s``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
from ha_support import MASTER_NAME, SentinelGroup, fleet_env, wait_for
from support import WorkerFleet, track_drained

from cio_pipeline.producer import APIClient, CustomerIO, EnqueueError, SendEmailRequest, Settings
from cio_pipeline.worker.core.outage import RedisOutage
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import worker_connection

pytestmark = pytest.mark.integration

PEOPLE, SEND_EVERY = 30, 8
#: A bound on the production, should the test thread never stop it (it fails before then).
MAX_STEPS = 400
#: Operations the producer must have confirmed after the promotion before it is stopped.
AFTER_FAILOVER = 2 * PEOPLE
WORKER_ENV = {
    "CIO_BATCH_MAX_OPS": "10",
    "CIO_LEASE_TTL_S": "3",
    "CIO_REDIS_RETRY_CAP_S": "0.5",
    "CIO_TRANSACTIONAL_RATE": "20",
    "CIO_REDIS_MIN_REPLICAS": "1",
    "CIO_REDIS_REPLICA_TIMEOUT_MS": "200",
}


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    servers = SentinelGroup(tmp_path)
    servers.start()
    yield servers
    servers.stop_all()


@dataclass
class ProducerLog:
    """What the producer was told: confirmed operations, failures, the longest stall."""

    confirmed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    total: int = 0  # operations confirmed so far
    sends: list[int] = field(default_factory=list)
    failed_calls: Counter[str] = field(default_factory=Counter)
    longest_stall_s: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def _retrying(log: ProducerLog, call: Any) -> None:
    """Call until the producer says "enqueued" (each person's next operation waits for it,
    which keeps the order); a failure's type is counted, its stall measured."""
    first_failure: float | None = None
    deadline = time.monotonic() + 60
    while True:
        try:
            call()
        except EnqueueError as exc:
            log.failed_calls[type(exc).__name__] += 1
            first_failure = first_failure or time.monotonic()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a retry pace, as an application would use
            continue
        if first_failure is not None:
            log.longest_stall_s = max(log.longest_stall_s, time.monotonic() - first_failure)
        return


def _produce(settings: Settings, log: ProducerLog) -> None:
    cio, api = CustomerIO(settings=settings), APIClient("unused", settings=settings)
    try:
        for step in range(MAX_STEPS):
            for person in range(PEOPLE):
                if log.stop.is_set():
                    return
                name = f"u{person}"
                if step % 2 == 0:
                    _retrying(log, partial(cio.identify, name, seq=step))
                else:
                    _retrying(log, partial(cio.track, name, "step", {"seq": step}))
                log.confirmed[name].append(step)
                log.total += 1
                if log.total % SEND_EVERY == 0:
                    n, key = len(log.sends), f"send-{len(log.sends)}"
                    request = SendEmailRequest(
                        transactional_message_id=1,
                        to="s@example.com",
                        identifiers={"id": str(n)},
                        message_data={"n": n},
                    )
                    # One idempotency key across retries: a write that did land is not sent
                    # a second time.
                    _retrying(log, partial(api.send_email, request, idempotency_key=key))
                    log.sends.append(n)
                time.sleep(0.01)  # a steady producer, so production spans the failover
    except BaseException as exc:  # reported by the test thread
        log.error = exc
    finally:
        cio.close()
        api.close()
        log.done.set()


def test_a_connection_held_through_a_failover_reconnects_to_the_new_master(
    group: SentinelGroup,
) -> None:
    """One connection, held across the failover (a command in flight when the master dies),
    retried by the worker's policy: it must reach the new master, not the old address. Before
    compat.redis.SentinelReconnect, redis-py >= 6 reconnected it to the old master's address
    for ever: refused while it was down, READONLY once it was back as a replica."""
    settings = WorkerSettings(
        queue=Settings(
            redis_url="redis://127.0.0.1/0",
            redis_sentinels=group.sentinels,
            redis_sentinel_master=MASTER_NAME,
        ),
        redis_retry_cap_s=0.2,
    )
    outage = RedisOutage()
    pool = worker_connection(settings, outage).connection_pool
    client = redis.Redis(connection_pool=pool, single_connection_client=True)
    client.set("k", "before")
    old = group.master_port()
    group.kill("a")
    wait_for(lambda: group.master_port() != old, 60, "the Sentinels to promote the replica")
    group.start_node("a", replica_of=group.master_port())

    done = threading.Event()
    writer = threading.Thread(target=lambda: (client.set("k", "after"), done.set()), daemon=True)
    writer.start()
    try:
        assert done.wait(30), "the held connection never reached the new master"
    finally:
        outage.stop()  # a writer still retrying gives up now
        writer.join(10)
    assert group.client("b").get("k") == b"after"
    assert client.connection is not None and client.connection.port == group.master_port()
    client.close()


def _explain(fleet: WorkerFleet, group: SentinelGroup, emulator: Any, log: ProducerLog) -> str:
    """For a phase that timed out: what is left in Redis, which sends did not arrive, and
    the end of each worker's log (its warnings first)."""
    lines = []
    try:
        views = [
            group.client(f"s{i}").sentinel_get_master_addr_by_name(MASTER_NAME) for i in range(3)
        ]
        roles = {n: group.client(n).info("replication")["role"] for n in ("a", "b")}
        lines.append(f"ports {group.ports}; Sentinels name {views}; roles {roles}")
        master = group.master()
        queues = {p: master.llen(f"rq:queue:cio-track-{p}") for p in range(8)}
        claimed = {p: master.llen(f"cio:claimed:{p}") for p in range(8)}
        leases = {k.decode(): master.get(k) for k in master.keys("cio:lease:*")}
        lines.append(f"track queued {queues} claimed {claimed} leases {leases}")
        tx = "cio-transactional"
        lines.append(
            f"sends queued {master.llen(f'rq:queue:{tx}')}, in progress "
            f"{master.zcard(f'rq:wip:{tx}')}, scheduled {master.zcard(f'rq:scheduled:{tx}')}, "
            f"failed {master.zcard(f'rq:failed:{tx}')}"
        )
    except redis.RedisError as exc:
        lines.append(f"Redis: {exc!r}")
    arrived = {s["request"]["message_data"]["n"] for s in emulator.state()["sends"]}
    lines.append(f"sends confirmed but not arrived: {sorted(set(log.sends) - arrived)}")
    for n, worker in enumerate(fleet.workers):
        text = worker.log().splitlines()
        warnings = [line for line in text if '"level": "warning"' in line][-8:]
        lines += [f"--- worker {n} (warnings, then the end):", *warnings, *text[-8:]]
    return "\n".join(lines)


def _assert_delivered_in_order(emulator: Any, log: ProducerLog) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    track = [r for r in emulator.requests("track") if r["status"] == 200]
    for request in sorted(track, key=lambda r: r["seq"]):
        for op in request["body"]["batch"]:
            seen[op["identifiers"]["id"]].append(op["attributes"]["seq"])
    for person, steps in log.confirmed.items():
        arrived = seen[person]
        first = {n: arrived.index(n) for n in steps if n in arrived}
        assert set(first) == set(steps), f"{person} lost operations: {arrived} vs {steps}"
        positions = [first[n] for n in steps]
        assert positions == sorted(positions), f"{person} out of order: {arrived}"


# Its phases are bounded one by one (60 s to get under way, to promote, to resume, for the
# producer to write to the new master; 120 s for it to stop; 90 s to drain), and on a busy
# machine their sum outgrows the suite's default 120 s: the phase that stalls should say so,
# not pytest-timeout's stack dump.
@pytest.mark.timeout(480)
def test_workers_and_producer_follow_a_failover_and_lose_nothing(
    group: SentinelGroup, emulator: Any, tmp_path: Path
) -> None:
    emulator.set_faults({"track": {"latency_ms": 30}, "app": {"latency_ms": 30}})
    redis_env = {
        "REDIS_URL": "redis://127.0.0.1/0",
        "CIO_REDIS_SENTINELS": group.sentinels,
        "CIO_REDIS_SENTINEL_MASTER": MASTER_NAME,
    }
    settings = Settings(
        redis_url="redis://127.0.0.1/0",
        redis_sentinels=group.sentinels,
        redis_sentinel_master=MASTER_NAME,
        redis_min_replicas=1,
        redis_replica_timeout_ms=200,
    )
    fleet = WorkerFleet(fleet_env(emulator, **redis_env, **WORKER_ENV), tmp_path, [])
    log = ProducerLog()
    producer = threading.Thread(target=_produce, args=(settings, log), daemon=True)
    try:
        workers = fleet.start(2)
        pids = [w.process.pid for w in workers]
        producer.start()
        wait_for(
            lambda: sum(r["ops"] for r in emulator.requests("track")) >= 40,
            60,
            "the drain to be under way",
        )

        old = group.master_port()
        group.kill("a")
        killed_at = time.monotonic()
        wait_for(lambda: group.master_port() != old, 60, "the Sentinels to promote the replica")
        promoted_at = time.monotonic()
        # The old master comes back as the new one's replica, as its rewritten config would
        # say (a node started on command-line flags has none; Sentinel alone takes ~10 s
        # more to convert a returning master).
        group.start_node("a", replica_of=group.master_port())
        delivered, confirmed = sum(r["ops"] for r in emulator.requests("track")), log.total
        wait_for(
            lambda: sum(r["ops"] for r in emulator.requests("track")) > delivered,
            60,
            "delivery to resume",
            partial(_explain, fleet, group, emulator, log),
        )
        resumed_at = time.monotonic()
        wait_for(
            lambda: log.total >= confirmed + AFTER_FAILOVER or log.done.is_set(),
            60,
            "the producer to write to the new master",
        )
        log.stop.set()
        assert log.done.wait(120), "the producer did not finish"
        assert log.error is None, repr(log.error)
        wait_for(
            # the master as the Sentinels name it now (on a loaded machine they may fail over
            # again), asked afresh each time
            lambda: (
                track_drained(group.master()) and len(emulator.state()["sends"]) >= len(log.sends)
            ),
            90,
            "everything delivered on the new master",
            partial(_explain, fleet, group, emulator, log),
        )
        for worker, pid in zip(workers, pids, strict=True):
            assert worker.process.pid == pid and worker.process.poll() is None, worker.log()
    finally:
        fleet.stop_all()

    _assert_delivered_in_order(emulator, log)
    sent = Counter(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])
    assert set(log.sends) <= set(sent), "a confirmed send was lost"
    assert max(sent.values()) == 1, f"sent twice: {sent}"
    print(
        f"\nfailover: promoted {promoted_at - killed_at:.1f} s after the kill; delivery "
        f"resumed {resumed_at - killed_at:.1f} s after it; producer: "
        f"{sum(log.failed_calls.values())} failed call(s) {dict(log.failed_calls)}, "
        f"longest stall {log.longest_stall_s:.1f} s; {log.total} operations, "
        f"{len(log.sends)} sends"
    )
