"""Every queue name and Redis key the project uses, in one place.

RQ stores a queue named ``Q`` under ``rq:queue:Q`` and a job under ``rq:job:<id>``; the names
below are the *queue names* (what rq-dashboard shows) and our own keys, all under the prefix
``CIO_QUEUE_PREFIX`` (default ``cio``). Redis Cluster is not supported (docs/redis.md): RQ's
own operations span keys that no hash tag could keep in one slot. Lua scripts never build key
names: callers pass every key from here in KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from cio_pipeline.producer.settings import Settings

__all__ = ["Keys", "Surface"]

#: The API surfaces that have their own rate limiter and pause key.
Surface = Literal["track", "transactional", "app"]
SURFACES: tuple[Surface, ...] = get_args(Surface)


@dataclass(frozen=True)
class Keys:
    """Names derived from one prefix and partition count."""

    prefix: str = "cio"
    partitions: int = 8

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        """The names of ``settings``' prefix (``CIO_QUEUE_PREFIX``) and partition count."""
        return cls(settings.queue_prefix, settings.partitions)

    # ---- queue names (RQ) -------------------------------------------------------------
    def track_queue(self, partition: int) -> str:
        """Queue name of Track partition ``partition`` (``cio-track-3``)."""
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} out of range 0..{self.partitions - 1}")
        return f"{self.prefix}-track-{partition}"

    @cached_property
    def track_queues(self) -> tuple[str, ...]:
        """All Track partition queue names, in partition order."""
        return tuple(f"{self.prefix}-track-{p}" for p in range(self.partitions))

    @property
    def transactional_queue(self) -> str:
        """Queue name of transactional sends."""
        return f"{self.prefix}-transactional"

    @property
    def webhooks_queue(self) -> str:
        """Queue name of verified reporting-webhook events."""
        return f"{self.prefix}-webhooks"

    @cached_property
    def all_queues(self) -> tuple[str, ...]:
        """Every queue a worker may drain."""
        return (*self.track_queues, self.transactional_queue, self.webhooks_queue)

    # ---- our own keys -----------------------------------------------------------------
    def rate_limit(self, surface: Surface) -> str:
        """GCRA state (theoretical arrival time) of an API surface."""
        return f"{self.prefix}:ratelimit:{surface}"

    def pause(self, surface: Surface) -> str:
        """ "Blocked until" key set after a 429, shared by every worker."""
        return f"{self.prefix}:pause:{surface}"

    def delivery_record(self, idempotency_key: str) -> str:
        """Record of a transactional send, holding its ``delivery_id``."""
        return f"{self.prefix}:delivery:{idempotency_key}"

    def send_claim(self, idempotency_key: str) -> str:
        """The token of the claim that last set a send's record to pending (a random value
        per claim call), so a claim re-run after its reply was lost recognises itself."""
        return f"{self.prefix}:send-claim:{idempotency_key}"

    def send_history(self, idempotency_key: str) -> str:
        """The life of a transactional send (a list of JSON entries, oldest first)."""
        return f"{self.prefix}:send-history:{idempotency_key}"

    @property
    def sends(self) -> str:
        """Idempotency keys of recent sends (a sorted set scored by the last enqueue time in
        unix milliseconds), trimmed to the delivery records' retention."""
        return f"{self.prefix}:sends"

    def delivery_send(self, delivery_id: str) -> str:
        """The idempotency key of the send Customer.io gave ``delivery_id`` (the webhook join)."""
        return f"{self.prefix}:delivery-send:{delivery_id}"

    def delivery_events(self, delivery_id: str) -> str:
        """Reporting-webhook events of one delivery (a list of JSON entries, in arrival order)."""
        return f"{self.prefix}:delivery-events:{delivery_id}"

    def lease(self, partition: int) -> str:
        """Lease on a Track partition (value: the holder's worker name)."""
        return f"{self.prefix}:lease:{partition}"

    def claimed(self, partition: int) -> str:
        """Job ids of a Track partition's batch in flight (a list, in order)."""
        return f"{self.prefix}:claimed:{partition}"

    def claimed_meta(self, partition: int) -> str:
        """Attempt count and first attempt time of a partition's claimed batch (a hash)."""
        return f"{self.prefix}:claimed-meta:{partition}"

    @property
    def set_aside(self) -> str:
        """List of job ids a worker could neither read nor dead-letter (their key is not a
        job hash): moved out of the queue so that the queue goes on."""
        return f"{self.prefix}:set-aside"

    @property
    def track_workers(self) -> str:
        """Live Track workers (a sorted set scored by heartbeat expiry), for fair leases."""
        return f"{self.prefix}:track-workers"

    def partition_pause(self, partition: int) -> str:
        """ "Paused until" key of one Track partition (its own backoff)."""
        return f"{self.prefix}:partition-pause:{partition}"

    @property
    def counters(self) -> str:
        """Hash of all-time counters (``<surface>_<outcome>``, requests, 429s, latency
        histogram fields, webhook counts), for ``cio-pipeline stats`` and ``metrics``."""
        return f"{self.prefix}:counters"

    def counters_minute(self, minute: int) -> str:
        """Hash of the same counters for one minute (``minute`` = unix seconds // 60); each
        expires a little over an hour after its minute."""
        return f"{self.prefix}:counters:{minute}"

    # ---- reporting webhooks -----------------------------------------------------------
    def suppression(self, subject: str) -> str:
        """Suppression record of one subject (``email:<address>``, ``id:<id>``, ...), a hash."""
        return f"{self.prefix}:suppression:{subject}"

    @property
    def suppressions(self) -> str:
        """Subjects with an active suppression (a sorted set scored by the latest change)."""
        return f"{self.prefix}:suppressions"

    def webhook_seen(self, event_id: str) -> str:
        """Marker of a processed reporting-webhook event (de-duplication on ``event_id``)."""
        return f"{self.prefix}:webhook-seen:{event_id}"

    def webhook_signature(self, signature: str) -> str:
        """Marker of a webhook request's signature the receiver accepted (replays refused)."""
        return f"{self.prefix}:webhook-signature:{signature}"

    # ---- erasure (see cio_pipeline.producer.erase) ------------------------------------
    @property
    def erase_key(self) -> str:
        """The erase key (a hash: ``key``, 32 random bytes in hex, and its ``id``)."""
        return f"{self.prefix}:erase-key"

    def erased(self, mark: str) -> str:
        """Marker of an erased subject (its keyed hash), expiring after the retention."""
        return f"{self.prefix}:erased:{mark}"

    @property
    def erasing(self) -> str:
        """Set while any erase's retention runs (its TTL: the longest): the enqueue script
        looks markers up only then."""
        return f"{self.prefix}:erasing"

    @property
    def erased_jobs(self) -> str:
        """Ids of an erased person's jobs that a worker must drop when it claims them."""
        return f"{self.prefix}:erased-jobs"

    @property
    def erasures(self) -> str:
        """The erase audit log (a list of JSON entries, newest first; no personal data)."""
        return f"{self.prefix}:erasures"
