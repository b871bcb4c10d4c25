"""The suppression store (writes) and the ledger of processed events (de-duplication).

The stored form is :mod:`cio_pipeline.producer.suppressions`' (the application reads it there); here
are its writers: webhook events and the ``cio-pipeline suppressions`` command, both through one
compare-and-set script (``change_suppression.lua``) so that a later-timestamped change
always wins. :class:`EventLedger` claims an event id before processing, marks it done after
(counting it in ``<prefix>:counters`` in the same round trip), or releases it when the job
gives up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

import redis

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.suppressions import (
    DAMAGED,
    FUTURE_SLACK_S,
    REASONS,
    Suppression,
    lookup,
    subjects,
)
from cio_pipeline.worker.core.lua import LuaScript
from cio_pipeline.worker.ops.counters import add_to_pipeline

__all__ = [
    "Claim",
    "ClaimResult",
    "EventLedger",
    "Removal",
    "RemoveResult",
    "SuppressionStore",
]

_CHANGE: Final = LuaScript(__package__ or "cio_pipeline.worker.webhooks", "change_suppression.lua")
_CLAIM: Final = LuaScript(__package__ or "cio_pipeline.worker.webhooks", "claim_event.lua")
_RELEASE: Final = LuaScript(__package__ or "cio_pipeline.worker.webhooks", "release_event.lua")
#: The event id recorded by a suppression added by hand.
MANUAL_EVENT_ID: Final = "manual"


class SuppressionStore:
    """Set, clear, list and look up suppressions."""

    def __init__(self, connection: redis.Redis, keys: Keys) -> None:
        self.connection = connection
        self.keys = keys

    def change(
        self,
        names: Sequence[str],
        action: Literal["set", "clear"],
        reasons: Sequence[str],
        at: int,
        event_id: str = MANUAL_EVENT_ID,
    ) -> int:
        """Apply one change at ``at`` (unix seconds) to the subjects ``names``; returns how many
        fields changed (0 when newer changes were there already). Raises
        :class:`ValidationError` for a time more than a day ahead (it would win over every
        later change) and ``ValueError`` for an unknown reason."""
        if not names:
            return 0
        unknown = set(reasons) - set(REASONS)
        if unknown or not reasons:
            raise ValueError(f"unknown suppression reason(s): {sorted(unknown)}")
        latest = int(time.time()) + FUTURE_SLACK_S
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= latest:
            raise ValidationError("at", "must be unix seconds, at most a day ahead of now")
        result = _CHANGE(
            self.connection,
            [self.keys.suppressions, *(self.keys.suppression(n) for n in names)],
            [action, ",".join(reasons), at, event_id, latest, *names],
        )
        return int(result)

    def add(self, address: str, reason: str = "manual", at: int | None = None) -> int:
        """Suppress an address (or ``id:``/``cio_id:`` subject) by hand."""
        return self.change(_subjects(address), "set", [reason], _now(at))

    def remove(self, address: str, at: int | None = None) -> RemoveResult:
        """Clear every reason of an address (or subject) by hand, at ``at`` (default now):
        events older than that stay cleared. Writes nothing when nothing is in force
        (:attr:`Removal.NOT_SUPPRESSED`); says what is still in force when a newer change
        wins (:attr:`Removal.KEPT`). A damaged entry is cleared like any other."""
        names = _subjects(address)
        found = lookup(self.connection, self.keys, names)
        if not found:
            return RemoveResult(Removal.NOT_SUPPRESSED, [])
        when = _now(at)
        if at is None:
            # A person's remove right after an add (or an event) in the same second must win:
            # times are whole seconds and a tie keeps the suppression, so clear just after it.
            when = max([when, *(entry.at + 1 for entry in found if entry.at <= when)])
        self.change(names, "clear", list(REASONS), when)
        remaining = lookup(self.connection, self.keys, names)
        return RemoveResult(Removal.KEPT if remaining else Removal.REMOVED, remaining)

    def show(self, address: str) -> list[Suppression]:
        """The reasons in force for an address or subject, most serious first."""
        return lookup(self.connection, self.keys, _subjects(address))

    def list(self, limit: int = 1000) -> list[Suppression]:
        """Subjects with a reason in force, most recently changed first (up to ``limit``)."""
        names, damaged = [], []
        try:
            members = self.connection.zrevrange(self.keys.suppressions, 0, limit - 1)
        except redis.ResponseError as exc:
            if not str(exc).startswith("WRONGTYPE"):
                raise
            # the index was written by something else
            why = "the index of suppressions is not a sorted set"
            return [Suppression(self.keys.suppressions, DAMAGED, 0, "?", why)]
        for raw in members:
            if not isinstance(raw, bytes):
                names.append(str(raw))
                continue
            try:
                names.append(raw.decode())
            except UnicodeDecodeError:
                shown = raw.decode(errors="backslashreplace")
                damaged.append(Suppression(shown, DAMAGED, 0, "?", "the subject is not UTF-8"))
        return (lookup(self.connection, self.keys, names) if names else []) + damaged


class Removal(Enum):
    """What :meth:`SuppressionStore.remove` did."""

    REMOVED = "removed"
    """Every reason was in force and is now cleared."""
    NOT_SUPPRESSED = "not suppressed"
    """Nothing was in force: nothing written."""
    KEPT = "kept"
    """A change newer than the removal is recorded: those reasons stay in force."""


@dataclass(frozen=True, slots=True)
class RemoveResult:
    """The outcome of a removal, and the reasons still in force (for ``KEPT``)."""

    outcome: Removal
    remaining: list[Suppression]


def _subjects(address: str) -> list[str]:
    """``ann@example.com`` -> ``email:...``; ``id:42`` and ``cio_id:abc`` name a subject."""
    id_type, sep, value = address.partition(":")
    if sep and id_type in ("id", "cio_id", "email"):
        return subjects({id_type: value})
    return subjects(address)


def _now(at: int | None) -> int:
    return int(time.time()) if at is None else at


class ClaimResult(Enum):
    """What :meth:`EventLedger.claim` found."""

    CLAIMED = "claimed"
    DUPLICATE = "duplicate"
    OTHER_JOB = "other"


@dataclass(frozen=True, slots=True)
class Claim:
    """The claim's result and, for ``OTHER_JOB``, the job that holds the event."""

    result: ClaimResult
    owner: str | None = None


