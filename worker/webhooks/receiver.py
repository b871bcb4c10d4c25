"""The webhook receiver: an ASGI app (Starlette) that verifies, enqueues and answers at once.

``POST <CIO_WEBHOOK_PATH>`` (default ``/webhooks/customerio``):

- body over ``CIO_WEBHOOK_MAX_BODY_BYTES`` (1 MB): 413, read no further;
- missing or bad signature, or a timestamp outside ``CIO_WEBHOOK_TOLERANCE_S``: 401, nothing
  enqueued, one log line with the reason (never the body);
- not a reporting-webhook event: 400;
- otherwise one RQ job on ``cio-webhooks`` (the job contract's safe serializer, one Redis round
  trip) and 200, whether or not a worker runs: Customer.io waits 4 s and holds later events
  until this one succeeds, so nothing slow happens here;
- Redis unreachable or full: 503 (Customer.io retries), logged.

``GET /healthz`` answers 200 for load balancers. Mount it in an existing Starlette/FastAPI
app with ``app.mount("/", create_receiver(settings))``. Needs the ``webhooks`` extra.
"""

from __future__ import annotations

import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cio_pipeline.producer.connection import connect
from cio_pipeline.producer.errors import EnqueueError
from cio_pipeline.producer.jobs import Enqueuer, JobSpec
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.allowed_jobs import WEBHOOK_FUNC
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.webhooks.events import EventError, WebhookEvent, parse_event
from cio_pipeline.worker.webhooks.signature import (
    SignatureError,
    parse_signing_keys,
    verify_signature,
)

__all__ = ["create_receiver", "webhook_job"]

log = get_logger("cio.webhooks.receiver")


class _TooLarge(Exception):
    pass


def webhook_job(event: WebhookEvent, keys: Keys) -> JobSpec:
    """The job of one verified event: ``cio_pipeline.worker.jobs.process_webhook(event)`` on
    ``cio-webhooks``; its description names the metric, never the person."""
    return JobSpec(
        WEBHOOK_FUNC,
        dict(event.raw),
        keys.webhooks_queue,
        f"cio webhook {event.object_type} {event.metric}",
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_receiver(
    settings: WorkerSettings | None = None, connection: redis.Redis | None = None
) -> Starlette:
    """The receiver app for ``settings`` (default: from the environment), enqueueing on
    ``connection`` (default: a client for ``REDIS_URL`` with ``CIO_REDIS_TIMEOUT_S``)."""
    settings = settings if settings is not None else WorkerSettings.from_env()
    keys = Keys.of(settings.queue)
    signing_keys = parse_signing_keys(settings.webhook_signing_key)
    enqueuer = Enqueuer(
        connection if connection is not None else connect(settings.queue),
        settings.queue.redis_timeout_s,
        keys,
    )

    async def receive(request: Request) -> Response:
        try:
            body = await _read_body(request, settings.webhook_max_body_bytes)
        except _TooLarge:
            log.warning("webhook_refused", status=413, reason="body too large")
            return PlainTextResponse("body too large", status_code=413)
        try:
            verify_signature(
                body,
                request.headers.get("x-cio-timestamp"),
                request.headers.get("x-cio-signature"),
                signing_keys,
                tolerance_s=settings.webhook_tolerance_s,
            )
        except SignatureError as exc:
            log.warning("webhook_refused", status=401, reason=str(exc))
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            event = parse_event(body)
        except EventError as exc:
            log.warning("webhook_refused", status=400, reason=str(exc))
            return PlainTextResponse(f"not a reporting-webhook event: {exc}", status_code=400)
        try:
            # On the event loop, not in a thread: the write is one loopback round trip (~0.1 ms
            # measured), a thread hop cost 1.5 ms per request here, and the producer's client
            # bounds a stuck Redis by CIO_REDIS_TIMEOUT_S (every request would get 503 then).
            job_id = enqueuer.enqueue(webhook_job(event, keys))
        except EnqueueError as exc:
            log.error(
                "webhook_not_enqueued",
                status=503,
                event_id=event.event_id,
                error=type(exc).__name__,
            )
            return PlainTextResponse("try again later", status_code=503)
        log.debug("webhook_enqueued", event_id=event.event_id, job_id=job_id)
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    if not signing_keys:
        log.warning(
            "webhook_signing_key_missing",
            hint="set CUSTOMERIO_WEBHOOK_SIGNING_KEY; every request gets 401 until then",
        )
    return Starlette(
        routes=[
            Route(settings.webhook_path, receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
