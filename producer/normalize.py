"""Value normalisation and Customer.io's limits, applied before anything touches Redis.

- ``datetime`` (anywhere) and ``date`` become integer unix seconds (aware datetimes converted,
  naive ones taken as UTC); so do ISO-8601 strings under the keys ``timestamp``,
  ``created_at``, ``_timestamp``, ``last_used`` and any key ending in ``_at``.
- NaN becomes ``None`` (as the official SDK does); infinities are refused.
- Tuples become lists; anything that JSON cannot carry (sets, bytes, objects, non-string keys)
  raises :class:`ValidationError` naming the field, never echoing the value.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any, Final

from cio_pipeline.producer.compat.json import compact_json
from cio_pipeline.producer.errors import ValidationError

__all__ = [
    "LIMITS",
    "check_attributes",
    "check_bytes",
    "check_identifier",
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

_DATE_KEYS: Final = frozenset({"timestamp", "created_at", "_timestamp", "last_used", "send_at"})


def is_date_key(key: str) -> bool:
    """Keys whose values Customer.io treats as unix timestamps."""
    return key in _DATE_KEYS or key.endswith("_at")


def to_unix(value: Any, field: str) -> int:
    """A date-like value as integer unix seconds; raises ValidationError if it is not one."""
    if isinstance(value, bool):
        raise ValidationError(field, "must be a unix timestamp or a date, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(field, "must be a finite unix timestamp")
        return int(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return math.floor(aware.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            # Python 3.11 reads a "Z" itself; the replaced form is for a lowercase "z".
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValidationError(
                    field, "must be a unix timestamp, a datetime or an ISO-8601 string"
                ) from None
        aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        return math.floor(aware.timestamp())
    raise ValidationError(field, f"must be a unix timestamp or a date, not {type(value).__name__}")


def _normalize(value: Any, field: str) -> Any:
    # Exact-type checks first: this runs for every value of every call.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ValidationError(field, "infinity cannot be sent as JSON")
        return value
    if isinstance(value, dict):
        return normalize_mapping(value, field)
    if isinstance(value, list | tuple):
        return [_normalize(item, f"{field}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime | date):
        return to_unix(value, field)
    # Subclasses (IntEnum, StrEnum, numpy-free float subclasses) become the plain type.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _normalize(float(value), field)
    raise ValidationError(field, f"a {type(value).__name__} cannot be sent as JSON")


def normalize_mapping(mapping: Any, field: str) -> dict[str, Any]:
    """Normalise a JSON object: string keys, dates converted, NaN to None, no foreign types."""
    if not isinstance(mapping, dict):
        raise ValidationError(field, f"must be a dict, not {type(mapping).__name__}")
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        kind = type(value)
        # The fast path, for values that are already what they will be sent as: None and
        # plain ints anywhere (an int under a date key is already unix seconds), plain
        # strings and bools under other keys. The field path is only built when needed.
        # (is_date_key inlined: a call per key was a fifth of this loop)
        if (
            (kind is str or kind is bool)
            and type(key) is str
            and not (key in _DATE_KEYS or key.endswith("_at"))
        ):
            out[key] = value
        elif (value is None or kind is int) and type(key) is str:
            out[key] = value
        else:
            out[key] = _normalize_item(key, value, field)
    return out


def _normalize_item(key: Any, value: Any, field: str) -> Any:
    if not isinstance(key, str):
        raise ValidationError(field, f"keys must be strings, found a {type(key).__name__}")
    path = f"{field}.{key}" if field else key
    if value is None or not is_date_key(key):
        return _normalize(value, path)
    if key in _DATE_KEYS or not isinstance(value, dict | list | tuple):
        # Reserved date fields must be timestamps; a custom "*_at" may hold a structure.
        return to_unix(value, path)
    return _normalize(value, path)


def check_identifier(value: Any, field: str) -> str:
    """A person identifier: a non-blank string or an int (sent as a string), <= 150 bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(field, f"must be a string or an integer, not {type(value).__name__}")
    text = str(value)
    if not text or text.isspace():  # what `not text.strip()` says, without a copy
        raise ValidationError(field, "cannot be blank")
    check_bytes(text, LIMITS.identifier_bytes, field)
    return text


def check_bytes(text: str, limit: int, field: str) -> None:
    """Refuse a string longer than ``limit`` bytes of UTF-8."""
    # len() bounds the byte length from below: skip encoding for short strings.
    if len(text) * 4 > limit and len(text.encode()) > limit:
        raise ValidationError(field, f"is longer than Customer.io's limit of {limit} bytes")


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
    (plain str/bool values under non-date keys, plain ints and None anywhere; short names and
    strings; at most 300) returns a copy and an upper bound of their compact JSON bytes (an
    unbounded figure when any string is not ASCII, so the exact size is measured as before);
    anything else returns None, and the caller takes the full path, which gives the errors.
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
        if kind is not str or len(key) > short_name:
            return None
        kind = type(value)
        if kind is str or kind is bool:
            if key in _DATE_KEYS or key.endswith("_at"):
                return None
            if kind is str:
                if len(value) > short_value:
                    return None
                ascii_only = ascii_only and value.isascii()
                bound += 6 * len(value) + 2
            else:
                bound += 5
        elif kind is int:
            # Decimal digits <= bit_length / 3 + 1, and a sign.
            bound += value.bit_length() // 3 + 2
        elif value is None:
            bound += 4
        else:
            return None
        ascii_only = ascii_only and key.isascii()
        bound += 6 * len(key) + 4
        out[key] = value
    return out, (bound if ascii_only else LIMITS.operation_bytes + 1)
