"""Contract tests: what cio_pipeline.producer.compat.rq relies on in the installed rq.

Each failure names rq and its version: a release that changes one of these reaches is met
here, not as a worker that silently stops retrying, or a job the producer wrote that rq reads
differently.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import rq
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler

from cio_pipeline.producer import APIClient, SendEmailRequest, Settings
from cio_pipeline.producer.compat import rq as compat
from cio_pipeline.producer.compat.rq import RQ_VERSION, WORKER_OVERRIDES
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.runner.process import CioWorker


def changed(what: str) -> str:
    return f"{RQ_VERSION} changed {what} (see cio_pipeline/producer/compat/rq.py)"


def _parameters(function: Any) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)[1:]


@pytest.mark.parametrize("name", sorted(WORKER_OVERRIDES))
def test_rq_calls_each_overridden_worker_method_as_we_expect(name: str) -> None:
    theirs = getattr(SimpleWorker, name, None)
    assert callable(theirs), changed(f"SimpleWorker.{name} (gone)")
    assert _parameters(theirs) == WORKER_OVERRIDES[name], changed(
        f"SimpleWorker.{name}'s parameters to {_parameters(theirs)}"
    )
    assert _parameters(getattr(CioWorker, name)) == WORKER_OVERRIDES[name]


def test_every_override_of_an_rq_method_is_listed_in_compat() -> None:
    ours = {
        name
        for name, value in vars(CioWorker).items()
        if callable(value) and hasattr(SimpleWorker, name) and not name.startswith("__")
    }
    assert ours == set(WORKER_OVERRIDES), "CioWorker's rq overrides and WORKER_OVERRIDES differ"


def test_a_job_hash_is_restored_as_fetch_reads_it() -> None:
    fake = fakeredis.FakeRedis()
    queue = Queue("compat", connection=fake, serializer=SafeSerializer)
    job = queue.enqueue_call("cio_pipeline.worker.jobs.process_webhook", args=({"n": 1},))
    raw = fake.hgetall(job.key)
    found = compat.restore_job(Job, job.id, fake, SafeSerializer, raw)
    assert (found.id, found.origin, found.args) == (job.id, "compat", ({"n": 1},)), changed(
        "Job.restore"
    )


def test_the_stuck_message_is_rqs() -> None:
    sources = (path.read_text() for path in Path(rq.__file__).parent.rglob("*.py"))
    assert any(compat.STUCK_MESSAGE in text for text in sources), changed(
        f"the text of a job stuck in an intermediate queue (no {compat.STUCK_MESSAGE!r})"
    )


def test_the_worker_internals_we_touch_exist() -> None:
    fake = fakeredis.FakeRedis()
    worker = SimpleWorker([Queue("compat", connection=fake)], connection=fake)
    assert compat.stop_requested(worker) is False, changed("the worker's _stop_requested")
    compat.stop_at_next_turn(worker)
    assert compat.stop_requested(worker), changed("the worker's _stop_requested")
    assert isinstance(worker._exc_handlers, list), changed("the worker's _exc_handlers")
    seen: list[str] = []
    worker.push_exc_handler(lambda job, *exc_info: seen.append(job))
    compat.call_exception_handlers(worker, "job", ValueError, ValueError(), None)
    assert seen == ["job"], changed("rq.job_lifecycle.call_exception_handlers")
    scheduler = RQScheduler([Queue("compat", connection=fake)], connection=fake)
    assert hasattr(scheduler, "_process"), changed("RQScheduler._process")
    worker.scheduler = scheduler
    assert compat.scheduler_process(worker) is None


def test_the_workers_pubsub_thread_starts_and_stops_within_the_bound() -> None:
    fake = fakeredis.FakeRedis()
    worker = SimpleWorker([Queue("compat", connection=fake)], connection=fake)
    errors: list[Exception] = []
    compat.subscribe(worker, lambda exc, pubsub, thread: errors.append(exc))
    thread = worker.pubsub_thread
    assert thread is not None and thread.is_alive(), changed("the worker's pubsub attributes")
    started = time.monotonic()
    assert compat.unsubscribe(worker, timeout_s=5)
    assert time.monotonic() - started < 5 and not thread.is_alive() and not errors


def _written_by(write: str, fake: fakeredis.FakeRedis) -> Job:
    request = SendEmailRequest(
        transactional_message_id=1, to="a@example.com", identifiers={"id": "1"}
    )
    api = APIClient("unused", redis=fake, settings=Settings())
    job_id = api.send_email(request, idempotency_key="k")
    ours = Job.fetch(job_id, connection=fake, serializer=SafeSerializer)
    if write == "lua":
        return ours
    queue = Queue(ours.origin, connection=fake, serializer=SafeSerializer)
    return queue.enqueue_call(
        ours.func_name,
        args=ours.args,
        kwargs=ours.kwargs,
        timeout=ours.timeout,
        description=ours.description,
    )


def test_a_job_written_by_enqueue_lua_reads_back_as_rqs_own() -> None:
    fake = fakeredis.FakeRedis()
    ours, theirs = (
        Job.fetch(_written_by(w, fake).id, connection=fake, serializer=SafeSerializer)
        for w in ("lua", "rq")
    )
    keys = {k.decode() for k in fake.hgetall(ours.key)}
    assert keys == compat.JOB_HASH_FIELDS  # what enqueue.lua writes
    rq_keys = {k.decode() for k, v in fake.hgetall(theirs.key).items() if v != b""}
    assert compat.JOB_HASH_FIELDS <= rq_keys, changed(f"the job hash (fields {sorted(rq_keys)})")
    read = ("func_name", "args", "kwargs", "origin", "description", "timeout", "result_ttl")
    assert [getattr(ours, a) for a in read] == [getattr(theirs, a) for a in read], changed(
        "how a job hash reads back"
    )
    assert ours.get_status() == theirs.get_status() == JobStatus.QUEUED
    assert ours.enqueued_at is not None and ours.created_at is not None
