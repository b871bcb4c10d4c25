"""Delivery records: what stops a transactional send from going out twice (invariant I).

Before a send the worker *claims* the send's idempotency key (``claim_send.lua``); after a 200
it stores the ``delivery_id`` there. A duplicate job, a replay, or a re-run after a crash finds
the record and does not send again. The record lives ``CIO_DELIVERY_RECORD_TTL_S``.

This module owns the record's stored form, ``<state>:<value>`` (:class:`DeliveryRecord`);
everything else (the transactional path, ``dlq replay``) goes through :class:`DeliveryRecords`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.lua import LuaScript
from cio_pipeline.worker.ops.counters import add_to_pipeline

__all__ = ["ClaimResult", "DeliveryRecord", "DeliveryRecords", "DeliveryState", "SendClaim"]

_CLAIM: Final = LuaScript("cio_pipeline.worker.transactional", "claim_send.lua")
_FORGET: Final = LuaScript("cio_pipeline.worker.transactional", "forget_send.lua")


class DeliveryState(enum.StrEnum):
    """What a delivery record says."""

    PENDING = "pending"
    """A worker is sending it now, or died while sending it (value: the job id)."""
    AMBIGUOUS = "ambiguous"
    """An attempt may have reached Customer.io; a person must decide (value: the job id)."""
    DELIVERED = "delivered"
    """Customer.io accepted it (value: its ``delivery_id``)."""


@dataclass(frozen=True)
class DeliveryRecord:
    """One send's record: its state and the job id or delivery id that goes with it."""

    state: DeliveryState
    value: str

    def __str__(self) -> str:
        """The stored form, ``<state>:<value>``."""
        return f"{self.state.value}:{self.value}"

    @classmethod
    def parse(cls, stored: str) -> DeliveryRecord:
        """Read the stored form back."""
        state, _, value = stored.partition(":")
        return cls(DeliveryState(state), value)


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
        """Claim ``idempotency_key`` for ``job_id`` unless the record says otherwise."""
        reply = [
            _text(part)
            for part in _CLAIM(
                self._client,
                keys=[self._keys.delivery_record(idempotency_key), self._keys.erased_jobs],
                args=[job_id, self._ttl_ms, "1" if override_own else "0"],
            )
        ]
        result = ClaimResult(reply[0])
        if result is ClaimResult.DELIVERED:
            return SendClaim(result, delivery_id=reply[1])
        if result is ClaimResult.OWN_ATTEMPT:
            return SendClaim(result, state=DeliveryState(reply[1]), owner=job_id)
        if result is ClaimResult.OTHER_JOB:
            return SendClaim(result, state=DeliveryState(reply[1]), owner=reply[2])
        return SendClaim(result)

    def delivered(
        self, idempotency_key: str, delivery_id: str, counts: Mapping[str, int] | None = None
    ) -> None:
        """Record a successful send; ``counts`` (:mod:`cio_pipeline.worker.ops.counters`) ride along
        in the same round trip."""
        record = DeliveryRecord(DeliveryState.DELIVERED, delivery_id)
        with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.delivery_record(idempotency_key), str(record), px=self._ttl_ms)
            add_to_pipeline(pipe, self._keys, counts or {})
            pipe.execute()

    def ambiguous(self, idempotency_key: str, job_id: str) -> None:
        """Record that ``job_id``'s attempt may have reached Customer.io."""
        self._set(idempotency_key, DeliveryRecord(DeliveryState.AMBIGUOUS, job_id))

    def release(self, idempotency_key: str, job_id: str) -> None:
        """Drop ``job_id``'s claim: Customer.io certainly did not act on the request. Never a
        delivered record or another job's claim (atomic)."""
        own = DeliveryRecord(DeliveryState.PENDING, job_id)
        _FORGET(self._client, keys=[self._keys.delivery_record(idempotency_key)], args=[str(own)])

    def clear_for_resend(self, idempotency_key: str) -> bool:
        """Let a person send an ambiguous (or stranded pending) send again: drop its record
        unless it says delivered (atomic). True when a record was dropped."""
        key = self._keys.delivery_record(idempotency_key)
        return bool(_FORGET(self._client, keys=[key], args=[""]))

    def get(self, idempotency_key: str) -> DeliveryRecord | None:
        """The send's record, or None."""
        value = self._client.get(self._keys.delivery_record(idempotency_key))
        return None if value is None else DeliveryRecord.parse(_text(value))

    def _set(self, idempotency_key: str, record: DeliveryRecord) -> None:
        key = self._keys.delivery_record(idempotency_key)
        self._client.set(key, str(record), px=self._ttl_ms)
