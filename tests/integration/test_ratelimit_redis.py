"""The shared limiter under real contention: 4 OS processes on one real Redis.

Each child process takes tokens from one limiter as fast as it is allowed (sleeping exactly the
returned waits) and records the Redis TIME of every grant, the one clock all processes share. The
children start together on a Redis list (no sleeps) and stop at a Redis TIME deadline.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from cio_pipeline.devtools.emulator_process import die_with_parent
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.ratelimit import RateLimiter, emission_interval_us

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KEYS = Keys(prefix="itest")
RATE = 20
PROCESSES = 4
READY, GO = "itest:ready", "itest:go"

# argv: redis_url, state_key, pause_key, rate. Prints the grants' Redis TIME, in microseconds.
CHILD = """
import json, sys, time
import redis
from cio_pipeline.worker.ratelimit import RateLimiter, emission_interval_us

url, state_key, pause_key, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
# the socket timeout outlasts the BLPOP below (redis-py's default would cut it at 5 s)
client = redis.Redis.from_url(url, socket_timeout=60)
limiter = RateLimiter(client, state_key=state_key, pause_key=pause_key, rate=rate)
client.rpush("itest:ready", 1)
_, end = client.blpop("itest:go", timeout=30)
end_us = int(end)
grants = []
while True:
    attempt = limiter.attempt()
    now_us = round(attempt.at_s * 1e6)
    if attempt.granted:
        grants.append(now_us)
    elif now_us + round(attempt.wait_s * 1e6) >= end_us:
        break
    else:
        time.sleep(attempt.wait_s)
    if now_us >= end_us:
        break
print(json.dumps(grants))
"""


def redis_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def max_in_closed_window(grants_us: list[int], window_us: int = 1_000_000) -> int:
    """The most grants in any closed window [t, t + window] (sorted input)."""
    best, lo = 0, 0
    for hi, t in enumerate(grants_us):
        while t - grants_us[lo] > window_us:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def run_children(
    client: redis.Redis,
    redis_url: str,
    end_after_s: float,
    on_ready: Callable[[], object] = lambda: None,
) -> list[int]:
    """Start the children together, let them run until Redis TIME + ``end_after_s``.

    ``on_ready`` runs once every child is connected and waiting for the start signal.
    """
    args = [redis_url, KEYS.rate_limit("track"), KEYS.pause("track"), str(RATE)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        for _ in range(PROCESSES)
    ]
    # BLPOP waits up to 30 s for the children (slow to start on a busy machine): a client
    # whose socket timeout outlasts it, not the fixture's (redis-py's default cuts it at 5 s)
    waiter = redis.Redis.from_url(redis_url, socket_timeout=60)
    try:
        for _ in range(PROCESSES):
            assert waiter.blpop([READY], timeout=30) is not None, "a child did not start"
        on_ready()
        end_us = redis_now_us(client) + round(end_after_s * 1e6)
        client.rpush(GO, *[end_us] * PROCESSES)
        grants: list[int] = []
        for child in children:
            out, err = child.communicate(timeout=30)
            assert child.returncode == 0, err
            grants.extend(json.loads(out))
        return sorted(grants)
    finally:
        waiter.close()
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)


def test_four_processes_never_exceed_the_rate_in_any_second(
    redis_client: redis.Redis, redis_url: str
) -> None:
    duration_s = 3.0
    grants = run_children(redis_client, redis_url, duration_s)

    busiest = max_in_closed_window(grants)
    span_s = (grants[-1] - grants[0]) / 1e6
    ideal = RATE * span_s + 1  # evenly spaced grants from the first to the last
    utilisation = len(grants) / ideal
    print(
        f"\n{PROCESSES} processes at {RATE}/s: {len(grants)} grants in {span_s:.3f} s, "
        f"busiest 1 s window {busiest}, utilisation {utilisation:.1%}"
    )
    assert busiest <= RATE
    assert span_s >= duration_s * 0.9
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= emission_interval_us(RATE)  # evenly spaced: burst 0
    # The limiter does not starve its users. A lower bound only, with room for a busy machine
    # (four children descheduled at once lose tokens that no limiter could grant them): a
    # limiter that granted at half its rate or less still fails here.
    assert len(grants) >= 0.5 * RATE * duration_s
    assert utilisation >= 0.5


def test_no_process_gets_a_token_while_paused(redis_client: redis.Redis, redis_url: str) -> None:
    limiter = RateLimiter(
        redis_client,
        state_key=KEYS.rate_limit("track"),
        pause_key=KEYS.pause("track"),
        rate=RATE,
    )
    paused_at_us: list[int] = []

    def pause() -> None:
        paused_at_us.append(redis_now_us(redis_client))
        assert limiter.pause(1.0) > 0.9

    grants = run_children(redis_client, redis_url, 1.5, on_ready=pause)
    before_us = paused_at_us[0]
    pause_end_us = before_us + 1_000_000  # the pause ends at or after this

    print(f"\npause 1.0 s: first grant {(grants[0] - before_us) / 1e6:.3f} s after pausing")
    assert grants, "no process got a token after the pause"
    assert grants[0] >= pause_end_us
    assert max_in_closed_window(grants) <= RATE
    assert limiter.paused_for() == 0.0
