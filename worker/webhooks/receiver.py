"""The webhook receiver: an ASGI app (Starlette) that verifies, enqueues and answers at once.

``POST <CIO_WEBHOOK_PATH>`` (default ``/webhooks/customerio``), each answer with one log line
(``docs/webhooks-receiver.md`` has the table):

- body over ``CIO_WEBHOOK_MAX_BODY_BYTES`` (1 MB): 413, read no further;
- missing, malformed or wrong signature, or a timestamp outside ``CIO_WEBHOOK_TOLERANCE_S``:
  401, nothing enqueued, the reason logged (never the body or a header's value);
- a signature accepted before, within the tolerance window (a replay): 409, nothing enqueued;
- not a reporting-webhook event: 400;
- otherwise one RQ job on ``cio-webhooks`` and 200, whether or not a worker runs: Customer.io
  waits 4 s and holds later events until this one succeeds, so nothing slow happens here. An
  event whose timestamp is implausible (milliseconds, far future) is enqueued all the same and
  logged: the worker dead-letters it with the reason instead of changing the suppression
  store, and Customer.io's later events are not held up behind it;
- Redis unreachable, full, or not answering within ``CIO_WEBHOOK_REDIS_TIMEOUT_S``: 503
  (Customer.io retries), logged. Redis is only ever called from a thread pool
  (:mod:`~cio_pipeline.worker.webhooks.intake`), so ``/healthz`` and other requests never wait
  for it;
- a client that goes away before its body is complete: nothing enqueued, logged.

``GET /healthz`` answers 200 for load balancers. Mount it in an existing Starlette/FastAPI
app with ``app.mount("/", create_receiver(settings))``. Needs the ``webhooks`` extra.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from typing import Any

import redis
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cio_pipeline.producer.connection import connect
from cio_pipeline.producer.jobs import JobSpec
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.allowed_jobs import WEBHOOK_FUNC
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.webhooks.events import (
    EventError,
    WebhookEvent,
    parse_event,
    timestamp_problem,
)
from cio_pipeline.worker.webhooks.intake import Intake, Outcome
from cio_pipeline.worker.webhooks.signature import (
    SignatureError,
    parse_signing_keys,
    verify_request,
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


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length", "")
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses
    if declared and len(declared) <= 18 and declared.isascii() and declared.isdigit():
        return int(declared)
    return None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(status: int, reason: str, text: str, **fields: Any) -> Response:
    log.warning("webhook_refused", status=status, reason=reason, **fields)
    return PlainTextResponse(text, status_code=status)


class _Receiver:
    """The request handler, with what it needs from the settings worked out once."""

    def __init__(self, settings: WorkerSettings, intake: Intake) -> None:
        self.settings = settings
        self.keys = Keys.of(settings.queue)
        self.signing_keys = parse_signing_keys(settings.webhook_signing_key)
        self.intake = intake

    async def receive(self, request: Request) -> Response:
        try:
            return await self._receive(request)
        except ClientDisconnect:
            log.info("webhook_client_gone", reason="the client disconnected before the body")
            return PlainTextResponse("client disconnected", status_code=400)
        except Exception as exc:
            # No traceback text: its values may be the attacker's (a header, the body).
            frame = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f"{frame[0].filename}:{frame[0].lineno}" if frame else "?"
            log.error("webhook_failed", status=500, error=type(exc).__name__, where=where)
            return PlainTextResponse("internal error", status_code=500)

    async def _receive(self, request: Request) -> Response:
        settings = self.settings
        try:
            body = await _read_body(request, settings.webhook_max_body_bytes)
        except _TooLarge:
            return _refused(413, "body too large", "body too large")
        try:
            verified = verify_request(
                body,
                request.headers.get("x-cio-timestamp"),
                request.headers.get("x-cio-signature"),
                self.signing_keys,
                tolerance_s=settings.webhook_tolerance_s,
            )
        except SignatureError as exc:
            return _refused(401, str(exc), "invalid signature")
        try:
            event = parse_event(body)
        except EventError as exc:
            return _refused(400, str(exc), f"not a reporting-webhook event: {exc}")
        implausible = timestamp_problem(event.timestamp)
        if implausible is not None:
            # Enqueued all the same (see the module docstring): the worker dead-letters it.
            log.warning(
                "webhook_implausible_timestamp", event_id=event.event_id, reason=implausible
            )
        outcome, why = await self.intake.accept(webhook_job(event, self.keys), verified)
        if outcome is Outcome.REPLAY:
            return _refused(409, why, "already received", event_id=event.event_id)
        if outcome is not Outcome.ENQUEUED:
            log.error("webhook_not_enqueued", status=503, event_id=event.event_id, reason=why)
            return PlainTextResponse("try again later", status_code=503)
        log.debug("webhook_enqueued", event_id=event.event_id)
        return JSONResponse({"ok": True})


def create_receiver(
    settings: WorkerSettings | None = None, connection: redis.Redis | None = None
) -> Starlette:
    """The receiver app for ``settings`` (default: from the environment), enqueueing on
    ``connection`` (default: a client for ``REDIS_URL`` whose every call is bounded by
    ``CIO_WEBHOOK_REDIS_TIMEOUT_S``)."""
    settings = settings if settings is not None else WorkerSettings.from_env()
    bound_s = settings.webhook_redis_timeout_s
    if connection is None:
        connection = connect(replace(settings.queue, redis_timeout_s=bound_s))
    intake = Intake(
        connection,
        Keys.of(settings.queue),
        timeout_s=bound_s,
        tolerance_s=settings.webhook_tolerance_s,
    )
    receiver = _Receiver(settings, intake)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    if not receiver.signing_keys:
        log.warning(
            "webhook_signing_key_missing",
            hint="set CUSTOMERIO_WEBHOOK_SIGNING_KEY; every request gets 401 until then",
        )
    return Starlette(
        routes=[
            Route(settings.webhook_path, receiver.receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
