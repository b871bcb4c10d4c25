"""The Track drainer: the loop a worker runs, in its own thread, over its leased partitions.

For each leased partition with work, in turn: wait for a Track token *first* (under rate
pressure the partition fills meanwhile, so the claim takes a full batch; at rest a token is
there at once), linger up to ``CIO_BATCH_LINGER_MS`` when the queue holds less than a full
batch, claim, deliver (:mod:`.deliver`). A batch left claimed (a crash, a retry) is always
delivered before anything newer. Stopping (SIGTERM) finishes the request in flight and
leaves anything unsent claimed, at the head, for whoever holds the partition next.

Redis going away pauses the loop inside the Redis client (:mod:`cio_pipeline.worker.core.outage`); a
batch sent but not yet settled when it went stays claimed and is delivered again (at least once:
Track operations are idempotent or de-duplicated). A full Redis refuses some of the loop's writes:
that is logged once a minute and the loop keeps trying, as delivering frees memory.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis
from rq.suspension import WORKERS_SUSPENDED

from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.outage import RedisOutage, is_redis_full
from cio_pipeline.worker.ops.counters import Tally
from cio_pipeline.worker.track.deliver import BatchDelivery, TrackParts
from cio_pipeline.worker.track.leases import PartitionLeases
from cio_pipeline.worker.track.ledger import LeaseLost, Ledger

__all__ = ["DrainerParts", "TrackDrainer"]

log = get_logger("cio.track")

#: How often a worker looks for new Track work: right after work, every 10 ms, backing off
#: to every 50 ms while idle (an idle worker then costs ~1 % of a core; the first operation
#: after a quiet spell waits at most 50 ms to be seen, plus the linger).
_POLL_MIN_S = 0.01
_POLL_MAX_S = 0.05
#: How long a partition whose draining raised an unexpected error is held back.
_ERROR_PAUSE_S = 5.0
#: How often a worker below its fair share looks for partitions another worker gave back.
_TOP_UP_EVERY_S = 0.25


class DrainerParts(TrackParts, Protocol):
    """What the drainer needs from its worker: the Track parts and the Redis connection."""

    @property
    def connection(self) -> redis.Redis: ...
    @property
    def outage(self) -> RedisOutage: ...


class TrackDrainer:
    """Drains the Track partitions this worker leases until :meth:`stop`."""

    def __init__(self, ctx: DrainerParts, worker_id: str, *, burst: bool = False) -> None:
        self.ctx = ctx
        self.burst = burst
        self.leases = PartitionLeases(
            ctx.connection, ctx.keys, worker_id, ctx.settings.lease_ttl_s, outage=ctx.outage
        )
        self.ledger = Ledger(
            ctx.connection, ctx.keys, worker_id, Tally(enabled=ctx.settings.counters)
        )
        self.delivery = BatchDelivery(ctx, self.ledger)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_top_up = 0.0

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Take first leases, then run the heartbeat and drain loops in threads."""
        self.leases.beat_once()
        for name, target in (("cio-leases", self._heartbeats), ("cio-track", self.run)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float) -> None:
        """Stop after the request in flight; give the leases back."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        try:
            self.leases.release_all()
        except redis.RedisError as exc:
            log.warning("lease_release_failed", error=type(exc).__name__)

    def wait(self) -> None:
        """Block until the drain loop ends (burst mode: when all Track work is done)."""
        for thread in self._threads:
            if thread.name == "cio-track":
                thread.join()

    def _heartbeats(self) -> None:
        self.leases.run_heartbeats(self._stop)

    # ---- the loop -----------------------------------------------------------------------
    def run(self) -> None:
        """Drain until stopped (or, in burst mode, until every partition is empty)."""
        poll_s = _POLL_MIN_S
        while not self._stop.is_set():
            try:
                worked = self.pass_over_partitions()
            except redis.RedisError as exc:
                if is_redis_full(exc):
                    self.ctx.outage.full()
                else:
                    log.warning("track_redis_error", error=type(exc).__name__)
                worked = False
                self._stop.wait(1.0)
            except Exception:
                # A bug must not kill the drain thread while the heartbeat thread keeps our
                # leases alive: that would strand our partitions. Log it and go on; what
                # was claimed stays claimed and is delivered again.
                log.exception("track_drain_error")
                worked = False
                self._stop.wait(1.0)
            if self.burst and not worked and self._all_track_work_done():
                return
            if worked:
                poll_s = _POLL_MIN_S
            else:
                self._stop.wait(poll_s)
                poll_s = min(_POLL_MAX_S, poll_s * 2)

    def pass_over_partitions(self) -> bool:
        """One pass: at most one batch from each leased partition with work; True if any."""
        # One EXISTS, not RQ's is_suspended: that is a MULTI, which a full Redis refuses.
        if self.ctx.connection.exists(WORKERS_SUSPENDED):
            return False  # `rq suspend`: hold Track work too, until `rq resume`
        surplus = self.leases.surplus()
        if surplus:
            self.leases.release(sorted(surplus))
        elif time.monotonic() >= self._next_top_up:
            self._next_top_up = time.monotonic() + _TOP_UP_EVERY_S
            self.leases.top_up()
        held = self.leases.held()
        if not held:
            return False
        worked = False
        for partition, (claimed, queued, paused) in self.ledger.pending(held).items():
            if self._stop.is_set():
                break
            if paused or not (claimed or queued):
                continue
            try:
                worked |= self._drain_one(partition, claimed, queued)
            except redis.RedisError:
                raise  # the loop's outage handling
            except Exception:
                # One partition's failure (a bug) must not starve the others: hold it back
                # a while, go on with the rest. Its claimed batch stays at its head.
                log.exception("track_partition_error", queue=self.ctx.keys.track_queue(partition))
                self.ledger.pause(partition, _ERROR_PAUSE_S, "worker error")
                worked = True
        return worked

    def _drain_one(self, partition: int, claimed: int, queued: int) -> bool:
        settings = self.ctx.settings
        # Wait for a token first: under rate pressure the partition keeps filling meanwhile,
        # so the claim below takes a full batch; at rest a token is there at once. (The token
        # itself is taken right before the request.)
        waited = time.monotonic()
        self.ctx.limiters.track.wait_available()
        waited = time.monotonic() - waited
        linger_s = settings.batch_linger_ms / 1000 - waited
        if not claimed and queued < settings.batch_max_ops and linger_s > 0:
            self._stop.wait(linger_s)
        try:
            claim = self.ledger.claim(partition, settings.batch_max_ops)
        except LeaseLost:
            self.leases.release([partition])
            return False
        if not claim.items:
            return False
        if claim.redelivery:
            log.info(
                "redelivering_claimed_batch",
                queue=self.ctx.keys.track_queue(partition),
                jobs=len(claim.items),
            )
        try:
            paused = self.delivery.deliver(partition, claim)
        except LeaseLost:
            log.warning("lease_lost_mid_batch", queue=self.ctx.keys.track_queue(partition))
            self.leases.release([partition])
            return True
        if paused is not None:
            log.info(
                "partition_paused",
                queue=self.ctx.keys.track_queue(partition),
                delay_s=round(paused.delay_s, 3),
                reason=paused.reason,
            )
        return True

    def _all_track_work_done(self) -> bool:
        everything = list(range(self.ctx.keys.partitions))
        return all(
            claimed == 0 and queued == 0
            for claimed, queued, _ in self.ledger.pending(everything).values()
        )
