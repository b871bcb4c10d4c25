"""``APIClient``: the official SDK's transactional client, enqueueing sends instead of sending.

Each ``send_<kind>`` validates the request (raising :class:`ValidationError` before any
write), notes the send's delivery record (``queued``) and enqueues one job on
``cio-transactional``, and returns the job's id: one round trip more than a Track call, so
that from the moment the job exists :meth:`APIClient.cancel_send` finds it. A send's life is
:meth:`APIClient.send_status` (:mod:`cio_pipeline.producer.send_records`, ``docs/sends.md``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis as redis_lib

from cio_pipeline.producer.client import _Producer
from cio_pipeline.producer.errors import (
    EnqueueError,
    PersonErased,
    ProducerUnavailable,
    RedisFull,
    ValidationError,
)
from cio_pipeline.producer.ids import new_idempotency_key
from cio_pipeline.producer.jobs import send_job
from cio_pipeline.producer.marks import job_subjects
from cio_pipeline.producer.normalize import check_text
from cio_pipeline.producer.regions import Region, Regions
from cio_pipeline.producer.requests import (
    SendEmailRequest,
    SendInAppRequest,
    SendInboxMessageRequest,
    SendPushRequest,
    SendRequest,
    SendSMSRequest,
    SendWhatsAppRequest,
)
from cio_pipeline.producer.send_records import CancelOutcome, cancel_send, queue_send
from cio_pipeline.producer.send_status import SendStatus, SendSummary, recent_sends, send_status
from cio_pipeline.producer.sends import send_payload
from cio_pipeline.producer.settings import Settings
from cio_pipeline.producer.writes import EraseKeyChanged

__all__ = ["APIClient"]

_T = TypeVar("_T")


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 200:
        raise ValidationError("idempotency_key", "must be a string of 1 to 200 characters")
    plain: str = str.__str__(key)  # a plain str: a subclass would not survive the pickle
    check_text(plain, "idempotency_key")
    return plain


class APIClient(_Producer):
    """Transactional producer: the ``customerio.APIClient`` interface, enqueueing sends.

    Every send gets an idempotency key (``idempotency_key=``, or a generated one) that the
    worker uses so that a message is never sent twice because of retries or replays. With
    ``skip_if_suppressed=True`` the worker checks the suppression store (:meth:`is_suppressed`)
    at send time and skips the send when a recipient is suppressed; by default it goes out.
    """

    def __init__(
        self,
        key: Any,
        url: Any = None,
        region: Region = Regions.US,
        retries: int = 3,
        timeout: float = 10,
        backoff_factor: float = 0.02,
        use_connection_pooling: bool = True,
        *,
        redis: redis_lib.Redis | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(redis, settings, region)

    @classmethod
    def from_env(cls, *, redis: redis_lib.Redis | None = None) -> APIClient:
        """A producer configured from the environment (``REDIS_URL``, ``CIO_*``)."""
        return cls(None, redis=redis, settings=Settings.from_env())

    def _send(
        self, kind: str, request: Any, cls: type[SendRequest], key: str | None, skip: bool
    ) -> str:
        op = send_payload(kind, request, cls)
        key = new_idempotency_key() if key is None else _check_key(key)
        if not isinstance(skip, bool):
            raise ValidationError("skip_if_suppressed", "must be True or False")
        spec = send_job(op, key, self.keys)
        if skip:  # the worker checks the suppression store at send time
            spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "skip_if_suppressed": True})
        writer = self._writer
        if writer is not None:
            writer.check()  # after a failed chunk, no more ids are handed out
        job = self._enqueuer.prepare(spec)
        # The record first: a job in Redis is always one a cancel can find. If the job's
        # write then fails, the record says queued for a job that does not exist, which a
        # retry with the same key takes over (any job of the key may claim a queued record).
        ttl_s = self.settings.delivery_record_ttl_s
        # The erase check rides with the record (no extra round trip): an erased person's
        # send leaves no record either.
        erase_key = self._enqueuer.erase_keys.get()
        subjects = job_subjects(spec.func, spec.operation)
        marks = [self.keys.erased(erase_key.mark(s)) for s in subjects]
        noted = self._redis_call(
            lambda: queue_send(self.redis, self.keys, key, job.id, ttl_s, erase_key.key_id, marks),
            "noting the send",
            [job.id],
        )
        if noted == "erase-key":
            self._enqueuer.erase_keys.forget()
            raise EraseKeyChanged(
                "the erase key changed in Redis (database flushed?); nothing written, retry",
                not_written_ids=[job.id],
            )
        if noted is None:
            raise PersonErased(
                "1 job(s) concern an erased person (refused for the erase's retention period)",
                not_written_ids=[job.id],
                erased_ids=[job.id],
            )
        if writer is None:
            self._enqueuer.write([job])
        else:
            writer.add(job)
        return job.id

    def _redis_call(self, call: Callable[[], _T], what: str, ids: list[str]) -> _T:
        """``call()``, its Redis failures as the producer's typed errors (``ids``: the jobs
        that are therefore not written)."""
        try:
            return call()
        except redis_lib.exceptions.OutOfMemoryError:
            raise RedisFull(
                f"{what}: Redis is full (maxmemory reached)", not_written_ids=ids
            ) from None
        except (redis_lib.ConnectionError, redis_lib.TimeoutError, redis_lib.ReadOnlyError) as exc:
            raise ProducerUnavailable(
                f"{what}: Redis unavailable ({type(exc).__name__})", not_written_ids=ids
            ) from None
        except redis_lib.RedisError as exc:
            raise EnqueueError(
                f"{what}: Redis refused it ({type(exc).__name__})", not_written_ids=ids
            ) from None

    def cancel_send(self, idempotency_key: str) -> CancelOutcome:
        """Cancel the send ``idempotency_key`` unless it has left; one round trip, atomic with
        the worker's claim. ``result``: ``cancelled`` (it never goes out, not by a replay nor
        by a new send with this key while its record lives), ``delivered`` (with
        ``delivery_id``), ``in_flight`` or ``ambiguous`` (cannot be cancelled), ``unknown``
        (no such send). Raises :class:`ProducerUnavailable` when Redis cannot be reached."""
        key = _check_key(idempotency_key)
        ttl_s = self.settings.delivery_record_ttl_s
        return self._redis_call(
            lambda: cancel_send(self.redis, self.keys, key, ttl_s, by="api"),
            "cancelling the send",
            [],
        )

    def send_status(self, idempotency_key: str) -> SendStatus | None:
        """The life of the send ``idempotency_key`` (state, attempts, ``delivery_id``, the
        reporting-webhook events of its delivery), or None when there is no such send."""
        key = _check_key(idempotency_key)
        return self._redis_call(
            lambda: send_status(self.redis, self.keys, key), "reading the send", []
        )

    def recent_sends(
        self, since_s: float = 86_400.0, state: str | None = None
    ) -> list[SendSummary]:
        """Sends enqueued in the last ``since_s`` seconds, newest first (``state``: only
        those in it; see :data:`cio_pipeline.producer.send_status.STATES`)."""
        return self._redis_call(
            lambda: recent_sends(
                self.redis, self.keys, since_s=since_s, now_s=time.time(), state=state
            ),
            "listing sends",
            [],
        )

    def send_email(
        self, request: Any, *, idempotency_key: str | None = None, skip_if_suppressed: bool = False
    ) -> str:
        """Enqueue a transactional e-mail."""
        return self._send("email", request, SendEmailRequest, idempotency_key, skip_if_suppressed)

    def send_push(
        self, request: Any, *, idempotency_key: str | None = None, skip_if_suppressed: bool = False
    ) -> str:
        """Enqueue a transactional push."""
        return self._send("push", request, SendPushRequest, idempotency_key, skip_if_suppressed)

    def send_sms(
        self, request: Any, *, idempotency_key: str | None = None, skip_if_suppressed: bool = False
    ) -> str:
        """Enqueue a transactional SMS."""
        return self._send("sms", request, SendSMSRequest, idempotency_key, skip_if_suppressed)

    def send_whatsapp(
        self, request: Any, *, idempotency_key: str | None = None, skip_if_suppressed: bool = False
    ) -> str:
        """Enqueue a transactional WhatsApp message."""
        return self._send(
            "whatsapp", request, SendWhatsAppRequest, idempotency_key, skip_if_suppressed
        )

    def send_inbox_message(
        self, request: Any, *, idempotency_key: str | None = None, skip_if_suppressed: bool = False
    ) -> str:
        """Enqueue a transactional inbox message."""
        return self._send(
            "inbox_message", request, SendInboxMessageRequest, idempotency_key, skip_if_suppressed
        )

    def send_in_app(
        self, request: Any, *, idempotency_key: str | None = None, skip_if_suppressed: bool = False
    ) -> str:
        """Enqueue a transactional in-app message."""
        return self._send("in_app", request, SendInAppRequest, idempotency_key, skip_if_suppressed)
