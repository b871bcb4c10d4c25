"""``cio-pipeline worker``: an RQ worker that delivers to Customer.io.

It is RQ's ``SimpleWorker`` (jobs run in the worker process: the forking worker spends a fork
per job and could not reach the 100 sends/s the App API allows), registered with RQ so
rq-dashboard and ``rq info`` list it and ``rq suspend``/``resume`` apply. It reads jobs with
the safe serializer, runs RQ's scheduler (retries are scheduled jobs, so they survive restarts
and never block the worker), and turns the job outcomes of :mod:`cio_pipeline.worker.core.errors`
into RQ's own states: :class:`RetryLater` becomes a scheduled retry, :class:`DeadLetter` a failed
job in the queue's FailedJobRegistry with a readable reason. SIGTERM or SIGINT: finish the job in
hand, then exit 0 (a second signal stops at once; the job's delivery record then keeps it from
being sent twice).

Redis going away (or filling up) is a pause, not a crash (:mod:`cio_pipeline.worker.core.outage`):
RQ's loop, the Track drainer and the scheduler resume; a send whose worker died is resolved from
its delivery record (:func:`cio_pipeline.worker.transactional.requeue_abandoned_send`).
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.suspension import is_suspended
from rq.utils import now
from rq.worker import WorkerStatus

from cio_pipeline.producer.compat import rq as rq_compat
from cio_pipeline.worker.core.allowed_jobs import JobShape, Refusal, allowed_jobs, check_job
from cio_pipeline.worker.core.errors import JobOutcome, RetryLater
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.outage import RedisOutage
from cio_pipeline.worker.deadletters.attempts import dead_letter
from cio_pipeline.worker.deadletters.record import DeadLetter
from cio_pipeline.worker.ops.counters import flush
from cio_pipeline.worker.runner import context
from cio_pipeline.worker.runner.dequeue import ReliableQueue, put_back
from cio_pipeline.worker.transactional.deliver import requeue_abandoned_send

__all__ = ["CioWorker"]

log = get_logger("cio.worker")


class CioWorker(SimpleWorker):
    """SimpleWorker that maps our job outcomes to scheduled retries and dead letters.

    Every method of rq's it overrides is listed, with why, in
    :data:`cio_pipeline.producer.compat.rq.WORKER_OVERRIDES` (checked against the installed rq).
    """

    dead_letter_ttl_s: int = 30 * 86_400  #: ``CIO_DEAD_LETTER_TTL_DAYS``, in seconds
    outage: RedisOutage | None = None  #: what the connection's retries report to
    scheduler_stop_timeout_s: float = 10.0  #: wait for the scheduler process at a stop
    pubsub_stop_timeout_s: float = 1.0  #: wait for the pubsub thread at a stop
    #: Stop signals that came before rq installed its handlers (set by
    #: :func:`cio_pipeline.worker.runner.startup.run_worker`).
    early_signals: list[int] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # RQ's maintenance (registry cleanup, and taking over the scheduler lock of a worker
        # that died) runs every 10 minutes by default: scheduled retries could stall that long
        # after a crash. Every 30 s costs a few cheap registry scans.
        kwargs.setdefault("maintenance_interval", 30)
        kwargs.setdefault("queue_class", ReliableQueue)
        # RQ logs each job's description as it takes it; a forged job's description is its
        # call with the arguments (personal data, or a command line). Our lines say the rest.
        kwargs.setdefault("log_job_description", False)
        super().__init__(*args, **kwargs)
        self._outcome: BaseException | None = None
        self._stopping = threading.Event()  # wakes the pubsub thread's outage wait
        self._scheduler_signalled = False
        # RQ's abandoned-job cleanup calls exception handlers before failing a job.
        self.push_exc_handler(requeue_abandoned_send)  # type: ignore[no-untyped-call]

    def teardown(self) -> None:
        """RQ's teardown; from here on a lost connection fails instead of waiting, and a
        Redis that is away at the moment of the stop is logged, not a traceback."""
        if self.outage is not None:
            self.outage.stop()
        self._stopping.set()
        # Ask the scheduler process and the pubsub thread to stop at once, then wait for each
        # (RQ's teardown): the stop takes the longest of them (the scheduler's 1 s sleep), not
        # their sum.
        self._signal_scheduler()
        rq_compat.ask_pubsub_thread_to_stop(self)
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker_deregister_failed", name=self.name, error=type(exc).__name__)
        self._join_scheduler()

    def stop_scheduler(self) -> None:
        """Ask the scheduler process to stop, without waiting: RQ calls this from its signal
        handler while a job runs, where a wait would hold the job; :meth:`teardown` waits."""
        self._signal_scheduler()

    def _join_scheduler(self) -> None:
        """Wait for the scheduler process, bounded: during an outage it is waiting for Redis
        and would not see the SIGTERM until Redis returns."""
        process = self._signal_scheduler()
        if process is None:
            return
        process.join(self.scheduler_stop_timeout_s)
        if process.is_alive():
            process.kill()
            process.join(5)

    def _signal_scheduler(self) -> Any:
        """SIGTERM to the scheduler process (once); the process, or None if there is none."""
        process = rq_compat.scheduler_process(self)
        if process is None or not process.pid or process.exitcode is not None:
            return None
        if not self._scheduler_signalled:
            self._scheduler_signalled = True
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:
                return None
        return process

    def _install_signal_handlers(self) -> None:
        """RQ's SIGTERM/SIGINT handlers; a signal that came while the worker was starting
        (before them) stops the loop before it takes a job."""
        super()._install_signal_handlers()  # type: ignore[no-untyped-call]
        if self.early_signals:
            log.info("stop_requested_while_starting", name=self.name)
            rq_compat.stop_at_next_turn(self)

    def subscribe(self) -> None:
        """RQ's pubsub thread (``rq`` commands), polling often enough to stop promptly."""
        rq_compat.subscribe(self, self._pubsub_failed)

    def unsubscribe(self) -> None:
        """Stop the pubsub thread, bounded (redis-py 8.2 and rq 3.0 could wait 60 s)."""
        self._stopping.set()
        if not rq_compat.unsubscribe(self, self.pubsub_stop_timeout_s):
            log.warning("pubsub_thread_not_stopped", name=self.name)

    def _pubsub_failed(self, exc: Exception, pubsub: Any, pubsub_thread: Any) -> None:
        """The pubsub thread's errors: an outage is waited out quietly, like the rest (the
        thread resubscribes when Redis is back); anything else ends the thread."""
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            if self.outage is not None:
                self.outage.failed(exc)
            self._stopping.wait(2.0)  # the thread's retry pace, cut short by a stop
            return
        log.warning("pubsub_thread_exiting", name=self.name, error=type(exc).__name__)
        raise exc

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's dequeue, but a job that arrives after ``rq suspend`` goes back, untouched.

        RQ checks for suspension before it blocks waiting for a job (up to ~7 minutes), so
        an idle worker would otherwise take the first job enqueued after ``rq suspend``.
        """
        while True:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            if result is None or not is_suspended(self.connection):
                return result
            job, queue = result
            with self.connection.pipeline() as pipe:
                pipe.lrem(queue.intermediate_queue_key, 1, job.id)
                pipe.lpush(queue.key, job.id)
                pipe.execute()
            log.info("suspended_job_handed_back", job_id=job.id, queue=queue.name)
            self.check_for_suspension(burst=False)
            if rq_compat.stop_requested(self):
                return None

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's, always taking the job out of the intermediate list (ReliableQueue moved it)."""
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)

    @cached_property
    def allowed_jobs(self) -> dict[str, Mapping[str, JobShape]]:
        """The jobs each queue may hold (:mod:`cio_pipeline.worker.core.allowed_jobs`), for this
        prefix."""
        return allowed_jobs(context.current().keys)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run ``job`` only if it is one of our job functions, called our way, for ``queue``;
        otherwise dead-letter it unrun (nothing imported, nothing called) and go on."""
        refusal = check_job(job, self.allowed_jobs.get(queue.name, {}))
        if refusal is None:
            super().execute_job(job, queue)
            return
        self._refuse(job, queue, refusal)

    def _refuse(self, job: Job, queue: Queue, refusal: Refusal) -> None:
        # Fail it through RQ's own failure path (execution records, counters, the queue's
        # FailedJobRegistry), but never through perform_job, which would import the function,
        # nor through RQ's exception handling, which logs the job's arguments.
        log.error("job_refused", job_id=job.id, queue=queue.name, reason=refusal.reason)
        job.origin = queue.name  # the dead letter goes where the job came from, whatever it says
        job.webhooks = []  # RQ would POST the outcome to a forged job's webhook URLs
        execution = self.prepare_execution(job)
        self.connection.lrem(queue.intermediate_queue_key, 1, job.id)  # ReliableQueue put it there
        job.started_at = job.ended_at = now()
        self._outcome = dead_letter(job, "unknown", refusal.reason)
        self.handle_job_failure(job, queue, exc_string="", execution=execution)
        self.set_state(WorkerStatus.IDLE)

    def handle_exception(
        self,
        job: Job,
        *exc_info: Any,
    ) -> None:
        """Remember the job's exception for :meth:`handle_job_failure`; expected outcomes
        (retry, dead letter) are not crashes and get no traceback in the log."""
        exc_type, exc_value, tb = exc_info
        self._outcome = exc_value
        if isinstance(exc_value, JobOutcome):
            return
        # Our line carries the traceback as a structured field; RQ's own line would paste it
        # into the message as text (and pass the job's arguments along as extras).
        log.error(
            "job_crashed",
            job_id=job.id,
            queue=job.origin,
            error=type(exc_value).__name__,
            exc_info=(exc_type, exc_value, tb),
        )
        rq_compat.call_exception_handlers(self, job, exc_type, exc_value, tb)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Any = None,
    ) -> None:
        """Schedule a retry for RetryLater; otherwise fail the job as a dead letter."""
        outcome, self._outcome = self._outcome, None
        if outcome is None and exc_string == rq_compat.STUCK_MESSAGE:
            put_back(job, queue)  # left between dequeue and start by a dead worker: never ran
            log.info("stuck_job_requeued", job_id=job.id, queue=queue.name)
            return
        if isinstance(outcome, RetryLater):
            # RQ's own retry path: the job goes to the ScheduledJobRegistry and the scheduler
            # re-enqueues it when due (whole seconds: the scheduler polls once a second).
            job.retries_left = 1
            job.retry_intervals = [max(1, math.ceil(outcome.delay_s))]
            log.info(
                "retry_scheduled",
                job_id=job.id,
                queue=job.origin,
                delay_s=job.retry_intervals[0],
                reason=outcome.reason,
            )
        else:
            job.retries_left = None
            job.failure_ttl = self.dead_letter_ttl_s
            if isinstance(outcome, SystemExit | KeyboardInterrupt):
                # A second stop signal interrupted the job: a send may already have gone out.
                outcome = dead_letter(
                    job,
                    (job.func_name or "job").rsplit(".", 1)[-1].replace("_", " "),
                    "the worker was stopped at once (a second stop signal) while running this "
                    "job: it may have been sent; check Customer.io before a --resend-ambiguous",
                    ambiguous=True,
                )
            if isinstance(outcome, DeadLetter):
                exc_string = outcome.record.text()
                log.warning(
                    "dead_lettered",
                    job_id=job.id,
                    queue=job.origin,
                    operation=outcome.record.operation,
                    http_status=outcome.record.status,
                    ambiguous=outcome.record.ambiguous,
                )
        self._count_failure(job, outcome)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _count_failure(self, job: Job, outcome: BaseException | None) -> None:
        """Count a send's retry or dead letter: rare, so a round trip of its own."""
        ctx = context.current()
        if job.origin == ctx.keys.transactional_queue:
            ambiguous = isinstance(outcome, DeadLetter) and outcome.record.ambiguous
            kind = "retried" if isinstance(outcome, RetryLater) else "dead"
            flush(
                self.connection,
                ctx.keys,
                ctx.tally,
                f"transactional_{kind}" if not ambiguous else "transactional_ambiguous",
            )
