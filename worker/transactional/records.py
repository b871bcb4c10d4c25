"""Delivery records: what stops a transactional send from going out twice (invariant I).

Before a send the worker *claims* the send's idempotency key (``claim_send.lua``); after a 200
it stores the ``delivery_id`` there. A duplicate job, a replay, or a re-run after a crash finds
the record and does not send again. The record lives ``CIO_DELIVERY_RECORD_TTL_S``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import redis

from producer.keys import Keys
from worker.core.lua import LuaScript

__all__ = ["Claim", "DeliveryRecords"]

_CLAIM: Final = LuaScript("worker.transactional", "claim_send.lua")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Claim:
    """The answer to "may this job send?".

    ``result`` is ``claimed`` (send now), ``delivered`` (already sent: ``delivery_id``),
    ``self`` (this job's own earlier attempt left ``state`` pending or ambiguous) or ``other``
    (``owner``, another job, holds the key in ``state``).
    """

    result: str
    delivery_id: str | None = None
    state: str | None = None
    owner: str | None = None


class DeliveryRecords:
    """The delivery records of one Redis database."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: int) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = ttl_s * 1000

    def claim(self, idempotency_key: str, job_id: str, *, override_own: bool = False) -> Claim:
        """Claim ``idempotency_key`` for ``job_id`` unless the record says otherwise."""
        reply = [
            _text(part)
            for part in _CLAIM(
                self._client,
                keys=[self._keys.delivery_record(idempotency_key)],
                args=[job_id, self._ttl_ms, "1" if override_own else "0"],
            )
        ]
        if reply[0] == "delivered":
            return Claim("delivered", delivery_id=reply[1])
        if reply[0] == "self":
            return Claim("self", state=reply[1], owner=job_id)
        if reply[0] == "other":
            return Claim("other", state=reply[1], owner=reply[2])
        return Claim("claimed")

    def delivered(self, idempotency_key: str, delivery_id: str) -> None:
        """Record a successful send."""
        self._client.set(
            self._keys.delivery_record(idempotency_key), f"delivered:{delivery_id}", px=self._ttl_ms
        )

    def ambiguous(self, idempotency_key: str, job_id: str) -> None:
        """Record that ``job_id``'s attempt may have reached Customer.io."""
        self._client.set(
            self._keys.delivery_record(idempotency_key), f"ambiguous:{job_id}", px=self._ttl_ms
        )

    def release(self, idempotency_key: str, job_id: str) -> None:
        """Drop ``job_id``'s claim: Customer.io certainly did not act on the request."""
        key = self._keys.delivery_record(idempotency_key)
        # Only our own pending claim; never a delivered record or another job's claim.
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    if _text(pipe.get(key) or b"") != f"pending:{job_id}":
                        pipe.unwatch()
                        return
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def get(self, idempotency_key: str) -> str | None:
        """The raw record (``delivered:<id>``, ``pending:<job>``, ...), or None."""
        value = self._client.get(self._keys.delivery_record(idempotency_key))
        return None if value is None else _text(value)
