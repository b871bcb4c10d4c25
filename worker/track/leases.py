"""Partition leases: each Track partition is drained by at most one worker at a time.

A lease is ``SET <prefix>:lease:<p> <worker id> NX PX <ttl>``, renewed by a heartbeat thread
every third of ``CIO_LEASE_TTL_S`` (so a send in flight never lets it lapse) and released on
a clean stop. Live workers register in a sorted set scored by heartbeat expiry; each takes a
fair share, ``ceil(partitions / live workers)``, of the free partitions and gives back what
exceeds its share, so partitions spread across workers and a dead worker's partitions are
taken over within one lease TTL.

While Redis is away the heartbeat waits inside the Redis client
(:mod:`cio_pipeline.worker.core.outage`) and our leases lapse, as other workers should see; when it
is back the heartbeat takes partitions again. A full Redis refusing the heartbeat's writes is logged
once a minute, never fatal.
"""

from __future__ import annotations

import math
import threading
import zlib

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.lua import LuaScript
from cio_pipeline.worker.core.outage import RedisOutage, is_redis_full

__all__ = ["PartitionLeases"]

log = get_logger("cio.leases")
_LEASE = LuaScript("cio_pipeline.worker.track", "lease.lua")
_LIVE_WORKERS = LuaScript("cio_pipeline.worker.track", "live_workers.lua")
_TAKE_LEASES = LuaScript("cio_pipeline.worker.track", "take_leases.lua")


class PartitionLeases:
    """This worker's leases. Thread-safe: the heartbeat thread and the drainer share it."""

    def __init__(
        self,
        connection: redis.Redis,
        keys: Keys,
        worker_id: str,
        ttl_s: float,
        outage: RedisOutage | None = None,
    ) -> None:
        self.connection = connection
        self.outage = outage or RedisOutage()
        self.keys = keys
        self.worker_id = worker_id
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._surplus: set[int] = set()
        self._share = keys.partitions
        # Where this worker starts looking for free partitions: spreads first choices.
        self._offset = zlib.crc32(worker_id.encode()) % keys.partitions

    def held(self) -> list[int]:
        """Partitions leased now, in order."""
        with self._lock:
            return sorted(self._held)

    def surplus(self) -> set[int]:
        """Partitions over this worker's fair share, to give back between batches."""
        with self._lock:
            return set(self._surplus)

    def heartbeat(self) -> None:
        """Register as live, renew our leases, take free partitions up to our fair share."""
        now_s, _ = self.connection.time()
        live = int(
            _LIVE_WORKERS(
                self.connection,
                keys=[self.keys.track_workers],
                args=[self.worker_id, now_s + self.ttl_ms / 1000, now_s],
            )
        )
        share = math.ceil(self.keys.partitions / max(1, live))
        with self._lock:
            held = sorted(self._held)
            self._share = share
        if held:
            kept = _LEASE(
                self.connection,
                keys=[self.keys.lease(p) for p in held],
                args=[self.worker_id, "renew", self.ttl_ms],
            )
            held = [p for p, ok in zip(held, kept, strict=True) if int(ok)]
        if len(held) < share:
            held += self._acquire(share - len(held), held)
        with self._lock:
            self._held = set(held)
            self._surplus = set(held[share:]) if len(held) > share else set()

    def top_up(self) -> None:
        """Take free partitions up to our last known fair share, between heartbeats, so that
        partitions another worker gave back are not left idle for a heartbeat interval."""
        with self._lock:
            held, share = sorted(self._held), self._share
        if len(held) >= share:
            return
        gained = self._acquire(share - len(held), held)
        if gained:
            with self._lock:
                self._held |= set(gained)

    def _acquire(self, wanted: int, held: list[int]) -> list[int]:
        candidates = [
            p
            for p in (
                (self._offset + i) % self.keys.partitions for i in range(self.keys.partitions)
            )
            if p not in held
        ]
        taken = _TAKE_LEASES(
            self.connection,
            keys=[self.keys.lease(p) for p in candidates],
            args=[self.worker_id, self.ttl_ms, wanted],
        )
        return [p for p, ok in zip(candidates, taken, strict=True) if int(ok)]

    def release(self, partitions: list[int]) -> None:
        """Give partitions back now (their claimed batches stay for the next holder)."""
        if not partitions:
            return
        _LEASE(
            self.connection,
            keys=[self.keys.lease(p) for p in partitions],
            args=[self.worker_id, "release", self.ttl_ms],
        )
        with self._lock:
            self._held -= set(partitions)
            self._surplus -= set(partitions)

    def release_all(self) -> None:
        """Give every partition back and leave the live set (a clean stop)."""
        self.release(self.held())
        self.connection.zrem(self.keys.track_workers, self.worker_id)

    def run_heartbeats(self, stop: threading.Event) -> None:
        """Heartbeat every third of the TTL until ``stop`` is set (the heartbeat thread)."""
        interval_s = self.ttl_ms / 3000
        while not stop.wait(interval_s):
            self.beat_once()

    def beat_once(self) -> None:
        """One :meth:`heartbeat` that never raises a Redis error (it logs it)."""
        try:
            self.heartbeat()
        except redis.RedisError as exc:
            if is_redis_full(exc):
                self.outage.full()
            else:
                log.warning("lease_heartbeat_failed", error=type(exc).__name__)
