"""Validation of transactional (App API) send requests.

The App API is not in the published Track spec; these rules follow Customer.io's App API
documentation (docs/design.md; the Track API spec beside this package). A send is rejected with the
first problem found, as the App API answers one ``{"meta": {"error": "..."}}`` per request.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

__all__ = ["MAX_RECIPIENTS", "SEND_KINDS", "send_problem"]

SEND_KINDS = ("email", "push", "sms", "in_app", "inbox_message", "whatsapp")
MAX_RECIPIENTS = 15
ATTACHMENTS_MAX_BYTES = 2 * 1024 * 1024
SEND_AT_MAX_AHEAD_S = 90 * 86_400
_BOOLEANS = (
    "disable_message_retention",
    "send_to_unsubscribed",
    "tracked",
    "queue_draft",
    "disable_css_preprocessing",
    "fake_bcc",
)
_TEMPLATELESS_EMAIL = ("body", "subject", "from")


def send_problem(kind: str, body: Any, now: float | None = None) -> str | None:
    """Why the send request ``body`` of ``kind`` is invalid, or None when it is valid."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    for check in (_identifiers, _message_id, _types, _send_at, _attachments):
        problem = check(kind, body, time.time() if now is None else now)
        if problem:
            return problem
    if kind == "email":
        return _email(body)
    return None


def _identifiers(kind: str, body: dict[str, Any], now: float) -> str | None:
    identifiers = body.get("identifiers")
    if not isinstance(identifiers, dict):
        return "identifiers is required: an object with exactly one of id, email, cio_id"
    keys = [k for k in ("id", "email", "cio_id") if k in identifiers]
    if len(keys) != 1 or len(identifiers) != 1:
        return "identifiers must have exactly one of id, email, cio_id"
    value = identifiers[keys[0]]
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        return f"identifiers.{keys[0]} must be a non-blank string"
    return None


def _message_id(kind: str, body: dict[str, Any], now: float) -> str | None:
    message_id = body.get("transactional_message_id")
    if message_id is None:
        # only an e-mail can be sent without a template (body/subject/from inline)
        return None if kind == "email" else "transactional_message_id is required"
    if isinstance(message_id, bool) or not isinstance(message_id, int | str):
        return "transactional_message_id must be an integer or a trigger name"
    if isinstance(message_id, str) and not message_id.strip():
        return "transactional_message_id must not be blank"
    return None


def _types(kind: str, body: dict[str, Any], now: float) -> str | None:
    for name in _BOOLEANS:
        if name in body and not isinstance(body[name], bool):
            return f"{name} must be a boolean"
    for name in ("message_data", "headers"):
        if name in body and not isinstance(body[name], dict):
            return f"{name} must be an object"
    for name in ("to", "cc", "bcc", "from", "subject", "body", "reply_to", "language"):
        if name in body and not isinstance(body[name], str):
            return f"{name} must be a string"
    return None


def _send_at(kind: str, body: dict[str, Any], now: float) -> str | None:
    send_at = body.get("send_at")
    if send_at is None:
        return None
    if isinstance(send_at, bool) or not isinstance(send_at, int):
        return "send_at must be an integer unix timestamp"
    if send_at > now + SEND_AT_MAX_AHEAD_S:
        return "send_at must be at most 90 days in the future"
    return None


def _attachments(kind: str, body: dict[str, Any], now: float) -> str | None:
    attachments = body.get("attachments")
    if attachments is None:
        return None
    if not isinstance(attachments, dict):
        return "attachments must be an object of file name -> base64 content"
    total = 0
    for content in attachments.values():
        if not isinstance(content, str):
            return "attachment content must be a base64 string"
        try:
            total += len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            return "attachment content must be valid base64"
    if total >= ATTACHMENTS_MAX_BYTES:
        return "attachments must total less than 2 MB"
    return None


def _recipients(body: dict[str, Any]) -> int:
    return sum(
        len([a for a in body[f].split(",") if a.strip()])
        for f in ("to", "cc", "bcc")
        if isinstance(body.get(f), str)
    )


def _email(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("to"), str) or not body["to"].strip():
        return "to is required"
    if _recipients(body) > MAX_RECIPIENTS:
        return f"at most {MAX_RECIPIENTS} recipients across to, cc and bcc"
    if body.get("transactional_message_id") is None:
        missing = [f for f in _TEMPLATELESS_EMAIL if not body.get(f)]
        if missing:
            return f"without a transactional_message_id, {', '.join(missing)} required"
    return None
