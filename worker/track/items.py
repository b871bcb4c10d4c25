"""Claimed Track jobs as delivery items, and how they are cut into requests. Pure functions.

A partition's claimed jobs are delivered strictly in order, as a sequence of *segments*: a
maximal run of v2 operations (bounded by ``CIO_BATCH_MAX_OPS`` and ``CIO_BATCH_MAX_BYTES``)
is one ``/api/v2/batch`` request; an anonymous event (no v2 form) is one ``/api/v1/events``
request in its place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cio_pipeline.producer.jobs import ANONYMOUS_EVENT_FUNC
from cio_pipeline.producer.normalize import LIMITS
from cio_pipeline.producer.serializer import DataRefused, SafeSerializer, inflate
from cio_pipeline.worker.clients.base import encode_json
from cio_pipeline.worker.core.allowed_jobs import TRACK_JOBS, check_call

__all__ = ["Item", "Unreadable", "cut_segments", "decode_item"]

#: ``{"batch":[`` + ``]}``
_ENVELOPE_BYTES: Final = 12


@dataclass(frozen=True, slots=True)
class Item:
    """One claimed job: its id, the operation and the operation's JSON encoding."""

    job_id: str
    operation: dict[str, Any]
    encoded: bytes
    anonymous: bool = False

    @property
    def action(self) -> str:
        """What the operation does (``identify``, ``event``, ... or ``anonymous event``)."""
        return "anonymous event" if self.anonymous else str(self.operation.get("action"))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A claimed job that cannot be delivered as it is (gone, forged, not a Track job)."""

    job_id: str
    reason: str


def decode_item(job_id: str, data: bytes | None) -> Item | Unreadable:
    """The delivery item of a job from its stored ``data`` field (as RQ writes it), or why it
    cannot be one. Never raises: whatever the data holds, the partition moves on.

    Bounded (:mod:`cio_pipeline.producer.serializer`): the data's size before and after
    decompression, and the loaded value's depth and item count, are checked before the
    operation is encoded, so a forged job cannot hold the worker's CPU or memory.
    """
    if data is None:
        return Unreadable(job_id, "the job's data is gone (deleted or expired)")
    try:
        func, instance, args, kwargs = SafeSerializer.loads(inflate(data))
    except DataRefused as exc:
        return Unreadable(job_id, f"unreadable job data: {exc}")
    except Exception as exc:  # any failure to unpickle means "not a job we can deliver"
        return Unreadable(job_id, f"unreadable job data ({type(exc).__name__})")
    refusal = check_call(TRACK_JOBS, func, instance, args, kwargs)
    if refusal is not None:
        return Unreadable(job_id, refusal.reason)
    operation = args[0]
    try:
        encoded = encode_json(operation)
    # What JSON or UTF-8 cannot carry: bytes, sets, NaN, a lone surrogate, a huge integer.
    except (ValueError, TypeError, RecursionError) as exc:
        return Unreadable(job_id, f"operation cannot be encoded as JSON ({type(exc).__name__})")
    if len(encoded) > LIMITS.operation_bytes:
        return Unreadable(
            job_id,
            f"operation is {len(encoded)} bytes, over Customer.io's "
            f"{LIMITS.operation_bytes}-byte limit",
        )
    return Item(job_id, operation, encoded, func == ANONYMOUS_EVENT_FUNC)


def cut_segments(
    items: Sequence[Item], *, max_ops: int, max_bytes: int
) -> Iterator[Sequence[Item]]:
    """Consecutive slices of ``items``, each one request, in order."""
    start = 0
    while start < len(items):
        if items[start].anonymous:
            yield items[start : start + 1]
            start += 1
            continue
        end, size = start, _ENVELOPE_BYTES
        while end < len(items) and end - start < max_ops and not items[end].anonymous:
            added = len(items[end].encoded) + (1 if end > start else 0)
            if end > start and size + added > max_bytes:
                break
            size += added
            end += 1
        yield items[start:end]
        start = end
