"""The suppression store's stored form, and the one-round-trip question "is this suppressed?".

Reporting webhooks (``cio_pipeline.worker.webhooks``) write it; applications read it with
:func:`is_suppressed` (also ``CustomerIO.is_suppressed`` / ``APIClient.is_suppressed``) and the
worker reads it before a ``skip_if_suppressed`` send. This module owns the format, so that
every reader and writer agrees:

- a *subject* is ``email:<address>`` (stripped, lower-cased: Customer.io treats addresses
  case-insensitively), ``id:<id>`` or ``cio_id:<cio id>``;
- each subject is a hash (:meth:`Keys.suppression`) with one field per reason, whose value is
  ``"<unix ts> <event id>"`` while the reason is in force and ``"<unix ts> -"`` once it was
  cleared at that time; the timestamp lets a later event win over an earlier one that
  arrives after it (webhooks arrive out of order);
- the sorted set :meth:`Keys.suppressions` lists subjects with a reason in force;
- after an erase, a subject's entry in force is kept under ``mark:<keyed hash>`` instead
  (:mod:`cio_pipeline.producer.erase_store`); a lookup given the erase key matches it.

Times are plausible unix seconds (:func:`timestamp_problem`): from 2000-01-01 to a day ahead of
the clock. Writers refuse anything else, since a later time always wins: one event "from the
year 58903" (a timestamp in milliseconds) would win over every real change and over a manual
``remove``. Readers never fail on what they find: a field that is not in this format (written
by hand, by an older version, or damaged) is reported as *damaged* (:attr:`Suppression.damaged`)
and counts as in force, since when in doubt a message is not sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from cio_pipeline.producer.errors import ProducerUnavailable, ValidationError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKey

__all__ = [
    "DAMAGED",
    "EARLIEST_EVENT_S",
    "FUTURE_SLACK_S",
    "REASONS",
    "Suppression",
    "active",
    "is_suppressed",
    "lookup",
    "normalize_email",
    "parse_entry",
    "read_entry",
    "subject",
    "subjects",
    "timestamp_problem",
]

#: Every reason, most serious first: the first one in force is the one reported.
REASONS: Final = ("spammed", "bounced", "dropped", "manual", "unsubscribed")
#: The event id stored for a reason cleared (not in force) at the stored time.
CLEARED: Final = "-"
#: The reason reported for a subject whose stored record cannot be read at all.
DAMAGED: Final = "damaged"
_ID_TYPES: Final = ("email", "id", "cio_id")
#: The earliest plausible event time, 2000-01-01T00:00:00Z: anything before is not an event
#: Customer.io reports (0, or a value in another unit).
EARLIEST_EVENT_S: Final = 946_684_800
#: How far ahead of our clock a time may be (clocks differ; a day is generous). A timestamp in
#: milliseconds is ~1,000 times now, far beyond it.
FUTURE_SLACK_S: Final = 86_400
_MAX_STAMP_DIGITS: Final = 12


def timestamp_problem(timestamp: int, now: float | None = None) -> str | None:
    """Why ``timestamp`` cannot be an event's time in unix seconds (before 2000-01-01, or more
    than a day ahead of ``now``, e.g. milliseconds), or None when it is plausible."""
    now = time.time() if now is None else now
    if timestamp < EARLIEST_EVENT_S:
        return f"timestamp {timestamp} is before 2000-01-01 (unix seconds expected)"
    if timestamp > now + FUTURE_SLACK_S:
        return f"timestamp {timestamp} is more than a day ahead (unix seconds expected)"
    return None


@dataclass(frozen=True, slots=True)
class Suppression:
    """One reason in force for a subject: why, since when (unix seconds), which event."""

    subject: str
    reason: str
    at: int
    """0 when :attr:`damaged`."""
    event_id: str
    damaged: str | None = None
    """Why the stored entry cannot be read (it counts as in force), or None."""


def normalize_email(address: str) -> str:
    """The stored form of an e-mail address: stripped and lower-cased."""
    return address.strip().lower()


def subject(id_type: str, value: Any) -> str:
    """The subject of one identifier (``email``, ``id`` or ``cio_id``) and its value."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValidationError(id_type, "must be a non-blank string")
    text = str(value).strip()
    return f"email:{normalize_email(text)}" if id_type == "email" else f"{id_type}:{text}"


