"""The reporting-webhook event: the envelope check and the typed object the hook receives.

Customer.io posts ``{"event_id", "object_type", "metric", "timestamp", "data": {...}}``
(``customerio-reporting-webhooks.openapi.json``: every object type and metric). The receiver
checks the envelope (:func:`parse_event`) and enqueues the parsed JSON unchanged; the worker
reads it back into a :class:`WebhookEvent` and derives what it means for the suppression
store (:meth:`WebhookEvent.suppression_change`); :func:`timestamp_problem` (the suppression
store's rule, from :mod:`cio_pipeline.producer.suppressions`) says when its time is not plausible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cio_pipeline.producer.suppressions import timestamp_problem

__all__ = [
    "MAX_DEPTH",
    "EventError",
    "SuppressionChange",
    "WebhookEvent",
    "parse_event",
    "timestamp_problem",
]

_MAX_ID_CHARS: Final = 200
_MAX_NAME_CHARS: Final = 64
#: The deepest nesting an event may have (Customer.io's are 3 levels deep); bounds the work
#: of every reader of a job (pickling, the hook's own code).
MAX_DEPTH: Final = 32


class EventError(ValueError):
    """The JSON is not a reporting-webhook event; the message names the field, not values."""


@dataclass(frozen=True, slots=True)
class SuppressionChange:
    """What an event does to the suppression store: set ``reason`` in force, or clear it."""

    action: Literal["set", "clear"]
    reason: str


@dataclass(frozen=True)
class WebhookEvent:
    """One reporting-webhook event, as the application hook (``CIO_WEBHOOK_HOOK``) gets it.

    ``raw`` is the whole event as Customer.io sent it (``data`` holds ``delivery_id``,
    ``action_id``, ``subject``, ``href``, ... depending on ``object_type`` and ``metric``).
    """

    event_id: str
    object_type: str
    """``customer``, ``email``, ``push``, ``sms``, ``in_app``, ``slack``, ``webhook``, ..."""
    metric: str
    """``sent``, ``delivered``, ``opened``, ``bounced``, ``spammed``, ``unsubscribed``, ..."""
    timestamp: int
    """When it happened (unix seconds); later events win in the suppression store."""
    data: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def identifiers(self) -> dict[str, str]:
        """The person's identifiers that are set (``id``, ``email``, ``cio_id``)."""
        found = self.data.get("identifiers")
        if not isinstance(found, Mapping):
            return {}
        return {
            k: str(v)
            for k, v in found.items()
            if k in ("id", "email", "cio_id") and isinstance(v, str | int) and str(v).strip()
        }

    @property
    def email_address(self) -> str | None:
        """The address the event is about: ``data.recipient`` of an e-mail event, or
        ``data.email_address`` of a customer event."""
        key = "recipient" if self.object_type == "email" else "email_address"
        value = self.data.get(key)
        return value.strip() if isinstance(value, str) and "@" in value else None

    @property
    def delivery_id(self) -> str | None:
        """The message's delivery id, when the event is about a message."""
        value = self.data.get("delivery_id")
        return value if isinstance(value, str) else None

    @property
    def failure_message(self) -> str | None:
        """Why a message bounced, was dropped or failed, when Customer.io says."""
        value = self.data.get("failure_message")
        return value if isinstance(value, str) else None

    def suppression_change(self) -> SuppressionChange | None:
        """What this event does to the suppression store, if anything: e-mail ``bounced``,
        ``spammed``, ``dropped`` (when its reason says the address is suppressed) and
        any ``unsubscribed`` set a reason; ``subscribed`` clears ``unsubscribed`` only."""
        if self.metric == "subscribed":
            return SuppressionChange("clear", "unsubscribed")
        if self.metric == "unsubscribed":
            return SuppressionChange("set", "unsubscribed")
        if self.object_type != "email":
            return None
        if self.metric in ("bounced", "spammed"):
            return SuppressionChange("set", self.metric)
        if self.metric == "dropped" and "suppress" in (self.failure_message or "").lower():
            return SuppressionChange("set", "dropped")
        return None

    @property
    def counter(self) -> str:
        """The field of ``<prefix>:counters`` that counts this kind of event."""
        return f"webhook_metric_{self.object_type}_{self.metric}"

    @classmethod
    def from_job(cls, event: Mapping[str, Any]) -> WebhookEvent:
        """The event a webhook job carries (checked again: a job is data from Redis)."""
        return parse_event(event)


def _check_values(event: Mapping[str, Any]) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and text that is not valid Unicode (a
    lone surrogate, which JSON's ``\\ud800`` escape can carry), without recursion."""
    stack: list[tuple[Any, int]] = [(event, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    raise EventError("the event holds text that is not valid Unicode") from None
            continue
        if isinstance(value, Mapping):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise EventError(f"the event is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _name(event: Mapping[str, Any], key: str, max_chars: int) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EventError(f"{key} must be a non-blank string")
    if len(value) > max_chars or not all(c.isalnum() or c in "_-" for c in value):
        raise EventError(f"{key} is not a valid {key}")
    return value


def parse_event(body: bytes | str | Mapping[str, Any]) -> WebhookEvent:
    """The event in ``body`` (raw JSON or its parsed object); :class:`EventError` when it is
    not JSON or not a reporting-webhook envelope (``event_id``, ``object_type``, ``metric``,
    ``timestamp``, ``data``)."""
    if isinstance(body, bytes | str):
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):
            raise EventError("the body is not JSON") from None
    else:
        event = body
    if not isinstance(event, Mapping):
        raise EventError("the body must be a JSON object")
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise EventError("timestamp must be a non-negative integer (unix seconds)")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise EventError("data must be an object")
    _check_values(event)
    return WebhookEvent(
        event_id=_name(event, "event_id", _MAX_ID_CHARS),
        object_type=_name(event, "object_type", _MAX_NAME_CHARS),
        metric=_name(event, "metric", _MAX_NAME_CHARS),
        timestamp=timestamp,
        data=data,
        raw=event,
    )
