"""What the demo shows: job outcomes from Redis, HTTP traffic from the emulator's request log.

A produced job is *pending* while RQ says queued, started, scheduled or deferred; a *dead
letter* once it is failed (in its queue's FailedJobRegistry); *delivered* when it finished, or
when its job hash is gone, which is how a delivered Track job ends (deleted at once, so that
draining never grows Redis). Nothing else deletes jobs under the demo's prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from rq.job import Job

__all__ = ["JobCounts", "Traffic", "count_jobs", "read_traffic"]


@dataclass(frozen=True)
class JobCounts:
    """Outcomes of the produced jobs; ``dead_ids`` lists the dead letters."""

    pending: int
    delivered: int
    dead_ids: tuple[str, ...]

    @property
    def dead(self) -> int:
        """How many produced jobs are dead letters."""
        return len(self.dead_ids)


def count_jobs(connection: redis.Redis, job_ids: list[str]) -> JobCounts:
    """Read the status of every job in one pipelined round trip."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "status")
        statuses: list[bytes | None] = pipe.execute()
    pending = delivered = 0
    dead: list[str] = []
    for job_id, status in zip(job_ids, statuses, strict=True):
        if status is None or status == b"finished":
            delivered += 1
        elif status == b"failed":
            dead.append(job_id)
        else:
            pending += 1
    return JobCounts(pending, delivered, tuple(dead))


@dataclass(frozen=True)
class Traffic:
    """What reached the emulator: requests per API, 429s, and Track batching."""

    track_requests: int
    app_requests: int
    rate_limited: int
    track_ops_accepted: int
    batch_requests: int
    batch_ops: int
    track_rate_now: float
    peak_rate: int
    sends: int

    @property
    def ops_per_batch(self) -> float:
        """Operations carried per accepted ``/api/v2/batch`` request."""
        return self.batch_ops / self.batch_requests if self.batch_requests else 0.0


def read_traffic(log: list[dict[str, Any]]) -> Traffic:
    """Summarise the emulator's request log (``GET /_emulator/requests``)."""
    track = [r for r in log if r["surface"] == "track"]
    app = [r for r in log if r["surface"] == "app"]
    accepted = [r for r in track if r["status"] in (200, 207)]
    batches = [r for r in accepted if r["path"] == "/api/v2/batch"]
    latest = max((r["at"] for r in track), default=0.0)
    # requests that arrived in the last second of traffic: the rate the limiter allows
    recent = sum(1 for r in track if r["at"] > latest - 1.0) if track else 0
    return Traffic(
        track_requests=len(track),
        app_requests=len(app),
        rate_limited=sum(1 for r in log if r["status"] == 429),
        track_ops_accepted=sum(r["ops"] for r in accepted),
        batch_requests=len(batches),
        batch_ops=sum(r["ops"] for r in batches),
        track_rate_now=float(recent),
        peak_rate=_peak_per_second(sorted(r["at"] for r in track)),
        sends=sum(1 for r in app if r["status"] == 200 and r["method"] == "POST"),
    )


def _peak_per_second(times: list[float]) -> int:
    """Most arrivals in any 1-second window (``times`` sorted): a sliding window."""
    peak = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak
