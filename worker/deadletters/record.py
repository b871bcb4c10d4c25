"""The dead-letter record: why a job was parked, in one frozen type with its stored form.

Every writer (the transactional path, the Track path, the worker's refusal of a forged job)
builds a :class:`DeadLetterRecord`; every reader (``cio-pipeline dlq``, the worker's log line,
rq-dashboard through the failure text) reads one back with :meth:`DeadLetterRecord.from_meta`.
It is stored as primitives in the job's ``meta["dead_letter"]`` (the safe serializer takes
nothing else), and its :meth:`~DeadLetterRecord.text` is the failure text rq-dashboard's
Failed view and ``dlq show`` print. Attribute values and message bodies never go in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

from cio_pipeline.worker.core.errors import JobOutcome

__all__ = ["META_KEY", "DeadLetter", "DeadLetterRecord"]

#: Where the record lives in a job's ``meta``.
META_KEY: Final = "dead_letter"
#: The latest time a record may hold: 9999-12-31T23:59:59Z, the last a date can show.
_LATEST_S: Final = 253_402_300_799


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _time(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # compared without float(): a huge int would overflow it; NaN compares False
    return 0 <= value <= _LATEST_S


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000


#: Each field's check; a stored value that fails it is damaged and reads as the default.
_VALID: Final[dict[str, Callable[[Any], bool]]] = {
    "reason": lambda v: _text(v) and bool(v),
    "operation": _text,
    "status": lambda v: v is None or (_count(v) and 100 <= v <= 599),
    "message": _text,
    "attempts": _count,
    "first_attempt_at": _time,
    "last_attempt_at": _time,
    "ambiguous": lambda v: isinstance(v, bool),
    "queue": lambda v: v is None or _text(v),
}


@dataclass(frozen=True)
class DeadLetterRecord:
    """What a person needs to act on a dead letter."""

    reason: str
    """Why it was parked, in words (``Customer.io refused it``, ``gave up after 10 attempts``)."""
    operation: str
    """What the job does (``identify``, ``send email``, ``unknown`` for a job we cannot read)."""
    status: int | None = None
    """The last HTTP status, when there was an answer."""
    message: str = ""
    """Customer.io's message (or ours), one line."""
    attempts: int = 0
    first_attempt_at: float | None = None
    last_attempt_at: float | None = None
    ambiguous: bool = False
    """True when the send may have reached Customer.io: replaying it may send it twice."""
    queue: str | None = None
    """The queue the job came from."""

    def to_meta(self) -> dict[str, Any]:
        """The record as primitives, for ``job.meta[META_KEY]``."""
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> DeadLetterRecord | None:
        """The record stored in a job's ``meta``, or None when it holds none. Tolerant of
        records written by older versions (missing fields take their defaults) and of damaged
        ones (see :meth:`read`)."""
        return cls.read(meta)[0]

    @classmethod
    def read(cls, meta: Mapping[str, Any]) -> tuple[DeadLetterRecord | None, list[str]]:
        """The record stored in a job's ``meta`` (None when it holds none) and the names of
        its damaged fields: a value of the wrong type or out of range (a time of ``1e300``, a
        ``None`` reason) reads as the field's default instead of failing every reader."""
        stored = meta.get(META_KEY)
        if not isinstance(stored, Mapping):
            return None, []
        defaults = {f.name: f.default for f in fields(cls)}
        defaults.update(reason="dead letter", operation="unknown")
        values, damaged = {}, []
        for name, valid in _VALID.items():
            if name not in stored:
                continue
            if valid(stored[name]):
                values[name] = stored[name]
            else:
                damaged.append(name)
        return cls(**{**defaults, **values}), damaged

    def text(self) -> str:
        """The one-paragraph failure text (rq-dashboard's Failed view, ``dlq show``)."""
        return "\n".join(
            [
                f"dead letter: {self.operation}: {self.reason}",
                f"HTTP status: {self.status}",
                f"Customer.io said: {self.message or '-'}",
                f"attempts: {self.attempts}",
                f"ambiguous: {'yes' if self.ambiguous else 'no'}",
            ]
        )


class DeadLetter(JobOutcome):
    """Raised by a job that cannot be delivered: the worker parks it with ``record``."""

    def __init__(self, record: DeadLetterRecord) -> None:
        super().__init__(record.reason)
        self.record = record
