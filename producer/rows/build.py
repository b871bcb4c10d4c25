"""One row's values as one v2 Track operation: an identify, or an event.

- The person: the ``id`` column when it has a value, else ``email``, else ``cio_id`` (column
  names configurable). When the person is addressed by id, a non-empty email column is sent as
  the ``email`` attribute.
- Attributes (event data for an event) are the chosen columns (``columns``, default every
  column but the identifier and event columns). CSV values stay strings unless ``types`` says
  otherwise: a zip code ``02134`` stays ``"02134"``. An empty CSV cell is left out (a CSV
  cannot tell an empty value from a missing one). ISO-8601 values under ``timestamp``,
  ``created_at`` and ``*_at`` become unix seconds through the producer's own normalisation
  when the operation is validated, not here.
- An event when ``event`` names one for every row, or when the row's ``event`` column has a
  value (a row without one is an identify). Its ``timestamp`` column becomes the event's
  timestamp, an ``event_id`` column its id. Without one, the id is derived from the row's
  line and values (:func:`event_id_for`), so importing the same row of the same file twice
  gives the same id and Customer.io keeps the event once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ulid import ULID

from cio_pipeline.producer.errors import CustomerIOException, ValidationError
from cio_pipeline.producer.normalize import MAX_NESTING, MAX_VALUES, to_unix
from cio_pipeline.producer.serializer import DataRefused, check_shape

__all__ = [
    "TYPES",
    "RowBuilder",
    "RowMapping",
    "RowsError",
    "event_id_for",
    "parse_types",
    "row_operation",
]

_MISSING: Final = object()


class RowsError(CustomerIOException):
    """The file or the import's options cannot be used at all (not one bad row: those are
    :class:`ValidationError`); the message says what and where."""


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("must be true/false, 1/0 or yes/no")


def _to_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError("must be valid JSON") from None


#: The types ``--types`` may name, and how a string becomes one (a ValueError refuses it).
TYPES: Final[dict[str, Callable[[str], Any]]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": _to_bool,
    "json": _to_json,
}


def parse_types(spec: str | None) -> dict[str, str]:
    """``"age:int,vip:bool"`` as ``{"age": "int", "vip": "bool"}``; :class:`RowsError` for a
    malformed entry or a type not in :data:`TYPES`."""
    types: dict[str, str] = {}
    for entry in (spec or "").split(","):
        if not entry.strip():
            continue
        column, sep, kind = entry.rpartition(":")
        if not sep or not column.strip() or kind.strip() not in TYPES:
            raise RowsError(
                f"--types entry {entry.strip()!r}: use COLUMN:TYPE, TYPE one of {', '.join(TYPES)}"
            )
        types[column.strip()] = kind.strip()
    return types


@dataclass(frozen=True)
class RowMapping:
    """Which columns mean what (the import's ``--id-column``, ``--columns``, ...)."""

    id_column: str = "id"
    email_column: str = "email"
    cio_id_column: str = "cio_id"
    columns: tuple[str, ...] | None = None
    types: Mapping[str, str] = field(default_factory=dict)
    event: str | None = None
    event_column: str = "event"
    timestamp_column: str = "timestamp"
    event_id_column: str = "event_id"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.types.values()) - set(TYPES))
        if unknown:
            raise RowsError(f"unknown type(s) {', '.join(unknown)}; known: {', '.join(TYPES)}")


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _convert(column: str, value: Any, kind: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return TYPES[kind](value.strip() if kind != "str" else value)
    except ValueError as exc:
        message = str(exc) if kind in ("bool", "json") else f"must be a valid {kind}"
        raise ValidationError(column, f"{message} (--types {column}:{kind})") from None


def event_id_for(line: int, values: Mapping[str, Any], stamp: Any = None) -> str:
    """A ULID that is the same whenever this row (values and line) is imported again.

    128 bits of a hash of the line and the values, with the ULID's time part set to the
    event's timestamp ``stamp`` when it is a readable date (else zero), so that ids still
    sort by time. Two different rows get different ids with overwhelming probability.
    """
    try:
        # Bounded first: a few lists shared 40 levels deep would take json.dumps forever.
        check_shape(dict(values), max_depth=MAX_NESTING + 1, max_items=MAX_VALUES)
        text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    # Values JSON cannot carry (a huge integer, deep nesting, mixed key types): the row's
    # operation is refused when it is validated, naming the column; any id will do until then.
    except (DataRefused, ValueError, TypeError, RecursionError):
        text = ""
    # surrogatepass: a lone surrogate is likewise reported by validation, not here
    digest = hashlib.blake2b(
        f"{line}\x00{text}".encode("utf-8", "surrogatepass"), digest_size=10
    ).digest()
    millis = 0
    if _present(stamp):
        try:
            millis = max(0, min(to_unix(stamp, "timestamp") * 1000, (1 << 48) - 1))
        except ValidationError:
            millis = 0  # validation of the operation reports the bad timestamp
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest))


