"""No job can stop delivery: hostile raw jobs among good work, two real workers, the emulator.

Someone (or something) with Redis access writes jobs the producer would refuse, and jobs
whose hash RQ cannot parse, into the Track partitions and the transactional queue while two
``cio-pipeline worker`` subprocesses drain 2,000 good Track operations of 200 people:

- data: a 5,000-digit integer, a lone surrogate, nesting 500 levels deep, a value that
  contains itself, a 400-byte pickle of lists shared 40 levels deep (2**40 values once
  encoded), bytes, a set, NaN, an operation over 32 KB, a zlib bomb, garbage bytes;
- hash fields: each field RQ parses (``timeout``, ``created_at``, ``enqueued_at``,
  ``result_ttl``, ``ttl``, ``failure_ttl``, ``dependency_ids``, ``retry_intervals``,
  ``last_heartbeat``, ``status``) damaged, and a job without data.

Every good operation is delivered in per-person order; every hostile job is dead-lettered
with a reason within 30 s; both workers are the same processes at the end; no partition is
left claimed. And a send that could not be encoded frees its idempotency key: the corrected
send with the same key is delivered.
"""

from __future__ import annotations

import json
import math
import pickle
import time
import uuid
import zlib
from collections import defaultdict
from typing import Any

import pytest
import redis
from rq.registry import FailedJobRegistry
from support import WorkerFleet, enqueue_sends, track_drained, wait_until

from cio_pipeline.producer import APIClient, CustomerIO, SendEmailRequest, Settings
from cio_pipeline.producer.jobs import TRACK_OPERATION_FUNC, rq_timestamp, send_func
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer

pytestmark = pytest.mark.integration

PEOPLE, STEPS = 200, 10  # 2,000 good operations
TRANSACTIONAL = "cio-transactional"
DEADLINE_S = 30.0


def _bomb(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value, value]
    return value


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def _loop() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def _identify(value: Any) -> dict[str, Any]:
    return {
        "type": "person",
        "identifiers": {"id": "hostile"},
        "action": "identify",
        "attributes": {"v": value},
    }


def _send(value: Any) -> dict[str, Any]:
    return {
        "transactional_message_id": 1,
        "to": "x@example.com",
        "identifiers": {"id": "x"},
        "message_data": {"v": value},
    }


#: Values no producer call accepts, each of which once stopped or wedged a worker.
HOSTILE_VALUES: dict[str, Any] = {
    "huge integer": 10**5000,
    "lone surrogate": "Jos\ud800",
    "deep nesting": _deep(200),
    "contains itself": _loop(),
    "shared-reference bomb": _bomb(40),
    "bytes": b"\x00\x01",
    "set": {1, 2},
    "nan": math.nan,
}

#: Fields RQ parses, each damaged in one job (the job's data is a good send).
DAMAGED_FIELDS: dict[str, bytes] = {
    "timeout": b"forever",
    "created_at": b"yesterday",
    "enqueued_at": b"\xff\xfe",
    "result_ttl": b"1.5",
    "ttl": b"ten",
    "failure_ttl": b"[]",
    "dependency_ids": b"{not json",
    "retry_intervals": b'["soon"]',
    "last_heartbeat": b"2026-13-45",
    "status": b"exploded",
}


def _raw_job(client: redis.Redis, queue: str, data: bytes, **fields: bytes) -> str:
    """Write a job hash as RQ does, with ``data`` and any ``fields`` replaced, and queue it."""
    job_id = f"hostile-{uuid.uuid4().hex[:12]}"
    mapping: dict[str, Any] = {
        "data": data,
        "created_at": rq_timestamp(),
        "enqueued_at": rq_timestamp(),
        "origin": queue,
        "status": "queued",
        "description": "hostile",
        "timeout": "180",
    }
    mapping.update(fields)
    with client.pipeline() as pipe:
        pipe.hset(f"rq:job:{job_id}", mapping=mapping)
        pipe.sadd("rq:queues", f"rq:queue:{queue}")
        pipe.rpush(f"rq:queue:{queue}", job_id)
        pipe.execute()
    return job_id


def _pickled(func: str, argument: Any, **kwargs: Any) -> bytes:
    return pickle.dumps((func, None, (argument,), kwargs), protocol=pickle.HIGHEST_PROTOCOL)


def _inject(client: redis.Redis) -> dict[str, str]:
    """Every hostile job, spread over the partitions and the transactional queue; returns
    job id -> what it is."""
    queues = Keys().track_queues
    send = send_func("email")
    hostile: dict[str, str] = {}

    def add(queue: str, what: str, data: bytes, **fields: bytes) -> None:
        hostile[_raw_job(client, queue, data, **fields)] = f"{queue}: {what}"

    for n, (what, value) in enumerate(HOSTILE_VALUES.items()):
        add(queues[n % len(queues)], what, _pickled(TRACK_OPERATION_FUNC, _identify(value)))
        add(TRANSACTIONAL, what, _pickled(send, _send(value), idempotency_key=f"k-{n}"))
    big = _pickled(TRACK_OPERATION_FUNC, _identify("x" * 40_000))
    add(queues[1], "operation over 32 KB", big)
    zip_bomb = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)
    for queue in (queues[2], TRANSACTIONAL):
        add(queue, "zlib bomb", zip_bomb)
        add(queue, "garbage data", b"\x80\x05garbage\xff\x00")
    good_send = _pickled(send, _send("fine"), idempotency_key="damaged")
    for n, (field, value) in enumerate(DAMAGED_FIELDS.items()):
        add(TRANSACTIONAL, f"damaged {field}", good_send, **{field: value})
        # On a partition, with data no one can read (the Track reader reads data alone)
        add(queues[n % len(queues)], f"damaged {field}", b"garbage", **{field: value})
    add(TRANSACTIONAL, "no data", b"", created_at=b"x")
    return hostile


