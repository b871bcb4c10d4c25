"""Drain benchmark: batched Track delivery beside RQ's one-HTTP-call-per-job, in one run.

    .venv/bin/python bench/drain.py [--ops 50000] [--people 5000] [--workers 2]
                                    [--baseline-ops 5000] [--latency-samples 200]

Starts the Customer.io emulator (rate limit off), then:

0. ours without counters (``CIO_COUNTERS=0``, unless ``--skip-uncounted``): step 1 once
   more, first, to measure what the counters cost (target: within 5 %);
1. ours: pre-fills ``--ops`` Track operations (identify and event, interleaved per person,
   over ``--people`` people) with the producer's ``pipeline()`` and drains them with
   ``--workers`` ``cio-pipeline worker`` processes, timed from their start until the emulator
   has accepted every operation;
2. baseline: RQ's ``SimpleWorker`` (in this process) running one v1 HTTP call per job with our
   ``TrackClient`` on ``--baseline-ops`` of the same operations;
3. idle latency: with one worker running and nothing queued, the time from one ``identify()``
   call to its request's arrival at the emulator (the emulator's ``at``), p50/p99.

Also reads Redis ``used_memory`` (INFO memory; the whole server, so a shared server's other
users add noise) before producing, with the backlog queued, and after the drain, and prints
the bytes per queued operation and what the drain left behind (delivered Track jobs are
deleted as they settle unless ``--keep-delivered-s`` sets ``CIO_TRACK_KEEP_DELIVERED_S``).

Prints ops/s, HTTP requests and ops per request of both, the ratio and the targets, and the
emulator's own ceiling on this machine (the workload posted straight to it in 1000-op batches;
the emulator shares the CPUs with the workers, so ours cannot beat it). Every
wait is bounded: a phase that makes no progress for ``--stall-s`` seconds is reported and
skipped. Uses database 14 of the local Redis by default (``--redis-url``), flushed at start
and end, and reserved like a test session's (``cio-test:db-lock:<db>`` in database 0).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# This folder holds bench/producer.py, named like the package: keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import redis  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402
from rq.registry import FailedJobRegistry  # noqa: E402

from cio_pipeline.devtools.emulator_process import (  # noqa: E402
    EmulatorHandle,
    die_with_parent,
    running_emulator,
)
from cio_pipeline.producer import CustomerIO, Settings  # noqa: E402
from cio_pipeline.producer.keys import Keys  # noqa: E402
from cio_pipeline.producer.operations import person_op  # noqa: E402
from cio_pipeline.producer.serializer import SafeSerializer  # noqa: E402
from cio_pipeline.worker.clients.outcomes import Success  # noqa: E402
from cio_pipeline.worker.clients.track import TrackClient  # noqa: E402
from cio_pipeline.worker.core.settings import WorkerSettings  # noqa: E402

PREFIX = "benchdrain"
PARTITIONS = 8
REPO = Path(__file__).resolve().parent.parent
#: One SDK call: (method, positional args, keyword args).
Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def log(message: str) -> None:
    """A progress line (stderr, so the table on stdout stays clean)."""
    print(f"[drain {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def calls(n_ops: int, n_people: int) -> Iterator[Call]:
    """The workload: round r touches every person once, identify on even rounds and an event
    on odd ones, so each person's operations alternate (none of them can be merged)."""
    for i in range(n_ops):
        person, round_ = f"p{i % n_people}", i // n_people
        if round_ % 2 == 0:
            yield "identify", (person,), {"plan": "pro", "round": round_}
        else:
            yield "track", (person, "page_viewed"), {"data": {"path": "/pricing", "n": round_}}


def as_operation(call: Call) -> dict[str, Any]:
    """The v2 operation the producer makes of ``call`` (what a job carries)."""
    method, args, kwargs = call
    if method == "identify":
        return person_op("identify", args[0], attributes=kwargs).operation
    return person_op("event", args[0], name=args[1], attributes=kwargs["data"]).operation


# ---- Redis database and emulator log --------------------------------------------------------


