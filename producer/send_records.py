"""A transactional send's delivery record and history: the part producer and worker share.

One send (one idempotency key) has

- a **delivery record** (:meth:`Keys.delivery_record`), one string ``<state>:<value>``
  (:class:`DeliveryRecord`): ``queued:<job id>`` from the moment it is enqueued
  (``lua/queue_send.lua``), ``pending:<job id>`` while a worker sends it, then
  ``delivered:<delivery id>``, ``ambiguous:<job id>`` or, if a person cancelled it while it
  was queued, ``cancelled:<job id>`` (``lua/cancel_send.lua``); the worker's claim
  (``worker/transactional/claim_send.lua``) refuses a cancelled record, which is what makes a
  cancel final;
- a **history** (:meth:`Keys.send_history`): JSON entries ``{"at": unix s, "event": ...}``,
  appended by the producer (queued), the cancel, and the worker (each attempt, sent, skipped);
- a place in the **recent sends** sorted set (:meth:`Keys.sends`), for ``sends list``.

All three live ``CIO_DELIVERY_RECORD_TTL_S``. Reading them back is
:mod:`cio_pipeline.producer.send_status`. The producer never imports the worker: the state
names, the stored forms and these two scripts are here, and the worker uses them.
"""

from __future__ import annotations

import enum
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import redis

from cio_pipeline.producer.keys import Keys

__all__ = [
    "HISTORY_MAX",
    "CancelOutcome",
    "CancelResult",
    "DeliveryRecord",
    "DeliveryState",
    "add_history",
    "cancel_send",
    "history_entry",
    "queue_send",
    "run_script",
]

#: The most history entries (and webhook events) one send keeps: a send retried for days
#: stays bounded, and the newest entries are the ones kept.
HISTORY_MAX: Final = 100


class DeliveryState(enum.StrEnum):
    """What a delivery record says."""

    QUEUED = "queued"
    """Enqueued (or released for a retry) and not claimed: it can be cancelled (value: the job
    id that wrote or released it)."""
    PENDING = "pending"
    """A worker is sending it now, or died while sending it (value: the job id)."""
    AMBIGUOUS = "ambiguous"
    """An attempt may have reached Customer.io; a person must decide (value: the job id)."""
    DELIVERED = "delivered"
    """Customer.io accepted it (value: its ``delivery_id``)."""
    CANCELLED = "cancelled"
    """Cancelled before it left: it never goes out while the record lives (value: job id)."""


@dataclass(frozen=True)
class DeliveryRecord:
    """One send's record: its state and the job id or delivery id that goes with it."""

    state: DeliveryState
    value: str

    def __str__(self) -> str:
        """The stored form, ``<state>:<value>``."""
        return f"{self.state.value}:{self.value}"

    @classmethod
    def parse(cls, stored: str | bytes) -> DeliveryRecord:
        """Read the stored form back."""
        text = stored.decode() if isinstance(stored, bytes) else stored
        state, _, value = text.partition(":")
        return cls(DeliveryState(state), value)


def history_entry(event: str, at: float | None = None, **fields: Any) -> str:
    """One history entry as stored: ``{"at": <unix s>, "event": <event>, ...fields}``;
    fields that are None are left out."""
    entry = {"at": round(time.time() if at is None else at, 3), "event": event}
    entry.update({k: v for k, v in fields.items() if v is not None})
    return json.dumps(entry, separators=(",", ":"))


def add_history(pipe: Any, keys: Keys, idempotency_key: str, entry: str, ttl_ms: int) -> None:
    """Queue on ``pipe`` (a redis-py pipeline) the append of ``entry`` to a send's history,
    bounded to :data:`HISTORY_MAX` and kept ``ttl_ms``."""
    key = keys.send_history(idempotency_key)
    pipe.rpush(key, entry)
    pipe.ltrim(key, -HISTORY_MAX, -1)
    pipe.pexpire(key, ttl_ms)


# ---- the producer's two scripts -------------------------------------------------------------


class _Script:
    """A script of ``producer/lua`` run with ``EVALSHA`` (``EVAL`` after ``NOSCRIPT``).

    The worker has its own loader (``worker/core/lua.py``); the producer cannot import it."""

    def __init__(self, name: str) -> None:
        self.source = (resources.files("cio_pipeline.producer") / "lua" / name).read_text()
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: redis.Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


