"""``cio-pipeline demo`` from start to end: Redis, emulator, workers, workload, summary.

Everything started is stopped in reverse order by one ``ExitStack``, on a normal end, on an
error and on Ctrl-C (SIGINT, which the children never see: they run in their own sessions). A
second Ctrl-C during that clean-up is ignored, so it cannot leave a process behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import redis
from rich.console import Console
from rich.live import Live

from cio_pipeline.devtools.demo.cleanup import delete_demo_keys
from cio_pipeline.devtools.demo.hints import keep_command, look_next
from cio_pipeline.devtools.demo.privacy import Privacy, cancel_and_erase
from cio_pipeline.devtools.demo.processes import ChildFailed, DemoProcesses, child_environment
from cio_pipeline.devtools.demo.progress import JobCounts, count_jobs, read_traffic
from cio_pipeline.devtools.demo.redis_server import DemoRedis, NoRedis, open_redis, safe_url
from cio_pipeline.devtools.demo.view import live_table, summary_table
from cio_pipeline.devtools.demo.webhook_loop import (
    PLANNED_OUTCOMES,
    GuardedSend,
    LoopFailed,
    LoopState,
    guarded_outcome,
    plan_outcomes,
    read_loop,
    send_guarded,
)
from cio_pipeline.devtools.demo.workload import (
    MIN_OPERATIONS,
    Produced,
    plan_workload,
    produce_wave,
)
from cio_pipeline.devtools.emulator_process import EmulatorHandle
from cio_pipeline.producer import APIClient, CustomerIO, CustomerIOException, SettingsError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.deadletters.store import DeadLetters

__all__ = ["DEMO_PREFIX", "run_demo"]

#: Queue prefix of everything the demo writes (``ciodemo-track-0``, ``ciodemo:lease:0``, ...).
DEMO_PREFIX = "ciodemo"
#: Customer.io's Track limit, enforced by the emulator; the workers' limiter keeps under it.
TRACK_LIMIT = 100.0
_REFRESH_S = 0.25
_WAVE_PAUSE_S = 0.3
#: The forced burst: this many Track requests answered 429 once half the waves are produced.
_BURST_429 = 3
#: How long the erase's delete may take to reach the emulator once the workers resume.
_PRIVACY_S = 30.0
_WILL = {"bounced": "will bounce", "spammed": "will complain (mark it as spam)"}


def run_demo(*, operations: int, workers: int, keep: bool, console: Console | None = None) -> int:
    """Run the demo; returns the exit code (0: every operation ended as planned, and the
    webhook loop too; 2: bad arguments or Redis settings)."""
    console = console or Console(highlight=False)
    if operations < MIN_OPERATIONS:
        console.print(f"cio-pipeline demo: --operations must be at least {MIN_OPERATIONS}")
        return 2
    started = time.monotonic()
    logdir = Path(tempfile.mkdtemp(prefix="cio-demo-logs-"))
    produced = Produced()
    extra_ids: list[str] = []  # the cancel's and the erase's jobs: not the workload's
    stack = ExitStack()
    code = 1
    try:
        demo_redis = open_redis(os.environ)
        stack.callback(demo_redis.stop)
        _plain(console, f"Redis: {demo_redis.origin}; keys under the prefix '{DEMO_PREFIX}'")
        connection = demo_redis.client(socket_connect_timeout=5, socket_timeout=10)
        stack.callback(connection.close)
        if not demo_redis.embedded and delete_demo_keys(connection, DEMO_PREFIX, []):
            # an earlier --keep run's counters and suppressions would spoil this run's figures
            _plain(console, f"Deleted the keys an earlier demo left under '{DEMO_PREFIX}'.")
        if not keep:
            # registered before the processes, so it runs after they have stopped
            stack.callback(
                lambda: delete_demo_keys(connection, DEMO_PREFIX, produced.job_ids + extra_ids)
            )
        processes = DemoProcesses(
            child_environment(os.environ, demo_redis.env, DEMO_PREFIX), logdir
        )
        stack.callback(processes.stop_all)
        emulator, receiver_url = processes.start_emulator_and_receiver(TRACK_LIMIT)
        processes.start_workers(workers)
        _plain(
            console,
            f"Started the Customer.io emulator at {emulator.url} and {workers} "
            f"worker(s); logs in {logdir}",
            f"Webhooks: the emulator posts signed reporting webhooks to the receiver at "
            f"{receiver_url} (a random signing key); "
            + ", ".join(f"{a} {_WILL[o]}" for a, o in PLANNED_OUTCOMES.items()),
        )
        code = _drive(
            console,
            demo_redis,
            connection,
            processes,
            emulator,
            operations,
            produced,
            started,
            extra_ids,
        )
        if keep:
            _keep_running(console, demo_redis, processes)
    except KeyboardInterrupt:
        console.print("\nInterrupted: stopping the workers, the emulator and Redis.")
        code = 130
    except SettingsError as exc:
        _plain(console, f"cio-pipeline demo: {exc}")  # as every command: 2, naming the setting
        code = 2
    except (NoRedis, ChildFailed, LoopFailed, CustomerIOException) as exc:
        # CustomerIOException: the producer's typed errors (Redis unavailable or full)
        _plain(console, f"cio-pipeline demo: {exc}")
        code = 1
    finally:
        # a second Ctrl-C must not cut the clean-up short and leave a process running
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, previous)
    if code == 0:
        shutil.rmtree(logdir, ignore_errors=True)
    else:
        _plain(console, f"Logs of the workers, the emulator and the receiver: {logdir}")
    return code


def _drive(
    console: Console,
    demo_redis: DemoRedis,
    connection: redis.Redis,
    processes: DemoProcesses,
    emulator: EmulatorHandle,
    operations: int,
    produced: Produced,
    started: float,
    extra_ids: list[str],
) -> int:
    """Produce the workload with live progress, wait for it and the webhook loop to settle,
    send the guarded receipt, cancel a reminder and erase a person, print the summary."""
    # a generous Redis budget: the demo may share a busy Redis (and CPU) with other work,
    # and each wave is one pipelined write of a few hundred jobs
    settings = replace(demo_redis.settings, queue_prefix=DEMO_PREFIX, redis_timeout_s=10.0)
    keys = Keys.of(settings)
    control = processes.control
    assert control is not None  # the emulator is running
    plan_outcomes(control)
    cio = CustomerIO(settings=settings)
    api = APIClient("demo", settings=settings)  # the key is never used: workers hold it
    waves = plan_workload(operations)
    deadline = time.monotonic() + 60.0 + operations / 20
    guarded: GuardedSend | None = None
    with Live(console=console, refresh_per_second=8) as live:

        def refresh() -> tuple[JobCounts, LoopState]:
            processes.check_alive()
            counts = count_jobs(connection, produced.job_ids)
            traffic = read_traffic(emulator.requests())
            loop = read_loop(connection, keys, control)
            live.update(live_table(operations, produced, counts, traffic, TRACK_LIMIT, loop))
            return counts, loop

        for n, wave in enumerate(waves):
            if n == len(waves) // 2:
                emulator.set_faults(track={"next": [{"count": _BURST_429, "fault": "rate_limit"}]})
            produce_wave(wave, cio, api, produced)
            pause_until = time.monotonic() + _WAVE_PAUSE_S
            while time.monotonic() < pause_until:
                refresh()
                time.sleep(_REFRESH_S)
        counts, loop = refresh()
        while (counts.pending or not loop.settled) and time.monotonic() < deadline:
            time.sleep(_REFRESH_S)  # nothing to wait on but Redis and the emulator
            counts, loop = refresh()
        if loop.settled:
            guarded = send_guarded(api)
            while guarded.result is None and time.monotonic() < deadline:
                time.sleep(_REFRESH_S / 5)
                guarded = guarded_outcome(connection, keys, guarded)
        counts, loop = refresh()
    console.print()  # the live panel's last frame ends without a newline off a terminal
    privacy = cancel_and_erase(
        connection, cio, api, emulator, time.monotonic() + _PRIVACY_S, extra_ids
    )
    cio.close()
    api.close()
    traffic = read_traffic(emulator.requests())
    dead = DeadLetters(connection, keys).list()
    console.print(
        summary_table(
            produced,
            counts,
            traffic,
            dead,
            time.monotonic() - started,
            TRACK_LIMIT,
            loop,
            guarded,
            privacy,
        )
    )
    return _verdict(console, produced, counts, Ending(loop, guarded, privacy), demo_redis)


@dataclass(frozen=True)
class Ending:
    """How the webhook loop ended: its last state and the guarded send."""

    loop: LoopState
    guarded: GuardedSend | None
    privacy: Privacy | None = None


def _problems(produced: Produced, counts: JobCounts, ending: Ending) -> list[str]:
    problems = []
    if counts.pending:
        problems.append(f"{counts.pending} operation(s) still queued at the deadline")
    if counts.dead_ids != (produced.poison,):
        problems.append(
            f"dead letters {list(counts.dead_ids)} instead of exactly the poison "
            f"operation {produced.poison}"
        )
    loop = ending.loop
    if not loop.settled:
        problems.append(
            f"webhook loop unfinished: {loop.received} event(s) received, "
            f"{loop.processed + loop.duplicates} processed, {loop.waiting_at_emulator} still "
            f"at the emulator, suppressions {dict(loop.suppressions)} instead of "
            f"{dict(Counter(PLANNED_OUTCOMES.values()))}"
        )
    if loop.failed:
        problems.append(f"{loop.failed} webhook event(s) failed")
    if ending.guarded is None or not ending.guarded.skipped_as_planned:
        result = ending.guarded.result if ending.guarded else "not sent"
        problems.append(f"the guarded send was not skipped as planned: {result}")
    privacy = ending.privacy
    if privacy is None or not privacy.cancel_as_planned:
        problems.append(f"the reminder was not cancelled as planned: {privacy}")
    if privacy is None or not privacy.erase_as_planned:
        problems.append(f"the erase did not go as planned: {privacy}")
    return problems


def _verdict(
    console: Console, produced: Produced, counts: JobCounts, ending: Ending, demo_redis: DemoRedis
) -> int:
    problems = _problems(produced, counts, ending)
    if problems:
        console.print("[red]FAILED:[/] " + "; ".join(problems), soft_wrap=True)
        return 1
    loop = ending.loop
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(loop.suppressions.items()))
    console.print(
        f"[green]OK:[/] all {len(produced.job_ids)} operations ended as planned: "
        f"{counts.delivered} delivered, 1 dead-lettered (the poison identify). "
        f"Webhook loop: {loop.received} events received and processed, "
        f"{len(loop.suppressed)} addresses suppressed ({reasons}), the guarded send "
        f"to a bounced address skipped. The cancelled reminder was never sent; the erased "
        f"person's queued operations were dropped and their delete delivered.",
        soft_wrap=True,
    )
    url = safe_url(demo_redis.url) if not demo_redis.embedded else "URL"
    _plain(
        console,
        f"Look next: `{keep_command()}` leaves Redis, the emulator and the workers running and "
        "prints the Redis URL; then, in another terminal in this folder:",
        *look_next(url, DEMO_PREFIX),
    )
    return 0


def _plain(console: Console, *lines: str) -> None:
    """Print ``lines`` as they are: no markup (``[dashboard]`` is not a style), no wrapping."""
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


def _keep_running(console: Console, demo_redis: DemoRedis, processes: DemoProcesses) -> None:
    """Wait for Ctrl-C with everything running (the demo's verdict stands as the exit code)."""
    url = safe_url(demo_redis.url)
    _plain(
        console,
        f"--keep: everything keeps running on {url}; Ctrl-C stops it. In another terminal in "
        "this folder:",
        *look_next(url, DEMO_PREFIX),
    )
    try:
        while True:
            processes.check_alive()
            time.sleep(1.0)  # nothing to wait on but the user's Ctrl-C
    except KeyboardInterrupt:
        console.print("\nStopping the workers, the emulator and Redis.")
