"""Producer benchmark: our per-call and pipelined enqueue beside RQ's own, in one run.

    .venv/bin/python bench/producer.py [--calls 3000] [--batch 1000] [--rounds 5]

Prints Redis PING p50, our ``identify()`` p50/p99 next to RQ's ``Queue.enqueue`` p50/p99, and
our ``pipeline()`` throughput next to RQ's ``Queue.enqueue_many``. The measurements are
interleaved in rounds so that noise from other processes on the machine hits all of them
alike; compare the ratios. Uses database 15 of ``REDIS_URL``'s server by default (flushed at
start and end; pass ``--redis-url`` to choose).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import redis  # noqa: E402
from rq import Queue  # noqa: E402

from producer import CustomerIO, Settings  # noqa: E402

OPERATION = {
    "type": "person",
    "identifiers": {"id": "42"},
    "action": "identify",
    "attributes": {"plan": "pro", "email": "ann@example.com"},
}


def _latencies(call: Callable[[int], object], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--calls", type=int, default=3000, help="per-call samples per round")
    parser.add_argument("--batch", type=int, default=1000, help="jobs per pipeline")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    settings = Settings(redis_url=args.redis_url, queue_prefix="bench")
    cio = CustomerIO(redis=client, settings=settings)
    queue = Queue("bench-rq", connection=client)

    def ours(i: int) -> object:
        return cio.identify(str(i), plan="pro", email="ann@example.com")

    def rq_enqueue(i: int) -> object:
        return queue.enqueue("worker.jobs.track_operation", OPERATION, description="cio identify")

    ping: list[float] = []
    our_calls: list[float] = []
    rq_calls: list[float] = []
    our_rates: list[float] = []
    rq_rates: list[float] = []
    for _ in range(args.rounds):
        ping += _latencies(lambda i: client.ping(), args.calls)
        our_calls += _latencies(ours, args.calls)
        rq_calls += _latencies(rq_enqueue, args.calls)

        started = time.perf_counter()
        with cio.pipeline() as pipe:
            for i in range(args.batch):
                pipe.identify(str(i), plan="pro", email="ann@example.com")
        our_rates.append(args.batch / (time.perf_counter() - started))

        started = time.perf_counter()
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    "worker.jobs.track_operation", (OPERATION,), description="cio identify"
                )
                for _ in range(args.batch)
            ]
        )
        rq_rates.append(args.batch / (time.perf_counter() - started))
        client.flushdb()

    us = 1e6
    ping_p50 = statistics.median(ping)
    ours_p50, rq_p50 = statistics.median(our_calls), statistics.median(rq_calls)
    our_rate, rq_rate = statistics.median(our_rates), statistics.median(rq_rates)
    print(f"{'measure':<34}{'ours':>14}{'baseline':>14}{'ratio':>9}")
    print(f"{'Redis PING p50 (us)':<34}{'':>14}{ping_p50 * us:>14.0f}")
    print(
        f"{'per-call p50 (us) vs PING p50':<34}{ours_p50 * us:>14.0f}{ping_p50 * us:>14.0f}"
        f"{ours_p50 / ping_p50:>8.2f}x   target <= 2.00x"
    )
    print(
        f"{'per-call p50 (us) vs RQ enqueue':<34}{ours_p50 * us:>14.0f}{rq_p50 * us:>14.0f}"
        f"{rq_p50 / ours_p50:>8.2f}x faster"
    )
    print(
        f"{'per-call p99 (us) vs RQ enqueue':<34}{_p(our_calls, 0.99) * us:>14.0f}"
        f"{_p(rq_calls, 0.99) * us:>14.0f}"
    )
    print(
        f"{'pipeline jobs/s vs enqueue_many':<34}{our_rate:>14.0f}{rq_rate:>14.0f}"
        f"{our_rate / rq_rate:>8.2f}x   target >= 2.00x"
    )
    print(f"({args.rounds} rounds x {args.calls} calls, pipelines of {args.batch}; medians)")
    client.flushdb()


if __name__ == "__main__":
    main()
