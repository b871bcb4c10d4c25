"""Turning Track v1 requests and v2 operations into validated :class:`AcceptedOp` values.

Each function returns ``(op, problems)``: ``op`` is None when ``problems`` is not empty.
"""

from __future__ import annotations

from typing import Any

from cio_pipeline.devtools.emulator.schemas import Problem, schema_problems
from cio_pipeline.devtools.emulator.track_rules import (
    AcceptedOp,
    attribute_problems,
    event_problems,
    identifier_problems,
    merge_problems,
    path_identifier,
    person_key,
    timestamp_problems,
)

__all__ = [
    "Parsed",
    "v1_anonymous_event",
    "v1_delete_device",
    "v1_device",
    "v1_event",
    "v1_identify",
    "v1_merge",
    "v1_path_op",
    "v2_operation",
]

Parsed = tuple[AcceptedOp | None, list[Problem]]
_EVENT_ACTIONS = ("event", "page", "screen")
_ID_TYPES = ("id", "email", "phone", "cio_id")


def _done(op: AcceptedOp, problems: list[Problem]) -> Parsed:
    return (None, problems) if problems else (op, [])


def _person(raw: str) -> tuple[str, str, list[Problem]]:
    id_type, key = path_identifier(raw)
    value = key.removeprefix("cio_") if id_type == "cio_id" else key
    return id_type, key, identifier_problems(value, "identifier")


def v1_path_op(raw_identifier: str, action: str) -> Parsed:
    """delete / suppress / unsuppress: everything is in the path."""
    id_type, key, problems = _person(raw_identifier)
    return _done(AcceptedOp(action, key, id_type, api="v1"), problems)


def v1_identify(raw_identifier: str, body: Any) -> Parsed:
    """``PUT /api/v1/customers/{identifier}``: the body is the attributes."""
    id_type, key, problems = _person(raw_identifier)
    problems += attribute_problems(body, "body")
    problems = merge_problems(problems, schema_problems("v1_identify", body))
    timestamp = body.get("_timestamp") if isinstance(body, dict) else None
    data = dict(body) if isinstance(body, dict) else {}
    return _done(
        AcceptedOp("identify", key, id_type, timestamp=timestamp, data=data, api="v1"), problems
    )


def v1_event(raw_identifier: str, body: Any) -> Parsed:
    """``POST /api/v1/customers/{identifier}/events``."""
    id_type, key, problems = _person(raw_identifier)
    return _event(body, problems, "v1_event", key, id_type)


def v1_anonymous_event(body: Any) -> Parsed:
    """``POST /api/v1/events``: no person; ``anonymous_id`` is optional."""
    problems: list[Problem] = []
    if isinstance(body, dict) and body.get("anonymous_id") is not None:
        problems += identifier_problems(body["anonymous_id"], "anonymous_id")
    return _event(body, problems, "v1_anonymous_event", None, None)


def _event(
    body: Any, problems: list[Problem], kind: str, key: str | None, id_type: str | None
) -> Parsed:
    if not isinstance(body, dict):
        return None, [Problem("body", "must be a JSON object")]
    problems += event_problems(body, "data")
    problems = merge_problems(problems, schema_problems(kind, body))
    anonymous_id = body.get("anonymous_id")
    op = AcceptedOp(
        "event",
        key,
        id_type if key is not None else "anonymous_id",
        name=body.get("name"),
        event_id=body.get("id"),
        event_type=body.get("type") or "event",
        timestamp=body.get("timestamp"),
        data=body.get("data") or {},
        api="v1",
        anonymous_id=anonymous_id if isinstance(anonymous_id, str) else None,
    )
    return _done(op, problems)


def v1_device(raw_identifier: str, body: Any) -> Parsed:
    """``PUT /api/v1/customers/{identifier}/devices`` (v1 says ``id`` where v2 says ``token``)."""
    id_type, key, problems = _person(raw_identifier)
    device = body.get("device") if isinstance(body, dict) else None
    if isinstance(device, dict):
        problems += identifier_problems(device.get("id"), "device.id")
        problems += timestamp_problems(device.get("last_used"), "device.last_used")
    problems = merge_problems(problems, schema_problems("v1_device", body))
    return _done(
        AcceptedOp("add_device", key, id_type, device=_device(device, "id"), api="v1"), problems
    )


