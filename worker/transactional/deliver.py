"""Delivering one transactional send, keeping invariant I (docs/design.md): never sent twice because
of us.

1. Claim the send's delivery record (its idempotency key). Already delivered: finish with the
   recorded ``delivery_id``. Cancelled (``cio-pipeline sends cancel``): finish as cancelled,
   never sent. Claimed by another job that is sending it: retry later. Left by this job's own
   earlier attempt (the worker died mid-send): the outcome is unknown, so dead-letter as
   ambiguous.
2. Take a token from the shared transactional rate limiter, then send.
3. 200: store ``delivery_id`` in the record and finish. Certainly not acted on (connection
   never made, 429, 503, 408): release the claim and retry later (a 429 pauses the surface
   for every worker). Maybe acted on (timeout, reset, 500/502/504): dead-letter as ambiguous
   unless ``CIO_SEND_AT_LEAST_ONCE=1``. Any other 4xx: dead-letter with Customer.io's message.
   Each attempt's outcome goes into the send's history (``cio-pipeline sends show``) in the
   same call that updates the record.

Once the request has gone out, only this process knows its outcome: the record of it is
written with :meth:`~cio_pipeline.worker.core.outage.RedisOutage.persist`, which waits for a Redis
that went away (or is full) instead of dropping what happened. A send whose worker died (its outcome
unknown) is found by RQ's abandoned-job cleanup; :func:`requeue_abandoned_send` puts it back in its
queue once, so that the job itself reads its delivery record: delivered -> finished with the
recorded ``delivery_id``; left pending -> an *ambiguous* dead letter with operation, attempts
and reason; no record -> it was never sent, so it is sent.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Protocol, cast

import redis
from rq.exceptions import AbandonedJobError
from rq.job import Job

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import history_entry
from cio_pipeline.worker.clients.app import AppClient, SendKind
from cio_pipeline.worker.clients.base import encode_json
from cio_pipeline.worker.clients.outcomes import (
    Outcome,
    RateLimited,
    Success,
    describe_outcome,
    outcome_status,
)
from cio_pipeline.worker.core.allowed_jobs import SEND_JOBS
from cio_pipeline.worker.core.errors import RetryLater
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.outage import RedisOutage
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.deadletters.attempts import begin_attempt, dead_letter, save_meta
from cio_pipeline.worker.ops.counters import Tally, flush
from cio_pipeline.worker.policy.decisions import Decision, Work
from cio_pipeline.worker.policy.retry import RetryPolicy
from cio_pipeline.worker.ratelimit.limiter import RateLimitTimeout
from cio_pipeline.worker.ratelimit.surfaces import SurfaceLimiters
from cio_pipeline.worker.transactional.records import ClaimResult, DeliveryRecords, DeliveryState
from cio_pipeline.worker.transactional.suppressed import suppression_reason

__all__ = ["SendParts", "deliver_send", "requeue_abandoned_send"]

log = get_logger("cio.transactional")

#: Longest a job waits for a rate-limit token before handing itself back as a retry
#: (keeps a long 429 pause from holding a worker, or tripping RQ's job timeout).
_TOKEN_WAIT_S = 30.0


class SendParts(Protocol):
    """What the transactional path needs from its worker (the runner's context provides it)."""

    @property
    def settings(self) -> WorkerSettings: ...
    @property
    def records(self) -> DeliveryRecords: ...
    @property
    def app(self) -> AppClient: ...
    @property
    def limiters(self) -> SurfaceLimiters: ...
    @property
    def policy(self) -> RetryPolicy: ...
    @property
    def outage(self) -> RedisOutage: ...
    @property
    def tally(self) -> Tally: ...
    @property
    def connection(self) -> redis.Redis: ...
    @property
    def keys(self) -> Keys: ...


_AMBIGUOUS_HELP = (
    "check the message in Customer.io's delivery log; if it was not sent, "
    "`cio-pipeline dlq replay --resend-ambiguous JOB_ID` sends it again"
)


def deliver_send(
    ctx: SendParts,
    job: Job,
    kind: str,
    request: dict[str, Any],
    idempotency_key: str,
    skip_if_suppressed: bool = False,
) -> dict[str, Any]:
    """Send ``request`` once; returns ``{"delivery_id": ...}`` (or ``{"skipped": reason}``
    when ``skip_if_suppressed`` and a recipient is suppressed) or raises RetryLater/DeadLetter.
    """
    attempt = begin_attempt(job)
    operation = f"send {kind}"
    _check_encodable(job, operation, request)
    if skip_if_suppressed:
        reason = suppression_reason(ctx.connection, ctx.keys, request)
        if reason is not None:
            ctx.records.note(idempotency_key, history_entry("skipped", reason=reason))
            return _skipped(ctx, job, operation, attempt, reason)
    claim = ctx.records.claim(idempotency_key, job.id, override_own=ctx.settings.send_at_least_once)
    if claim.result is ClaimResult.CANCELLED:
        return _cancelled(ctx, job, operation, attempt, idempotency_key)
    if claim.result is ClaimResult.ERASED:
        return _erased(ctx, job, operation, attempt)
    if claim.result is ClaimResult.DELIVERED:
        _log(job, operation, attempt, "already_delivered", None, 0.0)
        flush(ctx.connection, ctx.keys, ctx.tally, "transactional_skipped")  # rare: a duplicate
        return {"delivery_id": claim.delivery_id, "deduplicated": True}
    if claim.result is ClaimResult.OWN_ATTEMPT:
        ctx.records.ambiguous(idempotency_key, job.id)
        raise dead_letter(
            job,
            operation,
            f"an earlier attempt of this job may have reached Customer.io ({claim.state}); "
            f"not sent again: {_AMBIGUOUS_HELP}",
            ambiguous=True,
        )
    if claim.result is ClaimResult.OTHER_JOB:
        return _held_by_other_job(ctx, job, operation, attempt, claim.owner, claim.state)
    return _send(ctx, job, kind, request, idempotency_key, (operation, attempt))


def _erased(ctx: SendParts, job: Job, operation: str, attempt: int) -> dict[str, Any]:
    """A send of a person erased after it was queued: never sent; finished, logged, counted
    (the erase deletes the job once it has finished)."""
    flush(ctx.connection, ctx.keys, ctx.tally, "transactional_erased")
    _log(job, operation, attempt, "erased", None, 0.0, reason="the person was erased")
    return {"erased": True}


#: What building a request raises before anything goes out: a body JSON or UTF-8 cannot
#: carry (a lone surrogate, a huge integer, bytes), or a send kind the App API does not have.
_BEFORE_IT_LEAVES = (ValueError, TypeError, RecursionError)


def _check_encodable(job: Job, operation: str, request: dict[str, Any]) -> None:
    """Dead-letter, before its idempotency key is claimed, a send whose body cannot be
    encoded (a job the producer would have refused, written by something else)."""
    try:
        encode_json(request)
    except _BEFORE_IT_LEAVES as exc:
        raise _unsendable(job, operation, exc) from None


def _unsendable(job: Job, operation: str, exc: BaseException) -> Exception:
    return dead_letter(
        job,
        operation,
        f"the send cannot be built ({type(exc).__name__}: a body JSON cannot carry, such as "
        "a lone surrogate or a huge integer, or an unknown kind); nothing was sent, and its "
        "idempotency key is free for a corrected send",
    )


def _skipped(ctx: SendParts, job: Job, operation: str, attempt: int, reason: str) -> dict[str, Any]:
    """A guarded send to a suppressed recipient: finished as skipped, logged and counted."""
    ctx.tally.add("sends_skipped_suppressed")
    flush(ctx.connection, ctx.keys, ctx.tally, "transactional_skipped")
    _log(job, operation, attempt, "skipped", None, 0.0, reason=reason)
    return {"skipped": True, "reason": reason}


def _cancelled(
    ctx: SendParts, job: Job, operation: str, attempt: int, idempotency_key: str
) -> dict[str, Any]:
    """A cancelled send's job: finished, not sent, logged, counted (outcome ``cancelled``,
    and ``sends_cancelled``) and noted in its history."""
    ctx.records.note(idempotency_key, history_entry("not_sent", reason="cancelled", job_id=job.id))
    ctx.tally.add("sends_cancelled")
    flush(ctx.connection, ctx.keys, ctx.tally, "transactional_cancelled")
    _log(job, operation, attempt, "cancelled", None, 0.0)
    return {"cancelled": True}


def _attempt_entry(attempt: int, outcome_name: str, outcome: Outcome) -> str:
    return history_entry(
        "attempt",
        attempt=attempt,
        outcome=outcome_name,
        status=outcome_status(outcome),
        detail=describe_outcome(outcome) or None,
    )


def _send(
    ctx: SendParts,
    job: Job,
    kind: str,
    request: dict[str, Any],
    idempotency_key: str,
    step: tuple[str, int],
) -> dict[str, Any]:
    """Take a token, send, and record the outcome (the claim is this job's)."""
    operation, attempt = step
    app = ctx.app  # built before taking a token, so the token's moment is the send's moment
    try:
        ctx.limiters.transactional.acquire(timeout_s=_TOKEN_WAIT_S)
    except RateLimitTimeout:
        ctx.records.release(idempotency_key, job.id)
        save_meta(job)
        raise RetryLater(
            ctx.limiters.transactional.paused_for(), "waiting for the rate limit"
        ) from None
    try:
        outcome = app.send(cast(SendKind, kind), request)
    except _BEFORE_IT_LEAVES as exc:  # encoding the body, or an unknown kind: nothing left
        ctx.outage.persist(lambda: ctx.records.release(idempotency_key, job.id))
        raise _unsendable(job, operation, exc) from None
    ctx.tally.add("transactional_requests")  # written with the record or the job's failure
    if isinstance(outcome, RateLimited):
        ctx.tally.add("transactional_429")
    decision = ctx.policy.classify(outcome, Work.SEND)
    _log(job, operation, attempt, decision.value, outcome, getattr(outcome, "latency_s", 0.0))

    # From here on the outcome exists only in this process: record it whatever Redis does.
    persist = ctx.outage.persist
    if decision is Decision.DELIVERED:
        body = cast(Success, outcome).body
        delivery_id = str(body.get("delivery_id", ""))
        tally = ctx.tally
        tally.add("transactional_delivered")
        if job.enqueued_at is not None:
            tally.latency("transactional", job.enqueued_at.timestamp(), time.time())
        counts = tally.take()
        entry = history_entry(
            "sent",
            attempt=attempt,
            outcome="delivered",
            status=outcome_status(outcome),
            delivery_id=delivery_id,
        )
        persist(lambda: ctx.records.delivered(idempotency_key, delivery_id, counts, entry))
        if attempt > 1:
            persist(lambda: save_meta(job))  # keep the attempt count of a retried send
        return {"delivery_id": delivery_id, "queued_at": body.get("queued_at")}
    if decision is Decision.RETRY:
        gives_up = ctx.policy.give_up(attempt, float(job.meta["first_attempt_at"]), time.time())
        entry = _attempt_entry(attempt, "dead" if gives_up else "retry", outcome)
        persist(lambda: ctx.records.release(idempotency_key, job.id, entry))
        return _retry(ctx, job, (operation, attempt), outcome, gives_up)
    if decision is Decision.AMBIGUOUS:
        entry = _attempt_entry(attempt, "ambiguous", outcome)
        persist(lambda: ctx.records.ambiguous(idempotency_key, job.id, entry))
        raise dead_letter(
            job,
            operation,
            f"Customer.io may have sent it ({describe_outcome(outcome)}); "
            f"not retried: {_AMBIGUOUS_HELP}",
            outcome,
            ambiguous=True,
        )
    entry = _attempt_entry(attempt, "dead", outcome)
    persist(lambda: ctx.records.release(idempotency_key, job.id, entry))
    raise dead_letter(job, operation, "Customer.io refused the send", outcome)


def requeue_abandoned_send(
    job: Job,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    tb: TracebackType | None,
) -> bool:
    """RQ exception handler: a send abandoned by a dead worker goes back to its queue (once
    per abandonment) instead of RQ's anonymous ``AbandonedJobError`` failure, so that it is
    resolved from its delivery record (see the module docstring). Never sends by itself."""
    if exc_type is AbandonedJobError and job.func_name in SEND_JOBS:
        job.retries_left = 1
        job.retry_intervals = []  # RQ's cleanup then re-enqueues it at once
        log.warning("abandoned_send_requeued", queue=job.origin, job_id=job.id)
    return True  # let the other handlers run


def _retry(
    ctx: SendParts, job: Job, step: tuple[str, int], outcome: Outcome, gives_up: bool
) -> dict[str, Any]:
    operation, attempt = step
    retry_after = outcome.retry_after_s if isinstance(outcome, RateLimited) else None
    delay = ctx.policy.backoff(attempt, retry_after)
    if isinstance(outcome, RateLimited):
        # Every worker holds off this surface, not just this job.
        ctx.limiters.transactional.pause(retry_after if retry_after is not None else delay)
    if gives_up:
        raise dead_letter(
            job,
            operation,
            f"gave up after {attempt} attempts: {describe_outcome(outcome)}",
            outcome,
        )
    save_meta(job)
    raise RetryLater(delay, describe_outcome(outcome))


def _held_by_other_job(
    ctx: SendParts,
    job: Job,
    operation: str,
    attempt: int,
    owner: str | None,
    state: DeliveryState | None,
) -> dict[str, Any]:
    reason = f"job {owner} holds this send's idempotency key ({state})"
    if state is DeliveryState.AMBIGUOUS or ctx.policy.give_up(
        attempt, float(job.meta["first_attempt_at"]), time.time()
    ):
        raise dead_letter(job, operation, f"duplicate not sent: {reason}", ambiguous=True)
    save_meta(job)
    raise RetryLater(ctx.policy.backoff(attempt), reason)


def _log(
    job: Job,
    operation: str,
    attempt: int,
    outcome: str,
    result: Outcome | None,
    latency_s: float,
    **extra: Any,
) -> None:
    log.info(
        "delivery_attempt",
        queue=job.origin,
        job_id=job.id,
        operation=operation,
        http_status=outcome_status(result),
        outcome=outcome,
        attempt=attempt,
        latency_ms=round(latency_s * 1000, 1),
        **extra,
    )
