"""Scalar values as Customer.io and JSON readers take them: text, integers, unix times.

Each check raises :class:`ValidationError` naming the field, never echoing the value.
Used by :mod:`cio_pipeline.producer.normalize` for every value of every call.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any, Final

from cio_pipeline.producer.errors import ValidationError

__all__ = ["INT_RANGE", "check_bytes", "check_int", "check_text", "to_unix"]

#: Smallest and largest integer accepted anywhere: what a JSON reader that keeps integers in
#: 64 bits reads exactly (Customer.io documents no wider number; Python's own int-to-text
#: limit is 4300 digits). A larger number belongs in a string.
INT_RANGE: Final = (-(2**63), 2**63 - 1)
_INT_MIN, _INT_MAX = INT_RANGE
_NOT_UNICODE: Final = "is not valid Unicode text (it holds a lone surrogate)"


def check_text(text: str, field: str) -> None:
    """Refuse a string that cannot be encoded as UTF-8 (a lone surrogate)."""
    if not text.isascii():  # a flag check: ASCII strings are always valid
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ValidationError(field, _NOT_UNICODE) from None


def check_int(value: int, field: str) -> int:
    """``value`` as a plain int, refused outside :data:`INT_RANGE`."""
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValidationError(
            field, "is outside the 64-bit integer range JSON readers accept (send it as a string)"
        )
    return int.__int__(value)  # a plain int, whatever the subclass says its int is


def to_unix(value: Any, field: str) -> int:
    """A date-like value as integer unix seconds; raises ValidationError if it is not one."""
    if isinstance(value, bool):
        raise ValidationError(field, "must be a unix timestamp or a date, not a boolean")
    if isinstance(value, int):
        return check_int(value, field)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(field, "must be a finite unix timestamp")
        return check_int(int(value), field)
    if isinstance(value, datetime | date):
        return _datetime_to_unix(value, field)
    if isinstance(value, str):
        text = value.strip()
        # isdigit() alone accepts "²" and other digits int() refuses; 19 digits bound int64.
        if text.isascii() and text.isdigit():
            if len(text) > 19:
                check_int(_INT_MAX + 1, field)
            return check_int(int(text), field)
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
        return _datetime_to_unix(parsed, field)
    raise ValidationError(field, f"must be a unix timestamp or a date, not {type(value).__name__}")


def _datetime_to_unix(value: date, field: str) -> int:
    try:
        if not isinstance(value, datetime):
            return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return math.floor(aware.timestamp())
    # Year 1 or 9999 shifted out of range by its offset, or a tzinfo of the caller's that fails.
    except (ArithmeticError, ValueError, TypeError, OSError):
        raise ValidationError(field, "is a date that cannot be converted to unix time") from None


def check_bytes(text: str, limit: int, field: str) -> None:
    """Refuse a string longer than ``limit`` bytes of UTF-8, or not valid Unicode."""
    if text.isascii():  # a flag check: the length is the UTF-8 length
        size = len(text)
    else:
        try:
            size = len(text.encode())
        except UnicodeEncodeError:
            raise ValidationError(field, _NOT_UNICODE) from None
    if size > limit:
        raise ValidationError(field, f"is longer than Customer.io's limit of {limit} bytes")