class ReservedDatabase:
    """Reserve ``url``'s database the way the test sessions do, so neither flushes the other's."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.admin = redis.Redis.from_url(urlunsplit(urlsplit(url)._replace(path="/0")))
        self.lock, self.token = f"cio-test:db-lock:{self.db}", uuid.uuid4().hex

    def __enter__(self) -> redis.Redis:
        if not self.admin.set(self.lock, self.token, nx=True, ex=3 * 3600):
            raise SystemExit(f"database {self.db} is reserved ({self.lock}); pass --redis-url")
        self.client.flushdb()
        return self.client

    def __exit__(self, *exc_info: object) -> None:
        self.client.flushdb()
        if self.admin.get(self.lock) == self.token.encode():
            self.admin.delete(self.lock)


def accepted_ops(record: dict[str, Any]) -> int:
    """Operations the emulator accepted in one logged Track request."""
    if record["status"] == 200:
        return int(record["ops"])
    if record["status"] == 207:
        return sum(1 for item in record.get("items") or () if item.get("result") != "rejected")
    return 0


# ---- our workers ------------------------------------------------------------------------------


@dataclass
class Fleet:
    """``cio-pipeline worker`` subprocesses, each logging to a file in ``logdir``."""

    env: dict[str, str]
    logdir: Path
    processes: list[tuple[subprocess.Popen[bytes], Path]]

    def start(self, count: int) -> None:
        for _ in range(count):
            path = self.logdir / f"worker-{len(self.processes)}.log"
            with path.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "cio_pipeline.worker.cli", "worker"],
                    env=self.env,
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            self.processes.append((process, path))

    def exited(self) -> list[str]:
        return [f"{p.pid} exit {p.returncode}" for p, _ in self.processes if p.poll() is not None]

    def stop(self) -> None:
        """SIGTERM every worker, then wait (bounded) for each; SIGKILL a straggler."""
        for process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"worker {process.pid} ignored SIGTERM for 30 s; killing it")
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
            for _, path in self.processes
        )


def worker_env(redis_url: str, emulator: EmulatorHandle, keep_s: int = 0) -> dict[str, str]:
    """The workers' environment: ours, without any CIO_*/CUSTOMERIO_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "CUSTOMERIO_"))}
    return (
        env
        | emulator.worker_env()
        | {
            "REDIS_URL": redis_url,
            "CIO_QUEUE_PREFIX": PREFIX,
            "CIO_PARTITIONS": str(PARTITIONS),
            "CIO_TRACK_RATE": "100000",
            "CIO_TRACK_KEEP_DELIVERED_S": str(keep_s),
            "LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )


@dataclass
class Figures:
    """What one drain measured."""

    ops: int
    seconds: float
    requests: int
    first_request_s: float = 0.0  # from the start to the first request
    memory: tuple[int, int, int] | None = None  # Redis used_memory: before, queued, drained

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def per_request(self) -> float:
        return self.ops / self.requests


def used_memory(client: redis.Redis) -> int:
    """Redis ``used_memory`` in bytes (the whole server)."""
    return int(client.info("memory")["used_memory"])


def queued(client: redis.Redis, keys: Keys) -> int:
    """Track jobs not yet settled: queued, or claimed into a batch in flight."""
    pipe = client.pipeline(transaction=False)
    for p in range(keys.partitions):
        pipe.llen(Queue.redis_queue_namespace_prefix + keys.track_queue(p))
        pipe.llen(keys.claimed(p))
    return sum(pipe.execute())


def await_drained(client: redis.Redis, keys: Keys, fleet: Fleet, stall_s: float) -> str | None:
    """Wait until no Track job is left; an error message if it stalls or a worker dies."""
    best, best_at, report_at = queued(client, keys), time.monotonic(), time.monotonic() + 2
    while best:
        time.sleep(0.05)
        left, now = queued(client, keys), time.monotonic()
        if left < best:
            best, best_at = left, now
        elif now - best_at > stall_s:
            return (
                f"no progress for {stall_s:.0f} s with {left} operations still queued: do the "
                f"workers drain the Track partitions ({PREFIX}-track-*)?"
            )
        if fleet.exited():
            return f"worker(s) exited while draining: {', '.join(fleet.exited())}"
        if now >= report_at:
            log(f"ours: {left} operations left")
            report_at = now + 2
    return None


def await_accounted(emulator: EmulatorHandle, total: int, timeout_s: float) -> list[dict[str, Any]]:
    """The Track request log once it accounts for ``total`` operations (or at ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = emulator.requests("track")
        if sum(map(accepted_ops, records)) >= total or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def prefill(cio: CustomerIO, workload: Iterator[Call], chunk: int = 1000) -> int:
    """Enqueue the workload through ``pipeline()`` blocks of ``chunk`` calls; returns the count."""
    count, done = 0, False
    while not done:
        with cio.pipeline() as pipe:
            for _ in range(chunk):
                call = next(workload, None)
                if call is None:
                    done = True
                    break
                method, args, kwargs = call
                getattr(pipe, method)(*args, **kwargs)
                count += 1
    return count


def run_ours(
    args: argparse.Namespace, client: redis.Redis, emulator: EmulatorHandle, fleet: Fleet
) -> Figures | None:
    """Pre-fill, drain with ``--workers`` workers; None (after saying why) if it stalls."""
    cio = CustomerIO(
        redis=client,
        settings=Settings(redis_url=args.redis_url, queue_prefix=PREFIX, partitions=PARTITIONS),
    )
    keys = Keys(PREFIX, PARTITIONS)
    memory_before = used_memory(client)
    started = time.perf_counter()
    total = prefill(cio, calls(args.ops, args.people))
    memory_queued = used_memory(client)
    log(
        f"ours: enqueued {total} operations in {time.perf_counter() - started:.1f} s; "
        f"starting {args.workers} workers"
    )
    emulator.reset()
    start = time.time()
    fleet.start(args.workers)
    try:
        problem = await_drained(client, keys, fleet, args.stall_s)
        memory_drained = used_memory(client)
        records = await_accounted(emulator, total, 0 if problem else args.stall_s)
    finally:
        tails = fleet.log_tails()
        fleet.stop()
    delivered = sum(map(accepted_ops, records))
    if problem is None and delivered < total:
        problem = f"the queues are empty but the emulator accepted {delivered} of {total} ops"
    if problem:
        log(f"ours: NOT MEASURED: {problem} (emulator accepted {delivered} operations)")
        log(f"worker logs:\n{tails}")
        return None
    return Figures(
        delivered,
        max(r["at"] for r in records) - start,
        len(records),
        min(r["at"] for r in records) - start,
        (memory_before, memory_queued, memory_drained),
    )


def emulator_ceiling(emulator: EmulatorHandle, people: int, n_ops: int = 10_000) -> float:
    """Ops/s of the emulator alone: the same workload posted in 1000-op batches by one client
    with nothing else running. No drain through it can be faster on this machine."""
    operations = [as_operation(c) for c in calls(n_ops, people)]
    settings = WorkerSettings(
        site_id=emulator.site_id, api_key=emulator.api_key, track_url=emulator.url
    )
    emulator.reset()
    with TrackClient(settings) as client:
        started = time.perf_counter()
        for i in range(0, n_ops, 1000):
            client.batch(operations[i : i + 1000])
        seconds = time.perf_counter() - started
    accepted = sum(map(accepted_ops, emulator.requests("track")))
    log(f"emulator alone: {accepted} operations accepted in {seconds:.2f} s")
    return accepted / seconds


# ---- baseline: RQ's SimpleWorker, one v1 call per job ------------------------------------------

_v1_client: TrackClient | None = None


def deliver_v1(operation: dict[str, Any]) -> None:
    """Baseline job: deliver one v2 operation with one v1 HTTP call."""
    if _v1_client is None:
        raise RuntimeError("deliver_v1 runs inside run_baseline's worker")
    person = operation["identifiers"]["id"]
    if operation["action"] == "identify":
        outcome = _v1_client.identify(person, operation.get("attributes") or {})
    else:
        outcome = _v1_client.track(
            person,
            operation["name"],
            data=operation.get("attributes"),
            id=operation.get("id"),
            timestamp=operation.get("timestamp"),
        )
    if not isinstance(outcome, Success):
        raise RuntimeError(f"Customer.io answered {outcome!r}")


def run_baseline(
    args: argparse.Namespace, client: redis.Redis, emulator: EmulatorHandle
) -> Figures:
    """Enqueue ``--baseline-ops`` operations and drain them with an in-process SimpleWorker."""
    global _v1_client
    queue = Queue(f"{PREFIX}-baseline", connection=client, serializer=SafeSerializer)
    # By name, from this module as it is loaded now (``__main__`` when run as a script, which
    # RQ refuses as a function reference but finds by name in this same process).
    func = f"{deliver_v1.__module__}.{deliver_v1.__qualname__}"
    operations = [as_operation(c) for c in calls(args.baseline_ops, args.people)]
    for i in range(0, len(operations), 1000):
        queue.enqueue_many([Queue.prepare_data(func, (op,)) for op in operations[i : i + 1000]])
    emulator.reset()
    settings = WorkerSettings(
        site_id=emulator.site_id, api_key=emulator.api_key, track_url=emulator.url
    )
    log(f"baseline: {len(operations)} jobs enqueued; draining with SimpleWorker")
    with TrackClient(settings) as _v1_client:
        worker = SimpleWorker([queue], connection=client, serializer=SafeSerializer)
        started = time.perf_counter()
        worker.work(burst=True, logging_level="WARNING")
        seconds = time.perf_counter() - started
    _v1_client = None
    failed = FailedJobRegistry(queue=queue).count
    if failed:
        log(f"baseline: {failed} jobs FAILED (see the emulator's answers)")
    records = emulator.requests("track")
    return Figures(sum(map(accepted_ops, records)), seconds, len(records))


# ---- idle latency -------------------------------------------------------------------------------


def arrival(
    emulator: EmulatorHandle, person: str, after_seq: int, timeout_s: float
) -> dict[str, Any] | None:
    """The first Track request after ``after_seq`` that carries ``person`` (polled every 5 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in emulator.requests("track"):
            items = record.get("items") or ()
            if record["seq"] > after_seq and any(i.get("identifier") == person for i in items):
                return record
        time.sleep(0.005)
    return None


def run_latency(
    args: argparse.Namespace, client: redis.Redis, emulator: EmulatorHandle, fleet: Fleet
) -> list[float] | None:
    """``--latency-samples`` identify() calls on an idle system, one worker; seconds each."""
    client.flushdb()  # an idle system, also when the drain above stalled
    emulator.reset()
    cio = CustomerIO(
        redis=client,
        settings=Settings(redis_url=args.redis_url, queue_prefix=PREFIX, partitions=PARTITIONS),
    )
    fleet.start(1)
    try:
        cio.identify("warmup", plan="pro")
        first = arrival(emulator, "warmup", 0, args.stall_s)  # includes the worker's start-up
        if first is None:
            log(
                f"latency: NOT MEASURED: nothing arrived within {args.stall_s:.0f} s of the "
                f"first identify()\n{fleet.log_tails()}"
            )
            return None
        samples, seq = [], first["seq"]
        for i in range(args.latency_samples):
            # a random pause, so that calls do not fall in step with the worker's polling
            time.sleep(random.uniform(0.0, 0.05))
            called = time.time()
            cio.identify(f"lat{i}", plan="pro")
            record = arrival(emulator, f"lat{i}", seq, 10.0)
            if record is None:
                log(f"latency: identify() {i} did not arrive within 10 s; stopping")
                return samples or None
            samples.append(record["at"] - called)
            seq = record["seq"]
        return samples
    finally:
        fleet.stop()


# ---- report -------------------------------------------------------------------------------------


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(measure: str, ours: str, baseline: str = "", ratio: str = "", target: str = "") -> None:
    print(f"{measure:<30}{ours:>12}{baseline:>12}{ratio:>10}   {target}")


def _verdict(ok: bool) -> str:
    return "(ok)" if ok else "(MISS)"


def _fmt(figures: Figures | None, spec: str, attr: str) -> str:
    return "n/a" if figures is None else format(getattr(figures, attr), spec)


@dataclass
class Results:
    """Everything one run measured; None where a phase was skipped or did not complete."""

    ours: Figures | None = None
    ours_uncounted: Figures | None = None  # the same drain with CIO_COUNTERS=0
    base: Figures | None = None
    latency: list[float] | None = None
    ceiling: float | None = None


def report(r: Results) -> None:
    """The side-by-side table on stdout."""
    ours, base = r.ours, r.base
    rate_target = ">= 5,000 ops/s, >= 25x baseline"
    if ours:
        rate_target += f" {_verdict(ours.rate >= 5000)}"
        rate_target += f" {_verdict(ours.rate >= 25 * base.rate)}" if base else ""
    ratio = f"{ours.rate / base.rate:.1f}x" if ours and base else ""
    _row("measure", "ours", "baseline", "ratio", "target")
    _row("drain ops/s", _fmt(ours, ",.0f", "rate"), _fmt(base, ",.0f", "rate"), ratio, rate_target)
    off = r.ours_uncounted
    if ours and off:
        cost = 1 - ours.rate / off.rate
        _row(
            "  without counters ops/s",
            f"{off.rate:,.0f}",
            "",
            f"{ours.rate / off.rate:.3f}x",
            f"counters cost {cost:+.1%}, <= 5% {_verdict(cost <= 0.05)}",
        )
    _row("HTTP requests", _fmt(ours, ",", "requests"), _fmt(base, ",", "requests"))
    per_target = ">= 100" + (f" {_verdict(ours.per_request >= 100)}" if ours else "")
    _row(
        "mean ops per request",
        _fmt(ours, ".1f", "per_request"),
        _fmt(base, ".2f", "per_request"),
        "",
        per_target,
    )
    _row("ops delivered", _fmt(ours, ",", "ops"), _fmt(base, ",", "ops"))
    _row("seconds", _fmt(ours, ".2f", "seconds"), _fmt(base, ".2f", "seconds"))
    _row("  start to 1st request (s)", _fmt(ours, ".2f", "first_request_s"))
    if ours and ours.memory:
        before, queued_, drained = ours.memory
        mb = 1024 * 1024
        _row(
            "Redis MB empty/queued/drain",
            f"{before / mb:.1f}/{queued_ / mb:.1f}/{drained / mb:.1f}",
        )
        _row("  bytes per queued operation", f"{(queued_ - before) / ours.ops:,.0f}")
        _row(
            "  bytes per op left after drain",
            f"{(drained - before) / ours.ops:,.1f}",
            "",
            "",
            "~0 (delivered jobs deleted)",
        )
    if r.ceiling is not None:
        _row("emulator ceiling ops/s", f"{r.ceiling:,.0f}", "", "", "(1 client, 1000-op batches)")
    if r.latency:
        p50, p99 = _p(r.latency, 0.5) * 1000, _p(r.latency, 0.99) * 1000
        _row("idle latency p50 (ms)", f"{p50:.1f}", "", "", f"<= 150 {_verdict(p50 <= 150)}")
        _row("idle latency p99 (ms)", f"{p99:.1f}", "", "", f"({len(r.latency)} samples)")
    else:
        _row("idle latency p50/p99 (ms)", "n/a")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--ops", type=int, default=50_000, help="operations drained by ours")
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-ops", type=int, default=5_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--stall-s",
        type=float,
        default=20.0,
        help="give a phase up after this long without progress",
    )
    parser.add_argument(
        "--keep-delivered-s",
        type=int,
        default=0,
        help="CIO_TRACK_KEEP_DELIVERED_S for our workers (0: delivered jobs deleted at once)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--skip-uncounted",
        action="store_true",
        help="skip the second drain of ours with CIO_COUNTERS=0",
    )
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()

    results = Results()
    with (
        ReservedDatabase(args.redis_url) as client,
        running_emulator(record_bodies=False) as emulator,
        tempfile.TemporaryDirectory(prefix="cio-drain-") as logdir,
    ):
        fleet = Fleet(worker_env(args.redis_url, emulator, args.keep_delivered_s), Path(logdir), [])
        if not args.skip_uncounted:  # first, so that neither run always has the warm cache
            uncounted = Fleet(fleet.env | {"CIO_COUNTERS": "0"}, Path(logdir), [])
            results.ours_uncounted = run_ours(args, client, emulator, uncounted)
        results.ours = run_ours(args, client, emulator, fleet)
        results.ceiling = emulator_ceiling(emulator, args.people)
        if not args.skip_baseline:
            results.base = run_baseline(args, client, emulator)
        if not args.skip_latency:
            results.latency = run_latency(args, client, emulator, fleet)
    report(results)


if __name__ == "__main__":
    main()
