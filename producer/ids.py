"""Event ids (ULIDs), idempotency keys and the stable partition hash."""

from __future__ import annotations

import hashlib

from ulid import ULID

__all__ = ["is_ulid", "new_event_id", "new_idempotency_key", "partition_for"]

_CROCKFORD = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def new_event_id() -> str:
    """A fresh ULID for an event: Customer.io de-duplicates events by this id."""
    return str(ULID())


def new_idempotency_key() -> str:
    """A fresh idempotency key for a transactional send (a ULID: sortable, unique)."""
    return str(ULID())


def is_ulid(value: object) -> bool:
    """True for a 26-character Crockford base32 ULID string (upper or lower case)."""
    if not isinstance(value, str) or len(value) != 26:
        return False
    upper = value.upper()
    # The first character carries only 3 bits of the 48-bit timestamp.
    return upper[0] <= "7" and all(c in _CROCKFORD for c in upper)


def partition_for(id_type: str, value: str, partitions: int) -> int:
    """The Track partition of a person: a stable hash of identifier type and value.

    blake2b, not ``hash()``: the result must be the same in every process, on every host and
    Python version, or one person's operations would land on two partitions and lose order.
    """
    digest = hashlib.blake2b(f"{id_type}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions
