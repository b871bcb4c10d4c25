"""The ``skip_if_suppressed`` check of a send: is any of its recipients suppressed?

The suppression store (:mod:`cio_pipeline.producer.suppressions`, filled by reporting webhooks) is
read in one round trip for every address in ``to`` (``"Ann <ann@example.com>, bob@..."``) and the
person's ``identifiers``. Only sends that ask for it are checked: by default a send goes out
as Customer.io decides (password resets and receipts must still reach a bounced address).
"""

from __future__ import annotations

from email.utils import getaddresses
from typing import Any
from weakref import WeakKeyDictionary

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKey, EraseKeys
from cio_pipeline.producer.suppressions import lookup, subject

__all__ = ["recipients", "suppression_reason"]

# The erase key of each Redis (connection pool) and prefix, read once per worker process.
_ERASE_KEYS: WeakKeyDictionary[Any, dict[str, EraseKeys]] = WeakKeyDictionary()


def _erase_key(connection: redis.Redis, keys: Keys) -> EraseKey:
    by_prefix = _ERASE_KEYS.setdefault(connection.connection_pool, {})
    erase_keys = by_prefix.get(keys.prefix)
    if erase_keys is None:
        erase_keys = by_prefix[keys.prefix] = EraseKeys(connection, keys, producer_errors=False)
    return erase_keys.get()


def recipients(request: dict[str, Any]) -> list[str]:
    """The suppression subjects of a send request (its addresses and identifiers)."""
    found = []
    to = request.get("to")
    if isinstance(to, str):
        for _, address in getaddresses([to]):
            if "@" in address:
                found.append(subject("email", address))
    identifiers = request.get("identifiers")
    if isinstance(identifiers, dict):
        for id_type, value in identifiers.items():
            if id_type in ("id", "email", "cio_id") and value is not None:
                found.append(subject(id_type, value))
    return list(dict.fromkeys(found))


def suppression_reason(connection: redis.Redis, keys: Keys, request: dict[str, Any]) -> str | None:
    """The most serious suppression in force for any recipient of ``request``, or None
    (also an entry an erase kept under the keyed hash of the recipient)."""
    names = recipients(request)
    if not names:
        return None
    found = lookup(connection, keys, names, _erase_key(connection, keys))
    return found[0].reason if found else None
