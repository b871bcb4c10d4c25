"""rq below its public API: each reach the code makes, named once, with why.

Checked against the installed rq by ``tests/unit/test_compat_rq.py``; the declared range
(``pyproject.toml``) is tested at both ends by ``.ci/deps``.

1. :data:`WORKER_OVERRIDES`: the ``SimpleWorker`` methods ``CioWorker``
   (:mod:`cio_pipeline.worker.runner.process`) overrides, with the parameters rq calls them
   with. rq has no public hook for what they do (map job outcomes to retries and dead letters,
   refuse unknown jobs unrun, keep job arguments out of the log, hand back a job taken after
   ``rq suspend``, bound the stop); its exception handlers (public) run only after rq logged
   the job's arguments, so they cannot replace ``handle_exception``.
2. :func:`restore_job`: ``Job.restore``, how ``Job.fetch`` turns a job hash's fields into a
   job; our ``ReliableQueue.dequeue_any`` moves ids itself and reads the hash only after
   checking its fields (:mod:`cio_pipeline.worker.runner.unreadable`), so that a hash rq
   cannot parse is dead-lettered instead of raised out of the work loop.
3. :data:`STUCK_MESSAGE`: the failure text rq's maintenance gives a job a dead worker left in
   an intermediate list; no exception type tells that case apart.
4. :data:`JOB_HASH_FIELDS`: the job hash ``Queue.enqueue`` writes, which ``lua/enqueue.lua``
   writes itself, a chunk of jobs in one round trip.
5. :func:`call_exception_handlers`: the worker's handler stack (``_exc_handlers``).
6. :func:`scheduler_process`: the scheduler's process (``scheduler._process``), stopped with a
   bound (rq's ``stop_scheduler`` joins it without one).
7. :func:`stop_at_next_turn` / :func:`stop_requested`: the work loop's stop flags
   (``_stop_requested``, ``_shutdown_requested_date``), for a stop signal that came before
   rq's handlers were installed, and to tell a requested stop from a loop that gave up.
8. :func:`subscribe` / :func:`unsubscribe`: the worker's pubsub thread (``rq`` commands).
   rq starts it polling every 60 s and stops it without a bound (see
   :func:`cio_pipeline.producer.compat.redis.stop_pubsub_thread`); ours polls every
   :data:`PUBSUB_POLL_S` and stops within a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import rq
from rq.job import Job
from rq.job_lifecycle import call_exception_handlers as _call_exception_handlers

from cio_pipeline.producer.compat.redis import stop_pubsub_thread

__all__ = [
    "JOB_HASH_FIELDS",
    "PUBSUB_POLL_S",
    "RQ_VERSION",
    "STUCK_MESSAGE",
    "WORKER_OVERRIDES",
    "ask_pubsub_thread_to_stop",
    "call_exception_handlers",
    "restore_job",
    "scheduler_process",
    "stop_at_next_turn",
    "stop_requested",
    "subscribe",
    "unsubscribe",
]

#: The installed rq, for messages.
RQ_VERSION: Final = f"rq {rq.__version__}"

#: (1) ``SimpleWorker`` method -> the parameters (after ``self``) rq passes and we accept.
WORKER_OVERRIDES: Final[Mapping[str, tuple[str, ...]]] = {
    # Our teardown stops outage waits first, and logs a Redis away at the stop.
    "teardown": (),
    # Signal only (rq calls it from its signal handler while a job runs); teardown waits,
    # bounded: during an outage the scheduler would not see the SIGTERM until Redis returns.
    "stop_scheduler": (),
    # A job taken after `rq suspend` goes back, untouched.
    "dequeue_job_and_maintain_ttl": ("timeout", "max_idle_time"),
    # Always out of the intermediate list (ReliableQueue always puts it there).
    "prepare_job_execution": ("job", "remove_from_intermediate_queue"),
    # Unknown jobs are dead-lettered unrun (nothing imported).
    "execute_job": ("job", "queue"),
    # No traceback for expected outcomes; no job arguments in the log.
    "handle_exception": ("job", "exc_info"),
    # RetryLater -> a scheduled retry; DeadLetter -> a readable failure; stuck -> put back.
    "handle_job_failure": ("job", "queue", "started_job_registry", "exc_string", "execution"),
    # (8) A short poll and a bounded stop of the pubsub thread.
    "subscribe": (),
    "unsubscribe": (),
    # (7) A stop signal that came during start-up is honoured, not lost.
    "_install_signal_handlers": (),
}

#: (3) rq's text for a job found in an intermediate list whose worker is gone.
STUCK_MESSAGE: Final = "Job was stuck in intermediate queue."

#: (4) The fields of a queued job's hash that ``lua/enqueue.lua`` writes (rq writes others
#: as empty strings, which its loader reads as absent).
JOB_HASH_FIELDS: Final = frozenset(
    {"created_at", "data", "origin", "description", "enqueued_at", "timeout", "status"}
)

#: (8) How often the pubsub thread looks up from its wait: the longest a stop waits for it.
PUBSUB_POLL_S: Final = 0.2


def restore_job(
    job_class: type[Job], job_id: str, connection: Any, serializer: Any, raw: Mapping[bytes, bytes]
) -> Job:
    """(2) The job ``job_id`` read from its hash's fields ``raw`` (``Job.restore``, what
    ``Job.fetch`` does after its ``HGETALL``); raises whatever rq's reader raises."""
    job = job_class(job_id, connection=connection, serializer=serializer)
    job.restore(raw)
    return job


