"""Taking a job off several RQ queues without a moment where it is in no list.

RQ moves a job from its queue into ``<queue>:intermediate`` (BLMOVE) only when a worker
listens to one queue; with more (our workers take sends and webhook events) it pops the id
(BLPOP), and a worker killed between that pop and registering the job as started loses the
job. :class:`ReliableQueue` always moves: it tries each queue in order with a non-blocking
LMOVE, and when all are empty it blocks on the first queue's BLMOVE for at most
:data:`BLOCK_S`, then looks at every queue again. So a job of a later queue waits at most
that long when the first queue is idle, and a job is always in its queue, its intermediate
list, or RQ's started registry. RQ's maintenance requeues one left in an intermediate list by
a dead worker (:meth:`cio_pipeline.worker.runner.process.CioWorker.handle_job_failure`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.job import Job, JobStatus
from rq.utils import as_text

from cio_pipeline.worker.runner.unreadable import read_dequeued

__all__ = ["BLOCK_S", "ReliableQueue", "put_back"]

#: Longest a job of any queue but the first waits while the first queue is idle.
BLOCK_S: Final = 1


class ReliableQueue(Queue):
    """An RQ queue whose ``dequeue_any`` always moves the job into the intermediate list."""

    @classmethod
    def dequeue_any(
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: Redis,
        job_class: type[Job] | None = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[Job, Queue] | None:
        """The first job of ``queues`` (in order), moved to its intermediate list; blocks up
        to ``timeout`` seconds (raising RQ's ``DequeueTimeout``), or not at all when None."""
        queue_keys = [queue.key for queue in queues]
        deadline = None if timeout is None else time.monotonic() + timeout

        def take(moved: tuple[str, Any] | None) -> tuple[Job, Queue] | None:
            if moved is None:
                return None
            queue = cls.from_queue_key(
                moved[0],
                connection=connection,
                job_class=job_class,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
            # RQ's _fetch_dequeued_job, but a job RQ cannot read is dead-lettered (or set
            # aside), not raised out of the worker's loop: see .unreadable.
            job = read_dequeued(
                connection, queue, as_text(moved[1]), queue.job_class, queue.serializer
            )
            return None if job is None else (job, queue)

        while True:
            for key in queue_keys:
                found = take(cls.lmove(connection, key, None))
                if found is not None:
                    return found
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise DequeueTimeout(timeout, queue_keys)
            try:
                found = take(cls.lmove(connection, queue_keys[0], max(1, min(BLOCK_S, int(left)))))
            except DequeueTimeout:
                continue
            if found is not None:
                return found


def put_back(job: Job, queue: Queue) -> None:
    """Return a job a dead worker left in ``queue``'s intermediate list to the head of the
    queue: it never started (a started job is in RQ's started registry), so running it again
    is safe, and a send's delivery record would stop a second send anyway."""
    with queue.connection.pipeline() as pipe:
        job.set_status(JobStatus.QUEUED, pipeline=pipe)
        pipe.lpush(queue.key, job.id)
        pipe.execute()