class EventLedger:
    """Which events were processed: claim before, mark done after, release on giving up."""

    def __init__(
        self, connection: redis.Redis, keys: Keys, *, pending_ttl_s: int, done_ttl_s: int
    ) -> None:
        self.connection = connection
        self.keys = keys
        self.pending_ttl_ms = pending_ttl_s * 1000
        self.done_ttl_ms = done_ttl_s * 1000

    def claim(self, event_id: str, job_id: str) -> Claim:
        """Claim ``event_id`` for ``job_id`` (a duplicate is counted here)."""
        reply = _CLAIM(
            self.connection,
            [self.keys.webhook_seen(event_id), self.keys.counters],
            [job_id, self.pending_ttl_ms],
        )
        words = [w.decode() if isinstance(w, bytes) else str(w) for w in reply]
        return Claim(ClaimResult(words[0]), words[1] if len(words) > 1 else None)

    def done(self, event_id: str, counter: str) -> None:
        """Mark ``event_id`` processed and count it (``webhooks_processed``, ``counter``, and the
        webhooks surface's ``delivered`` in the per-minute counters), in one round trip."""
        counts = {"webhooks_processed": 1, "webhooks_delivered": 1, counter: 1}
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.webhook_seen(event_id), "done", px=self.done_ttl_ms)
            add_to_pipeline(pipe, self.keys, counts)
            pipe.execute()

    def release(self, event_id: str, job_id: str) -> None:
        """``job_id`` gives up on ``event_id`` (counted as ``webhooks_failed``)."""
        _RELEASE(
            self.connection,
            [self.keys.webhook_seen(event_id), self.keys.counters],
            [job_id],
        )