class RowBuilder:
    """Turns rows into operations under one :class:`RowMapping`.

    What is the same for every row (the columns that are never attributes, the identifier
    columns in order of preference) is worked out once, so a row costs one pass over its
    values (a bulk import's per-row budget is a few microseconds).
    """

    def __init__(self, mapping: RowMapping) -> None:
        self.mapping = mapping
        self._id_columns = (
            (mapping.id_column, "id"),
            (mapping.email_column, "email"),
            (mapping.cio_id_column, "cio_id"),
        )
        # An identify's attributes leave out every identifier column and the event column
        # (whichever identifier the row used); an event's also its timestamp and id columns.
        self._identify_skip = frozenset(
            {mapping.id_column, mapping.email_column, mapping.cio_id_column, mapping.event_column}
        )
        self._event_skip = self._identify_skip | {mapping.timestamp_column, mapping.event_id_column}
        self._types = dict(mapping.types)

    def _identifiers(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        for column, id_type in self._id_columns:
            value = values.get(column)
            if value is not None and value != "":
                return {id_type: value}, column
        mapping = self.mapping
        raise ValidationError(
            mapping.id_column,
            f"the row has no identifier (a value in {mapping.id_column}, "
            f"{mapping.email_column} or {mapping.cio_id_column})",
        )

    def _attributes(self, values: Mapping[str, Any], skip: frozenset[str]) -> dict[str, Any]:
        columns = self.mapping.columns
        if columns is None:
            # an empty CSV cell is left out (a CSV cannot tell it from a missing value)
            out = {
                name: value for name, value in values.items() if value != "" and name not in skip
            }
        else:
            out = {}
            for name in columns:
                value = values.get(name, _MISSING)
                if value is not _MISSING and value != "" and name not in skip:
                    out[name] = value
        types = self._types
        if types:
            # in column order, so that the first bad value is the one reported
            for name, value in out.items():
                kind = types.get(name)
                if kind is not None:
                    out[name] = _convert(name, value, kind)
        return out

    def operation(self, values: Mapping[str, Any], line: int) -> dict[str, Any]:
        """The v2 operation of the row on ``line`` (still to be validated by the producer);
        raises :class:`ValidationError` naming the column when the row cannot be one."""
        identifiers, id_column = self._identifiers(values)
        mapping = self.mapping
        name = mapping.event
        if name is None:
            event_value = values.get(mapping.event_column)
            name = event_value if event_value is not None and event_value != "" else None
        if name is None:
            attributes = self._attributes(values, self._identify_skip)
            email = values.get(mapping.email_column)
            if id_column != mapping.email_column and email is not None and email != "":
                attributes["email"] = email
            return {
                "type": "person",
                "identifiers": identifiers,
                "action": "identify",
                "attributes": attributes,
            }
        op: dict[str, Any] = {
            "type": "person",
            "identifiers": identifiers,
            "action": "event",
            "name": name,
            "attributes": self._attributes(values, self._event_skip),
        }
        stamp = values.get(mapping.timestamp_column)
        if _present(stamp):
            kind = self._types.get(mapping.timestamp_column)
            op["timestamp"] = (
                stamp if kind is None else _convert(mapping.timestamp_column, stamp, kind)
            )
        event_id = values.get(mapping.event_id_column)
        op["id"] = event_id if _present(event_id) else event_id_for(line, values, stamp)
        return op


def row_operation(values: Mapping[str, Any], line: int, mapping: RowMapping) -> dict[str, Any]:
    """The v2 operation of one row (still to be validated by the producer); raises
    :class:`ValidationError` naming the column when the row cannot be one. For many rows,
    build a :class:`RowBuilder` once."""
    return RowBuilder(mapping).operation(values, line)
