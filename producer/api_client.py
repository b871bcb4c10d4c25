"""``APIClient``: the official SDK's transactional client, enqueueing sends instead of sending.

Each ``send_<kind>`` validates the request (raising :class:`ValidationError` before any
write), enqueues one job on ``cio-transactional`` and returns its id.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import redis as redis_lib

from cio_pipeline.producer.client import _Producer
from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.ids import new_idempotency_key
from cio_pipeline.producer.jobs import send_job
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
from cio_pipeline.producer.sends import send_payload
from cio_pipeline.producer.settings import Settings

__all__ = ["APIClient"]


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
        if key is None:
            key = new_idempotency_key()
        elif not isinstance(key, str) or not 1 <= len(key) <= 200:
            raise ValidationError("idempotency_key", "must be a string of 1 to 200 characters")
        else:
            key = str.__str__(key)  # a plain str: a subclass would not survive the pickle
            check_text(key, "idempotency_key")
        if not isinstance(skip, bool):
            raise ValidationError("skip_if_suppressed", "must be True or False")
        spec = send_job(op, key, self.keys)
        if skip:  # the worker checks the suppression store at send time
            spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "skip_if_suppressed": True})
        return self._submit(spec)

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
