"""Forged jobs never run: a real worker subprocess, real Redis, the emulator.

Someone who can write to Redis enqueues jobs of their own on ``cio-transactional`` and on a
Track partition: a foreign function with a primitive argument (``os.system``), garbage bytes
as job data, and a pickle that calls ``os.system`` while it is read. Each would create a file;
none may. Each is dead-lettered with its reason, the good jobs around them are delivered, and
the worker is the same process throughout.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job
from support import WorkerFleet, enqueue_sends, track_drained, wait_until

from cio_pipeline.producer import CustomerIO, Settings
from cio_pipeline.producer.serializer import SafeSerializer

pytestmark = pytest.mark.integration

TRANSACTIONAL = "cio-transactional"
TRACK = "cio-track-0"


class _TouchOnLoad:
    """Pickles as a call to ``os.system`` that runs when the pickle is loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def _forge(client: redis.Redis, queue_name: str, tmp_path: Path) -> dict[str, Path]:
    """Enqueue the three forged jobs on ``queue_name``; returns job id -> file it would make."""
    queue = Queue(queue_name, connection=client, serializer=SafeSerializer)
    forged: dict[str, Path] = {}
    foreign = tmp_path / f"{queue_name}-foreign"
    forged[queue.enqueue("os.system", f"touch {foreign}").id] = foreign
    # Jobs whose data is replaced by hand, as an attacker with Redis access would.
    garbage = queue.enqueue("os.system", "true")
    client.hset(garbage.key, "data", b"\x80\x05garbage\xff\x00")
    forged[garbage.id] = tmp_path / "never-made"
    reduce_path = tmp_path / f"{queue_name}-reduce"
    reducing = queue.enqueue("os.system", "true")
    client.hset(
        reducing.key,
        "data",
        pickle.dumps(
            ("cio_pipeline.worker.jobs.send_email", None, (_TouchOnLoad(reduce_path),), {})
        ),
    )
    forged[reducing.id] = reduce_path
    return forged


def _dead_letters(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "dlq", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return {entry["job_id"]: entry for entry in json.loads(out.stdout)}


def test_forged_jobs_are_dead_lettered_unrun_and_the_worker_goes_on(
    redis_url: str,
    redis_client: redis.Redis,
    emulator: Any,
    fleet: WorkerFleet,
    tmp_path: Path,
) -> None:
    cio = CustomerIO(settings=Settings(redis_url=redis_url))
    enqueue_sends(redis_url, 2, start=0)
    cio.identify("before", n=1)
    forged = _forge(redis_client, TRANSACTIONAL, tmp_path)
    forged |= _forge(redis_client, TRACK, tmp_path)
    enqueue_sends(redis_url, 2, start=2)
    cio.identify("after", n=2)

    (worker,) = fleet.start(1)
    pid = worker.process.pid

    def settled() -> bool:
        sends = emulator.state()["sends"]
        return (
            len(sends) == 4
            and track_drained(redis_client)
            and set(_dead_letters(fleet.env)) == set(forged)
        )

    wait_until(
        settled,
        60,
        "good jobs delivered and forged ones dead-lettered",
        lambda: f"{worker.log()[-3000:]}",
    )

    assert not any(path.exists() for path in forged.values()), "a forged job ran"
    assert sorted(s["request"]["message_data"]["n"] for s in emulator.state()["sends"]) == [
        0,
        1,
        2,
        3,
    ]
    people = emulator.state()["people"]
    assert people["before"]["attributes"] == {"n": 1}
    assert people["after"]["attributes"] == {"n": 2}

    dead = _dead_letters(fleet.env)
    reasons = {job_id: entry["reason"] for job_id, entry in dead.items()}
    ids = list(forged)
    for queue, (foreign, garbage, reducing) in ((TRANSACTIONAL, ids[:3]), (TRACK, ids[3:])):
        assert {dead[i]["queue"] for i in (foreign, garbage, reducing)} == {queue}
        assert reasons[foreign] == "forbidden job function 'os.system'"
        assert reasons[garbage].startswith("unreadable job data")
        assert reasons[reducing] == "unreadable job data (ForbiddenGlobal)"
    for job_id in forged:  # rq-dashboard's view: failed, with the dead-letter record
        job = Job.fetch(job_id, connection=redis_client, serializer=SafeSerializer)
        assert job.get_status() == "failed" and "dead_letter" in job.meta

    assert worker.process.poll() is None and worker.process.pid == pid  # never crashed
    log = worker.log()
    assert "touch" not in log  # no arguments logged
    for job_id in forged:
        assert not [line for line in log.splitlines() if job_id in line and "Job OK" in line]
    for line in log.splitlines():
        json.loads(line)  # JSON lines only, tracebacks included
    assert worker.stop() == 0
