"""Reading a send's life back: :func:`send_status` (one send) and :func:`recent_sends`.

A send's life is its delivery record, its history (both in
:mod:`cio_pipeline.producer.send_records`) and, once Customer.io gave it a ``delivery_id``, the
reporting-webhook events for that ``delivery_id`` (delivered, opened, clicked, bounced, ...),
which the webhook worker adds to a per-delivery list. The state a person sees
(:data:`STATES`) is the record's, refined by the last history entry while the record says
queued: a send waiting for a retry is ``retrying``, one dead-lettered as refused is ``dead``,
one skipped because a recipient is suppressed is ``skipped``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import DeliveryRecord, DeliveryState

__all__ = ["STATES", "SendStatus", "SendSummary", "recent_sends", "send_status"]

#: Sends read per round trip by :func:`recent_sends`.
_PAGE: Final = 500
#: Every state :func:`send_status` reports.
STATES: Final = (
    "queued",
    "retrying",
    "pending",
    "delivered",
    "ambiguous",
    "dead",
    "skipped",
    "cancelled",
)


@dataclass(frozen=True)
class SendStatus:
    """The life of one send."""

    idempotency_key: str
    state: str
    """One of :data:`STATES`."""
    delivery_id: str | None
    history: list[dict[str, Any]]
    """Every entry, oldest first: ``{"at": unix s, "event": "queued" | "attempt" | "sent" |
    "skipped" | "cancelled" | "not_sent", ...}``."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Reporting-webhook events of its delivery: ``{"at", "metric", "event_id", ...}``,
    in time order, each event once."""

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt, oldest first: ``{"at", "attempt", "outcome", "status", ...}`` (the
        history's ``attempt`` entries, and the ``sent`` one: outcome ``delivered``)."""
        return [entry for entry in self.history if entry.get("event") in ("attempt", "sent")]

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form (``cio-pipeline sends show --json``)."""
        return {
            "idempotency_key": self.idempotency_key,
            "state": self.state,
            "delivery_id": self.delivery_id,
            "attempts": self.attempts,
            "events": self.events,
            "history": self.history,
        }


@dataclass(frozen=True)
class SendSummary:
    """One line of :func:`recent_sends`."""

    idempotency_key: str
    queued_at: float
    state: str
    delivery_id: str | None


def _entries(raw: list[Any]) -> list[dict[str, Any]]:
    found = []
    for item in raw:
        try:
            entry = json.loads(item)
        except ValueError:
            continue  # not ours: skipped rather than failing the whole view
        if isinstance(entry, dict):
            found.append(entry)
    return found


def _state(record: DeliveryRecord | None, last: dict[str, Any] | None) -> str:
    if record is not None and record.state is not DeliveryState.QUEUED:
        return record.state.value
    event = last.get("event") if last else None
    if event == "skipped":
        return "skipped"
    if event == "attempt":
        return "retrying" if last and last.get("outcome") == "retry" else "dead"
    if event == "cancelled":  # record gone, history kept (should not happen: same TTL)
        return "cancelled"
    return "queued"


def _record(raw: Any) -> DeliveryRecord | None:
    if raw is None:
        return None
    try:
        return DeliveryRecord.parse(raw)
    except ValueError:
        return None


def send_status(client: redis.Redis, keys: Keys, idempotency_key: str) -> SendStatus | None:
    """The life of the send ``idempotency_key``, or None when there is no such send (never
    enqueued through this pipeline's producer, or older than its records). Two round trips
    once the send has a ``delivery_id``, else one."""
    with client.pipeline(transaction=False) as pipe:
        pipe.get(keys.delivery_record(idempotency_key))
        pipe.lrange(keys.send_history(idempotency_key), 0, -1)
        raw_record, raw_history = pipe.execute()
    record = _record(raw_record)
    history = _entries(raw_history)
    if record is None and not history:
        return None
    delivery_id = record.value if record and record.state is DeliveryState.DELIVERED else None
    if delivery_id is None:
        delivery_id = next(
            (e["delivery_id"] for e in reversed(history) if e.get("event") == "sent"), None
        )
    events: list[dict[str, Any]] = []
    if delivery_id:
        seen: set[str] = set()
        for event in _entries(client.lrange(keys.delivery_events(delivery_id), 0, -1)):
            event_id = str(event.get("event_id"))
            if event_id not in seen:  # a webhook job retried after appending
                seen.add(event_id)
                events.append(event)
        events.sort(key=lambda e: float(e.get("at") or 0))
    state = _state(record, history[-1] if history else None)
    return SendStatus(idempotency_key, state, delivery_id, history, events)


def recent_sends(
    client: redis.Redis,
    keys: Keys,
    *,
    since_s: float,
    now_s: float,
    state: str | None = None,
    limit: int = 1000,
) -> list[SendSummary]:
    """Sends enqueued in the last ``since_s`` seconds (before ``now_s``), newest first, at most
    ``limit``, only those in ``state`` when given. Read in pages of :data:`_PAGE` sends (two
    round trips each), so a week of sends is never loaded at once."""
    oldest = int((now_s - since_s) * 1000)
    summaries: list[SendSummary] = []
    offset = 0
    while len(summaries) < limit:
        raw: Any = client.zrevrangebyscore(
            keys.sends, "+inf", oldest, start=offset, num=_PAGE, withscores=True
        )
        page = [(_text(member), float(score)) for member, score in raw]
        offset += len(page)
        for summary in _summaries(client, keys, page):
            if state is None or summary.state == state:
                summaries.append(summary)
                if len(summaries) >= limit:
                    break
        if len(page) < _PAGE:
            break
    return summaries


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _summaries(
    client: redis.Redis, keys: Keys, page: list[tuple[str, float]]
) -> Iterator[SendSummary]:
    with client.pipeline(transaction=False) as pipe:
        for key, _ in page:
            pipe.get(keys.delivery_record(key))
            pipe.lindex(keys.send_history(key), -1)
        answers = pipe.execute()
    for n, (key, score) in enumerate(page):
        record = _record(answers[2 * n])
        last = _entries([answers[2 * n + 1]] if answers[2 * n + 1] is not None else [])
        if record is None and not last:
            continue  # expired since the sorted set was last trimmed
        yield SendSummary(
            key,
            score / 1000,
            _state(record, last[0] if last else None),
            record.value if record and record.state is DeliveryState.DELIVERED else None,
        )
