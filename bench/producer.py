"""Producer benchmark: bulk ``pipeline()`` throughput and peak memory beside RQ, in one run.

    .venv/bin/python bench/producer.py [--sizes 10000,100000,1000000] [--calls 2000]

For each size, a fresh child process makes that many ``identify`` calls in one
``pipeline()`` block and reports jobs/s and its peak memory growth (``ru_maxrss`` after the
block minus before it: the block's own footprint, whatever the interpreter had already);
another child does the same with RQ's ``Queue.enqueue_many`` (the baseline; skipped above
``--rq-max``, where it takes minutes and holds every job in memory). Beside jobs/s, which
other load on the machine moves a lot, it prints the producer's CPU time per job and Redis's
script time per job (from ``INFO commandstats``: exact only on a server no one else uses, see
``--redis-url``), the figures to compare between runs. The database is flushed after each
measurement. Then our per-call ``identify()`` p50 beside a Redis PING and RQ's
``Queue.enqueue``, interleaved so that noise hits both alike.

Goals: at least 50,000 jobs/s, flat from 10k to 1M calls; peak memory that does not grow
with the block beyond one chunk plus the ids (16 bytes each).

The database: ``--redis-url`` if given, else one of 1..15 on 127.0.0.1:6379 reserved with the
test suite's lock keys (``cio-test:db-lock:<n>`` in db 0), so a benchmark never flushes a
database a test session is using. Never FLUSHALL.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import redis  # noqa: E402
from rq import Queue  # noqa: E402

from cio_pipeline.producer import CustomerIO, Settings  # noqa: E402

OPERATION = {
    "type": "person",
    "identifiers": {"id": "42"},
    "action": "identify",
    "attributes": {"plan": "pro", "email": "ann@example.com"},
}
_BASE = "redis://127.0.0.1:6379"


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _child(kind: str, size: int, url: str) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    client = redis.Redis.from_url(url)
    cio = CustomerIO(redis=client, settings=Settings(redis_url=url, queue_prefix="bench"))
    queue = Queue("bench-rq", connection=client)
    cio.identify("warm-up")  # connect and load the script outside the measurement
    before = _maxrss_bytes()
    server_before = _script_usec(client)
    collections = sum(gen["collections"] for gen in gc.get_stats())
    cpu = time.process_time()
    started = time.perf_counter()
    if kind == "ours":
        with cio.pipeline() as pipe:
            for i in range(size):
                pipe.identify(str(i), plan="pro", email="ann@example.com")
    else:
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    "cio_pipeline.worker.jobs.track_operation",
                    (OPERATION,),
                    description="cio identify",
                )
                for _ in range(size)
            ]
        )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    collections = sum(gen["collections"] for gen in gc.get_stats()) - collections
    grown = _maxrss_bytes() - before
    server = _script_usec(client) - server_before
    print(
        json.dumps(
            {
                "rate": size / elapsed,
                "grown": grown,
                "cpu_us": cpu / size * 1e6,
                "server_us": server / size,
                "gc": collections,
            }
        )
    )


def _script_usec(client: redis.Redis) -> int:
    """Microseconds Redis has spent in EVAL/EVALSHA (all clients: exact on a private server)."""
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("usec", 0)) for name in ("eval", "evalsha"))


def _measure(kind: str, size: int, url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(size), "--redis-url", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    ).stdout
    redis.Redis.from_url(url).flushdb(asynchronous=True)
    return dict(json.loads(out.splitlines()[-1]))


def _latencies(call: Callable[[int], object], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return samples


def _per_call(url: str, calls: int, rounds: int) -> None:
    client = redis.Redis.from_url(url)
    cio = CustomerIO(redis=client, settings=Settings(redis_url=url, queue_prefix="bench"))
    queue = Queue("bench-rq", connection=client)
    ping: list[float] = []
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        ping += _latencies(lambda i: client.ping(), calls)
        ours += _latencies(lambda i: cio.identify(str(i), plan="pro"), calls)
        theirs += _latencies(
            lambda i: queue.enqueue("cio_pipeline.worker.jobs.track_operation", OPERATION), calls
        )
        client.flushdb(asynchronous=True)
    us = 1e6
    p50 = statistics.median
    print(
        f"{'per-call p50 (us) vs PING p50':<36}{p50(ours) * us:>12.0f}{p50(ping) * us:>12.0f}"
        f"{p50(ours) / p50(ping):>8.2f}x"
    )
    print(
        f"{'per-call p50 (us) vs RQ enqueue':<36}{p50(ours) * us:>12.0f}"
        f"{p50(theirs) * us:>12.0f}{p50(theirs) / p50(ours):>8.2f}x faster"
    )


def _reserve_db() -> tuple[str, Callable[[], None]]:
    admin = redis.Redis.from_url(f"{_BASE}/0", socket_timeout=2)
    token = f"bench-{uuid.uuid4().hex}"
    for db in range(15, 0, -1):
        lock = f"cio-test:db-lock:{db}"
        if admin.set(lock, token, nx=True, ex=3 * 3600):

            def release(lock: str = lock) -> None:
                if admin.get(lock) == token.encode():
                    admin.delete(lock)

            return f"{_BASE}/{db}", release
    raise SystemExit("every database 1..15 is reserved by a test session; pass --redis-url")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", help="a database this benchmark may flush")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rq-max", type=int, default=100_000, help="largest RQ baseline")
    parser.add_argument("--calls", type=int, default=2000, help="per-call samples per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.redis_url)
        return
    url, release = (args.redis_url, lambda: None) if args.redis_url else _reserve_db()
    try:
        redis.Redis.from_url(url).flushdb(asynchronous=True)
        print(f"{'pipeline() of N identify calls':<36}{'ours':>12}{'RQ':>12}{'ratio':>9}")
        for size in (int(s) for s in args.sizes.split(",")):
            ours = _measure("ours", size, url)
            rq = _measure("rq", size, url) if size <= args.rq_max else None
            ratio = f"{ours['rate'] / rq['rate']:>8.2f}x" if rq else ""
            rq_rate = f"{rq['rate']:,.0f}" if rq else "-"
            print(f"{f'  {size:,} calls: jobs/s':<36}{ours['rate']:>12,.0f}{rq_rate:>12}{ratio}")
            rq_mb = f"{rq['grown'] / 1e6:.1f}" if rq else "-"
            print(
                f"{f'  {size:,} calls: peak memory +MB':<36}{ours['grown'] / 1e6:>12.1f}"
                f"{rq_mb:>12}   ({ours['grown'] / size:.0f} B/job ours)"
            )
            # Less sensitive to other load than jobs/s: the producer's own CPU per job, and
            # the Redis script time per job (Lua enqueue for ours, MULTI/EXEC for RQ: "-").
            rq_cpu = f"{rq['cpu_us']:.1f}" if rq else "-"
            print(
                f"{f'  {size:,} calls: client CPU us/job':<36}{ours['cpu_us']:>12.1f}{rq_cpu:>12}"
                f"   (Redis script {ours['server_us']:.1f} us/job, {ours['gc']} GC runs)"
            )
        _per_call(url, args.calls, args.rounds)
    finally:
        redis.Redis.from_url(url).flushdb(asynchronous=True)
        release()


if __name__ == "__main__":
    main()