_QUEUE: Final = _Script("queue_send.lua")
_CANCEL: Final = _Script("cancel_send.lua")


def run_script(name: str, client: redis.Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run ``producer/lua/<name>`` (tests and tools; the functions below are the API)."""
    return {"queue_send.lua": _QUEUE, "cancel_send.lua": _CANCEL}[name](client, keys, args)


def queue_send(
    client: redis.Redis,
    keys: Keys,
    idempotency_key: str,
    job_id: str,
    ttl_s: int,
    erase_key_id: str = "",
    marks: Sequence[str] = (),
) -> bool | str | None:
    """Note a send about to be enqueued as job ``job_id`` (before its job is written); True
    when its record was created, False when the key already had one (a repeat send). Nothing
    is written, as the job's own write would refuse it, when one of the erase ``marks`` is set
    (None: the send's person was erased) or Redis's erase key is not ``erase_key_id``
    (``"erase-key"``)."""
    now = time.time()
    ttl_ms = ttl_s * 1000
    created = _QUEUE(
        client,
        [
            keys.delivery_record(idempotency_key),
            keys.send_history(idempotency_key),
            keys.sends,
            keys.erase_key,
            *marks,
        ],
        [
            idempotency_key,
            job_id,
            ttl_ms,
            int(now * 1000),
            history_entry("queued", now, job_id=job_id),
            HISTORY_MAX,
            int(now * 1000) - ttl_ms,
            erase_key_id,
        ],
    )
    if created == -2:
        return "erase-key"
    return None if created == -1 else bool(created)


class CancelResult(enum.StrEnum):
    """The answer to "cancel this send"."""

    CANCELLED = "cancelled"
    """It had not left and never will (also when it was cancelled before)."""
    DELIVERED = "delivered"
    """Too late: Customer.io accepted it (``delivery_id``)."""
    IN_FLIGHT = "in_flight"
    """A worker is sending it right now: it cannot be stopped."""
    AMBIGUOUS = "ambiguous"
    """An attempt may have reached Customer.io: it may have gone out."""
    UNKNOWN = "unknown"
    """No such send (never enqueued here, or its record expired)."""


@dataclass(frozen=True)
class CancelOutcome:
    """What :func:`cancel_send` found and did."""

    result: CancelResult
    delivery_id: str | None = None
    job_id: str | None = None
    already: bool = False
    """For CANCELLED: it had been cancelled before this call."""

    @property
    def message(self) -> str:
        """One line for a person."""
        if self.result is CancelResult.CANCELLED:
            return "already cancelled" if self.already else "cancelled"
        if self.result is CancelResult.DELIVERED:
            return f"already sent: delivery_id {self.delivery_id}"
        if self.result is CancelResult.IN_FLIGHT:
            return f"cannot be cancelled: job {self.job_id} is sending it now"
        if self.result is CancelResult.AMBIGUOUS:
            return (
                f"cannot be cancelled: an attempt (job {self.job_id}) may have reached "
                "Customer.io; see `cio-pipeline dlq show`"
            )
        return "no such send"


def cancel_send(
    client: redis.Redis, keys: Keys, idempotency_key: str, ttl_s: int, by: str = "api"
) -> CancelOutcome:
    """Cancel a queued send, atomically with the worker's claim (``lua/cancel_send.lua``);
    ``by`` (``api``, ``cli``) is noted in its history."""
    ttl_ms = ttl_s * 1000
    reply = [
        part.decode() if isinstance(part, bytes) else str(part)
        for part in _CANCEL(
            client,
            [keys.delivery_record(idempotency_key), keys.send_history(idempotency_key)],
            [ttl_ms, history_entry("cancelled", by=by), HISTORY_MAX],
        )
    ]
    state = reply[0]
    if state == "unknown":
        return CancelOutcome(CancelResult.UNKNOWN)
    if state == DeliveryState.CANCELLED:
        return CancelOutcome(CancelResult.CANCELLED, already=reply[1] == "already")
    if state == DeliveryState.DELIVERED:
        return CancelOutcome(CancelResult.DELIVERED, delivery_id=reply[1])
    if state == DeliveryState.AMBIGUOUS:
        return CancelOutcome(CancelResult.AMBIGUOUS, job_id=reply[1])
    return CancelOutcome(CancelResult.IN_FLIGHT, job_id=reply[1])
