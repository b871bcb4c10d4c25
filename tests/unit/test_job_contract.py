"""The job contract: our job hash equals RQ's, routing is stable, descriptions are safe."""

from __future__ import annotations

import subprocess
import sys
import zlib

import fakeredis
import pytest
from rq.job import Job, JobStatus

from cio_pipeline.producer import APIClient, CustomerIO, SendEmailRequest, Settings
from cio_pipeline.producer.ids import partition_for
from cio_pipeline.producer.jobs import JOB_TIMEOUT_S, JobSpec, job_fields
from cio_pipeline.producer.serializer import SafeSerializer


def _rq_fields(spec: JobSpec) -> dict[str, object]:
    job = Job.create(
        spec.func,
        args=(spec.operation,),
        kwargs=spec.kwargs,
        connection=fakeredis.FakeRedis(),
        description=spec.description,
        serializer=SafeSerializer,
        timeout=JOB_TIMEOUT_S,
    )
    job.origin = spec.queue
    job.enqueued_at = job.created_at
    job._status = JobStatus.QUEUED
    return job.to_dict()


@pytest.mark.parametrize("size", [10, 5000])
def test_our_hash_is_rqs_hash(size: int) -> None:
    spec = JobSpec(
        "cio_pipeline.worker.jobs.send_email",
        {"x": "y" * size},
        "cio-transactional",
        "d",
        {"idempotency_key": "k"},
    )
    theirs = _rq_fields(spec)
    ours = job_fields(spec, str(theirs["created_at"]))
    # RQ also writes empty strings that its loader treats as absent; the data may or may not
    # be compressed (RQ reads both).
    theirs_data = zlib.decompress(theirs.pop("data"))  # type: ignore[arg-type]
    our_data = ours.pop("data")
    if size > 1024:
        our_data = zlib.decompress(our_data)
    assert our_data == theirs_data
    assert ours == {k: v for k, v in theirs.items() if v != ""} | {"status": "queued"}


def test_job_read_back_by_rq(tmp_path: object) -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=4))
    job_id = cio.identify("7", plan="pro")
    job = Job.fetch(job_id, connection=fake, serializer=SafeSerializer)
    assert job.get_status() == JobStatus.QUEUED
    assert job.func_name == "cio_pipeline.worker.jobs.track_operation"
    assert job.args == (
        {
            "type": "person",
            "identifiers": {"id": "7"},
            "action": "identify",
            "attributes": {"plan": "pro"},
        },
    )
    assert job.origin == f"cio-track-{partition_for('id', '7', 4)}"
    assert fake.lrange(f"rq:queue:{job.origin}", 0, -1) == [job_id.encode()]


@pytest.mark.integration  # starts subprocesses
def test_partition_is_stable_across_processes() -> None:
    code = (
        "from cio_pipeline.producer.ids import partition_for;"
        "print([partition_for('email', f'p{i}@x.io', 8) for i in range(50)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert outputs == {str([partition_for("email", f"p{i}@x.io", 8) for i in range(50)]) + "\n"}


def test_partitions_spread() -> None:
    counts = [0] * 8
    for i in range(8000):
        counts[partition_for("id", str(i), 8)] += 1
    assert min(counts) > 800


def test_descriptions_hold_no_values() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings())
    api = APIClient("k", redis=fake, settings=Settings())
    secret = "ann.secret@example.com"
    ids = [
        cio.identify(secret, first_name="Ann-secret"),
        cio.track(secret, "purchase", {"card": "secret-4242"}),
        cio.add_device(secret, "secret-token", "ios"),
        api.send_email(
            SendEmailRequest(
                transactional_message_id=3,
                to=secret,
                identifiers={"email": secret},
                message_data={"otp": "secret-123"},
            )
        ),
    ]
    for job_id in ids:
        description = Job.fetch(job_id, connection=fake, serializer=SafeSerializer).description
        assert "secret" not in description
        assert description.startswith("cio ")


def test_sends_carry_idempotency_keys() -> None:
    fake = fakeredis.FakeRedis()
    api = APIClient("k", redis=fake, settings=Settings())
    request = SendEmailRequest(transactional_message_id=3, to="a@b.c", identifiers={"id": "1"})
    given = Job.fetch(
        api.send_email(request, idempotency_key="order-9"),
        connection=fake,
        serializer=SafeSerializer,
    )
    generated = Job.fetch(api.send_email(request), connection=fake, serializer=SafeSerializer)
    assert given.kwargs == {"idempotency_key": "order-9"}
    assert len(generated.kwargs["idempotency_key"]) == 26
    assert given.origin == "cio-transactional"


def test_small_pipeline_writes_on_exit_and_nothing_on_error() -> None:
    # Under one chunk (1000 jobs) a block is one write at its end; tests/unit/test_chunks.py
    # covers longer blocks, which are written chunk by chunk as they run.
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    with cio.pipeline() as pipe:
        ids = [pipe.identify(str(i)) for i in range(5)]
        assert fake.llen("rq:queue:cio-track-0") == 0  # nothing until the block ends
    assert [i.encode() for i in ids] == fake.lrange("rq:queue:cio-track-0", 0, -1)
    with pytest.raises(RuntimeError), cio.pipeline() as pipe:
        pipe.identify("x")
        raise RuntimeError("app error")
    assert fake.llen("rq:queue:cio-track-0") == 5
    cio.identify("after")  # the client works normally after a pipeline
    assert fake.llen("rq:queue:cio-track-0") == 6


def test_enqueue_survives_a_script_flush() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    cio.identify("before")
    fake.script_flush()  # a server restart or SCRIPT FLUSH forgets the cached script
    cio.identify("after")
    assert fake.llen("rq:queue:cio-track-0") == 2
