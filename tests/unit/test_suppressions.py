"""The suppression store and webhook processing, on fakeredis[lua]: ordering (a later event
wins), de-duplication, the hook's retries and dead letter, counters, guarded sends."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import pytest
from rq.job import Job

from cio_pipeline.producer import APIClient, Settings, ValidationError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_status import send_status
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.producer.suppressions import is_suppressed
from cio_pipeline.worker.core.errors import RetryLater
from cio_pipeline.worker.core.outage import RedisOutage
from cio_pipeline.worker.deadletters.record import DeadLetter
from cio_pipeline.worker.policy.retry import RetryPolicy
from cio_pipeline.worker.transactional.records import DeliveryRecords
from cio_pipeline.worker.transactional.suppressed import recipients, suppression_reason
from cio_pipeline.worker.webhooks.events import WebhookEvent
from cio_pipeline.worker.webhooks.process import process_event
from cio_pipeline.worker.webhooks.store import EventLedger, Removal, SuppressionStore

KEYS = Keys()
#: Event times are offsets from here: the store takes plausible unix seconds only.
T0 = 1_700_000_000


@dataclass
class Parts:
    """What process_event needs, on fakeredis, with a recording hook."""

    connection: fakeredis.FakeRedis = field(default_factory=fakeredis.FakeRedis)
    keys: Keys = KEYS
    outage: RedisOutage = field(default_factory=RedisOutage)
    policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            max_attempts=3, base_s=1, cap_s=10, max_age_s=3600, rand=random.Random(1).random
        )
    )
    seen: list[WebhookEvent] = field(default_factory=list)
    fail: Callable[[WebhookEvent], None] | None = None

    @property
    def suppressions(self) -> SuppressionStore:
        return SuppressionStore(self.connection, self.keys)

    @property
    def ledger(self) -> EventLedger:
        return EventLedger(self.connection, self.keys, pending_ttl_s=60, done_ttl_s=600)

    @property
    def records(self) -> DeliveryRecords:
        return DeliveryRecords(self.connection, self.keys, ttl_s=600)

    def webhook_hook(self, event: WebhookEvent) -> None:
        if self.fail is not None:
            self.fail(event)
        self.seen.append(event)

    def counters(self) -> dict[str, int]:
        raw = self.connection.hgetall(self.keys.counters)
        return {k.decode(): int(v) for k, v in raw.items()}


def _event(
    metric: str,
    ts: int,
    event_id: str,
    object_type: str = "email",
    address: str = "Ann@Example.com",
) -> dict[str, Any]:
    key = "recipient" if object_type == "email" else "email_address"
    return {
        "event_id": event_id,
        "object_type": object_type,
        "metric": metric,
        "timestamp": T0 + ts,
        "data": {key: address, "identifiers": {"id": "42"}},
    }


def _job(parts: Parts, event: dict[str, Any], job_id: str | None = None) -> Job:
    job = Job.create(
        "cio_pipeline.worker.jobs.process_webhook",
        args=(event,),
        id=job_id,
        connection=parts.connection,
        serializer=SafeSerializer,
    )
    job.origin = KEYS.webhooks_queue
    job.save()
    return job


def _run(parts: Parts, event: dict[str, Any], job_id: str | None = None) -> dict[str, Any]:
    return process_event(parts, _job(parts, event, job_id), event)


def test_a_bounce_suppresses_the_address_and_the_person() -> None:
    parts = Parts()
    assert _run(parts, _event("bounced", 100, "e1"))["outcome"] == "processed"
    assert is_suppressed(parts.connection, KEYS, "  ann@EXAMPLE.com ") == "bounced"
    assert is_suppressed(parts.connection, KEYS, {"id": "42"}) == "bounced"
    assert is_suppressed(parts.connection, KEYS, "bob@example.com") is None
    assert [e.event_id for e in parts.seen] == ["e1"]
    assert parts.counters() == {
        "webhooks_processed": 1,
        "webhooks_delivered": 1,
        "webhook_metric_email_bounced": 1,
    }


def test_a_repeat_is_a_duplicate_with_no_effect() -> None:
    parts = Parts()
    _run(parts, _event("bounced", 100, "e1"))
    assert _run(parts, _event("bounced", 100, "e1"))["outcome"] == "duplicate"
    assert len(parts.seen) == 1
    assert parts.counters()["webhooks_duplicate"] == 1
    assert parts.counters()["webhooks_processed"] == 1


def test_a_repeat_while_the_first_is_in_hand_waits() -> None:
    parts = Parts()
    parts.ledger.claim("e1", "other-job")
    with pytest.raises(RetryLater):
        _run(parts, _event("bounced", 100, "e1"))
    assert parts.seen == []


def test_an_older_subscribed_does_not_clear_a_newer_unsubscribed() -> None:
    parts = Parts()
    _run(parts, _event("unsubscribed", 200, "u", "customer"))
    _run(parts, _event("subscribed", 100, "s-old", "customer"))
    assert is_suppressed(parts.connection, KEYS, "ann@example.com") == "unsubscribed"
    _run(parts, _event("subscribed", 300, "s-new", "customer"))
    assert is_suppressed(parts.connection, KEYS, "ann@example.com") is None


def test_an_older_unsubscribed_arriving_late_does_not_undo_a_newer_subscribed() -> None:
    parts = Parts()
    _run(parts, _event("subscribed", 300, "s", "customer"))
    _run(parts, _event("unsubscribed", 200, "u", "customer"))
    assert is_suppressed(parts.connection, KEYS, "ann@example.com") is None
    assert parts.suppressions.list() == []


def test_subscribed_never_clears_a_bounce_or_spam() -> None:
    parts = Parts()
    _run(parts, _event("spammed", 100, "sp"))
    _run(parts, _event("bounced", 100, "b"))
    _run(parts, _event("subscribed", 500, "s", "customer"))
    assert is_suppressed(parts.connection, KEYS, "ann@example.com") == "spammed"
    reasons = [s.reason for s in parts.suppressions.show("ann@example.com")]
    assert reasons == ["spammed", "bounced"]


def test_a_failing_hook_retries_then_dead_letters_and_releases_the_event() -> None:
    def boom(event: WebhookEvent) -> None:
        raise ValueError("user model is locked")

    parts = Parts(fail=boom)
    event = _event("bounced", 100, "e1")
    job = _job(parts, event, "job-1")
    for _ in range(2):
        with pytest.raises(RetryLater, match="ValueError"):
            process_event(parts, job, event)
    with pytest.raises(DeadLetter, match="gave up after 3 attempts") as info:
        process_event(parts, job, event)
    assert "application hook raised ValueError" in info.value.record.reason
    # the suppression was recorded before the hook ran; the event can be processed again
    assert is_suppressed(parts.connection, KEYS, "ann@example.com") == "bounced"
    assert parts.counters()["webhooks_failed"] == 1
    parts.fail = None
    assert _run(parts, event, job_id="job-2")["outcome"] == "processed"


def test_manual_add_and_remove() -> None:
    store = SuppressionStore(fakeredis.FakeRedis(), KEYS)
    assert store.add("Bob@x.io", "manual", at=T0 + 100) == 1
    assert [s.reason for s in store.list()] == ["manual"]
    assert store.remove("bob@x.io", at=T0 + 200).outcome is Removal.REMOVED
    assert store.show("bob@x.io") == [] and store.list() == []
    assert store.add("id:7", "bounced", at=T0 + 50) == 1  # by person id
    assert store.show("id:7")[0].subject == "id:7"


def test_lookups_refuse_blank_identifiers() -> None:
    with pytest.raises(ValidationError):
        is_suppressed(fakeredis.FakeRedis(), KEYS, {"id": " "})
    with pytest.raises(ValidationError):
        is_suppressed(fakeredis.FakeRedis(), KEYS, {"phone": "1"})


def test_a_send_knows_its_recipients() -> None:
    request = {"to": "Ann <ANN@example.com>, bob@x.io", "identifiers": {"id": "42"}}
    assert recipients(request) == ["email:ann@example.com", "email:bob@x.io", "id:42"]
    fake = fakeredis.FakeRedis()
    assert suppression_reason(fake, KEYS, request) is None
    SuppressionStore(fake, KEYS).add("bob@x.io", "spammed", at=1)
    assert suppression_reason(fake, KEYS, request) == "spammed"


def test_the_client_method_is_one_round_trip_over_the_store() -> None:
    fake = fakeredis.FakeRedis()
    SuppressionStore(fake, KEYS).add("ann@x.io", "bounced", at=1)
    api = APIClient("unused", redis=fake, settings=Settings())
    assert api.is_suppressed("ANN@x.io") == "bounced"
    assert api.is_suppressed({"email": "other@x.io", "id": None}) is None


def test_events_of_our_sends_join_the_sends_history() -> None:
    parts = Parts()
    parts.records.delivered("order-123", "d-1")
    ours = _event("opened", 100, "e1")
    ours["data"]["delivery_id"] = "d-1"
    theirs = _event("opened", 100, "e2")
    theirs["data"]["delivery_id"] = "campaign-9"  # a campaign's message, not one of our sends
    _run(parts, ours)
    _run(parts, ours)  # a repeat: processed once
    _run(parts, theirs)
    status = send_status(parts.connection, parts.keys, "order-123")
    assert status is not None
    events = [(e["metric"], e["at"], e["event_id"]) for e in status.events]
    assert events == [("opened", T0 + 100, "e1")]
    assert not parts.connection.exists(parts.keys.delivery_events("campaign-9"))
