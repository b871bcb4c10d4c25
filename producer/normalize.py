"""Value normalisation and Customer.io's limits, applied before anything touches Redis.

- ``datetime`` (anywhere) and ``date`` become integer unix seconds (aware datetimes converted,
  naive ones taken as UTC); so do ISO-8601 strings under the keys ``timestamp``,
  ``created_at``, ``_timestamp``, ``last_used`` and any key ending in ``_at``.
- NaN becomes ``None`` (as the official SDK does); infinities are refused.
- Tuples become lists; subclasses of str, int and float (enums) become the plain type.
- Anything that JSON cannot carry, or that Customer.io or a JSON reader would refuse, raises
  :class:`ValidationError` naming the field, never echoing the value: sets, bytes, objects,
  non-string keys; a string that is not valid Unicode (a lone surrogate); an integer outside
  the signed 64-bit range (:data:`INT_RANGE`); a value nested deeper than
  :data:`MAX_NESTING` levels (which is also how a value that contains itself ends); more
  than :data:`MAX_VALUES` values in one mapping's tree (shared references counted each time
  they are reached, as JSON would repeat them).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Final

from cio_pipeline.producer.compat.json import compact_json
from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.scalars import (
    INT_RANGE,
    check_bytes,
    check_int,
    check_text,
    to_unix,
)

__all__ = [
    "INT_RANGE",
    "LIMITS",
    "MAX_NESTING",
    "MAX_VALUES",
    "check_attributes",
    "check_bytes",
    "check_identifier",
    "check_int",
    "check_text",
    "encoded_size",
    "normalize_mapping",
    "plain_attributes",
    "to_unix",
]


class _Limits:
    identifier_bytes: Final = 150
    attribute_name_bytes: Final = 150
    attribute_value_bytes: Final = 1000
    attributes_per_call: Final = 300
    event_name_bytes: Final = 100
    event_data_bytes: Final = 100_000
    operation_bytes: Final = 32_000
    recipients: Final = 15


#: Customer.io's documented limits (the Track API spec, devtools/emulator/track-api.openapi.json).
LIMITS: Final = _Limits()

#: Deepest nesting of objects and lists below one normalised mapping. Customer.io documents
#: no depth limit; 32 levels is far beyond what an attribute or event needs, and keeps every
#: walk (ours, the JSON encoder's, the worker's) well inside Python's recursion limit.
MAX_NESTING: Final = 32
#: Most values (items of objects and lists) one normalised mapping may hold, counting a
#: shared object each time it is reached. Bounds the time a call can spend here: a few
#: shared lists nested 40 deep would otherwise expand to 2**40 values.
MAX_VALUES: Final = 100_000

_INT_MIN, _INT_MAX = INT_RANGE

_DATE_KEYS: Final = frozenset({"timestamp", "created_at", "_timestamp", "last_used", "send_at"})


def is_date_key(key: str) -> bool:
    """Keys whose values Customer.io treats as unix timestamps."""
    return key in _DATE_KEYS or key.endswith("_at")


class _Walk:
    """Depth and values left while normalising one mapping's tree (see MAX_NESTING)."""

    __slots__ = ("depth", "left")

    def __init__(self) -> None:
        self.depth = 0
        self.left = MAX_VALUES

    def enter(self, size: int, field: str) -> None:
        self.depth += 1
        self.left -= size
        if self.depth > MAX_NESTING:
            raise ValidationError(
                field or "value", f"nests deeper than {MAX_NESTING} levels (or contains itself)"
            )
        if self.left < 0:
            raise ValidationError(field or "value", f"holds more than {MAX_VALUES} values")


def _normalize(value: Any, field: str, walk: _Walk) -> Any:
    # Exact-type checks first: this runs for every value of every call.
    kind = type(value)
    if kind is str:
        check_text(value, field)
        return value
    if kind is int:
        return check_int(value, field)
    if kind is bool or value is None:
        return value
    if kind is float:
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ValidationError(field, "infinity cannot be sent as JSON")
        return value
    if isinstance(value, dict):
        return normalize_mapping(value, field, walk)
    if isinstance(value, list | tuple):
        walk.enter(len(value), field)
        out = [_normalize(item, f"{field}[{i}]", walk) for i, item in enumerate(value)]
        walk.depth -= 1
        return out
    if isinstance(value, datetime | date):
        return to_unix(value, field)
    return _plain_subclass(value, field, walk)


def _plain_subclass(value: Any, field: str, walk: _Walk) -> Any:
    # Subclasses (IntEnum, StrEnum, float subclasses) become the plain type; the base class's
    # own conversion, since a subclass may override __str__/__int__/__float__ with anything.
    if isinstance(value, int):
        return check_int(value, field)
    if isinstance(value, str):
        return _normalize(str.__str__(value), field, walk)
    if isinstance(value, float):
        return _normalize(float.__float__(value), field, walk)
    raise ValidationError(field, f"a {type(value).__name__} cannot be sent as JSON")


