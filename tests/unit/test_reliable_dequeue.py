"""Taking jobs off several queues (worker/runner/dequeue.py) on fakeredis: a job is always in
its queue, its intermediate list, or RQ's started registry; one left in the intermediate list
by a dead worker goes back to the head of its queue, never to the dead letters."""

from __future__ import annotations

import fakeredis
import pytest
from rq.exceptions import DequeueTimeout
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from cio_pipeline.producer.compat.rq import STUCK_MESSAGE as STUCK
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.runner.dequeue import ReliableQueue, put_back
from cio_pipeline.worker.runner.process import CioWorker


@pytest.fixture
def conn() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def _queues(conn: fakeredis.FakeRedis) -> list[ReliableQueue]:
    return [
        ReliableQueue(name, connection=conn, serializer=SafeSerializer)
        for name in ("cio-transactional", "cio-webhooks")
    ]


def _job(queue: ReliableQueue, n: int) -> Job:
    return queue.enqueue_call("cio_pipeline.worker.jobs.process_webhook", args=({"n": n},))


def test_jobs_move_into_the_intermediate_list_first_queue_first(
    conn: fakeredis.FakeRedis,
) -> None:
    sends, hooks = _queues(conn)
    hook = _job(hooks, 1)
    send = _job(sends, 2)
    job, queue = ReliableQueue.dequeue_any(
        [sends, hooks], None, connection=conn, serializer=SafeSerializer
    )
    assert (job.id, queue.name) == (send.id, "cio-transactional")
    assert conn.lrange(sends.intermediate_queue_key, 0, -1) == [send.id.encode()]
    job, queue = ReliableQueue.dequeue_any(
        [sends, hooks], None, connection=conn, serializer=SafeSerializer
    )
    assert (job.id, queue.name) == (hook.id, "cio-webhooks")
    assert conn.lrange(hooks.intermediate_queue_key, 0, -1) == [hook.id.encode()]
    assert ReliableQueue.dequeue_any([sends, hooks], None, connection=conn) is None


def test_an_idle_wait_ends_in_rqs_dequeue_timeout(conn: fakeredis.FakeRedis) -> None:
    with pytest.raises(DequeueTimeout):
        ReliableQueue.dequeue_any(_queues(conn), 1, connection=conn)


def test_a_job_a_dead_worker_left_in_the_intermediate_list_goes_back(
    conn: fakeredis.FakeRedis,
) -> None:
    sends, _ = _queues(conn)
    first, second = _job(sends, 1), _job(sends, 2)
    ReliableQueue.dequeue_any([sends], None, connection=conn, serializer=SafeSerializer)
    put_back(first, sends)
    assert conn.lrange(sends.key, 0, -1) == [first.id.encode(), second.id.encode()]
    assert first.get_status(refresh=True) == JobStatus.QUEUED


def test_rqs_stuck_job_failure_requeues_instead_of_dead_lettering(
    conn: fakeredis.FakeRedis,
) -> None:
    sends, hooks = _queues(conn)
    job = _job(sends, 1)
    ReliableQueue.dequeue_any([sends], None, connection=conn, serializer=SafeSerializer)
    worker = CioWorker([sends, hooks], connection=conn, serializer=SafeSerializer, name="w")
    worker.handle_job_failure(job, sends, exc_string=STUCK)
    assert conn.lrange(sends.key, 0, -1) == [job.id.encode()]
    assert FailedJobRegistry(sends.name, connection=conn).get_job_ids() == []