def v1_delete_device(raw_identifier: str, device_id: str) -> Parsed:
    """``DELETE /api/v1/customers/{identifier}/devices/{device_id}``."""
    id_type, key, problems = _person(raw_identifier)
    problems += identifier_problems(device_id, "device_id")
    return _done(
        AcceptedOp("delete_device", key, id_type, device={"token": device_id}, api="v1"), problems
    )


def v1_merge(body: Any) -> Parsed:
    """``POST /api/v1/merge_customers``."""
    return _merge(body, "v1_merge", "v1")


def _merge(body: Any, kind: str, api: str) -> Parsed:
    if not isinstance(body, dict):
        return None, [Problem("body", "must be a JSON object")]
    keys, problems = [], []
    for side in ("primary", "secondary"):
        key, side_problems = _identifiers(body.get(side), side, ("id", "email", "cio_id"))
        keys.append(key)
        problems += side_problems
    problems = merge_problems(problems, schema_problems(kind, body))
    primary, secondary = keys
    id_type = next(iter(body["primary"])) if not problems else None
    return _done(AcceptedOp("merge", primary, id_type, secondary=secondary, api=api), problems)


def _identifiers(
    value: Any, field: str, allowed: tuple[str, ...]
) -> tuple[str | None, list[Problem]]:
    if not isinstance(value, dict):
        return None, [Problem(field, "is required and must be an object", "required")]
    present = [k for k in allowed if k in value]
    if len(present) != 1 or len(value) != 1:
        return None, [Problem(field, f"must have exactly one of {', '.join(allowed)}")]
    id_type = present[0]
    problems = identifier_problems(value[id_type], f"{field}.{id_type}")
    return (None if problems else person_key(id_type, value[id_type])), problems


def _device(device: Any, token_field: str) -> dict[str, Any] | None:
    if not isinstance(device, dict):
        return None
    return {
        "token": device.get(token_field),
        "platform": device.get("platform"),
        "last_used": device.get("last_used"),
        "attributes": device.get("attributes") or {},
    }


def v2_operation(op: Any) -> Parsed:
    """One ``/api/v2/entity`` body or ``/api/v2/batch`` item."""
    if not isinstance(op, dict):
        return None, [Problem("", "must be a JSON object")]
    kind = op.get("type")
    if kind in ("object", "delivery"):
        problems = schema_problems(f"v2_{kind}", op)
        return _done(AcceptedOp(str(op.get("action")), api="v2", id_type=kind), problems)
    if kind != "person":
        return None, [Problem("type", "must be person, object or delivery")]
    action = op.get("action")
    if action == "merge":
        return _merge(op, "v2_merge", "v2")
    if not isinstance(action, str) or f"v2_{action}" not in _V2_KINDS:
        return None, [Problem("action", "is not a person action the API knows")]
    key, problems = _identifiers(op.get("identifiers"), "identifiers", _ID_TYPES)
    if action in _EVENT_ACTIONS:
        problems += event_problems(op, "attributes")
    elif action == "identify":
        problems += attribute_problems(op.get("attributes"), "attributes")
        problems += timestamp_problems(op.get("timestamp"), "timestamp")
    elif action in ("add_device", "delete_device") and isinstance(op.get("device"), dict):
        problems += identifier_problems(op["device"].get("token"), "device.token")
        problems += timestamp_problems(op["device"].get("last_used"), "device.last_used")
    problems = merge_problems(problems, schema_problems(f"v2_{action}", op))
    if problems:
        return None, problems
    id_type = next(iter(op["identifiers"]))
    return _done(
        AcceptedOp(
            action,
            key,
            id_type,
            name=op.get("name"),
            event_id=op.get("id"),
            event_type=action if action in _EVENT_ACTIONS else "event",
            timestamp=op.get("timestamp"),
            data=op.get("attributes") or {},
            device=_device(op.get("device"), "token"),
        ),
        [],
    )


_V2_KINDS = frozenset(
    {
        "v2_identify",
        "v2_delete",
        "v2_event",
        "v2_page",
        "v2_screen",
        "v2_add_relationships",
        "v2_delete_relationships",
        "v2_add_device",
        "v2_delete_device",
        "v2_suppress",
        "v2_unsuppress",
    }
)