def call_exception_handlers(worker: Any, job: Job, *exc_info: Any) -> None:
    """(5) Run ``worker``'s exception handlers (``push_exc_handler``) for ``job``."""
    _call_exception_handlers(worker._exc_handlers, job, *exc_info)


def scheduler_process(worker: Any) -> Any:
    """(6) The scheduler process ``worker`` started (a ``multiprocessing`` process), or None."""
    scheduler = worker.scheduler
    return None if scheduler is None else scheduler._process


def stop_at_next_turn(worker: Any) -> None:
    """(7) Make ``worker``'s loop stop before it takes another job."""
    worker._stop_requested = True


def stop_requested(worker: Any) -> bool:
    """(7) Whether ``worker`` was asked to stop: after its job in hand (``_stop_requested``,
    also set by :func:`stop_at_next_turn`), or by rq's SIGTERM/SIGINT handler
    (``_shutdown_requested_date``)."""
    return bool(worker._stop_requested) or worker._shutdown_requested_date is not None


def subscribe(worker: Any, on_error: Callable[[Exception, Any, Any], None]) -> None:
    """(8) rq's ``subscribe``, polling every :data:`PUBSUB_POLL_S`; ``on_error`` is the
    pubsub thread's exception handler (redis-py's ``(exc, pubsub, thread)``)."""
    worker.pubsub = worker.connection.pubsub()
    worker.pubsub.subscribe(**{worker.pubsub_channel_name: worker.handle_payload})
    worker.pubsub_thread = worker.pubsub.run_in_thread(
        sleep_time=PUBSUB_POLL_S, daemon=True, exception_handler=on_error
    )


def ask_pubsub_thread_to_stop(worker: Any) -> None:
    """(8) Ask ``worker``'s pubsub thread to stop, without waiting (:func:`unsubscribe`
    waits)."""
    thread = worker.pubsub_thread
    if thread is not None:
        stop_pubsub_thread(thread, 0)


def unsubscribe(worker: Any, timeout_s: float) -> bool:
    """(8) Stop ``worker``'s pubsub thread, waiting at most ``timeout_s``; True if it ended.

    The thread's own exit closes its connection, which ends the subscription: no
    ``UNSUBSCRIBE`` round trip, which could leave the thread waiting for a new subscription."""
    thread, pubsub = worker.pubsub_thread, worker.pubsub
    if thread is None:
        return True
    worker.pubsub_thread = None
    ended = stop_pubsub_thread(thread, timeout_s)
    if ended and pubsub is not None:
        pubsub.close()  # already closed by the thread: a no-op kept for a thread that raised
    return ended