def subjects(address_or_identifiers: str | Mapping[str, Any]) -> list[str]:
    """The subjects to look up: an e-mail address, or identifiers (``{"id": "42", "email":
    ...}``, any of ``id``/``email``/``cio_id``; ``None`` values are skipped)."""
    if isinstance(address_or_identifiers, str):
        return [subject("email", address_or_identifiers)]
    if not isinstance(address_or_identifiers, Mapping):
        raise ValidationError("address_or_identifiers", "must be an address or a dict")
    found = []
    for id_type, value in address_or_identifiers.items():
        if id_type not in _ID_TYPES:
            raise ValidationError(id_type, f"identifier type must be one of {_ID_TYPES}")
        if value is not None:
            found.append(subject(id_type, value))
    if not found:
        raise ValidationError("address_or_identifiers", "names no identifier")
    return found


def parse_entry(raw: str | bytes) -> tuple[int, str]:
    """``(timestamp, event id)`` of one stored field; the event id is ``-`` when cleared.
    Raises ``ValueError`` for a field not in the stored format (:func:`read_entry` does not)."""
    at, event_id, damaged = read_entry(raw)
    if damaged is not None:
        raise ValueError(damaged)
    return at, event_id


def read_entry(raw: Any, now: float | None = None) -> tuple[int, str, str | None]:
    """``(timestamp, event id, why it is damaged or None)`` of one stored field, whatever it
    holds; a damaged field has timestamp 0."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        return 0, "?", "the stored entry is not UTF-8"
    stamp, _, event_id = text.partition(" ")
    event_id = event_id or CLEARED
    if not (0 < len(stamp) <= _MAX_STAMP_DIGITS and stamp.isascii() and stamp.isdigit()):
        return 0, event_id, "the stored time is not unix seconds"
    at = int(stamp)
    if at > (time.time() if now is None else now) + FUTURE_SLACK_S:
        return 0, event_id, f"the stored time {at} is in the future"
    return at, event_id, None


def _name(raw: Any) -> str:
    return raw.decode(errors="backslashreplace") if isinstance(raw, bytes) else str(raw)


def active(name: str, record: Mapping[Any, Any]) -> list[Suppression]:
    """The reasons in force in one subject's stored hash, most serious first; a damaged field
    counts as in force (see the module docstring)."""
    decoded = {_name(k): v for k, v in record.items()}
    now = time.time()
    found = []
    for reason in REASONS:
        raw = decoded.get(reason)
        if raw is None:
            continue
        at, event_id, damaged = read_entry(raw, now)
        if event_id != CLEARED or damaged is not None:
            found.append(Suppression(name, reason, at, event_id, damaged))
    return found


def _rank(found: Suppression) -> int:
    return REASONS.index(found.reason) if found.reason in REASONS else len(REASONS)


def lookup(
    client: redis.Redis, keys: Keys, names: Sequence[str], erase_key: EraseKey | None = None
) -> list[Suppression]:
    """Every reason in force for any of the subjects ``names``, most serious first, in one
    round trip (a pipeline of ``HGETALL``). A key that is not a hash is one damaged entry
    (reason :data:`DAMAGED`). With the ``erase_key``, also the entries an erase kept under the
    keyed hash of each subject (reported under that hashed name)."""
    if erase_key is not None:
        names = [*names, *(erase_key.marked_subject(name) for name in names)]
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.suppression(name))
        records = pipe.execute(raise_on_error=False)
    found = []
    for name, record in zip(names, records, strict=True):
        if isinstance(record, Exception) and not str(record).startswith("WRONGTYPE"):
            raise record  # Redis failing (or refusing us) is no damaged record
        if not isinstance(record, Mapping):
            found.append(Suppression(name, DAMAGED, 0, "?", "the stored record is not a hash"))
        else:
            found.extend(active(name, record))
    return sorted(found, key=_rank)


def is_suppressed(
    client: redis.Redis,
    keys: Keys,
    address_or_identifiers: str | Mapping[str, Any],
    erase_key: EraseKey | None = None,
) -> str | None:
    """The most serious suppression reason in force (``"bounced"``, ...) or None
    (``"damaged"`` when the stored record cannot be read: when in doubt, do not send).

    One Redis round trip. Raises :class:`ValidationError` for a blank or unknown identifier
    and :class:`ProducerUnavailable` when Redis cannot be reached.
    """
    try:
        found = lookup(client, keys, subjects(address_or_identifiers), erase_key)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ProducerUnavailable(
            f"suppression lookup failed: Redis unavailable ({type(exc).__name__})"
        ) from None
    return found[0].reason if found else None
