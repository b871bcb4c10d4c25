"""Keyed hashes of people's identifiers: what an erase leaves behind instead of the identifier.

An erased person must be recognised (new calls for them refused, their kept suppression still
matching) without their identifier or address staying in Redis. Both are stored as a *mark*:
the keyed BLAKE2b hash (RFC 7693's keyed mode, a MAC like HMAC) of the subject under the
erase key, 128 bits in hex, where a subject is ``id:<id>``, ``email:<address>`` (stripped,
lower-cased, as the suppression store does), ``cio_id:<cio id>`` or ``anonymous_id:<id>``.
Keyed BLAKE2b rather than HMAC-SHA256 because every producer call computes one, and BLAKE2b
costs a fraction of HMAC's per mark (docs/performance.md).

The erase key is 32 random bytes generated on first use and kept in Redis
(:meth:`Keys.erase_key`, a hash with the key and a random key id), so no setting is needed and
every producer, worker and ``cio-pipeline erase`` of one Redis agrees. A client fetches it once
(:class:`EraseKeys`, one round trip per client, not per call); the enqueue script compares
the key id the producer used with the stored one, so a producer holding a key that was lost
(a flushed Redis) is told so instead of checking marks nobody can match.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis

from cio_pipeline.producer.errors import ProducerUnavailable, RedisFull
from cio_pipeline.producer.keys import Keys

__all__ = [
    "EraseKey",
    "EraseKeys",
    "job_subjects",
    "normalize_subject",
    "recipient_addresses",
    "route_subjects",
    "send_subjects",
    "track_subjects",
]

#: Identifier types an erase can name, and the subjects' prefixes.
SUBJECT_TYPES: Final = ("id", "email", "cio_id", "anonymous_id")
_MARK_BYTES: Final = 16  # 128 bits: collisions are out of reach, keys stay short


def normalize_subject(id_type: str, value: str) -> str:
    """The subject of one identifier: ``email:`` values stripped and lower-cased (Customer.io
    treats addresses case-insensitively), the others as given."""
    if id_type == "email":
        return f"email:{value.strip().lower()}"
    return f"{id_type}:{value}"


@dataclass(frozen=True, slots=True)
class EraseKey:
    """The erase key of one Redis, and its id (what the enqueue script checks)."""

    secret: bytes
    key_id: str

    def mark(self, subject: str) -> str:
        """The keyed hash of ``subject`` (hex)."""
        return hashlib.blake2b(
            subject.encode(), key=self.secret, digest_size=_MARK_BYTES
        ).hexdigest()

    def marked_subject(self, subject: str) -> str:
        """The suppression subject ``subject``'s entry is kept under after an erase
        (``mark:<keyed hash>``; see :mod:`cio_pipeline.producer.erase_store`)."""
        return f"mark:{self.mark(subject)}"


class EraseKeys:
    """Fetches (creating on first use) and caches one Redis's erase key."""

    def __init__(self, client: redis.Redis, keys: Keys, *, producer_errors: bool = True) -> None:
        self.client = client
        self.keys = keys
        # The producer reports Redis failures as its own typed errors; the worker keeps
        # redis-py's, which its outage handling knows.
        self.producer_errors = producer_errors
        self._key: EraseKey | None = None
        self._lock = threading.Lock()

    def get(self) -> EraseKey:
        """The erase key (one round trip the first time, none after)."""
        key = self._key
        if key is None:
            with self._lock:
                key = self._key = self._key or self.load()
        return key

    def load(self) -> EraseKey:
        """Read the key from Redis, creating it if absent (always a round trip); raises
        :class:`ProducerUnavailable` (nothing written) when Redis cannot be reached."""
        try:
            # One MULTI: creates the key and its id unless present and reads both, so two
            # clients racing on first use end up with the same key.
            with self.client.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self.keys.erase_key, "key", os.urandom(32).hex())
                pipe.hsetnx(self.keys.erase_key, "id", os.urandom(8).hex())
                pipe.hmget(self.keys.erase_key, ["key", "id"])
                secret, key_id = pipe.execute()[-1]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not self.producer_errors:
                raise
            raise ProducerUnavailable(
                f"Redis could not be reached to read the erase key ({type(exc).__name__})"
            ) from None
        except redis.exceptions.OutOfMemoryError:
            if not self.producer_errors:
                raise
            raise RedisFull(
                "Redis is full (maxmemory reached): the erase key could not be made"
            ) from None
        return EraseKey(bytes.fromhex(_text(secret)), _text(key_id))

    def forget(self) -> None:
        """Drop the cached key (the stored one changed): the next :meth:`get` reads it again."""
        self._key = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def recipient_addresses(value: Any) -> Iterator[str]:
    """The addresses in a send's ``to`` (``"a@x.io, Ann <b@y.io>"`` or a list of them)."""
    parts: Iterable[Any] = value.split(",") if isinstance(value, str) else value or ()
    for part in parts:
        if not isinstance(part, str):
            continue
        text = part.strip()
        if text.endswith(">") and "<" in text:
            text = text[text.rindex("<") + 1 : -1]
        if text:
            yield text


def track_subjects(operation: Mapping[str, Any], anonymous: bool) -> list[str]:
    """The subjects a Track operation concerns: its person (both people of a merge), or the
    anonymous id of an anonymous event."""
    if anonymous:
        value = operation.get("anonymous_id")
        return [normalize_subject("anonymous_id", value)] if isinstance(value, str) else []
    found: list[str] = []
    for field in ("identifiers", "primary", "secondary"):
        identifiers = operation.get(field)
        if isinstance(identifiers, Mapping):
            found.extend(
                normalize_subject(str(t), v) for t, v in identifiers.items() if isinstance(v, str)
            )
    return found


def send_subjects(payload: Mapping[str, Any]) -> list[str]:
    """The subjects a transactional send concerns: its identifiers and its ``to`` addresses."""
    found: list[str] = []
    identifiers = payload.get("identifiers")
    if isinstance(identifiers, Mapping):
        found.extend(
            normalize_subject(str(t), str(v))
            for t, v in identifiers.items()
            if isinstance(v, str | int) and not isinstance(v, bool)
        )
    found.extend(normalize_subject("email", a) for a in recipient_addresses(payload.get("to")))
    return list(dict.fromkeys(found))


def route_subjects(route: tuple[str, str], operation: Mapping[str, Any]) -> list[str]:
    """The subjects of a Track operation from its routing key (the producer's hot path):
    the route's alone, except for a merge (both people) and an anonymous event without an
    anonymous id (none)."""
    id_type, value = route
    if "primary" in operation:
        return track_subjects(operation, anonymous=False)
    if not value:
        return []
    if id_type == "email":
        return [f"email:{value.strip().lower()}"]
    return [f"{id_type}:{value}"]


def job_subjects(func: str, operation: Mapping[str, Any]) -> list[str]:
    """The subjects of a job by its function path (see :mod:`cio_pipeline.producer.jobs`):
    none for jobs that are not a person's Track operation or send (webhook events)."""
    if func.endswith(".track_operation"):
        return track_subjects(operation, anonymous=False)
    if func.endswith(".track_anonymous_event"):
        return track_subjects(operation, anonymous=True)
    if ".send_" in func:
        return send_subjects(operation)
    return []
