"""deliver_send's decisions, on fakeredis and httpx.MockTransport (no network, no worker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis
import httpx
import pytest
from rq.job import Job

from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.clients.app import AppClient
from cio_pipeline.worker.core.errors import RetryLater
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.deadletters.record import DeadLetter
from cio_pipeline.worker.runner.context import WorkerContext
from cio_pipeline.worker.transactional.deliver import deliver_send
from cio_pipeline.worker.transactional.records import DeliveryState

REQUEST = {"transactional_message_id": 1, "to": "a@x.io", "identifiers": {"id": "1"}}

Handler = Callable[[httpx.Request], httpx.Response]


def _context(handler: Handler, **settings: Any) -> tuple[WorkerContext, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    config = WorkerSettings(
        app_api_key="app-key",
        app_url="http://cio.test",
        rate_headroom=0,
        transactional_rate=1000,
        **settings,
    )
    app = AppClient(config, transport=httpx.MockTransport(record))
    return WorkerContext(config, fakeredis.FakeRedis(), app_client=app), seen


def _job(ctx: WorkerContext) -> Job:
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=(REQUEST,),
        kwargs={"idempotency_key": "k"},
        connection=ctx.connection,
        serializer=SafeSerializer,
    )
    job.origin = "cio-transactional"
    job.save()
    return job


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"delivery_id": "d-1", "queued_at": 1})


def test_success_records_the_delivery_and_a_rerun_does_not_resend() -> None:
    ctx, seen = _context(ok)
    job = _job(ctx)
    assert deliver_send(ctx, job, "email", REQUEST, "k")["delivery_id"] == "d-1"
    assert str(ctx.records.get("k")) == "delivered:d-1"
    again = deliver_send(ctx, _job(ctx), "email", REQUEST, "k")
    assert again == {"delivery_id": "d-1", "deduplicated": True}
    assert len(seen) == 1
    assert seen[0].headers["authorization"] == "Bearer app-key"


@pytest.mark.parametrize(
    ("response", "retry_after_floor"),
    [
        (httpx.Response(503), 0.0),
        (httpx.Response(429, headers={"Retry-After": "7"}), 7.0),
        (httpx.Response(408), 0.0),
    ],
)
def test_not_acted_on_is_retried_and_the_claim_released(
    response: httpx.Response, retry_after_floor: float
) -> None:
    ctx, _ = _context(lambda request: response)
    job = _job(ctx)
    with pytest.raises(RetryLater) as info:
        deliver_send(ctx, job, "email", REQUEST, "k")
    assert info.value.delay_s >= retry_after_floor
    # handed back: queued again, so its retry may claim it and a person may cancel it
    assert str(ctx.records.get("k")) == f"queued:{job.id}"
    assert (
        Job.fetch(job.id, connection=ctx.connection, serializer=SafeSerializer).meta["attempts"]
        == 1
    )


def test_429_pauses_the_surface_for_every_worker() -> None:
    ctx, _ = _context(lambda request: httpx.Response(429, headers={"Retry-After": "5"}))
    with pytest.raises(RetryLater):
        deliver_send(ctx, _job(ctx), "email", REQUEST, "k")
    assert 4.0 < ctx.limiters.transactional.paused_for() <= 5.0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_maybe_acted_on_is_dead_lettered_as_ambiguous(status: int) -> None:
    ctx, _ = _context(lambda request: httpx.Response(status))
    job = _job(ctx)
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, job, "email", REQUEST, "k")
    assert info.value.record.ambiguous is True
    assert info.value.record.status == status
    assert str(ctx.records.get("k")) == f"ambiguous:{job.id}"


def test_at_least_once_retries_ambiguous_failures() -> None:
    ctx, _ = _context(lambda request: httpx.Response(500), send_at_least_once=True)
    with pytest.raises(RetryLater):
        deliver_send(ctx, _job(ctx), "email", REQUEST, "k")


def test_read_timeout_is_ambiguous() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    ctx, _ = _context(hang)
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, _job(ctx), "email", REQUEST, "k")
    assert info.value.record.ambiguous is True


def test_connect_error_is_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ctx, _ = _context(refuse)
    with pytest.raises(RetryLater):
        deliver_send(ctx, _job(ctx), "email", REQUEST, "k")


def test_permanent_error_is_dead_lettered_with_the_message() -> None:
    ctx, _ = _context(
        lambda request: httpx.Response(400, json={"meta": {"error": "to: invalid address"}})
    )
    job = _job(ctx)
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, job, "email", REQUEST, "k")
    details = info.value.record.to_meta()
    assert (details["status"], details["message"], details["ambiguous"]) == (
        400,
        "to: invalid address",
        False,
    )
    stored = Job.fetch(job.id, connection=ctx.connection, serializer=SafeSerializer)
    assert stored.meta["dead_letter"]["message"] == "to: invalid address"
    # queued again: a fixed request may be replayed and sent (or the send cancelled)
    assert str(ctx.records.get("k")) == f"queued:{job.id}"


def test_gives_up_after_max_attempts() -> None:
    ctx, _ = _context(lambda request: httpx.Response(503), max_attempts=2)
    job = _job(ctx)
    with pytest.raises(RetryLater):
        deliver_send(ctx, job, "email", REQUEST, "k")
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, job, "email", REQUEST, "k")
    assert info.value.record.attempts == 2
    assert "gave up" in info.value.record.reason


def test_own_pending_record_means_a_crash_mid_send() -> None:
    ctx, seen = _context(ok)
    job = _job(ctx)
    ctx.records.claim("k", job.id)  # an earlier attempt claimed it, then the worker died
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, job, "email", REQUEST, "k")
    assert info.value.record.ambiguous is True
    assert seen == []


def test_another_jobs_claim_means_wait() -> None:
    ctx, seen = _context(ok)
    ctx.records.claim("k", "other-job")
    with pytest.raises(RetryLater, match="other-job"):
        deliver_send(ctx, _job(ctx), "email", REQUEST, "k")
    assert seen == []


def test_replayed_dead_letter_starts_a_fresh_round_of_attempts() -> None:
    answers = iter([httpx.Response(400)])
    ctx, _ = _context(lambda request: next(answers, None) or ok(request))
    job = _job(ctx)
    with pytest.raises(DeadLetter):
        deliver_send(ctx, job, "email", REQUEST, "k")
    assert deliver_send(ctx, job, "email", REQUEST, "k")["delivery_id"] == "d-1"
    assert job.meta["attempts"] == 1
    assert job.meta["replayed_from"]["status"] == 400


@pytest.mark.parametrize(
    "value", ["Jos\ud800", 10**5000, b"bytes"], ids=["surrogate", "huge int", "bytes"]
)
def test_a_send_that_cannot_be_encoded_is_dead_lettered_and_its_key_stays_free(
    value: Any,
) -> None:
    ctx, seen = _context(ok)
    bad = {**REQUEST, "message_data": {"name": value}}
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, _job(ctx), "email", bad, "k")
    record = info.value.record
    assert (record.operation, record.attempts, record.status, record.ambiguous) == (
        "send email",
        1,
        None,
        False,
    )
    assert "cannot be built" in record.reason and not seen
    assert ctx.records.get("k") is None
    # The corrected send with the same idempotency key goes out.
    assert deliver_send(ctx, _job(ctx), "email", REQUEST, "k")["delivery_id"] == "d-1"


def test_a_send_that_fails_while_its_request_is_built_releases_its_claim() -> None:
    ctx, seen = _context(ok)
    with pytest.raises(DeadLetter) as info:
        deliver_send(ctx, _job(ctx), "fax", REQUEST, "k")  # no such App API endpoint
    assert "cannot be built (ValueError" in info.value.record.reason and not seen
    # released: back to queued (a corrected send with the same key may claim it), not pending
    record = ctx.records.get("k")
    assert record is None or record.state is DeliveryState.QUEUED
