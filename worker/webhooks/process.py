"""Processing one reporting-webhook event (the job on ``cio-webhooks``), exactly once.

0. An event whose timestamp is not plausible unix seconds (before 2000, more than a day ahead:
   milliseconds) is dead-lettered with that reason, with no effect.
1. Claim the event id (:class:`EventLedger`). Already processed: finish as a duplicate, with
   no effect. Being processed by another job (a repeat that arrived meanwhile): retry later.
2. Apply its suppression change, if any (a later-timestamped change wins), before the hook:
   guarded sends are protected even while the application's hook is failing.
3. Call the application's hook. It raises: retry with the usual backoff; after
   ``CIO_MAX_ATTEMPTS`` (or ``CIO_MAX_AGE_S``) dead-letter with its reason and release the
   event id, so that a replay or Customer.io's next retry processes it.
4. An event about one of our sends (its ``delivery_id`` was recorded when the send
   succeeded) joins that send's history (``cio-pipeline sends show``).
5. Mark the event done and count it (``webhooks_processed``,
   ``webhook_metric_<object_type>_<metric>``) in one round trip.
"""

from __future__ import annotations

import time
from typing import Any, Final, Protocol

from rq.job import Job

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import history_entry
from cio_pipeline.producer.suppressions import subject, timestamp_problem
from cio_pipeline.worker.core.errors import RetryLater
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.outage import RedisOutage
from cio_pipeline.worker.deadletters.attempts import begin_attempt, dead_letter, save_meta
from cio_pipeline.worker.policy.retry import RetryPolicy
from cio_pipeline.worker.transactional.records import DeliveryRecords
from cio_pipeline.worker.webhooks.events import EventError, WebhookEvent
from cio_pipeline.worker.webhooks.hook import Hook
from cio_pipeline.worker.webhooks.store import ClaimResult, EventLedger, SuppressionStore

__all__ = ["WebhookParts", "process_event", "subjects_of"]

log = get_logger("cio.webhooks")

#: How long a claim by a job that died stops a repeat from being processed.
PENDING_TTL_S: Final = 600
_MAX_HOOK_MESSAGE: Final = 200


class WebhookParts(Protocol):
    """What webhook processing needs from its worker (the runner's context provides it)."""

    @property
    def keys(self) -> Keys: ...
    @property
    def policy(self) -> RetryPolicy: ...
    @property
    def outage(self) -> RedisOutage: ...
    @property
    def suppressions(self) -> SuppressionStore: ...
    @property
    def ledger(self) -> EventLedger: ...
    @property
    def webhook_hook(self) -> Hook | None: ...
    @property
    def records(self) -> DeliveryRecords: ...


def subjects_of(event: WebhookEvent) -> list[str]:
    """The suppression subjects an event names: its address and the person's identifiers."""
    found = []
    if event.email_address:
        found.append(subject("email", event.email_address))
    for id_type, value in event.identifiers.items():
        found.append(subject(id_type, value))
    return list(dict.fromkeys(found))


def process_event(ctx: WebhookParts, job: Job, raw: dict[str, Any]) -> dict[str, Any]:
    """Process one event; returns ``{"outcome": ...}`` or raises RetryLater/DeadLetter."""
    attempt = begin_attempt(job)
    try:
        event = WebhookEvent.from_job(raw)
    except EventError as exc:
        raise dead_letter(job, "webhook", f"not a reporting-webhook event: {exc}") from None
    operation = f"webhook {event.object_type} {event.metric}"
    implausible = timestamp_problem(event.timestamp)
    if implausible is not None:
        # Applied, it would win over every later change (a later time wins): park it instead.
        raise dead_letter(job, operation, f"not applied: {implausible}") from None
    claim = ctx.ledger.claim(event.event_id, job.id)
    if claim.result is ClaimResult.DUPLICATE:
        _log(job, event, "duplicate", attempt)
        return {"outcome": "duplicate", "event_id": event.event_id}
    if claim.result is ClaimResult.OTHER_JOB:
        _check_age(ctx, job, operation, attempt, f"job {claim.owner} is processing this event")
        save_meta(job)
        raise RetryLater(ctx.policy.backoff(attempt), "another job is processing this event")

    change = event.suppression_change()
    changed = 0
    if change is not None:
        changed = ctx.suppressions.change(
            subjects_of(event), change.action, [change.reason], event.timestamp, event.event_id
        )
    hook = ctx.webhook_hook
    if hook is not None:
        try:
            hook(event)
        except Exception as exc:
            _hook_failed(ctx, job, event, operation, attempt, exc)
    delivery_id = event.delivery_id
    if delivery_id:
        entry = history_entry(
            event.metric,
            event.timestamp,
            metric=event.metric,
            object_type=event.object_type,
            event_id=event.event_id,
        )
        ctx.outage.persist(lambda: ctx.records.add_delivery_event(delivery_id, entry))
    ctx.outage.persist(lambda: ctx.ledger.done(event.event_id, event.counter))
    _log(job, event, "processed", attempt, suppression_changes=changed)
    return {"outcome": "processed", "event_id": event.event_id}


def _hook_failed(
    ctx: WebhookParts,
    job: Job,
    event: WebhookEvent,
    operation: str,
    attempt: int,
    exc: Exception,
) -> None:
    reason = f"the application hook raised {type(exc).__name__}"
    log.warning(
        "webhook_hook_failed",
        queue=job.origin,
        job_id=job.id,
        event_id=event.event_id,
        error=type(exc).__name__,
        attempt=attempt,
    )
    first = float(job.meta["first_attempt_at"])
    if ctx.policy.give_up(attempt, first, time.time()):
        ctx.outage.persist(lambda: ctx.ledger.release(event.event_id, job.id))
        message = str(exc)[:_MAX_HOOK_MESSAGE]
        raise dead_letter(
            job, operation, f"gave up after {attempt} attempts: {reason}: {message}"
        ) from None
    save_meta(job)
    raise RetryLater(ctx.policy.backoff(attempt), reason) from None


def _check_age(ctx: WebhookParts, job: Job, operation: str, attempt: int, why: str) -> None:
    if ctx.policy.give_up(attempt, float(job.meta["first_attempt_at"]), time.time()):
        raise dead_letter(job, operation, f"gave up after {attempt} attempts: {why}")


def _log(job: Job, event: WebhookEvent, outcome: str, attempt: int, **extra: Any) -> None:
    log.info(
        "webhook_processed",
        queue=job.origin,
        job_id=job.id,
        event_id=event.event_id,
        object_type=event.object_type,
        metric=event.metric,
        outcome=outcome,
        attempt=attempt,
        **extra,
    )