def normalize_mapping(mapping: Any, field: str, _walk: _Walk | None = None) -> dict[str, Any]:
    """Normalise a JSON object: string keys, dates converted, NaN to None, no foreign types,
    valid Unicode, 64-bit integers, bounded nesting and size (see the module docstring)."""
    if not isinstance(mapping, dict):
        raise ValidationError(field, f"must be a dict, not {type(mapping).__name__}")
    walk = _Walk() if _walk is None else _walk
    walk.enter(len(mapping), field)
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        kind = type(value)
        # The fast path, for values that are already what they will be sent as, under plain
        # ASCII keys: None and 64-bit ints anywhere (an int under a date key is already unix
        # seconds), ASCII strings and bools under other keys. The field path is only built
        # when needed. (is_date_key inlined: a call per key was a fifth of this loop)
        if type(key) is str and key.isascii():
            if (kind is str and value.isascii()) or kind is bool:
                if not (key in _DATE_KEYS or key.endswith("_at")):
                    out[key] = value
                    continue
            elif value is None or (kind is int and _INT_MIN <= value <= _INT_MAX):
                out[key] = value
                continue
        key, value = _normalize_item(key, value, field, walk)
        out[key] = value
    walk.depth -= 1
    return out


def _normalize_item(key: Any, value: Any, field: str, walk: _Walk) -> tuple[str, Any]:
    if not isinstance(key, str):
        raise ValidationError(
            field or "value", f"keys must be strings, found a {type(key).__name__}"
        )
    key = str.__str__(key)  # a plain str (a StrEnum key would not survive the job's pickle)
    check_text(key, f"{field} (a key)" if field else "a key")
    path = f"{field}.{key}" if field else key
    if value is None or not is_date_key(key):
        return key, _normalize(value, path, walk)
    if key in _DATE_KEYS or not isinstance(value, dict | list | tuple):
        # Reserved date fields must be timestamps; a custom "*_at" may hold a structure.
        return key, to_unix(value, path)
    return key, _normalize(value, path, walk)


def check_identifier(value: Any, field: str) -> str:
    """A person identifier: a non-blank string or an int (sent as a string), <= 150 bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(field, f"must be a string or an integer, not {type(value).__name__}")
    text = str(check_int(value, field)) if isinstance(value, int) else str.__str__(value)
    if not text or text.isspace():  # what `not text.strip()` says, without a copy
        raise ValidationError(field, "cannot be blank")
    check_bytes(text, LIMITS.identifier_bytes, field)
    return text


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (how the worker will send it)."""
    text = compact_json(value)  # the C encoder built once (producer/compat/json.py)
    # An ASCII string's length is its UTF-8 length (isascii is a flag check, not a scan).
    return len(text) if text.isascii() else len(text.encode())


def check_attributes(attributes: dict[str, Any], field: str) -> None:
    """Customer.io's per-call attribute limits: count, name length, value length."""
    if len(attributes) > LIMITS.attributes_per_call:
        raise ValidationError(
            field, f"has {len(attributes)} attributes; the limit is {LIMITS.attributes_per_call}"
        )
    # len() bounds a string's UTF-8 length from below (4 bytes a character at most), so
    # short names and values pass without encoding or building their field path.
    short_name = LIMITS.attribute_name_bytes // 4
    short_value = LIMITS.attribute_value_bytes // 4
    for name, value in attributes.items():
        if len(name) <= short_name:
            kind = type(value)
            if (kind is str and len(value) <= short_value) or kind is int or value is None:
                continue
        path = f"{field}.{name}"
        check_bytes(name, LIMITS.attribute_name_bytes, f"{path} (name)")
        if isinstance(value, str):
            check_bytes(value, LIMITS.attribute_value_bytes, path)
        elif isinstance(value, dict | list) and encoded_size(value) > LIMITS.attribute_value_bytes:
            raise ValidationError(
                path, f"is longer than Customer.io's limit of {LIMITS.attribute_value_bytes} bytes"
            )


def plain_attributes(attributes: dict[str, Any]) -> tuple[dict[str, Any], int] | None:
    """The common case of :func:`normalize_mapping` plus :func:`check_attributes` in one pass.

    For attributes that are already what they will be sent as and well inside the limits
    (plain str/bool values under non-date keys, plain 64-bit ints and None anywhere; short
    ASCII names and short valid strings; at most 300) returns a copy and an upper bound of
    their compact JSON bytes (an unbounded figure when any string is not ASCII, so the exact
    size is measured as before); anything else returns None, and the caller takes the full
    path, which gives the errors.
    """
    if len(attributes) > LIMITS.attributes_per_call:
        return None
    short_name = LIMITS.attribute_name_bytes // 4
    short_value = LIMITS.attribute_value_bytes // 4
    ascii_only = True
    # ',' '"k":' per attribute: 4 bytes beside the name; a string is at most 6 bytes a
    # character once escaped (\u001f), plus its quotes.
    bound = 2
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        kind = type(key)
        if kind is not str or len(key) > short_name or not key.isascii():
            return None
        kind = type(value)
        if kind is str or kind is bool:
            if key in _DATE_KEYS or key.endswith("_at"):
                return None
            if kind is str:
                # An invalid string goes the full path, which names the field.
                if len(value) > short_value or not (value.isascii() or _is_unicode(value)):
                    return None
                ascii_only = ascii_only and value.isascii()
                bound += 6 * len(value) + 2
            else:
                bound += 5
        elif kind is int and _INT_MIN <= value <= _INT_MAX:
            bound += 20  # the digits of a 64-bit integer, and a sign
        elif value is None:
            bound += 4
        else:
            return None
        bound += 6 * len(key) + 4
        out[key] = value
    return out, (bound if ascii_only else LIMITS.operation_bytes + 1)


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
