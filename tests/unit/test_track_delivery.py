"""The Track drainer on fakeredis[lua] and httpx.MockTransport: settling, 207, splitting,
retries, leases, crash re-delivery. No network, no subprocesses."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import fakeredis
import httpx
import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, clean_registries
from structlog.testing import capture_logs

from cio_pipeline.producer import CustomerIO, Settings
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.clients.track import TrackClient
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import WorkerContext
from cio_pipeline.worker.track.drainer import TrackDrainer
from cio_pipeline.worker.track.ledger import LeaseLost

QUEUE = "cio-track-0"
Handler = Callable[[httpx.Request], httpx.Response]


class Fixture:
    def __init__(self, handler: Handler, **settings: Any) -> None:
        self.redis = fakeredis.FakeRedis()
        self.requests: list[list[dict[str, Any]]] = []
        self.handler = handler
        values: dict[str, Any] = {
            "queue": Settings(partitions=1),
            "site_id": "s",
            "api_key": "k",
            "track_url": "http://cio.test",
            "rate_headroom": 0.0,
            "track_rate": 100_000,
            "batch_linger_ms": 0,
            "backoff_base_s": 0.01,
            "backoff_cap_s": 0.02,
            # keep delivered jobs, so that these tests can read their final state; the
            # default (deleted at once) is tested in test_track_cleanup.py
            "track_keep_delivered_s": 600,
        }
        values.update(settings)
        self.settings = WorkerSettings(**values)
        self.cio = CustomerIO(redis=self.redis, settings=self.settings.queue)

    def record(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body.get("batch", [body]))
        return self.handler(request)

    def drainer(self, worker_id: str = "w1") -> TrackDrainer:
        track = TrackClient(self.settings, transport=httpx.MockTransport(self.record))
        # A seeded random source: backoff delays are the same on every run.
        ctx = WorkerContext(self.settings, self.redis, rand=random.Random(7), track_client=track)
        drainer = TrackDrainer(ctx, worker_id, burst=True)
        drainer.leases.heartbeat()
        return drainer

    def status(self, job_id: str) -> JobStatus:
        return Job.fetch(job_id, connection=self.redis, serializer=SafeSerializer).get_status()

    def dead_letter(self, job_id: str) -> dict[str, Any]:
        job = Job.fetch(job_id, connection=self.redis, serializer=SafeSerializer)
        details: dict[str, Any] = job.meta["dead_letter"]
        return details

    def unpause(self) -> None:
        self.redis.delete(Keys(partitions=1).partition_pause(0))


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


def test_a_batch_is_delivered_in_order_and_settled() -> None:
    f = Fixture(ok)
    ids = [f.cio.identify(f"p{n}", n=n) for n in range(30)]
    f.drainer().run()
    assert len(f.requests) == 1
    assert [op["attributes"]["n"] for op in f.requests[0]] == list(range(30))
    assert {f.status(i) for i in ids} == {JobStatus.FINISHED}
    assert set(FinishedJobRegistry(QUEUE, connection=f.redis).get_job_ids()) == set(ids)
    assert f.redis.llen(Keys(partitions=1).claimed(0)) == 0
    assert 0 < f.redis.ttl(f"rq:job:{ids[0]}") <= 600  # kept jobs expire like RQ's results


def test_207_dead_letters_exactly_the_listed_items() -> None:
    def partial(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            207,
            json={
                "errors": [
                    {
                        "batch_index": 2,
                        "reason": "invalid",
                        "field": "attributes.email",
                        "message": "is not a valid email",
                    }
                ]
            },
        )

    f = Fixture(partial)
    ids = [f.cio.identify(f"p{n}", n=n) for n in range(5)]
    f.drainer().run()
    assert [f.status(i) for i in ids] == [JobStatus.FINISHED] * 2 + [JobStatus.FAILED] + [
        JobStatus.FINISHED
    ] * 2
    details = f.dead_letter(ids[2])
    assert details["status"] == 207
    assert details["message"] == "attributes.email: is not a valid email"
    assert FailedJobRegistry(QUEUE, connection=f.redis).get_job_ids() == [ids[2]]


def _poisoned(request: httpx.Request) -> httpx.Response:
    ops = json.loads(request.content).get("batch", [])
    if any(op.get("attributes", {}).get("poison") for op in ops):
        return httpx.Response(
            400,
            json={
                "errors": [{"reason": "invalid", "field": "attributes.poison", "message": "bad"}]
            },
        )
    return httpx.Response(200, json={})


def test_whole_batch_400_splits_until_the_poison_is_alone() -> None:
    f = Fixture(_poisoned)
    ids = [f.cio.identify(f"p{n}", n=n, poison=n == 37) for n in range(100)]
    f.drainer().run()
    assert f.status(ids[37]) == JobStatus.FAILED
    assert "attributes.poison" in f.dead_letter(ids[37])["message"]
    assert all(f.status(i) == JobStatus.FINISHED for n, i in enumerate(ids) if n != 37)
    delivered = [
        op["attributes"]["n"]
        for batch in f.requests
        for op in batch
        if not any(o["attributes"].get("poison") for o in batch)
    ]
    assert delivered == [n for n in range(100) if n != 37]  # each good one once, in order
    assert len(f.requests) <= 2 * 7 + 1  # a binary search, not one request per operation


def test_413_splits_the_request() -> None:
    def too_large(request: httpx.Request) -> httpx.Response:
        ops = json.loads(request.content)["batch"]
        return httpx.Response(413 if len(ops) > 10 else 200, json={})

    f = Fixture(too_large)
    ids = [f.cio.identify(f"p{n}") for n in range(40)]
    f.drainer().run()
    assert {f.status(i) for i in ids} == {JobStatus.FINISHED}


def test_retryable_failure_keeps_the_batch_at_the_head() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={})])
    # A backoff of many seconds: the pause cannot lapse while the test looks at it.
    f = Fixture(lambda request: next(answers), backoff_base_s=60.0, backoff_cap_s=120.0)
    first = [f.cio.identify(f"p{n}") for n in range(3)]
    drainer = f.drainer()
    assert drainer.pass_over_partitions()
    assert {f.status(i) for i in first} == {JobStatus.STARTED}
    assert f.redis.pttl(Keys(partitions=1).partition_pause(0)) > 10_000
    later = f.cio.identify("late")  # newer work waits behind the claimed batch
    assert not drainer.pass_over_partitions()  # paused
    f.unpause()
    assert drainer.pass_over_partitions()
    assert f.requests[0] == f.requests[1]  # the same batch again, nothing newer mixed in
    assert {f.status(i) for i in first} == {JobStatus.FINISHED}
    assert f.status(later) == JobStatus.QUEUED


def test_gives_up_after_max_attempts() -> None:
    f = Fixture(lambda request: httpx.Response(500), max_attempts=2)
    ids = [f.cio.identify(f"p{n}") for n in range(3)]
    drainer = f.drainer()
    drainer.pass_over_partitions()
    f.unpause()
    drainer.pass_over_partitions()
    assert {f.status(i) for i in ids} == {JobStatus.FAILED}
    details = f.dead_letter(ids[0])
    assert (details["attempts"], details["status"]) == (2, 500)
    assert "gave up" in details["reason"]


def test_rejected_credentials_hold_the_batch_instead_of_dead_lettering_it() -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={})])
    f = Fixture(lambda request: next(answers))
    ids = [f.cio.identify(f"p{n}") for n in range(3)]
    drainer = f.drainer()
    drainer.pass_over_partitions()
    assert {f.status(i) for i in ids} == {JobStatus.STARTED}
    assert FailedJobRegistry(QUEUE, connection=f.redis).get_job_ids() == []
    f.unpause()  # the operator fixed CUSTOMERIO_API_KEY
    drainer.pass_over_partitions()
    assert {f.status(i) for i in ids} == {JobStatus.FINISHED}


def test_429_pauses_track_for_every_worker() -> None:
    f = Fixture(lambda request: httpx.Response(429, headers={"Retry-After": "4"}))
    f.cio.identify("p")
    drainer = f.drainer()
    drainer.pass_over_partitions()
    assert 3.0 < drainer.ctx.limiters.track.paused_for() <= 4.0


def test_without_the_lease_nothing_is_claimed() -> None:
    f = Fixture(ok)
    job_id = f.cio.identify("p")
    drainer = f.drainer()
    f.redis.set(Keys(partitions=1).lease(0), "someone-else")
    with pytest.raises(LeaseLost):
        drainer.ledger.claim(0, 10)
    assert f.status(job_id) == JobStatus.QUEUED and f.requests == []


def test_a_dead_workers_claimed_batch_is_redelivered_first() -> None:
    f = Fixture(ok)
    old = [f.cio.identify(f"p{n}", n=n) for n in range(4)]
    crashed = f.drainer("w1")
    claim = crashed.ledger.claim(0, 1000)  # claimed, then the worker died before sending
    assert [i.job_id for i in claim.items] == old
    f.redis.delete(Keys(partitions=1).lease(0))  # its lease expired
    newer = f.cio.identify("p-new")
    heir = f.drainer("w2")
    heir.run()
    assert [op["attributes"].get("n") for op in f.requests[0]] == [0, 1, 2, 3]
    assert {f.status(i) for i in [*old, newer]} == {JobStatus.FINISHED}


def test_rq_maintenance_never_fails_claimed_jobs() -> None:
    f = Fixture(ok)
    ids = [f.cio.identify(f"p{n}") for n in range(3)]
    drainer = f.drainer()
    drainer.ledger.claim(0, 1000)
    queue = Queue(QUEUE, connection=f.redis, serializer=SafeSerializer)
    clean_registries(queue)  # what RQ workers run periodically
    assert FailedJobRegistry(QUEUE, connection=f.redis).get_job_ids() == []
    assert {f.status(i) for i in ids} == {JobStatus.STARTED}
    drainer.run()
    assert {f.status(i) for i in ids} == {JobStatus.FINISHED}


def test_anonymous_events_go_through_v1_in_their_place() -> None:
    paths: list[str] = []

    def both(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={})

    f = Fixture(both)
    f.cio.identify("a")
    f.cio.track_anonymous("anon", "visit")
    f.cio.identify("b")
    f.drainer().run()
    assert paths == ["/api/v2/batch", "/api/v1/events", "/api/v2/batch"]


def test_an_unreadable_job_in_the_middle_is_dead_lettered_in_its_place() -> None:
    f = Fixture(ok)
    ids = [f.cio.identify(f"p{n}", n=n) for n in range(5)]
    f.redis.hset(f"rq:job:{ids[2]}", "data", b"forged or damaged")
    f.drainer().run()
    assert [f.status(i) for i in ids] == [JobStatus.FINISHED] * 2 + [JobStatus.FAILED] + [
        JobStatus.FINISHED
    ] * 2
    assert "unreadable" in f.dead_letter(ids[2])["reason"]
    assert [op["attributes"]["n"] for op in f.requests[0]] == [0, 1, 3, 4]
    assert f.redis.llen(Keys(partitions=1).claimed(0)) == 0


def test_a_split_after_an_unreadable_job_settles_in_claim_order() -> None:
    f = Fixture(_poisoned)
    ids = [f.cio.identify(f"p{n}", n=n, poison=n == 6) for n in range(8)]
    f.redis.hdel(f"rq:job:{ids[1]}", "data")  # damaged by hand: nothing left to deliver
    f.drainer().run()
    statuses = [f.status(i) for n, i in enumerate(ids) if n != 1]
    assert statuses[5] == JobStatus.FAILED  # ids[6], the poison
    assert all(s == JobStatus.FINISHED for n, s in enumerate(statuses) if n != 5)
    assert f.redis.llen(Keys(partitions=1).claimed(0)) == 0


def test_delivery_lines_count_attempts_across_retries() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={})])
    f = Fixture(lambda request: next(answers))
    f.cio.identify("p")
    drainer = f.drainer()
    with capture_logs() as logs:
        drainer.pass_over_partitions()
        f.unpause()
        drainer.pass_over_partitions()
    lines = [line for line in logs if line["event"] == "delivery_attempt"]
    assert [(line["attempt"], line["http_status"]) for line in lines] == [(1, 503), (2, 200)]
    assert all(line["operations"] == 1 and line["operation"] == "batch" for line in lines)
