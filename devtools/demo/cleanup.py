"""Delete what the demo wrote to Redis: keys under its prefix and the jobs it produced.

The demo's queues (``<prefix>-track-<p>``, ``<prefix>-transactional``, ``<prefix>-webhooks``)
and their RQ registries (``rq:<kind>:<prefix>-...``), its own keys (``<prefix>:*``: counters,
suppressions, seen webhook events, ...), its workers' records (``rq:worker:<prefix>-*``), and
the RQ hashes of its jobs: those it produced, and those its queues and registries still list
(the receiver's webhook jobs, whose ids the demo never sees). Nothing else: the demo may run
against a user's own Redis.
"""

from __future__ import annotations

import redis
from rq.job import Job

__all__ = ["delete_demo_keys"]

_BATCH = 500


def delete_demo_keys(connection: redis.Redis, prefix: str, job_ids: list[str]) -> int:
    """Delete the demo's keys; returns how many were deleted."""
    patterns = (f"{prefix}:*", f"rq:*:{prefix}-*", f"rq:worker:{prefix}-*")
    keys: list[bytes | str] = []
    for pattern in patterns:
        keys.extend(connection.scan_iter(match=pattern, count=1000))
    for job_id in {*job_ids, *_listed_jobs(connection, prefix)}:
        job_key = Job.key_for(job_id)
        keys += [
            job_key,
            f"{job_key}:dependents",
            f"rq:results:{job_id}",
            f"rq:executions:{job_id}",
        ]
    deleted = 0
    for start in range(0, len(keys), _BATCH):
        deleted += int(connection.delete(*keys[start : start + _BATCH]))
    for registry in ("rq:queues", "rq:workers"):
        members = [
            m
            for m in connection.smembers(registry)
            if f":{prefix}-".encode() in (m if isinstance(m, bytes) else m.encode())
        ]
        if members:
            connection.srem(registry, *members)
    return deleted


def _listed_jobs(connection: redis.Redis, prefix: str) -> set[str]:
    """Job ids in the demo's queues (lists) and registries (sorted sets; a started
    registry's members are ``<job id>:<execution id>``)."""
    found: set[str] = set()
    for key in connection.scan_iter(match=f"rq:*:{prefix}-*", count=1000):
        kind = connection.type(key)
        members: list[bytes | str]
        if kind == b"list":
            members = connection.lrange(key, 0, -1)
        elif kind == b"zset":
            members = [m for m in connection.zrange(key, 0, -1) if isinstance(m, bytes | str)]
        else:
            continue
        found.update((m.decode() if isinstance(m, bytes) else m).split(":")[0] for m in members)
    return found
