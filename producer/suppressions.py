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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from cio_pipeline.producer.errors import ProducerUnavailable, ValidationError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKey

__all__ = [
    "REASONS",
    "Suppression",
    "active",
    "is_suppressed",
    "lookup",
    "normalize_email",
    "parse_entry",
    "subject",
    "subjects",
]

#: Every reason, most serious first: the first one in force is the one reported.
REASONS: Final = ("spammed", "bounced", "dropped", "manual", "unsubscribed")
#: The event id stored for a reason cleared (not in force) at the stored time.
CLEARED: Final = "-"
_ID_TYPES: Final = ("email", "id", "cio_id")


@dataclass(frozen=True, slots=True)
class Suppression:
    """One reason in force for a subject: why, since when (unix seconds), which event."""

    subject: str
    reason: str
    at: int
    event_id: str


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
    """``(timestamp, event id)`` of one stored field; the event id is ``-`` when cleared."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    stamp, _, event_id = text.partition(" ")
    return int(stamp), event_id or CLEARED


def active(name: str, record: Mapping[Any, Any]) -> list[Suppression]:
    """The reasons in force in one subject's stored hash, most serious first."""
    decoded = {(k.decode() if isinstance(k, bytes) else k): v for k, v in record.items()}
    found = []
    for reason in REASONS:
        raw = decoded.get(reason)
        if raw is None:
            continue
        at, event_id = parse_entry(raw)
        if event_id != CLEARED:
            found.append(Suppression(name, reason, at, event_id))
    return found


def lookup(
    client: redis.Redis, keys: Keys, names: Sequence[str], erase_key: EraseKey | None = None
) -> list[Suppression]:
    """Every reason in force for any of the subjects ``names``, most serious first, in one
    round trip (a pipeline of ``HGETALL``). With the ``erase_key``, also the entries an erase
    kept under the keyed hash of each subject (reported under that hashed name)."""
    if erase_key is not None:
        names = [*names, *(erase_key.marked_subject(name) for name in names)]
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.suppression(name))
        records = pipe.execute()
    found = [s for name, record in zip(names, records, strict=True) for s in active(name, record)]
    return sorted(found, key=lambda s: REASONS.index(s.reason))


def is_suppressed(
    client: redis.Redis,
    keys: Keys,
    address_or_identifiers: str | Mapping[str, Any],
    erase_key: EraseKey | None = None,
) -> str | None:
    """The most serious suppression reason in force (``"bounced"``, ...) or None.

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
