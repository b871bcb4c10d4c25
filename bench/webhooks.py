"""Benchmark: the webhook receiver under Customer.io-like load, with no worker running.

Starts ``cio-pipeline webhooks`` on a loopback port against REDIS_URL (default: the local
Redis, database 15, flushed before and after), then sends signed events at a fixed rate
(default 500 requests/s for 20 s) from an asyncio load generator on loopback over 32
keep-alive connections; request n is due at n/rate and its latency counts from then
(open loop: a receiver that falls behind shows up as latency, not as a lower rate).
Prints every status seen, our p50/p99 response time, and the Redis PING p50/p99 measured
in the same run as the baseline.

    python bench/webhooks.py [--rate 500] [--seconds 20] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter

import httpx
import redis

from cio_pipeline.devtools.receiver import running_receiver
from cio_pipeline.worker.webhooks.signature import sign

KEY = "bench-signing-key"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ping_ms(url: str, count: int = 2000) -> list[float]:
    client = redis.Redis.from_url(url)
    client.ping()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        client.ping()
        times.append((time.perf_counter() - start) * 1000)
    client.close()
    return times


def _request(n: int, host: str, path: str) -> bytes:
    event = {
        "event_id": f"01BENCH{n:019d}",
        "object_type": "email",
        "metric": "delivered",
        "timestamp": int(time.time()),
        "data": {
            "recipient": f"p{n}@example.com",
            "identifiers": {"id": str(n)},
            "delivery_id": f"d{n}",
        },
    }
    body = json.dumps(event).encode()
    stamp = int(time.time())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-CIO-Timestamp: {stamp}\r\nX-CIO-Signature: {sign(body, stamp, KEY)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _load(
    url: str, rate: float, seconds: float, connections: int
) -> tuple[list[float], Counter[int]]:
    """Open loop: request n is due at start + n/rate; latency counts from when it was due,
    so a receiver that falls behind shows as latency. Raw HTTP/1.1 keep-alive connections
    (httpx's async client cost more CPU per request than the receiver on 2 cores)."""
    parsed = httpx.URL(url)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    total = int(rate * seconds)
    counter = iter(range(total))
    begin = time.perf_counter() + 0.2

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        for n in counter:
            due = begin + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(_request(n, f"{parsed.host}:{parsed.port}", parsed.path))
            statuses[await _answer(reader)] += 1
            latencies.append((time.perf_counter() - due) * 1000)
        writer.close()

    await asyncio.wait_for(
        asyncio.gather(*(connection() for _ in range(connections))), timeout=seconds + 60
    )
    return latencies, statuses


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="keep-alive connections (Customer.io opens several)",
    )
    args = parser.parse_args()
    admin = redis.Redis.from_url(args.redis_url)
    admin.flushdb()
    env = {
        "REDIS_URL": args.redis_url,
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY": KEY,
        "LOG_LEVEL": "warning",
    }
    try:
        ping_before = _ping_ms(args.redis_url)
        with running_receiver(env) as base:
            url = f"{base}/webhooks/customerio"
            httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
            started = time.perf_counter()
            latencies, statuses = asyncio.run(_load(url, args.rate, args.seconds, args.connections))
            elapsed = time.perf_counter() - started
        queued = admin.llen("rq:queue:cio-webhooks")
        ping = ping_before + _ping_ms(args.redis_url)
    finally:
        admin.flushdb()
        admin.close()
    print(
        f"{len(latencies)} requests in {elapsed:.1f} s ({len(latencies) / elapsed:.0f}/s), "
        f"statuses {dict(statuses)}, jobs queued {queued}"
    )
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(
        f"{'webhook POST -> 200':24}{statistics.median(latencies):>10.2f}"
        f"{_percentile(latencies, 0.99):>10.2f}{max(latencies):>10.2f}"
    )
    print(
        f"{'Redis PING (baseline)':24}{statistics.median(ping):>10.3f}"
        f"{_percentile(ping, 0.99):>10.3f}{max(ping):>10.3f}"
    )
    ok = statuses == Counter({200: len(latencies)}) and queued == len(latencies)
    print("OK" if ok else "NOT OK: every request must be 200 and enqueued")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