def _dead_letter_reason(client: redis.Redis, job_id: str, queue: str) -> str | None:
    """The reason of ``job_id``'s dead letter, read from the raw hash (RQ may be unable to
    parse the rest of it), or None while it is not dead-lettered."""
    if client.zscore(FailedJobRegistry(queue, connection=client).key, job_id) is None:
        return None
    meta = client.hget(f"rq:job:{job_id}", "meta")
    if meta is None:
        return None
    record = SafeSerializer.loads(meta).get("dead_letter") or {}
    reason = record.get("reason")
    return reason if isinstance(reason, str) and reason else None


def _produce(cio: CustomerIO, steps: range) -> None:
    with cio.pipeline() as pipe:
        for step in steps:
            for person in range(PEOPLE):
                if step % 2 == 0:
                    pipe.identify(f"u{person}", seq=step)
                else:
                    pipe.track(f"u{person}", "step", {"seq": step})


def _arrivals(emulator: Any) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    requests = [r for r in emulator.requests("track") if r["status"] == 200]
    for request in sorted(requests, key=lambda r: r["seq"]):
        for op in request["body"]["batch"]:
            seen[op["identifiers"]["id"]].append(op["attributes"]["seq"])
    return seen


def test_hostile_jobs_are_dead_lettered_and_good_work_flows_in_order(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    cio = CustomerIO(settings=Settings(redis_url=redis_url))
    _produce(cio, range(STEPS // 2))
    enqueue_sends(redis_url, 2, start=0)
    workers = fleet.start(2)
    pids = [w.process.pid for w in workers]

    # The unencodable send first, its corrected resend with the same key after it.
    unencodable = _raw_job(
        redis_client,
        TRANSACTIONAL,
        _pickled(send_func("email"), _send("Jos\ud800"), idempotency_key="order-42"),
    )
    hostile = _inject(redis_client)
    injected_at = time.monotonic()
    _produce(cio, range(STEPS // 2, STEPS))
    enqueue_sends(redis_url, 2, start=2)
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    api.send_email(
        SendEmailRequest(
            transactional_message_id=1,
            to="jose@example.com",
            identifiers={"id": "jose"},
            message_data={"n": 42, "name": "José"},
        ),
        idempotency_key="order-42",
    )

    def queue_of(job_id: str) -> str:
        return hostile[job_id].split(":", 1)[0]

    def all_dead() -> bool:
        return all(_dead_letter_reason(redis_client, j, queue_of(j)) for j in hostile)

    wait_until(
        all_dead,
        DEADLINE_S,
        "every hostile job dead-lettered with a reason",
        lambda: (
            "\n".join(
                hostile[j] for j in hostile if not _dead_letter_reason(redis_client, j, queue_of(j))
            )
            + "\n"
            + workers[0].log()[-3000:]
        ),
    )
    assert time.monotonic() - injected_at <= DEADLINE_S

    def sends_arrived() -> bool:
        return len(emulator.state()["sends"]) == 5

    wait_until(lambda: track_drained(redis_client), 120, "every good Track operation")
    wait_until(sends_arrived, 60, "the five good sends")

    arrivals = _arrivals(emulator)
    assert len(arrivals) == PEOPLE
    for person, numbers in arrivals.items():
        first: dict[int, int] = {}
        for position, number in enumerate(numbers):
            first.setdefault(number, position)
        assert sorted(first) == list(range(STEPS)), f"{person} misses operations"
        positions = [first[n] for n in range(STEPS)]
        assert positions == sorted(positions), f"{person} out of order: {numbers}"

    sent = sorted(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])
    assert sent == [0, 1, 2, 3, 42]  # the corrected send went, its key was free

    record = SafeSerializer.loads(redis_client.hget(f"rq:job:{unencodable}", "meta"))
    dead = record["dead_letter"]
    assert dead["operation"] == "send email" and dead["attempts"] == 1
    assert "cannot be built" in dead["reason"] and not dead["ambiguous"]
    assert "status" in dead

    reasons = {hostile[j]: _dead_letter_reason(redis_client, j, queue_of(j)) or "" for j in hostile}
    for what, reason in reasons.items():
        if "damaged" in what and what.startswith(TRANSACTIONAL):
            field = what.rsplit(" ", 1)[1]
            assert field in reason, (what, reason)
        if "bomb" in what or "deep nesting" in what or "contains itself" in what:
            assert "unreadable job data" in reason, (what, reason)

    for worker, pid in zip(workers, pids, strict=True):
        assert worker.process.poll() is None and worker.process.pid == pid
    claimed = [redis_client.llen(Keys().claimed(p)) for p in range(Keys().partitions)]
    assert claimed == [0] * Keys().partitions
    for worker in workers:
        for line in worker.log().splitlines():
            json.loads(line)  # JSON lines only, tracebacks included
        assert "Jos\ud800" not in worker.log()
    statuses = [w.stop() for w in workers]
    assert statuses == [0, 0], "\n".join(w.log()[-4000:] for w in workers)
