"""Track operations: built from the SDK's calls, validated and normalised to the v2 shape.

Every builder returns a :class:`TrackOp` (the operation dict plus what the job contract needs
to route and describe it) or raises :class:`ValidationError`. Pure functions: no Redis here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.ids import is_ulid, new_event_id
from cio_pipeline.producer.normalize import (
    LIMITS,
    check_attributes,
    check_bytes,
    check_identifier,
    encoded_size,
    normalize_mapping,
    plain_attributes,
    to_unix,
)

__all__ = [
    "ID_TYPES",
    "TrackOp",
    "anonymous_event",
    "identifiers_from_value",
    "identify_op",
    "merge_op",
    "person_op",
    "validate_v2_operation",
]

#: Identifier types a person may be addressed by.
ID_TYPES: Final = ("id", "email", "cio_id")
_EVENT_ACTIONS: Final = frozenset({"event", "page", "screen"})
_PLAIN_ACTIONS: Final = frozenset({"delete", "suppress", "unsuppress"})
_ACTIONS: Final = frozenset(
    {"identify", "add_device", "delete_device", "merge"} | _EVENT_ACTIONS | _PLAIN_ACTIONS
)
_PLATFORMS: Final = ("ios", "android")


@dataclass(frozen=True, slots=True)
class TrackOp:
    """A normalised Track operation and its routing key.

    ``operation`` is the v2 operation, or for an anonymous event (``anonymous=True``) the v1
    ``/api/v1/events`` body. ``route`` is the (identifier type, value) that picks the partition.
    ``description`` names the operation and identifier type, never a value.
    """

    operation: dict[str, Any]
    route: tuple[str, str]
    description: str
    anonymous: bool = False


def identifiers_from_value(value: Any, field: str) -> dict[str, str]:
    """The v2 identifiers of an SDK-style customer id, by its shape (as Customer.io's v1 does):
    ``cio_<x>`` is a cio_id, a value with ``@`` an email, anything else an id."""
    text = check_identifier(value, field)
    if text.startswith("cio_"):
        return {"cio_id": text[4:]}
    if "@" in text:
        return {"email": text}
    return {"id": text}


def _identifiers(value: Any, field: str) -> tuple[dict[str, str], tuple[str, str]]:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValidationError(field, f"must hold exactly one of {', '.join(ID_TYPES)}")
    ((id_type, raw),) = value.items()
    if id_type not in ID_TYPES:
        raise ValidationError(f"{field}.{id_type}", f"identifier type must be one of {ID_TYPES}")
    text = check_identifier(raw, f"{field}.{id_type}")
    return {id_type: text}, (id_type, text)


def _event_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(field, "must be a non-blank string")
    text: str = str.__str__(name)  # a plain str: a subclass would not survive the pickle
    check_bytes(text, LIMITS.event_name_bytes, field)
    return text


def _event_id(value: Any) -> str:
    if value is None:
        return new_event_id()
    if not is_ulid(value):
        raise ValidationError("id", "an event id must be a ULID (26 characters, Crockford base32)")
    return str(value).upper()


def _event_data(data: Any, field: str) -> dict[str, Any]:
    normalized = normalize_mapping({} if data is None else data, field)
    if encoded_size(normalized) > LIMITS.event_data_bytes:
        raise ValidationError(
            field, f"is larger than Customer.io's {LIMITS.event_data_bytes} bytes"
        )
    return normalized


def _finish(op: dict[str, Any], route: tuple[str, str], description: str) -> TrackOp:
    if encoded_size(op) > LIMITS.operation_bytes:
        raise ValidationError(
            "operation", f"is larger than Customer.io's {LIMITS.operation_bytes}-byte limit"
        )
    return TrackOp(op, route, description)


def _describe(action: str, route: tuple[str, str], name: str | None = None) -> str:
    what = f"{action} {name!r}" if name is not None else action
    return f"cio {what} (person by {route[0]})"


def _apply_action_fields(op: dict[str, Any], action: str) -> str | None:
    """Validate and normalise the action-specific fields of ``op`` in place; return the event
    name for events."""
    if op.get("timestamp") is not None:
        op["timestamp"] = to_unix(op["timestamp"], "timestamp")
    else:
        op.pop("timestamp", None)
    if action == "identify":
        attributes = normalize_mapping(op.get("attributes") or {}, "attributes")
        check_attributes(attributes, "attributes")
        op["attributes"] = attributes
    elif action in _EVENT_ACTIONS:
        op["name"] = _event_name(op.get("name"))
        op["id"] = _event_id(op.get("id"))
        op["attributes"] = _event_data(op.get("attributes"), "attributes")
        return str(op["name"])
    elif action in ("add_device", "delete_device"):
        op["device"] = _device(op.get("device"), needs_platform=action == "add_device")
    return None


def _device(device: Any, *, needs_platform: bool) -> dict[str, Any]:
    device = normalize_mapping(device, "device")
    token = device.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ValidationError("device.token", "must be a non-blank string")
    if needs_platform and device.get("platform") not in _PLATFORMS:
        raise ValidationError("device.platform", f"must be one of {_PLATFORMS}")
    if device.get("last_used") is None:
        device.pop("last_used", None)  # the spec's last_used is an integer, never null
    if "attributes" in device:
        attributes = normalize_mapping(device["attributes"], "device.attributes")
        check_attributes(attributes, "device.attributes")
        for name, value in attributes.items():
            if not isinstance(value, str):  # Customer.io's spec: device attributes are strings
                raise ValidationError(f"device.attributes.{name}", "must be a string")
    return dict(device)


def person_op(action: str, customer_id: Any, **fields: Any) -> TrackOp:
    """A v2 person operation for an SDK call addressed by an SDK-style customer id."""
    identifiers = identifiers_from_value(customer_id, "customer_id")
    op: dict[str, Any] = {"type": "person", "identifiers": identifiers, "action": action}
    op.update(fields)
    route = next(iter(identifiers.items()))
    name = _apply_action_fields(op, action)
    return _finish(op, route, _describe(action, route, name))


#: '{"type":"person","identifiers":{"":},"action":"identify","attributes":}' without the
#: identifier type, the identifier and the attributes: what an identify adds around them.
_IDENTIFY_FRAME_BYTES: Final = 71
_IDENTIFY_DESCRIPTIONS: Final = {
    id_type: _describe("identify", (id_type, "")) for id_type in ("id", "email", "cio_id")
}


def identify_op(customer_id: Any, attributes: dict[str, Any]) -> TrackOp:
    """``person_op("identify", customer_id, attributes=attributes)``, the same operation and
    errors, in fewer steps for the common case (:func:`plain_attributes`): no second walk of
    the attributes, and the 32 KB size check only measured when a bound cannot rule it out.
    """
    plain = plain_attributes(attributes)
    if plain is None:
        return person_op("identify", customer_id, attributes=attributes)
    identifiers = identifiers_from_value(customer_id, "customer_id")
    ((id_type, text),) = identifiers.items()
    normalized, bound = plain
    op = {"type": "person", "identifiers": identifiers, "action": "identify"}
    op["attributes"] = normalized
    route = (id_type, text)
    description = _IDENTIFY_DESCRIPTIONS[id_type]
    bound += _IDENTIFY_FRAME_BYTES + len(id_type) + 6 * len(text) + 2
    if bound <= LIMITS.operation_bytes and text.isascii():
        return TrackOp(op, route, description)
    return _finish(op, route, description)


def validate_v2_operation(operation: Any, index: int | None = None) -> TrackOp:
    """Validate and normalise one caller-built v2 operation (``batch()`` items)."""
    where = "operation" if index is None else f"operations[{index}]"
    if not isinstance(operation, dict):
        raise ValidationError(where, "must be a dict in Customer.io's v2 shape")
    if operation.get("type") != "person":
        raise ValidationError(f"{where}.type", "only 'person' operations are supported")
    action = operation.get("action")
    if action not in _ACTIONS:
        raise ValidationError(f"{where}.action", f"must be one of {sorted(_ACTIONS)}")
    try:
        op = dict(operation)
        if action == "merge":
            op["primary"], route = _identifiers(op.get("primary"), "primary")
            op["secondary"], _ = _identifiers(op.get("secondary"), "secondary")
            op.pop("identifiers", None)
        else:
            op["identifiers"], route = _identifiers(op.get("identifiers"), "identifiers")
        op = normalize_mapping(op, "")
        name = _apply_action_fields(op, action)
        return _finish(op, route, _describe(action, route, name))
    except ValidationError as exc:
        if index is None:
            raise
        raise ValidationError(f"{where}.{exc.field}", exc.reason) from None


def merge_op(primary_type: Any, primary_id: Any, secondary_type: Any, secondary_id: Any) -> TrackOp:
    """The v2 merge operation of ``merge_customers``."""
    return validate_v2_operation(
        {
            "type": "person",
            "action": "merge",
            "primary": {primary_type: primary_id} if isinstance(primary_type, str) else None,
            "secondary": {secondary_type: secondary_id}
            if isinstance(secondary_type, str)
            else None,
        }
    )


def anonymous_event(
    anonymous_id: Any, name: Any, data: Any, event_id: Any, timestamp: Any
) -> TrackOp:
    """The v1 ``/api/v1/events`` body of an anonymous event (v2 has no anonymous events)."""
    body: dict[str, Any] = {
        "name": _event_name(name),
        "id": _event_id(event_id),
        "data": _event_data(data, "data"),
    }
    route_value = ""
    if anonymous_id is not None and anonymous_id != "":
        route_value = check_identifier(anonymous_id, "anonymous_id")
        body["anonymous_id"] = route_value
    if timestamp is not None:
        body["timestamp"] = to_unix(timestamp, "timestamp")
    route = ("anonymous_id", route_value)
    op = _finish(body, route, f"cio anonymous event {body['name']!r}")
    return TrackOp(op.operation, route, op.description, anonymous=True)
