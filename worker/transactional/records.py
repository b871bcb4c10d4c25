"""Delivery records: what stops a transactional send from going out twice (invariant I,
docs/design.md).

Before a send the worker *claims* the send's idempotency key (``claim_send.lua``); after a 200
it stores the ``delivery_id`` there. A duplicate job, a replay, or a re-run after a crash finds
the record and does not send again. The record lives ``CIO_DELIVERY_RECORD_TTL_S``.

The record's states and stored form, ``<state>:<value>`` (:class:`DeliveryRecord`), are
shared with the producer, which writes ``queued`` when a send is enqueued and ``cancelled``
when a person cancels it (:mod:`cio_pipeline.producer.send_records`); the worker's side (the
transactional path, ``dlq replay``) goes through :class:`DeliveryRecords`, which also appends
each attempt to the send's history and, after a 200, writes the ``delivery_id`` -> idempotency
key join that reporting webhooks are matched with.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import (
    HISTORY_MAX,
    DeliveryRecord,
    DeliveryState,
    add_history,
)
from cio_pipeline.worker.core.lua import LuaScript
from cio_pipeline.worker.ops.counters import add_to_pipeline

__all__ = ["ClaimResult", "DeliveryRecord", "DeliveryRecords", "DeliveryState", "SendClaim"]

_CLAIM: Final = LuaScript("cio_pipeline.worker.transactional", "claim_send.lua")
_FORGET: Final = LuaScript("cio_pipeline.worker.transactional", "forget_send.lua")
_RELEASE: Final = LuaScript("cio_pipeline.worker.transactional", "release_send.lua")
_EVENT: Final = LuaScript("cio_pipeline.worker.transactional", "delivery_event.lua")


class ClaimResult(enum.StrEnum):
    """The answer to "may this job send?" (what ``claim_send.lua`` returns first)."""

    CLAIMED = "claimed"
    """The record now says pending for this job: send."""
    DELIVERED = "delivered"
    """Already sent: do not send (``delivery_id``)."""
    OWN_ATTEMPT = "self"
    """This job's own earlier attempt left the record pending or ambiguous: outcome unknown."""
    OTHER_JOB = "other"
    """Another job (``owner``) holds the key."""
    CANCELLED = "cancelled"
    """A person cancelled the send while it was queued: never send it."""
    ERASED = "erased"
    """The job is an erased person's (``cio-pipeline erase``): never send it."""


@dataclass(frozen=True)
class SendClaim:
    """What claiming a send's idempotency key found."""

    result: ClaimResult
    delivery_id: str | None = None
    state: DeliveryState | None = None
    owner: str | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DeliveryRecords:
    """The delivery records of one Redis database."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int = 7 * 86_400) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = ttl_s * 1000

    def claim(self, idempotency_key: str, job_id: str, *, override_own: bool = False) -> SendClaim:
        """Claim ``idempotency_key`` for ``job_id`` unless the record says otherwise.

        Each call carries a new random token (``claim_send.lua``): when the connection drops
        after the script ran and the client runs it again, the second run recognises its own
        claim instead of reporting an earlier attempt of unknown outcome."""
        keys = self._keys
        reply = [
            _text(part)
            for part in _CLAIM(
                self._client,
                keys=[
                    keys.delivery_record(idempotency_key),
                    keys.erased_jobs,
                    keys.send_claim(idempotency_key),
                ],
                args=[job_id, self._ttl_ms, "1" if override_own else "0", secrets.token_hex(8)],
            )
        ]
        result = ClaimResult(reply[0])
        if result is ClaimResult.DELIVERED:
            return SendClaim(result, delivery_id=reply[1])
        if result is ClaimResult.OWN_ATTEMPT:
            return SendClaim(result, state=DeliveryState(reply[1]), owner=job_id)
        if result is ClaimResult.OTHER_JOB:
            return SendClaim(result, state=DeliveryState(reply[1]), owner=reply[2])
        return SendClaim(result)  # claimed, or cancelled

    def delivered(
        self,
        idempotency_key: str,
        delivery_id: str,
        counts: Mapping[str, int] | None = None,
        entry: str | None = None,
    ) -> None:
        """Record a successful send, the ``delivery_id`` join for its reporting webhooks and
        the history ``entry``; ``counts`` (:mod:`cio_pipeline.worker.ops.counters`) ride
        along in the same round trip."""
        record = DeliveryRecord(DeliveryState.DELIVERED, delivery_id)
        with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.delivery_record(idempotency_key), str(record), px=self._ttl_ms)
            pipe.delete(self._keys.send_claim(idempotency_key))  # the claim is over
            if delivery_id:
                pipe.set(self._keys.delivery_send(delivery_id), idempotency_key, px=self._ttl_ms)
            if entry is not None:
                add_history(pipe, self._keys, idempotency_key, entry, self._ttl_ms)
            add_to_pipeline(pipe, self._keys, counts or {})
            pipe.execute()

    def ambiguous(self, idempotency_key: str, job_id: str, entry: str | None = None) -> None:
        """Record that ``job_id``'s attempt may have reached Customer.io (and ``entry``)."""
        record = DeliveryRecord(DeliveryState.AMBIGUOUS, job_id)
        with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.delivery_record(idempotency_key), str(record), px=self._ttl_ms)
            pipe.delete(self._keys.send_claim(idempotency_key))  # the claim is over
            if entry is not None:
                add_history(pipe, self._keys, idempotency_key, entry, self._ttl_ms)
            pipe.execute()

    def release(self, idempotency_key: str, job_id: str, entry: str | None = None) -> None:
        """Hand ``job_id``'s claim back (the record says queued again: cancellable, claimable
        by its retry): Customer.io certainly did not act on the request. Never a delivered
        record or another job's claim (atomic, ``release_send.lua``); ``entry`` is appended
        to the history in the same call."""
        _RELEASE(
            self._client,
            keys=[
                self._keys.delivery_record(idempotency_key),
                self._keys.send_history(idempotency_key),
            ],
            args=[job_id, self._ttl_ms, entry or "", HISTORY_MAX],
        )

    def note(self, idempotency_key: str, entry: str) -> None:
        """Append ``entry`` to the send's history (a send skipped or not sent)."""
        with self._client.pipeline(transaction=False) as pipe:
            add_history(pipe, self._keys, idempotency_key, entry, self._ttl_ms)
            pipe.execute()

    def add_delivery_event(self, delivery_id: str, entry: str) -> bool:
        """Add a reporting-webhook event (``entry``, JSON) to the events of ``delivery_id``
        when one of our sends received it (``delivery_event.lua``); True when added."""
        return bool(
            _EVENT(
                self._client,
                keys=[
                    self._keys.delivery_send(delivery_id),
                    self._keys.delivery_events(delivery_id),
                ],
                args=[entry, HISTORY_MAX],
            )
        )

    def clear_for_resend(self, idempotency_key: str) -> bool:
        """Let a person send an ambiguous (or stranded pending) send again: its record goes
        back to queued (claimable, still cancellable); a delivered or cancelled record is
        left alone (atomic, ``forget_send.lua``). True when the record was handed back."""
        key = self._keys.delivery_record(idempotency_key)
        return bool(_FORGET(self._client, keys=[key]))

    def get(self, idempotency_key: str) -> DeliveryRecord | None:
        """The send's record, or None."""
        value = self._client.get(self._keys.delivery_record(idempotency_key))
        return None if value is None else DeliveryRecord.parse(_text(value))
