"""A worker's stop does not hang on RQ's pubsub thread (the channel `rq` commands use)."""

from __future__ import annotations

import time

import redis

from cio_pipeline.worker.runner.dequeue import ReliableQueue
from cio_pipeline.worker.runner.process import CioWorker


def test_unsubscribe_returns_when_the_pubsub_thread_already_saw_the_reply(
    redis_client: redis.Redis,
) -> None:
    worker = CioWorker(
        [ReliableQueue("unsubscribe-test", connection=redis_client)], connection=redis_client
    )
    worker.subscribe()
    pubsub = worker.pubsub
    assert pubsub is not None
    # The order RQ's stop can lose: the UNSUBSCRIBE reply reaches the thread before its stop,
    # and the thread loops back into a 60 s wait for a subscription that never comes.
    pubsub.unsubscribe()
    deadline = time.monotonic() + 10
    while pubsub.subscribed:
        assert time.monotonic() < deadline, "the pubsub thread never read the UNSUBSCRIBE reply"
        time.sleep(0.01)  # the thread sets no event when it reads the reply
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 5  # RQ's own unsubscribe waits out the 60 s
