"""Erasing a person end to end: real Redis, the ``cio-pipeline erase`` command, two real
workers draining to the emulator.

Person P has 500 Track operations (identifies, events, page views, a device) and 3 sends to
their address among 20,000 operations and 30 sends of 1,000 other people, and one operation
already dead-lettered. After the erase returns, a scan of every key and value (job data
decompressed) finds none of P's values and P's identifier only in the pending suppress; the
workers then deliver everybody else in order and, for P, only the suppress.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from typing import Any

import pytest
import redis
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from support import WorkerFleet, track_drained, wait_until

from cio_pipeline import PersonErased
from cio_pipeline.producer import APIClient, CustomerIO, SendEmailRequest, Settings
from cio_pipeline.producer.ids import partition_for
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.deadletters.record import DeadLetterRecord
from cio_pipeline.worker.track.ledger import Ledger

pytestmark = pytest.mark.integration

P = "person-p-7f3a91"
P_ADDRESS = "p.erased-7f3a91@example.com"
P_VALUE = "p-secret-value-7f3a91"
PEOPLE, STEPS = 1000, 20  # 20,000 operations of other people
KEYS = Keys()


def _produce(redis_url: str) -> None:
    """P's 500 operations interleaved with the others' 20,000, then the sends."""
    cio = CustomerIO(settings=Settings(redis_url=redis_url))
    p_ops = 0
    with cio.pipeline() as pipe:
        for step in range(STEPS):
            for person in range(PEOPLE):
                if step % 2 == 0:
                    pipe.identify(f"u{person}", seq=step)
                else:
                    pipe.track(f"u{person}", "step", {"seq": step})
                if person % 40 == 0 and p_ops < 499:
                    kind = p_ops % 3
                    if kind == 0:
                        pipe.identify(P, email=P_ADDRESS, note=f"{P_VALUE}-{p_ops}")
                    elif kind == 1:
                        pipe.track(P, "viewed", {"what": f"{P_VALUE}-{p_ops}"})
                    else:
                        pipe.pageview(P, f"https://example.com/{P_VALUE}-{p_ops}")
                    p_ops += 1
        pipe.add_device(P, f"{P_VALUE}-device", "ios")
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    with api.pipeline() as pipe:
        for n in range(33):
            mine = n % 11 == 0
            pipe.send_email(
                SendEmailRequest(
                    transactional_message_id=1,
                    to=P_ADDRESS if mine else f"o{n}@example.com",
                    identifiers={"id": P if mine else f"u{n}"},
                    message_data={"note": P_VALUE if mine else "hello"},
                )
            )
    cio.close()
    api.close()


def _dead_letter_one_of_p(client: redis.Redis) -> str:
    """Move one of P's queued operations to the dead letters, as a failed delivery would."""
    cio = CustomerIO(redis=client)
    job_id = cio.identify(P, note=f"{P_VALUE}-dead")
    partition = partition_for("id", P, KEYS.partitions)
    client.lrem(f"rq:queue:{KEYS.track_queue(partition)}", 1, job_id)
    record = DeadLetterRecord(reason="Customer.io refused it", operation="identify", status=400)
    Ledger(client, KEYS, "test").dead_letter(partition, [(job_id, record)], 3600)
    return job_id


