"""``cio-pipeline worker``'s process: from the command line to a running :class:`CioWorker`.

:func:`run_worker` sets the stop-signal handlers that hold until RQ installs its own (a stop
while the worker still waits for Redis ends it at once, exit 0; a later one is honoured by RQ's
loop), connects (a Redis that is away is waited for and logged; settings or credentials that are
wrong fail now, naming them), then runs the worker (:mod:`cio_pipeline.worker.runner.process`)
beside the Track drainer until it is stopped, or, with ``burst``, the queues are empty.
"""

from __future__ import annotations

import gc
import os
import signal
import socket

import redis
from rq.exceptions import StopRequested

from cio_pipeline.producer.compat import rq as rq_compat
from cio_pipeline.producer.masking import describe_redis
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.core.lifecycle import die_with_parent
from cio_pipeline.worker.core.logs import configure_logging, get_logger
from cio_pipeline.worker.core.outage import RedisOutage, check_sentinel_master
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import WorkerContext, install, worker_connection
from cio_pipeline.worker.runner.dequeue import ReliableQueue
from cio_pipeline.worker.runner.process import CioWorker
from cio_pipeline.worker.track.drainer import TrackDrainer

__all__ = ["run_worker"]

log = get_logger("cio.worker")


def _default_stop_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def _default_name() -> str:
    return f"cio-{socket.gethostname()}-{os.getpid()}"


def run_worker(settings: WorkerSettings, *, burst: bool, name: str | None) -> int:
    """Run one worker until it is stopped (or, with ``burst``, until the queues are empty)."""
    configure_logging(settings.log_format, settings.log_level)
    # Until RQ installs its handlers (after start-up), a stop signal is remembered here and
    # honoured then: the process exits 0 after a clean stop, whenever the signal came. While
    # the worker is still connecting (a Redis that is away is waited for, without end), it
    # stops at once instead: nothing has been taken yet.
    early: list[int] = []
    connecting = [True]

    def on_stop_signal(number: int, _frame: object) -> None:
        early.append(number)
        if connecting[0]:
            raise _StoppedWhileStarting

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_stop_signal)
    # RQ forks its scheduler from the worker: it must not outlive a SIGKILLed worker.
    os.register_at_fork(after_in_child=die_with_parent)
    # ... and must not inherit the early stop handler below (it would swallow the SIGTERM
    # that stops it until it installs its own): it starts with the default ones, as before.
    os.register_at_fork(after_in_child=_default_stop_signals)
    queue = settings.queue
    outage = RedisOutage(
        address=describe_redis(queue.redis_url, queue.redis_sentinels, queue.redis_sentinel_master)
    )
    try:
        connection, ctx = _connect(settings, outage)
    except _StoppedWhileStarting:
        outage.stop()
        log.info("worker_stopped_while_starting")
        return 0
    connecting[0] = False
    return _run_connected(settings, burst, name, early, outage, connection, ctx)


class _StoppedWhileStarting(BaseException):
    """A stop signal while the worker waits for Redis at start-up (a BaseException, so that no
    retry loop's ``except Exception`` swallows it)."""


def _connect(settings: WorkerSettings, outage: RedisOutage) -> tuple[redis.Redis, WorkerContext]:
    """The worker's connection and context, once Redis answers (waited for, logged)."""
    queue = settings.queue
    connection = worker_connection(settings, outage)
    ctx = WorkerContext(settings, connection, outage=outage)
    # Fail now, naming the missing variable, rather than at the first job.
    ctx.app  # noqa: B018
    ctx.track  # noqa: B018
    ctx.webhook_hook  # noqa: B018  # CIO_WEBHOOK_HOOK must import now, not at the first event
    install(ctx)
    # Credentials Redis refuses, or a master no Sentinel knows, stop the worker now (exit 2,
    # naming the setting); a Redis that is away is waited for here (and logged).
    check_sentinel_master(connection, queue.redis_sentinel_master)
    connection.ping()
    return connection, ctx


def _run_connected(
    settings: WorkerSettings,
    burst: bool,
    name: str | None,
    early: list[int],
    outage: RedisOutage,
    connection: redis.Redis,
    ctx: WorkerContext,
) -> int:
    """The worker from its RQ loop on: drain until stopped (or, with ``burst``, empty)."""
    # RQ's loop gets a client of its own that waits out a full Redis (its loop would quit on
    # the error); the Track drainer's does not wait, since draining is what frees memory.
    rq_connection = worker_connection(settings, outage, wait_when_full=True)
    names = (ctx.keys.transactional_queue, ctx.keys.webhooks_queue)  # RQ's; Track is drained
    queues = [ReliableQueue(n, connection=rq_connection, serializer=SafeSerializer) for n in names]
    worker = CioWorker(
        queues, connection=rq_connection, serializer=SafeSerializer, name=name or _default_name()
    )
    worker.dead_letter_ttl_s = ctx.dead_letter_ttl_s
    worker.outage = outage
    worker.early_signals = early
    drainer = TrackDrainer(ctx, worker.name, burst=burst)
    track = f"{ctx.keys.prefix}-track-0..{ctx.keys.partitions - 1}"
    log.info("worker_starting", name=worker.name, burst=burst, queues=[*names, track])
    drainer.start()
    status = 0
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level.upper())
        if burst:
            drainer.wait()
        elif not rq_compat.stop_requested(worker):  # a stop signal, early or through RQ
            # RQ's loop gave up by itself (it logged why): never exit 0 unless asked to stop,
            # so a supervisor sees a failure, not a worker that is done.
            log.error("worker_loop_ended", name=worker.name)
            status = 1
    except StopRequested:
        pass  # a stop signal after RQ's loop ended (burst mode): stop the drainer below
    finally:
        outage.stop()  # a Redis away now must not hold the stop (RQ's teardown did the same)
        drainer.stop(settings.http_connect_timeout_s + settings.http_read_timeout_s + 5)
        ctx.close()
    log.info("worker_stopped", name=worker.name, exit_status=status)
    # The process exits next. Its final garbage collection of every object the worker made
    # took 0.3-0.8 s of the stop on 2 busy cores (supervisord's stopwaitsecs counts it);
    # frozen objects are left to the exit, and atexit handlers still run.
    gc.freeze()
    return status
