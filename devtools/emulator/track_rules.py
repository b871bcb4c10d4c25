"""Track API rules beyond the spec's schemas, and the normalised operation they produce.

The spec types a timestamp as ``integer``, but JSON Schema counts ``1.0`` as an integer, and
it says nothing of the documented size limits or of the ULID shape of event ids. Those rules
live here; every check returns :class:`Problem` values instead of raising, so one bad batch
item never hides another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cio_pipeline.devtools.emulator.schemas import Problem

__all__ = [
    "ATTRIBUTES_MAX",
    "ATTRIBUTE_NAME_MAX_BYTES",
    "ATTRIBUTE_VALUE_MAX_BYTES",
    "EVENT_DATA_MAX_BYTES",
    "EVENT_NAME_MAX_BYTES",
    "IDENTIFIER_MAX_BYTES",
    "AcceptedOp",
    "attribute_problems",
    "compact_size",
    "event_problems",
    "identifier_problems",
    "is_ulid",
    "merge_problems",
    "path_identifier",
    "person_key",
    "timestamp_problems",
]

IDENTIFIER_MAX_BYTES = 150
ATTRIBUTE_NAME_MAX_BYTES = 150
ATTRIBUTE_VALUE_MAX_BYTES = 1000
ATTRIBUTES_MAX = 300
EVENT_NAME_MAX_BYTES = 100
EVENT_DATA_MAX_BYTES = 100_000
_CROCKFORD = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
#: Reserved attributes that Customer.io reads as unix seconds.
_TIMESTAMP_ATTRIBUTES = ("created_at", "_timestamp")


@dataclass(frozen=True)
class AcceptedOp:
    """One accepted Track operation, the same shape whether it came through v1 or v2.

    ``person`` is the person's key in the emulator's state: the id, the email, or
    ``cio_<cio_id>`` (the form a v1 path uses). Anonymous events have ``person`` None.
    """

    action: str
    person: str | None = None
    id_type: str | None = None
    name: str | None = None
    event_id: str | None = None
    event_type: str = "event"
    timestamp: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] | None = None
    secondary: str | None = None
    anonymous_id: str | None = None
    api: str = "v2"

    def log_item(self) -> dict[str, Any]:
        """What the request log shows of this operation (no attribute values)."""
        return {
            "identifier": self.person if self.person is not None else self.anonymous_id,
            "identifier_type": self.id_type,
            "action": self.action,
            "event_id": self.event_id,
            "name": self.name,
        }


def person_key(id_type: str, value: str) -> str:
    """The state key of a person: ``cio_`` marks a cio_id, as in a v1 path."""
    return f"cio_{value}" if id_type == "cio_id" else value


def path_identifier(raw: str) -> tuple[str, str]:
    """(identifier type, person key) of a v1 path identifier (already URL-decoded).

    The spec: "we determine the identifier type from the shape of the value".
    """
    if raw.startswith("cio_"):
        return "cio_id", raw
    return ("email" if "@" in raw else "id"), raw


def identifier_problems(value: object, field_name: str) -> list[Problem]:
    """A person identifier must be a non-blank string of at most 150 bytes."""
    if not isinstance(value, str):
        return [Problem(field_name, "must be a string")]
    if not value.strip():
        return [Problem(field_name, "must not be blank", "required")]
    if len(value.encode()) > IDENTIFIER_MAX_BYTES:
        return [Problem(field_name, f"longer than {IDENTIFIER_MAX_BYTES} bytes", "too_long")]
    return []


def is_ulid(value: object) -> bool:
    """True for a 26-character Crockford base32 ULID (either case)."""
    if not isinstance(value, str) or len(value) != 26:
        return False
    upper = value.upper()
    # the first character carries only the top 3 bits of the 48-bit timestamp
    return upper[0] <= "7" and all(c in _CROCKFORD for c in upper)


def timestamp_problems(value: object, field_name: str) -> list[Problem]:
    """Unix seconds as a JSON integer: strings, floats (even ``1.0``) and booleans fail."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return []
    return [Problem(field_name, "must be an integer unix timestamp (seconds)")]


def compact_size(value: object) -> int:
    """Bytes of ``value`` as compact JSON (how we measure Customer.io's size limits)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def attribute_problems(attributes: object, field_name: str) -> list[Problem]:
    """Attribute count, name and value sizes, and the reserved timestamp attributes."""
    if not isinstance(attributes, dict):
        return [] if attributes is None else [Problem(field_name, "must be an object")]
    problems = []
    if len(attributes) > ATTRIBUTES_MAX:
        problems.append(Problem(field_name, f"more than {ATTRIBUTES_MAX} attributes", "too_many"))
    for name, value in attributes.items():
        where = f"{field_name}.{name}" if len(name.encode()) <= 60 else f"{field_name}.<name>"
        if len(name.encode()) > ATTRIBUTE_NAME_MAX_BYTES:
            problems.append(
                Problem(
                    where,
                    f"attribute name longer than {ATTRIBUTE_NAME_MAX_BYTES} bytes",
                    "too_long",
                )
            )
        size = len(value.encode()) if isinstance(value, str) else compact_size(value)
        if size > ATTRIBUTE_VALUE_MAX_BYTES:
            problems.append(
                Problem(
                    where,
                    f"attribute value longer than {ATTRIBUTE_VALUE_MAX_BYTES} bytes",
                    "too_long",
                )
            )
        if name in _TIMESTAMP_ATTRIBUTES:
            problems.extend(timestamp_problems(value, where))
    return problems


def event_problems(body: dict[str, Any], data_field: str) -> list[Problem]:
    """Name, ULID id, integer timestamp and data size of an event (v1 ``data``, v2
    ``attributes``)."""
    problems = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "is required and must be a non-blank string", "required"))
    elif len(name.encode()) > EVENT_NAME_MAX_BYTES:
        problems.append(Problem("name", f"longer than {EVENT_NAME_MAX_BYTES} bytes", "too_long"))
    if "id" in body and not is_ulid(body["id"]):
        problems.append(Problem("id", "must be a ULID (26 characters, Crockford base32)"))
    problems.extend(timestamp_problems(body.get("timestamp"), "timestamp"))
    data = body.get(data_field)
    if data is not None and not isinstance(data, dict):
        problems.append(Problem(data_field, "must be an object"))
    elif data is not None and compact_size(data) > EVENT_DATA_MAX_BYTES:
        problems.append(
            Problem(data_field, f"larger than {EVENT_DATA_MAX_BYTES} bytes", "too_large")
        )
    return problems


def merge_problems(problems: list[Problem], schema: list[Problem]) -> list[Problem]:
    """Our problems plus the schema's, without a second report for an already-named field."""
    named = {p.field for p in problems}
    return problems + [p for p in schema if p.field not in named]
