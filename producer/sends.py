"""Validation and normalisation of transactional send requests (App API).

:func:`send_payload` turns a ``Send*Request`` (or the equivalent dict, as the SDK accepts) into
the exact JSON body the worker will POST, or raises :class:`ValidationError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.normalize import (
    LIMITS,
    check_identifier,
    encoded_size,
    normalize_mapping,
)
from cio_pipeline.producer.requests import SendRequest

__all__ = ["SendOp", "send_payload"]

_ID_TYPES: Final = ("id", "email", "cio_id")
_MAX_SCHEDULE_S: Final = 90 * 86_400
_MAX_ATTACHMENTS_BYTES: Final = 2_000_000


@dataclass(frozen=True, slots=True)
class SendOp:
    """A validated send: its App API ``kind`` (endpoint), body and dashboard-safe description."""

    kind: str
    payload: dict[str, Any]
    description: str


def _count_recipients(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len([part for part in value.split(",") if part.strip()])
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ValidationError(field, "must be a string or a list of strings")
        return len(value)
    raise ValidationError(field, "must be a string or a list of strings")


def _check_identifiers(payload: dict[str, Any]) -> str:
    identifiers = payload.get("identifiers")
    if not isinstance(identifiers, dict) or len(identifiers) != 1:
        raise ValidationError("identifiers", "must hold exactly one of id, email, cio_id")
    ((id_type, value),) = identifiers.items()
    if id_type not in _ID_TYPES:
        raise ValidationError(
            f"identifiers.{id_type}", f"identifier type must be one of {_ID_TYPES}"
        )
    identifiers[id_type] = check_identifier(value, f"identifiers.{id_type}")
    return str(id_type)


def _check_template(kind: str, payload: dict[str, Any]) -> None:
    template = payload.get("transactional_message_id")
    if template is None:
        if kind != "email":
            raise ValidationError("transactional_message_id", f"is required for {kind} sends")
        missing = [f for f in ("body", "subject", "from") if not payload.get(f)]
        if missing:
            raise ValidationError(
                missing[0], "is required when no transactional_message_id (template) is given"
            )
    elif (
        isinstance(template, bool)
        or not isinstance(template, int | str)
        or not str(template).strip()
    ):
        raise ValidationError(
            "transactional_message_id", "must be an integer id or a non-blank trigger name"
        )


def _check_email(payload: dict[str, Any]) -> None:
    if not payload.get("to"):
        raise ValidationError("to", "is required for e-mail sends")
    count = sum(_count_recipients(payload.get(f), f) for f in ("to", "cc", "bcc"))
    if count > LIMITS.recipients:
        raise ValidationError(
            "to", f"{count} recipients across to/cc/bcc; Customer.io allows {LIMITS.recipients}"
        )
    attachments = payload.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, dict) or not all(
            isinstance(v, str) for v in attachments.values()
        ):
            raise ValidationError("attachments", "must map file names to base64 strings")
        if encoded_size(attachments) > _MAX_ATTACHMENTS_BYTES:
            raise ValidationError("attachments", "are larger than Customer.io's 2 MB limit")


def send_payload(kind: str, request: Any, request_class: type[SendRequest]) -> SendOp:
    """Validate ``request`` for the ``kind`` endpoint and return the normalised send."""
    if isinstance(request, SendRequest):
        if not isinstance(request, request_class):
            raise ValidationError(
                "request", f"a {type(request).__name__} cannot be sent as {request_class.__name__}"
            )
        raw = request._to_dict()
    elif isinstance(request, dict):
        raw = request
    else:
        raise ValidationError("request", f"must be a {request_class.__name__} or a dict")
    payload = normalize_mapping(raw, "")
    id_type = _check_identifiers(payload)
    _check_template(kind, payload)
    if kind == "email":
        _check_email(payload)
    send_at = payload.get("send_at")
    if send_at is not None and send_at > time.time() + _MAX_SCHEDULE_S:
        raise ValidationError("send_at", "is more than 90 days ahead")
    template = payload.get("transactional_message_id")
    what = f"message {template!r}" if template is not None else "no template"
    return SendOp(kind, payload, f"cio send {kind} ({what}, person by {id_type})")
