"""Counters the workers keep in Redis, shared by every worker: cheap, and riding along.

Two hashes hold the same fields: ``<prefix>:counters`` (all time) and
``<prefix>:counters:<minute>`` (one per minute, ``minute = unix seconds // 60``, expiring
:data:`MINUTE_TTL_S` after it was last written, a little over the hour that ``stats`` reads).
The fields:

- ``<surface>_<outcome>``: operations per surface (``track``, ``transactional``,
  ``webhooks``) and outcome (:data:`OUTCOMES`); each operation counts under one outcome
  (``track_erased``: an erased person's Track operations dropped at the claim;
  ``transactional_cancelled``: sends cancelled while queued, never sent);
- ``sends_skipped_suppressed`` and ``sends_cancelled``: sends not sent because their
  recipient is suppressed (their outcome is ``skipped``) or because they were cancelled
  (the same count as ``transactional_cancelled``, the field docs/sends.md names);
- ``<surface>_requests`` and ``<surface>_429``: HTTP requests and 429 answers;
  ``track_request_ops``: operations carried by Track requests (ops per request = this /
  ``track_requests``);
- the end-to-end latency histogram (produced -> acknowledged by Customer.io) per surface:
  ``<surface>_latency_<i>`` counts deliveries in bucket ``i`` of :data:`LATENCY_BOUNDS_S`
  (the last bucket is +Inf), ``<surface>_latency_ms`` their sum in milliseconds.

Counting never costs a round trip of its own on the hot path: a :class:`Tally` collects counts
in memory and they are written with the next write the path makes anyway (the Track settle
and attempt scripts take them as ARGV; the transactional delivery record's write is a
pipeline with :func:`add_to_pipeline`). Rare outcomes (a retry, a dead letter) may call
:func:`count` directly: one pipelined round trip. The Track path's long-standing
``track_delivered`` total is written by ``settle_batch.lua`` itself, ``track_erased`` by
``claim_batch.lua`` (both into the minute hash too, unless counting is off).

Other paths (webhooks) count into the per-minute buckets with
``count(connection, keys, {"webhooks_processed": 1})`` or, inside a pipeline they already
run, ``add_to_pipeline(pipe, keys, {...})``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis

from cio_pipeline.producer.keys import Keys

__all__ = [
    "LATENCY_BOUNDS_S",
    "MINUTE_TTL_S",
    "OUTCOMES",
    "SURFACES",
    "Tally",
    "add_to_pipeline",
    "count",
    "flush",
    "latency_field",
    "minute_of",
]

#: The surfaces counted and the outcomes of one operation.
SURFACES: Final = ("track", "transactional", "webhooks")
OUTCOMES: Final = ("delivered", "retried", "dead", "skipped", "ambiguous", "erased", "cancelled")
#: Upper bounds (seconds) of the latency histogram's buckets; one more bucket is +Inf.
LATENCY_BOUNDS_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
#: A minute bucket outlives the hour ``stats`` reads by 5 minutes (clock skew between hosts).
MINUTE_TTL_S: Final = 3900


def minute_of(now_s: float) -> int:
    """The minute bucket of unix time ``now_s``."""
    return int(now_s // 60)


def latency_field(surface: str, seconds: float) -> str:
    """The histogram field that a delivery ``seconds`` after it was produced falls in."""
    return f"{surface}_latency_{bisect.bisect_left(LATENCY_BOUNDS_S, seconds)}"


class Tally:
    """Counts waiting to ride along with the next write (thread-safe).

    ``enabled=False`` (``CIO_COUNTERS=0``) drops every count: what ``bench/drain.py``
    compares against.
    """

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.enabled = enabled
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, field: str, n: int = 1) -> None:
        """Count ``n`` more of ``field``."""
        if self.enabled and n:
            with self._lock:
                self._counts[field] += n

    def latency(self, surface: str, produced_at_s: float | None, now_s: float) -> None:
        """Count one delivery produced at ``produced_at_s`` (unix s) into the histogram."""
        if not self.enabled or produced_at_s is None:
            return
        seconds = max(0.0, now_s - produced_at_s)
        with self._lock:
            self._counts[latency_field(surface, seconds)] += 1
            self._counts[f"{surface}_latency_ms"] += round(seconds * 1000)

    def take(self) -> dict[str, int]:
        """The counts so far, forgetting them (the caller writes them)."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts

    def put_back(self, counts: Mapping[str, int]) -> None:
        """Return counts whose write failed, to ride with the next one."""
        with self._lock:
            self._counts.update(counts)

    def lua_args(self, keys: Keys) -> tuple[list[str], list[Any]]:
        """KEYS (all-time hash, this minute's hash) and ARGV (TTL, then field/count pairs) for
        a script that adds the counts; takes the counts (see :meth:`put_back` on failure)."""
        counts = self.take()
        args: list[Any] = [MINUTE_TTL_S]
        for field, n in counts.items():
            args += [field, n]
        return [keys.counters, keys.counters_minute(minute_of(self.clock()))], args


def add_to_pipeline(
    pipe: Any, keys: Keys, counts: Mapping[str, int], now_s: float | None = None
) -> None:
    """Queue the commands adding ``counts`` to the all-time and the minute hash on ``pipe``."""
    if not counts:
        return
    minute_key = keys.counters_minute(minute_of(time.time() if now_s is None else now_s))
    for field, n in counts.items():
        pipe.hincrby(keys.counters, field, n)
        pipe.hincrby(minute_key, field, n)
    pipe.expire(minute_key, MINUTE_TTL_S)


def count(
    connection: redis.Redis, keys: Keys, counts: Mapping[str, int], now_s: float | None = None
) -> None:
    """Add ``counts`` now, in one round trip (for rare outcomes and other paths)."""
    if not counts:
        return
    with connection.pipeline(transaction=False) as pipe:
        add_to_pipeline(pipe, keys, counts, now_s)
        pipe.execute()


def flush(connection: redis.Redis, keys: Keys, tally: Tally, field: str) -> None:
    """Count one ``field`` and write it now with what ``tally`` holds (one round trip); a
    Redis error keeps the counts in the tally for the next write instead of raising."""
    if not tally.enabled:
        return
    tally.add(field)
    counts = tally.take()
    try:
        count(connection, keys, counts, tally.clock())
    except redis.RedisError:
        tally.put_back(counts)
