"""Erase benchmark: erasing one person among a large Track backlog, and the drain rate around
an erase, on a private redis-server.

    .venv/bin/python bench/erase.py [--ops 1000000] [--people 100000] [--person-ops 500]
                                    [--workers 2] [--window-s 6]

1. Fills ``--ops`` Track operations (identify and event, over ``--people`` people) plus
   ``--person-ops`` of each of two people P and Q, spread through the backlog, with the
   producer's ``pipeline()``.
2. Erases P with no worker running (``CustomerIO.erase``) and prints its duration beside the
   baseline: reading every job of P's partition once (the ids at one instant and each job's
   data, pipelined, no decoding), the least any erase that looks at the queued jobs must do.
3. Starts the emulator (no rate limit) and ``--workers`` workers; samples ``track_delivered``
   every 0.25 s; after ``--window-s`` seconds erases Q while they drain, then samples
   ``--window-s`` more seconds. Prints the drain rate (operations/s) in the window before the
   erase, while it ran, and after it, and the ratio to the rate before.

The machine is shared: the run is bounded (a few minutes at 1M operations; the workers drain
for two windows only, not the whole backlog), and every figure is printed beside its baseline
from the same run. The private server saves nothing and is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This folder holds bench/producer.py, named like the package: keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import redis  # noqa: E402

from cio_pipeline.devtools.emulator_process import die_with_parent, running_emulator  # noqa: E402
from cio_pipeline.devtools.redis_server import RedisStartError, start_redis_server  # noqa: E402
from cio_pipeline.producer import CustomerIO, Settings  # noqa: E402
from cio_pipeline.producer.erase_scan import Person  # noqa: E402
from cio_pipeline.producer.keys import Keys  # noqa: E402
from cio_pipeline.worker.core.lifecycle import stop  # noqa: E402

P, Q = "bench-person-p", "bench-person-q"


def _fill(url: str, ops: int, people: int, person_ops: int) -> float:
    cio = CustomerIO(settings=Settings(redis_url=url))
    every = max(1, ops // person_ops)
    started = time.perf_counter()
    with cio.pipeline() as pipe:
        for n in range(ops):
            person = f"u{n % people}"
            if n % 2 == 0:
                pipe.identify(person, seq=n, plan="pro")
            else:
                pipe.track(person, "step", {"seq": n})
            if n % every == 0:
                pipe.identify(P, seq=n, note="p's data")
                pipe.track(Q, "viewed", {"seq": n, "note": "q's data"})
    cio.close()
    return time.perf_counter() - started


def _read_partition_once(client: redis.Redis, keys: Keys, person: str) -> float:
    """The baseline: every job of the person's partition read once, no decoding."""
    started = time.perf_counter()
    for p in Person(person).partitions(keys.partitions):
        ids = client.lrange(f"rq:queue:{keys.track_queue(p)}", 0, -1)
        for first in range(0, len(ids), 5000):
            with client.pipeline(transaction=False) as pipe:
                for job_id in ids[first : first + 5000]:
                    pipe.hget(b"rq:job:" + job_id, "data")
                pipe.execute()
    return time.perf_counter() - started


def _delivered(client: redis.Redis) -> int:
    return int(client.hget("cio:counters", "track_delivered") or 0)


def _rate(samples: list[tuple[float, int]], start: float, end: float) -> float:
    inside = [(t, n) for t, n in samples if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return float("nan")
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _sample_for(client: redis.Redis, seconds: float, samples: list[tuple[float, int]]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append((time.monotonic(), _delivered(client)))
        time.sleep(0.25)


def _drain_phase(url: str, workers: int, window_s: float, workdir: str) -> None:
    client = redis.Redis.from_url(url)
    with running_emulator(record_bodies=False) as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "CUSTOMERIO_"))}
        env.update(emulator.worker_env())
        env.update({"REDIS_URL": url, "CIO_TRACK_RATE": "100000", "LOG_LEVEL": "warning"})
        procs = []
        for n in range(workers):
            log = Path(workdir, f"worker-{n}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cio_pipeline.worker.cli", "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            )
        try:
            deadline = time.monotonic() + 60
            while _delivered(client) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            samples: list[tuple[float, int]] = []
            _sample_for(client, window_s, samples)
            cio = CustomerIO(settings=Settings(redis_url=url))
            erase_start = time.monotonic()
            report = cio.erase(Q)
            erase_end = time.monotonic()
            samples.append((erase_end, _delivered(client)))
            _sample_for(client, window_s, samples)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    before = _rate(samples, erase_start - window_s, erase_start)
    during = (report_delivered := _delivered_between(samples, erase_start, erase_end)) / max(
        erase_end - erase_start, 1e-9
    )
    after = _rate(samples, erase_end, erase_end + window_s)
    print(
        f"erase of Q while {workers} workers drain: {erase_end - erase_start:.2f} s, "
        f"dropped {report.dropped_total}, in flight {report.in_flight}"
    )
    print(f"{'drain rate (operations/s)':<44}{'ops/s':>10}{'vs before':>11}")
    print(f"{'  before the erase (baseline)':<44}{before:>10,.0f}{1.0:>10.2f}x")
    print(
        f"{'  while the erase ran':<44}{during:>10,.0f}{during / before:>10.2f}x"
        f"   ({report_delivered:,} delivered meanwhile)"
    )
    print(f"{'  after it':<44}{after:>10,.0f}{after / before:>10.2f}x")


def _delivered_between(samples: list[tuple[float, int]], start: float, end: float) -> int:
    before = [n for t, n in samples if t <= start]
    after = [n for t, n in samples if t >= end]
    return (after[0] if after else 0) - (before[-1] if before else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--person-ops", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window-s", type=float, default=6.0)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cio-bench-erase-")
    try:
        server, port = start_redis_server(workdir)
    except RedisStartError as error:
        raise SystemExit(str(error)) from None
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        keys = Keys()
        fill_s = _fill(url, args.ops, args.people, args.person_ops)
        queued = sum(client.llen(f"rq:queue:{q}") for q in keys.track_queues)
        memory_mb = int(client.info("memory")["used_memory"]) / 1e6
        print(
            f"backlog: {queued:,} Track operations queued in {fill_s:.1f} s "
            f"({memory_mb:,.0f} MB in Redis), {keys.partitions} partitions"
        )
        baseline_s = _read_partition_once(client, keys, P)
        cio = CustomerIO(settings=Settings(redis_url=url))
        started = time.perf_counter()
        report = cio.erase(P)
        erase_s = time.perf_counter() - started
        print(f"{'erase of P, no worker':<44}{'seconds':>10}{'ratio':>11}")
        print(f"{'  erase (ours)':<44}{erase_s:>10.2f}{erase_s / baseline_s:>10.2f}x")
        print(f"{'  reading P partition once (baseline)':<44}{baseline_s:>10.2f}{1.0:>10.2f}x")
        print(f"  dropped {report.dropped_total} of P's operations; audit entry {report.erase_id}")
        _drain_phase(url, args.workers, args.window_s, workdir)
    finally:
        stop(server, timeout_s=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
