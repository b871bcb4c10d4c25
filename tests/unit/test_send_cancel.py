"""Cancel and follow a send through the producer (APIClient) and the worker's deliver_send, on
fakeredis and httpx.MockTransport: what a cancelled send's job does, and what a send's life
shows."""

from __future__ import annotations

from typing import Any

import fakeredis
import httpx
import pytest
from rq.job import Job

from cio_pipeline.producer import APIClient, ProducerUnavailable, SendEmailRequest, Settings
from cio_pipeline.producer.send_records import CancelResult
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.cli.sends import parse_duration
from cio_pipeline.worker.clients.app import AppClient
from cio_pipeline.worker.core.errors import RetryLater
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.deadletters.record import DeadLetter
from cio_pipeline.worker.runner.context import WorkerContext
from cio_pipeline.worker.transactional.deliver import deliver_send

REQUEST = SendEmailRequest(transactional_message_id=1, to="a@x.io", identifiers={"id": "1"})


class World:
    """A producer and a worker context on one fakeredis, the App API answering ``status``."""

    def __init__(self, *statuses: int) -> None:
        self.redis = fakeredis.FakeRedis()
        self.api = APIClient("unused", redis=self.redis, settings=Settings())
        self.answers = list(statuses)
        self.requests: list[httpx.Request] = []
        config = WorkerSettings(app_api_key="app-key", app_url="http://cio.test", rate_headroom=0)
        app = AppClient(config, transport=httpx.MockTransport(self._answer))
        self.ctx = WorkerContext(config, self.redis, app_client=app)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.answers.pop(0) if self.answers else 200
        body = {"delivery_id": f"d-{len(self.requests)}", "queued_at": 1} if status == 200 else {}
        return httpx.Response(status, json=body)

    def send(self, key: str) -> Job:
        job_id = self.api.send_email(REQUEST, idempotency_key=key)
        return Job.fetch(job_id, connection=self.redis, serializer=SafeSerializer)

    def run(self, job: Job) -> dict[str, Any]:
        return deliver_send(self.ctx, job, "email", job.args[0], job.kwargs["idempotency_key"])

    def counter(self, name: str) -> int:
        return int(self.redis.hget(self.ctx.keys.counters, name) or 0)


def test_a_cancelled_send_is_never_sent_and_its_job_finishes_as_cancelled() -> None:
    world = World()
    job = world.send("K1")
    assert world.api.send_status("K1").state == "queued"  # type: ignore[union-attr]
    outcome = world.api.cancel_send("K1")
    assert (outcome.result, outcome.message) == (CancelResult.CANCELLED, "cancelled")
    assert world.run(job) == {"cancelled": True}
    assert world.requests == []
    assert world.counter("sends_cancelled") == 1
    # Its outcome is "cancelled" (cio_operations{outcome="cancelled"}), not also "skipped".
    assert (world.counter("transactional_cancelled"), world.counter("transactional_skipped")) == (
        1,
        0,
    )
    status = world.api.send_status("K1")
    assert status is not None and status.state == "cancelled"
    assert [e["event"] for e in status.history] == ["queued", "cancelled", "not_sent"]


def test_a_new_send_with_a_cancelled_key_reports_cancelled() -> None:
    world = World()
    world.send("K1")
    world.api.cancel_send("K1")
    again = world.send("K1")
    assert world.run(again) == {"cancelled": True}
    assert world.requests == []
    assert world.api.send_status("K1").state == "cancelled"  # type: ignore[union-attr]
    assert world.api.cancel_send("K1").already


def test_a_sent_send_cannot_be_cancelled_and_names_its_delivery_id() -> None:
    world = World()
    job = world.send("K2")
    assert world.run(job)["delivery_id"] == "d-1"
    outcome = world.api.cancel_send("K2")
    assert (outcome.result, outcome.delivery_id) == (CancelResult.DELIVERED, "d-1")
    assert "d-1" in outcome.message
    status = world.api.send_status("K2")
    assert status is not None
    assert (status.state, status.delivery_id) == ("delivered", "d-1")
    assert [e["event"] for e in status.history] == ["queued", "sent"]


def test_a_send_waiting_for_its_retry_can_be_cancelled() -> None:
    world = World(503)
    job = world.send("K3")
    with pytest.raises(RetryLater):
        world.run(job)
    status = world.api.send_status("K3")
    assert status is not None and status.state == "retrying"
    assert [(a["attempt"], a["outcome"], a["status"]) for a in status.attempts] == [
        (1, "retry", 503)
    ]
    assert world.api.cancel_send("K3").result is CancelResult.CANCELLED
    assert world.run(job) == {"cancelled": True}  # the retry
    assert len(world.requests) == 1


def test_a_refused_send_cancelled_is_not_sent_by_its_replay() -> None:
    world = World(400)
    job = world.send("K5")
    with pytest.raises(DeadLetter):
        world.run(job)
    assert world.api.send_status("K5").state == "dead"  # type: ignore[union-attr]
    assert world.api.cancel_send("K5").result is CancelResult.CANCELLED
    assert world.run(job) == {"cancelled": True}  # what `dlq replay` makes the job do
    assert len(world.requests) == 1


def test_unknown_keys_are_told_apart() -> None:
    world = World()
    assert world.api.cancel_send("never").result is CancelResult.UNKNOWN
    assert world.api.send_status("never") is None


def test_a_send_with_no_record_is_still_delivered() -> None:
    """Jobs enqueued before records were written at enqueue time (or whose record expired)."""
    world = World()
    job = world.send("K4")
    world.redis.delete(world.ctx.keys.delivery_record("K4"))
    assert world.run(job)["delivery_id"] == "d-1"


def test_redis_unreachable_is_a_typed_error() -> None:
    # the producer's own connection: bounded by CIO_REDIS_TIMEOUT_S, no silent retries
    api = APIClient("unused", settings=Settings(redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(ProducerUnavailable):
        api.cancel_send("K1")
    with pytest.raises(ProducerUnavailable) as info:
        api.send_email(REQUEST, idempotency_key="K1")
    assert len(info.value.not_written_ids) == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604_800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("soon")
