"""Operating the worker: rq suspend/resume, restarts with retries pending, dead-letter purge
and replay from the CLI, start-up without credentials, and what the logs never contain.

Real Redis, real ``cio-pipeline worker`` subprocesses (the ``fleet`` fixture), the emulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.worker import WorkerStatus
from support import WorkerFleet, enqueue_sends, wait_until

from cio_pipeline.producer.serializer import SafeSerializer

pytestmark = pytest.mark.integration

QUEUE = "cio-transactional"


def _sent(emulator: Any) -> list[int]:
    return sorted(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])


def _status(client: redis.Redis, job_id: str) -> JobStatus | None:
    return Job.fetch(job_id, connection=client, serializer=SafeSerializer).get_status()


def _dead_ids(client: redis.Redis) -> list[str]:
    registry = FailedJobRegistry(QUEUE, connection=client, serializer=SafeSerializer)
    return list(registry.get_job_ids())


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _rq(redis_url: str, *args: str) -> None:
    """RQ's own command line (``rq suspend``, ``rq resume``), as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "rq.cli", *args, "--url", redis_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _worker_states(client: redis.Redis) -> list[str]:
    return [w.get_state() for w in Worker.all(connection=client)]


# ---- rq suspend / rq resume -----------------------------------------------------------


def _watch_nothing_sent(emulator: Any, sent_before: int, seconds: float) -> None:
    """Nothing to wait for (the point is that nothing happens): watch for a bounded while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert len(emulator.state()["sends"]) == sent_before, "a suspended worker sent"
        time.sleep(0.1)


def test_rq_suspend_during_a_send_holds_the_queue_until_rq_resume(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    emulator.set_faults(app={"latency_ms": 1500})
    (first,) = enqueue_sends(redis_url, 1)
    fleet.start(1)
    wait_until(
        lambda: any(r["path"].startswith("/v1/send/") for r in emulator.requests("app")),
        30,
        "the first send to reach the emulator",
    )
    _rq(redis_url, "suspend")
    ids = enqueue_sends(redis_url, 3, start=1)
    # The send in hand finishes; then the worker takes nothing more.
    wait_until(
        lambda: _worker_states(redis_client) == [WorkerStatus.SUSPENDED],
        30,
        "the worker to finish its send and report itself suspended",
    )
    assert _status(redis_client, first) == JobStatus.FINISHED
    emulator.clear_faults()
    _watch_nothing_sent(emulator, 1, 3.0)
    assert [_status(redis_client, i) for i in ids] == [JobStatus.QUEUED] * 3
    assert len(Queue(QUEUE, connection=redis_client).job_ids) == 3

    _rq(redis_url, "resume")
    wait_until(
        lambda: all(_status(redis_client, i) == JobStatus.FINISHED for i in ids),
        30,
        "every job delivered after rq resume",
    )
    assert _sent(emulator) == [0, 1, 2, 3]


def test_rq_suspend_stops_an_idle_worker_from_taking_new_jobs(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    fleet.start(1)
    wait_until(
        lambda: _worker_states(redis_client) == [WorkerStatus.IDLE],
        30,
        "the worker to register and listen",
    )
    _rq(redis_url, "suspend")
    # The worker is blocked waiting for a job; the first job to arrive wakes it.
    ids = enqueue_sends(redis_url, 3)
    _watch_nothing_sent(emulator, 0, 3.0)
    assert [_status(redis_client, i) for i in ids] == [JobStatus.QUEUED] * 3
    assert Queue(QUEUE, connection=redis_client).job_ids == ids  # in order, none lost
    wait_until(
        lambda: _worker_states(redis_client) == [WorkerStatus.SUSPENDED],
        10,
        "the worker to report itself suspended",
    )

    _rq(redis_url, "resume")
    wait_until(
        lambda: all(_status(redis_client, i) == JobStatus.FINISHED for i in ids),
        30,
        "every job delivered after rq resume",
    )
    assert _sent(emulator) == [0, 1, 2]


# ---- a scheduled retry survives a worker restart ------------------------------------------


def test_scheduled_retry_survives_a_worker_restart(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    emulator.fail_next(1, status=503, surface="app")
    (job_id,) = enqueue_sends(redis_url, 1)
    # A long backoff, so that the first worker cannot retry the send before it is stopped.
    (first,) = fleet.start(1, CIO_BACKOFF_BASE_S="3600", CIO_BACKOFF_CAP_S="3600")
    scheduled = ScheduledJobRegistry(QUEUE, connection=redis_client, serializer=SafeSerializer)
    wait_until(lambda: job_id in scheduled.get_job_ids(), 30, "the 503 to schedule a retry")
    assert first.stop() == 0
    assert _status(redis_client, job_id) == JobStatus.SCHEDULED
    assert len(emulator.requests("app")) == 1  # the 503; nothing else was sent

    # Bring the retry forward instead of waiting out the backoff; then a new worker (whose
    # scheduler takes over the queue's schedule) delivers it.
    job = Job.fetch(job_id, connection=redis_client, serializer=SafeSerializer)
    scheduled.schedule(job, datetime.now(UTC))
    fleet.start(1)
    wait_until(
        lambda: _status(redis_client, job_id) == JobStatus.FINISHED,
        30,
        "the new worker to deliver the retried send",
    )
    assert _sent(emulator) == [0]
    sends = [r for r in emulator.requests("app") if r["path"].startswith("/v1/send/")]
    assert [r["status"] for r in sends] == [503, 200]


# ---- dlq purge / replay ------------------------------------------------------------------


def test_dlq_purge_one_and_all_then_replay_all(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    emulator.fail_next(3, status=400, surface="app")
    ids = enqueue_sends(redis_url, 3)
    fleet.run_burst()
    assert sorted(_dead_ids(redis_client)) == sorted(ids)

    neither = _cli(fleet.env, "dlq", "purge")
    assert neither.returncode != 0 and "--all" in neither.stderr
    both = _cli(fleet.env, "dlq", "purge", "--all", ids[0])
    assert both.returncode != 0 and "--all" in both.stderr
    assert sorted(_dead_ids(redis_client)) == sorted(ids)  # neither touched anything

    one = _cli(fleet.env, "dlq", "purge", ids[0])
    assert one.returncode == 0, one.stderr
    assert f"purged {ids[0]}" in one.stdout
    assert sorted(_dead_ids(redis_client)) == sorted(ids[1:])
    assert not redis_client.exists(f"rq:job:{ids[0]}")  # gone for good, personal data too

    everything = _cli(fleet.env, "dlq", "purge", "--all")
    assert everything.returncode == 0, everything.stderr
    assert _dead_ids(redis_client) == []
    assert not any(redis_client.exists(f"rq:job:{i}") for i in ids)
    listing = _cli(fleet.env, "dlq", "list")
    assert "no dead letters" in listing.stdout

    # Two more dead letters, replayed together once Customer.io accepts them.
    emulator.fail_next(2, status=400, surface="app")
    again = enqueue_sends(redis_url, 2, start=10)
    fleet.run_burst()
    assert sorted(_dead_ids(redis_client)) == sorted(again)
    emulator.clear_faults()
    replay = _cli(fleet.env, "dlq", "replay", "--all", "--queue", QUEUE)
    assert replay.returncode == 0, replay.stderr
    assert all(f"replayed {i} on {QUEUE}" in replay.stdout for i in again)
    fleet.run_burst()
    assert all(_status(redis_client, i) == JobStatus.FINISHED for i in again)
    assert _dead_ids(redis_client) == []
    assert _sent(emulator) == [10, 11]


def test_dlq_replay_of_a_job_that_is_not_dead_says_so(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    (job_id,) = enqueue_sends(redis_url, 1)
    # A running worker, and the job's status to wait on: how long a burst worker takes to exit
    # after its work is no part of what this test checks.
    fleet.start(1)
    wait_until(
        lambda: _status(redis_client, job_id) == JobStatus.FINISHED,
        30,
        "the send to be delivered",
        lambda: f"job status {_status(redis_client, job_id)}",
    )
    out = _cli(fleet.env, "dlq", "replay", job_id)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and job_id in out.stderr
    assert _sent(emulator) == [0]


# ---- start-up without credentials ----------------------------------------------------------


def test_worker_without_app_api_key_exits_at_once_naming_it(
    redis_client: redis.Redis, fleet: WorkerFleet
) -> None:
    env = {k: v for k, v in fleet.env.items() if k != "CUSTOMERIO_APP_API_KEY"}
    # It exits by itself (a worker that started would wait for jobs until the timeout here,
    # a generous deadline: a busy machine takes seconds just to start Python)
    done = subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert done.returncode != 0
    assert "CUSTOMERIO_APP_API_KEY" in done.stderr
    assert Worker.all(connection=redis_client) == []  # it never registered


# ---- logs ------------------------------------------------------------------------------------


def test_json_logs_hold_no_addresses_message_data_or_keys(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    secret = "s3cret-order-value-7731"
    # A retry (503), a dead letter (400) and plain deliveries: every kind of log line.
    emulator.set_faults(
        app={
            "next": [
                {"count": 1, "fault": "status", "status": 503},
                {"count": 1, "fault": "status", "status": 400},
            ]
        }
    )
    ids = enqueue_sends(redis_url, 4, data={"coupon": secret})
    (worker,) = fleet.start(1, CIO_BACKOFF_BASE_S="0.1", CIO_BACKOFF_CAP_S="0.1", LOG_LEVEL="debug")

    def settled() -> bool:
        statuses = [_status(redis_client, i) for i in ids]
        return all(s in (JobStatus.FINISHED, JobStatus.FAILED) for s in statuses)

    wait_until(settled, 60, "every send delivered or dead-lettered")
    assert worker.stop() == 0
    text = worker.log()
    for forbidden in (secret, "@example.com", emulator.app_api_key, emulator.api_key):
        assert forbidden not in text, f"the worker log contains {forbidden!r}"

    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    attempts = [r for r in records if r.get("event") == "delivery_attempt"]
    assert len(attempts) == 5  # 4 sends, one of them twice
    for record in attempts:
        assert {
            "queue",
            "job_id",
            "operation",
            "http_status",
            "outcome",
            "attempt",
            "latency_ms",
        } <= record.keys()
    assert sorted(r["http_status"] for r in attempts) == [200, 200, 200, 400, 503]


def test_log_format_json_makes_every_line_json(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: WorkerFleet
) -> None:
    emulator.fail_next(1, status=400, surface="app")
    enqueue_sends(redis_url, 2)
    worker = fleet.run_burst()
    lines = worker.log().splitlines()
    assert lines
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == []
    events = {json.loads(line)["event"] for line in lines}
    assert {"worker_starting", "dead_lettered", "delivery_attempt", "worker_stopped"} <= events
