"""The worker on the transactional path: real Redis, real worker subprocesses, the emulator."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.worker import WorkerStatus
from support import enqueue_sends, finished_count, free_port, queue_report, wait_until

from cio_pipeline.devtools.emulator_process import die_with_parent
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.transactional.records import DeliveryRecords

pytestmark = pytest.mark.integration

QUEUE = "cio-transactional"


def _sent_numbers(emulator: Any) -> Counter[int]:
    return Counter(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])


def _dead(client: redis.Redis) -> list[Job]:
    registry = FailedJobRegistry(QUEUE, connection=client, serializer=SafeSerializer)
    return [
        Job.fetch(i, connection=client, serializer=SafeSerializer) for i in registry.get_job_ids()
    ]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _max_in_window(times: list[float], window_s: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_rate_limit_shared_by_four_workers(redis_url: str, emulator: Any, fleet: Any) -> None:
    count = 240  # 12 s at the limit: a dozen one-second windows to hold it in
    enqueue_sends(redis_url, count)
    fleet.start(4, CIO_TRANSACTIONAL_RATE="20")
    client = redis.Redis.from_url(redis_url)
    wait_until(
        lambda: finished_count(client, QUEUE) >= count,
        60,
        f"{count} sends",
        lambda: queue_report(client, QUEUE),
    )
    sends = [r for r in emulator.requests("app") if r["path"].startswith("/v1/send/")]
    times = [r["at"] for r in sends]
    assert len(sends) == count
    assert _max_in_window(times) <= 20  # the promise to Customer.io: exact
    # and the limit is used: ideally count - 1 intervals of 50 ms. Not a speed test: on a busy
    # machine the workers fall well short of the rate, so the bound only catches a limiter
    # that holds the fleet to a quarter of its rate or less.
    assert max(times) - min(times) <= (count - 1) / 20 / 0.25
    assert sorted(_sent_numbers(emulator).values()) == [1] * count


def test_429_pauses_every_worker_for_retry_after(redis_url: str, emulator: Any, fleet: Any) -> None:
    emulator.set_faults(app={"next": [{"count": 3, "fault": "rate_limit", "retry_after_s": 2}]})
    enqueue_sends(redis_url, 30)
    fleet.start(3, CIO_BACKOFF_BASE_S="0.1")
    wait_until(lambda: len(emulator.state()["sends"]) >= 30, 60, "30 sends")
    log = [r for r in emulator.requests("app") if r["path"].startswith("/v1/send/")]
    limited = [r["at"] for r in log if r["status"] == 429]
    assert limited, "the emulator answered no 429"
    for at in limited:
        too_soon = [r for r in log if at < r["at"] < at + 2.0 and r["status"] != 429]
        # The pause is set when a worker reads the 429; a send another worker had already
        # taken its token for may still arrive after it: at most one per other worker. How
        # soon after is no part of the promise (a busy machine may delay it), so only the
        # count is checked; a worker that ignored the pause would send on, at the rate.
        assert len(too_soon) <= 2, (
            f"{len(too_soon)} sends within a 2 s pause after a 429 (3 workers): "
            + ", ".join(f"{r['at'] - at:.3f} s" for r in too_soon)
        )
    assert sorted(_sent_numbers(emulator).values()) == [1] * 30


def test_faults_end_delivered_once_or_dead_lettered(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: Any
) -> None:
    emulator.set_faults(
        app={
            "error_rate": 0.3,
            "error_statuses": [503],
            "rate_limit_rate": 0.1,
            "retry_after_s": 1,
        },
        seed=11,
    )
    # 60 sends meet every fault several times (seeded: the same ones each run); each 429
    # pauses every worker for 1 s, so more sends mostly add pauses
    count = 60
    ids = enqueue_sends(redis_url, count)
    fleet.start(3, CIO_MAX_ATTEMPTS="3", CIO_BACKOFF_BASE_S="0.2", CIO_BACKOFF_CAP_S="1")

    def settled() -> bool:
        # two registry counts per poll, not a fetch of every job
        failed = FailedJobRegistry(QUEUE, connection=redis_client).count
        return finished_count(redis_client, QUEUE) + failed >= count

    wait_until(
        settled,
        120,
        "every send delivered or dead-lettered",
        lambda: queue_report(redis_client, QUEUE),
    )
    statuses = Counter(
        Job.fetch(i, connection=redis_client, serializer=SafeSerializer).get_status() for i in ids
    )
    assert statuses[JobStatus.FINISHED] + statuses[JobStatus.FAILED] == count, statuses
    sent = _sent_numbers(emulator)
    dead = _dead(redis_client)
    dead_numbers = {job.args[0]["message_data"]["n"] for job in dead}
    assert all(times == 1 for times in sent.values()), "a send went out twice"
    assert not dead_numbers & set(sent), "a dead-lettered send was also delivered"
    assert len(sent) + len(dead_numbers) == count
    for job in dead:
        reason = job.meta["dead_letter"]
        assert reason["attempts"] == 3
        assert reason["status"] in (429, 503)
        assert reason["first_attempt_at"] <= reason["last_attempt_at"]


def test_ambiguous_send_is_not_sent_twice(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: Any
) -> None:
    emulator.set_faults(app={"next": [{"count": 1, "fault": "lost"}]})
    (job_id,) = enqueue_sends(redis_url, 1, idempotency_key="receipt-1")
    fleet.run_burst()
    assert len(emulator.state()["sends"]) == 1  # Customer.io processed it; we saw no answer
    (dead,) = _dead(redis_client)
    assert dead.id == job_id
    assert dead.meta["dead_letter"]["ambiguous"] is True

    # A plain replay (or rq-dashboard's Requeue) does not resend an ambiguous send.
    out = _cli(fleet.env, "dlq", "replay", job_id)
    assert out.returncode == 1 and "skipped" in out.stderr  # refused, with the resend command
    assert f"--resend-ambiguous {job_id}" in out.stderr
    FailedJobRegistry(QUEUE, connection=redis_client, serializer=SafeSerializer).requeue(job_id)
    fleet.run_burst()
    assert len(emulator.state()["sends"]) == 1
    assert _dead(redis_client)[0].meta["dead_letter"]["ambiguous"] is True

    # The operator finds the delivery in Customer.io and records it; a resend then finishes
    # with that delivery id without sending again.
    delivery_id = emulator.state()["sends"][0]["delivery_id"]
    DeliveryRecords(redis_client, Keys(), 3600).delivered("receipt-1", delivery_id)
    out = _cli(fleet.env, "dlq", "replay", "--resend-ambiguous", job_id)
    assert out.returncode == 0, out.stderr
    fleet.run_burst()
    assert len(emulator.state()["sends"]) == 1
    job = Job.fetch(job_id, connection=redis_client, serializer=SafeSerializer)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"delivery_id": delivery_id, "deduplicated": True}


def test_duplicate_enqueued_send_goes_out_once(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: Any
) -> None:
    first = enqueue_sends(redis_url, 1, idempotency_key="welcome-42")
    second = enqueue_sends(redis_url, 1, idempotency_key="welcome-42")
    fleet.run_burst()
    assert len(emulator.state()["sends"]) == 1
    results = [
        Job.fetch(i, connection=redis_client, serializer=SafeSerializer).return_value()
        for i in (*first, *second)
    ]
    assert results[0]["delivery_id"] == results[1]["delivery_id"]


def test_permanent_error_dead_letters_and_replays_after_fix(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: Any
) -> None:
    emulator.fail_next(2, status=400, surface="app")
    job_ids = enqueue_sends(redis_url, 2)
    fleet.run_burst()
    dead = _dead(redis_client)
    assert sorted(job.id for job in dead) == sorted(job_ids)
    for job in dead:
        reason = job.meta["dead_letter"]
        assert (reason["status"], reason["attempts"], reason["ambiguous"]) == (400, 1, False)
        assert reason["message"] == "emulated fault"  # Customer.io's (the emulator's) message

    listing = _cli(fleet.env, "dlq", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    entries = json.loads(listing.stdout)
    assert {(e["job_id"], e["status"], e["queue"]) for e in entries} == {
        (job_id, 400, QUEUE) for job_id in job_ids
    }
    table = _cli(fleet.env, "dlq", "list")
    assert job_ids[0] in table.stdout and "emulated fault" in table.stdout
    shown = _cli(fleet.env, "dlq", "show", job_ids[0])
    assert re.search(r"^HTTP status:\s+400$", shown.stdout, re.M), shown.stdout

    with _dashboard(fleet.env, redis_url) as base:
        failed = httpx.get(f"{base}/0/data/jobs/{QUEUE}/failed/10/asc/1.json", timeout=10)
        assert failed.status_code == 200
        assert all(job_id in failed.text for job_id in job_ids)
        assert httpx.get(f"{base}/0/view/job/{job_ids[0]}", timeout=10).status_code == 200

        # The Workers page, while a worker is busy with a (slow) send.
        emulator.set_faults(app={"latency_ms": 3000})
        enqueue_sends(redis_url, 1, start=100)
        (busy,) = fleet.start(1)
        wait_until(lambda: _a_worker_is_busy(redis_client), 30, "a busy worker")
        assert httpx.get(f"{base}/0/data/workers.json", timeout=10).status_code == 200
        assert httpx.get(f"{base}/0/view/workers", timeout=10).status_code == 200
        assert busy.stop() == 0

        # Fixed at Customer.io's end: one dead letter replayed from the CLI, one with
        # rq-dashboard's Requeue button.
        emulator.clear_faults()
        replay = _cli(fleet.env, "dlq", "replay", job_ids[0])
        assert replay.returncode == 0 and "replayed" in replay.stdout
        requeue = httpx.post(f"{base}/job/{job_ids[1]}/requeue", timeout=10)
        assert requeue.status_code == 200

    fleet.run_burst()
    for job_id in job_ids:
        job = Job.fetch(job_id, connection=redis_client, serializer=SafeSerializer)
        assert job.get_status() == JobStatus.FINISHED
    assert _dead(redis_client) == []
    assert _sent_numbers(emulator) == Counter({0: 1, 1: 1, 100: 1})


def _a_worker_is_busy(client: redis.Redis) -> bool:
    return any(w.get_state() == WorkerStatus.BUSY for w in Worker.all(connection=client))


@contextmanager
def _dashboard(env: dict[str, str], redis_url: str) -> Iterator[str]:
    """rq-dashboard on a free loopback port; yields its base URL."""
    if importlib.util.find_spec("rq_dashboard") is None:
        missing = "rq-dashboard is not installed: uv sync --frozen --all-extras (dashboard extra)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rq_dashboard",
            "--redis-url",
            redis_url,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 30, "rq-dashboard to answer")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sigterm_during_a_send_loses_nothing_and_sends_once(
    redis_url: str, redis_client: redis.Redis, emulator: Any, fleet: Any
) -> None:
    emulator.set_faults(app={"latency_ms": 1500})
    ids = enqueue_sends(redis_url, 5)
    (worker,) = fleet.start(1)
    log = emulator.requests

    wait_until(
        lambda: any(r["path"].startswith("/v1/send") for r in log("app")),
        30,
        "the first send to reach the emulator",
    )
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=30) == 0
    sent_before = len(emulator.state()["sends"])
    assert sent_before >= 1
    statuses = [
        Job.fetch(i, connection=redis_client, serializer=SafeSerializer).get_status() for i in ids
    ]
    # the send in hand finished; the rest are still queued
    assert statuses.count(JobStatus.FINISHED) == sent_before
    assert statuses.count(JobStatus.QUEUED) == 5 - sent_before
    assert len(Queue(QUEUE, connection=redis_client).job_ids) == 5 - sent_before

    emulator.clear_faults()
    fleet.run_burst()
    assert sorted(_sent_numbers(emulator).values()) == [1] * 5
    assert os.environ.get("CIO_SEND_AT_LEAST_ONCE") is None
