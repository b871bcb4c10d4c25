"""The per-queue allow-list of job functions and call shapes (worker/core/allowed_jobs.py)."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import fakeredis
import pytest
from rq.job import Job

import cio_pipeline.worker.jobs
from cio_pipeline.producer import APIClient, Settings
from cio_pipeline.producer.jobs import SEND_KINDS, send_func
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.clients.app import SEND_KINDS as CLIENT_SEND_KINDS
from cio_pipeline.worker.core.allowed_jobs import (
    SEND_JOBS,
    TRACK_JOBS,
    allowed_jobs,
    check_call,
    check_job,
)

KEYS = Keys("cio", 4)
OP = {"type": "person", "action": "identify", "identifiers": {"id": "1"}}
SEND = {"transactional_message_id": 1, "identifiers": {"id": "1"}, "to": "a@example.com"}
KEY = {"idempotency_key": "k"}


@pytest.mark.parametrize(
    ("queue", "func", "args", "kwargs"),
    [
        ("cio-track-0", "cio_pipeline.worker.jobs.track_operation", (OP,), {}),
        ("cio-track-3", "cio_pipeline.worker.jobs.track_anonymous_event", ({"name": "visit"},), {}),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_email", (SEND,), KEY),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_in_app", [SEND], KEY),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_inbox_message", (SEND,), KEY),
    ],
)
def test_our_jobs_on_their_queues_are_allowed(
    queue: str, func: str, args: Any, kwargs: dict[str, Any]
) -> None:
    assert check_call(allowed_jobs(KEYS)[queue], func, None, args, kwargs) is None


@pytest.mark.parametrize(
    ("queue", "func", "instance", "args", "kwargs", "reason"),
    [
        # foreign functions, whatever the queue
        ("cio-transactional", "os.system", None, ("touch pwned",), {}, "function 'os.system'"),
        ("cio-track-0", "os.system", None, ("touch pwned",), {}, "function 'os.system'"),
        ("cio-transactional", "builtins.eval", None, ("1",), {}, "function 'builtins.eval'"),
        ("cio-transactional", None, None, (SEND,), KEY, "function None"),
        ("cio-transactional", 42, None, (SEND,), KEY, "function 42"),
        ("cio-transactional", "cio_pipeline.worker.jobs._job", None, (), {}, "function"),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_fax", None, (SEND,), KEY, "function"),
        # our functions on the wrong queue
        (
            "cio-transactional",
            "cio_pipeline.worker.jobs.track_operation",
            None,
            (OP,),
            {},
            "function",
        ),
        ("cio-track-1", "cio_pipeline.worker.jobs.send_email", None, (SEND,), KEY, "function"),
        # our functions, the wrong shape
        (
            "cio-transactional",
            "cio_pipeline.worker.jobs.send_email",
            object(),
            (SEND,),
            KEY,
            "instance",
        ),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_email", None, (), KEY, "one dict"),
        (
            "cio-transactional",
            "cio_pipeline.worker.jobs.send_email",
            None,
            (SEND, SEND),
            KEY,
            "one dict",
        ),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_email", None, ("x",), KEY, "one dict"),
        ("cio-transactional", "cio_pipeline.worker.jobs.send_email", None, "abc", KEY, "one dict"),
        (
            "cio-transactional",
            "cio_pipeline.worker.jobs.send_email",
            None,
            (SEND,),
            {},
            "idempotency_key",
        ),
        (
            "cio-transactional",
            "cio_pipeline.worker.jobs.send_email",
            None,
            (SEND,),
            KEY | {"x": 1},
            "keyword",
        ),
        (
            "cio-transactional",
            "cio_pipeline.worker.jobs.send_email",
            None,
            (SEND,),
            {"idempotency_key": 1},
            "string or flag keyword",
        ),
        (
            "cio-track-0",
            "cio_pipeline.worker.jobs.track_operation",
            None,
            (OP,),
            KEY,
            "keyword arguments none",
        ),
        ("cio-track-0", "cio_pipeline.worker.jobs.track_operation", None, ([1],), {}, "one dict"),
    ],
)
def test_anything_else_is_refused_with_a_reason(
    queue: str, func: Any, instance: Any, args: Any, kwargs: Any, reason: str
) -> None:
    refusal = check_call(allowed_jobs(KEYS)[queue], func, instance, args, kwargs)
    assert refusal is not None
    assert reason in refusal.reason
    assert "touch pwned" not in refusal.reason  # arguments are never quoted


def test_unknown_queues_allow_nothing() -> None:
    allowed = allowed_jobs(KEYS)
    assert "cio-track-4" not in allowed  # beyond CIO_PARTITIONS
    assert set(allowed) == {*KEYS.track_queues, KEYS.transactional_queue, KEYS.webhooks_queue}
    assert set(allowed[KEYS.webhooks_queue]) == {"cio_pipeline.worker.jobs.process_webhook"}


def test_a_long_forged_name_is_cut_short() -> None:
    refusal = check_call(SEND_JOBS, "x" * 10_000, None, (SEND,), KEY)
    assert refusal is not None and len(refusal.reason) < 200


def test_the_allow_list_is_the_job_contract() -> None:
    """Every send the producer can enqueue is allowed, and names a real job function."""
    producer_kinds = {
        name.removeprefix("send_")
        for name, method in inspect.getmembers(APIClient, inspect.isfunction)
        if name.startswith("send_") and "request" in inspect.signature(method).parameters
    }  # (send_status reads a send's life: not a kind)
    assert producer_kinds == set(SEND_KINDS) == set(CLIENT_SEND_KINDS)
    assert set(SEND_JOBS) == {send_func(kind) for kind in SEND_KINDS}
    for func in (*SEND_JOBS, *TRACK_JOBS, "cio_pipeline.worker.jobs.process_webhook"):
        module, name = func.rsplit(".", 1)
        assert module == "cio_pipeline.worker.jobs" and callable(
            getattr(cio_pipeline.worker.jobs, name)
        )


def _stored_job(fake: fakeredis.FakeRedis, data: bytes, **fields: str) -> Job:
    fake.hset(
        "rq:job:forged",
        mapping={"data": data, "origin": "cio-transactional", "status": "queued", **fields},
    )
    return Job.fetch("forged", connection=fake, serializer=SafeSerializer)


def test_a_job_made_by_the_producer_passes() -> None:
    fake = fakeredis.FakeRedis()
    api = APIClient("unused", redis=fake, settings=Settings(partitions=4))
    job_id = api.send_email(SEND)
    job = Job.fetch(job_id, connection=fake, serializer=SafeSerializer)
    assert check_job(job, SEND_JOBS) is None


class _CallsSystem:
    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, ("touch pwned",))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00garbage\xff", "unreadable job data (UnpicklingError)"),
        (pickle.dumps(("os.system", None, (_CallsSystem(),), {})), "(ForbiddenGlobal)"),
        (pickle.dumps("not a 4-tuple"), "unreadable job data (ValueError)"),
        (SafeSerializer.dumps(("os.system", None, ("touch pwned",), {})), "'os.system'"),
    ],
)
def test_stored_jobs_that_cannot_run_are_refused(data: bytes, reason: str) -> None:
    refusal = check_job(_stored_job(fakeredis.FakeRedis(), data), SEND_JOBS)
    assert refusal is not None and reason in refusal.reason


@pytest.mark.parametrize(
    "field", ["success_callback_name", "failure_callback_name", "stopped_callback_name"]
)
def test_our_function_with_rq_callbacks_is_refused(field: str) -> None:
    data = SafeSerializer.dumps(("cio_pipeline.worker.jobs.send_email", None, (SEND,), KEY))
    refusal = check_job(_stored_job(fakeredis.FakeRedis(), data, **{field: "os.system"}), SEND_JOBS)
    assert refusal is not None and "callback" in refusal.reason


def test_our_function_with_webhooks_is_refused() -> None:
    data = SafeSerializer.dumps(("cio_pipeline.worker.jobs.send_email", None, (SEND,), KEY))
    job = _stored_job(
        fakeredis.FakeRedis(),
        data,
        webhooks='[{"url": "http://attacker.test/", "job_status": "failed"}]',
    )
    refusal = check_job(job, SEND_JOBS)
    assert refusal is not None and "webhooks" in refusal.reason


def test_a_guarded_send_passes_and_unknown_keywords_do_not() -> None:
    fake = fakeredis.FakeRedis()
    api = APIClient("unused", redis=fake, settings=Settings(partitions=4))
    job = Job.fetch(
        api.send_email(SEND, skip_if_suppressed=True), connection=fake, serializer=SafeSerializer
    )
    assert job.kwargs["skip_if_suppressed"] is True
    assert check_job(job, SEND_JOBS) is None
    extra = {**KEY, "on_success": "x"}
    assert (
        check_call(SEND_JOBS, "cio_pipeline.worker.jobs.send_email", None, (SEND,), extra)
        is not None
    )
