"""The job functions named by the job contract (:mod:`cio_pipeline.producer.jobs`).

RQ imports these by name; each finds its worker context and the running job, and delivers.
They return a small primitive dict (the RQ result) or raise
:class:`~cio_pipeline.worker.core.errors.RetryLater` or
:class:`~cio_pipeline.worker.core.errors.DeadLetter`, which the worker turns into a scheduled retry
or a dead letter.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job
from rq.job import Job

from cio_pipeline.worker.runner import context
from cio_pipeline.worker.transactional.deliver import deliver_send
from cio_pipeline.worker.webhooks.process import process_event

__all__ = [
    "TrackJobsAreBatched",
    "process_webhook",
    "send_email",
    "send_in_app",
    "send_inbox_message",
    "send_push",
    "send_sms",
    "send_whatsapp",
    "track_anonymous_event",
    "track_operation",
]


def _job() -> Job:
    job = get_current_job()
    if job is None:
        raise RuntimeError("cio_pipeline.worker.jobs functions run inside an RQ worker")
    return job


def send_email(
    request: dict[str, Any], *, idempotency_key: str, skip_if_suppressed: bool = False
) -> dict[str, Any]:
    """Deliver a transactional e-mail."""
    return deliver_send(
        context.current(), _job(), "email", request, idempotency_key, skip_if_suppressed
    )


def send_push(
    request: dict[str, Any], *, idempotency_key: str, skip_if_suppressed: bool = False
) -> dict[str, Any]:
    """Deliver a transactional push."""
    return deliver_send(
        context.current(), _job(), "push", request, idempotency_key, skip_if_suppressed
    )


def send_sms(
    request: dict[str, Any], *, idempotency_key: str, skip_if_suppressed: bool = False
) -> dict[str, Any]:
    """Deliver a transactional SMS."""
    return deliver_send(
        context.current(), _job(), "sms", request, idempotency_key, skip_if_suppressed
    )


def send_whatsapp(
    request: dict[str, Any], *, idempotency_key: str, skip_if_suppressed: bool = False
) -> dict[str, Any]:
    """Deliver a transactional WhatsApp message."""
    return deliver_send(
        context.current(), _job(), "whatsapp", request, idempotency_key, skip_if_suppressed
    )


def send_inbox_message(
    request: dict[str, Any], *, idempotency_key: str, skip_if_suppressed: bool = False
) -> dict[str, Any]:
    """Deliver a transactional inbox message."""
    return deliver_send(
        context.current(), _job(), "inbox_message", request, idempotency_key, skip_if_suppressed
    )


def send_in_app(
    request: dict[str, Any], *, idempotency_key: str, skip_if_suppressed: bool = False
) -> dict[str, Any]:
    """Deliver a transactional in-app message."""
    return deliver_send(
        context.current(), _job(), "in_app", request, idempotency_key, skip_if_suppressed
    )


def process_webhook(event: dict[str, Any]) -> dict[str, Any]:
    """Process one verified reporting-webhook event (queue ``cio-webhooks``)."""
    return process_event(context.current(), _job(), event)


class TrackJobsAreBatched(RuntimeError):
    """A Track job was run by a plain RQ worker instead of being batched."""


_NOT_HERE = (
    "Track jobs are delivered in /api/v2/batch calls by `cio-pipeline worker`, which leases "
    "the cio-track-* partitions to keep each person's operations in order; do not point "
    "plain `rq worker` processes at them. Replay this job with `cio-pipeline dlq replay`."
)


def track_operation(operation: dict[str, Any]) -> None:
    """Named by Track jobs; delivered by the batching drainer, never run one by one."""
    raise TrackJobsAreBatched(_NOT_HERE)


def track_anonymous_event(body: dict[str, Any]) -> None:
    """Named by anonymous-event jobs; delivered by the batching drainer in partition order."""
    raise TrackJobsAreBatched(_NOT_HERE)