def _values(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key of the database and everything it holds (job data decompressed)."""
    keys = list(client.scan_iter(count=5000))
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
        kinds = pipe.execute()
    readers = {
        b"string": lambda pipe, key: pipe.get(key),
        b"hash": lambda pipe, key: pipe.hgetall(key),
        b"list": lambda pipe, key: pipe.lrange(key, 0, -1),
        b"set": lambda pipe, key: pipe.smembers(key),
        b"zset": lambda pipe, key: pipe.zrange(key, 0, -1),
        b"stream": lambda pipe, key: pipe.xrange(key),
    }
    with client.pipeline(transaction=False) as pipe:
        for key, kind in zip(keys, kinds, strict=True):
            readers[kind](pipe, key)
        contents = pipe.execute()
    found: dict[bytes, bytes] = {}
    for key, kind, content in zip(keys, kinds, contents, strict=True):
        parts: list[bytes] = []
        if kind == b"string":
            parts.append(content or b"")
        elif kind == b"hash":
            for field, value in content.items():
                try:
                    value = zlib.decompress(value)
                except zlib.error:
                    pass
                parts += [field, value]
        elif kind == b"stream":
            parts += [b for _, fields in content for kv in fields.items() for b in kv]
        else:
            parts += list(content or [])
        found[key] = key + b"\n" + b"\n".join(parts)
    return found


def _holding(client: redis.Redis, needle: str) -> list[bytes]:
    raw = needle.lower().encode()
    return sorted(k for k, v in _values(client).items() if raw in v.lower())


def _erase_command(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli(redis_url, "erase", *args)


def _cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "REDIS_URL"))}
    env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _track_ops(emulator: Any) -> list[tuple[int, dict[str, Any]]]:
    """(request seq, operation) of every accepted Track operation, in arrival order."""
    found = []
    for request in sorted(emulator.requests("track"), key=lambda r: r["seq"]):
        if request["status"] == 200 and isinstance(request.get("body"), dict):
            found += [(request["seq"], op) for op in request["body"].get("batch", [])]
    return found


def _is_p(op: dict[str, Any]) -> bool:
    identifiers = op.get("identifiers") or {}
    return identifiers.get("id") == P or identifiers.get("email") == P_ADDRESS


def _assert_others_in_order(ops: list[tuple[int, dict[str, Any]]]) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    for _, op in ops:
        person = (op.get("identifiers") or {}).get("id", "")
        if person.startswith("u"):
            seen[person].append(op["attributes"]["seq"])
    assert len(seen) == PEOPLE
    for person, numbers in seen.items():
        first: dict[int, int] = {}
        for position, number in enumerate(numbers):
            first.setdefault(number, position)
        assert sorted(first) == list(range(STEPS)), f"{person} misses operations"
        positions = [first[n] for n in range(STEPS)]
        assert positions == sorted(positions), f"{person} out of order"


def _sends_to_p(emulator: Any) -> list[dict[str, Any]]:
    return [
        s
        for s in emulator.state()["sends"]
        if s["request"].get("to") == P_ADDRESS or s["request"].get("identifiers") == {"id": P}
    ]


def _drained(client: redis.Redis) -> bool:
    """Every Track operation and send delivered, dropped or dead (waits on Redis: polling
    the emulator's whole state would slow it down)."""
    queue = KEYS.transactional_queue
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(f"rq:queue:{queue}")
        pipe.llen(f"rq:queue:{queue}:intermediate")
        pipe.zcard(StartedJobRegistry(queue, connection=client).key)
        pipe.zcard(ScheduledJobRegistry(queue, connection=client).key)
        busy = sum(pipe.execute())
    return busy == 0 and track_drained(client)


def test_erase_with_no_worker_leaves_only_the_suppress_and_delivers_everyone_else(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    _produce(redis_url)
    dead = _dead_letter_one_of_p(redis_client)
    assert _holding(redis_client, P_VALUE)  # the scan can see what it looks for
    started = time.monotonic()
    done = _erase_command(redis_url, P, "--email", P_ADDRESS, "--suppress")
    assert done.returncode == 0, done.stderr
    took_s = time.monotonic() - started
    assert P not in done.stdout + done.stderr and P_ADDRESS not in done.stdout + done.stderr
    assert "dropped 504 job(s)" in done.stdout, done.stdout  # 500 + 1 dead + 3 sends
    assert _holding(redis_client, P_VALUE) == []
    assert _holding(redis_client, P_ADDRESS) == []
    (pending,) = _holding(redis_client, P)
    assert pending.startswith(b"rq:job:")
    assert not redis_client.exists(f"rq:job:{dead}")

    fleet.start(2)
    wait_until(lambda: _drained(redis_client), 120, "the others' operations")
    ops = _track_ops(emulator)
    assert [op["action"] for _, op in ops if _is_p(op)] == ["suppress"]
    _assert_others_in_order(ops)
    assert _sends_to_p(emulator) == []
    assert len(emulator.state()["sends"]) == 30
    with pytest.raises(PersonErased):
        CustomerIO(settings=Settings(redis_url=redis_url)).identify(P)
    # The suppress went out with the last batches; its job is deleted as that batch settled.
    assert _holding(redis_client, P) == []
    assert _holding(redis_client, P_ADDRESS) == []
    # The workers dropped P's 500 queued Track operations at their claim and counted them.
    shown = _cli(redis_url, "stats", "--json")
    assert shown.returncode == 0, shown.stderr
    stats = json.loads(shown.stdout)
    assert stats["counters"]["total"]["track_erased"] == 500
    assert stats["counters"]["last_60m"]["track_erased"] == 500
    listed = _erase_command(redis_url, "--list")
    assert listed.returncode == 0 and "1 erasure(s)" in listed.stdout
    assert P not in listed.stdout
    print(f"erase of P among 20,500 operations: {took_s:.2f} s (command, process start incl.)")


def test_erase_while_two_workers_drain_sends_nothing_of_p_afterwards(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    _produce(redis_url)
    # Slow enough that the erase lands mid-drain: 10 requests/s of at most 100 operations.
    fleet.start(2, CIO_TRACK_RATE="10", CIO_BATCH_MAX_OPS="100")
    wait_until(lambda: len(emulator.requests("track")) >= 10, 60, "the drain to be under way")
    done = _erase_command(redis_url, P, "--email", P_ADDRESS)
    assert done.returncode == 0, done.stderr
    after = max((r["seq"] for r in emulator.requests()), default=0)
    sends_before = len(_sends_to_p(emulator))
    assert not track_drained(redis_client), "the erase came too late to test anything"
    wait_until(lambda: _drained(redis_client), 120, "the drain")
    ops = _track_ops(emulator)
    late = [op["action"] for seq, op in ops if _is_p(op) and seq > after]
    assert late == ["delete"]
    early = [op for seq, op in ops if _is_p(op) and seq <= after]
    assert len(early) < 500  # some of P's operations were still queued, and were dropped
    _assert_others_in_order(ops)
    assert len(_sends_to_p(emulator)) == sends_before
    assert _holding(redis_client, P_VALUE) == []
