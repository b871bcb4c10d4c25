"""An idle worker stops promptly on SIGTERM (RQ's pubsub thread used to hold the stop for up
to a minute under redis-py 8: see ``CioWorker.unsubscribe``)."""

from __future__ import annotations

import signal
import time

import pytest
import redis
from rq import Worker
from support import WorkerFleet, wait_until

pytestmark = pytest.mark.integration


def test_idle_workers_stop_within_seconds_of_sigterm(redis_url: str, fleet: WorkerFleet) -> None:
    workers = fleet.start(4)
    client = redis.Redis.from_url(redis_url)

    def idle() -> bool:
        # RQ marks a worker idle once it waits for a job: after it subscribed, forked its
        # scheduler and installed its signal handlers.
        found = Worker.all(connection=client)
        return len(found) == len(workers) and all(w.get_state() == "idle" for w in found)

    wait_until(idle, 60, "the workers to wait for jobs")
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15  # a stop is a few seconds; the bug made it 60
    for worker in workers:
        code = worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        assert code == 0, worker.log()[-2000:]
