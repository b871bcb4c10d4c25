"""``cio-pipeline stats``: one snapshot of the pipeline, read from Redis in a few round trips.

:func:`snapshot` returns a plain dict (the stable ``--json`` shape, ``version`` 1, documented
in docs/operating.md); ``metrics`` serves the same figures to Prometheus. Counts live in minute
buckets (:mod:`cio_pipeline.worker.ops.counters`), so a window of the last 60, 300 or 3600 s
(``last_1m``, ``last_5m``, ``last_60m``) is estimated as the buckets it covers whole (the
current minute included) plus the bucket before them weighted by the share of it still
inside the window, rounded to a whole count: ``last_1m`` just after a minute turns is
(almost) the whole previous minute, not an empty new bucket. ``requests_per_s`` is the same
60 s estimate divided by 60.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Worker
from rq.registry import FailedJobRegistry

from cio_pipeline.producer.keys import Keys, Surface
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ops.counters import LATENCY_BOUNDS_S, SURFACES, minute_of

__all__ = ["live_workers", "queue_stats", "snapshot"]

VERSION = 1
_WINDOWS = (1, 5, 60)
_LIMITS: dict[Surface, str] = {
    "track": "track_rate",
    "transactional": "transactional_rate",
    "app": "app_rate",
}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(raw: dict[Any, Any]) -> dict[str, int]:
    return {_text(k): int(v) for k, v in raw.items()}


def _rq_time(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(_text(value)).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def live_workers(connection: redis.Redis, keys: Keys, now: float) -> list[dict[str, Any]]:
    """This prefix's workers registered with RQ (their key alive: a heartbeat within their
    TTL), with the age of their last heartbeat."""
    found = []
    for w in Worker.all(connection=connection):
        if keys.transactional_queue not in w.queue_names():
            continue  # another prefix's (or a plain rq) worker
        beat = w.last_heartbeat.replace(tzinfo=UTC).timestamp() if w.last_heartbeat else None
        found.append(
            {
                "name": w.name,
                "hostname": w.hostname,
                "pid": w.pid,
                "state": _text(w.get_state()),
                "last_heartbeat": beat,
                "heartbeat_age_s": None if beat is None else round(now - beat, 3),
            }
        )
    return sorted(found, key=lambda w: w["name"])


def queue_stats(connection: redis.Redis, keys: Keys, now: float) -> list[dict[str, Any]]:
    """Per queue: depth, age of its oldest job (a Track partition's claimed batch first),
    dead letters; two round trips."""
    names = keys.all_queues
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(f"rq:queue:{name}")
            pipe.lindex(f"rq:queue:{name}", 0)
        for p in range(keys.partitions):
            pipe.lindex(keys.claimed(p), 0)
        replies = pipe.execute()
    heads = [replies[2 * i + 1] for i in range(len(names))]
    claimed_heads = replies[2 * len(names) :]
    # A claimed batch is older than what is still queued behind it.
    oldest_ids = [c or h for c, h in zip(claimed_heads, heads[: keys.partitions], strict=True)]
    oldest_ids += heads[keys.partitions :]
    with connection.pipeline(transaction=False) as pipe:
        for job_id in oldest_ids:
            pipe.hget(f"rq:job:{_text(job_id)}", "enqueued_at") if job_id else pipe.echo("")
        for name in names:
            pipe.zcard(FailedJobRegistry(name, connection=connection).key)
        times = pipe.execute()
    out = []
    for i, name in enumerate(names):
        at = _rq_time(times[i])
        out.append(
            {
                "name": name,
                "depth": int(replies[2 * i]),
                "oldest_age_s": None if at is None else round(max(0.0, now - at), 3),
                "dead_letters": int(times[len(names) + i]),
            }
        )
    return out


def _partitions(connection: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    with connection.pipeline(transaction=False) as pipe:
        for p in range(keys.partitions):
            pipe.get(keys.lease(p))
            pipe.get(keys.partition_pause(p))
            pipe.pttl(keys.partition_pause(p))
            pipe.llen(keys.claimed(p))
        r = pipe.execute()
    return [
        {
            "partition": p,
            "queue": keys.track_queue(p),
            "lease_holder": None if r[4 * p] is None else _text(r[4 * p]),
            "paused_for_s": max(0, int(r[4 * p + 2])) / 1000 if r[4 * p + 1] else 0.0,
            "pause_reason": None if r[4 * p + 1] is None else _text(r[4 * p + 1]),
            "claimed": int(r[4 * p + 3]),
        }
        for p in range(keys.partitions)
    ]


def _minutes(connection: redis.Redis, keys: Keys, now: float) -> list[dict[str, int]]:
    """The last 61 minute buckets, oldest first (the current minute last)."""
    current = minute_of(now)
    with connection.pipeline(transaction=False) as pipe:
        for m in range(current - 60, current + 1):
            pipe.hgetall(keys.counters_minute(m))
        return [_ints(raw) for raw in pipe.execute()]


def _sum(buckets: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for bucket in buckets:
        for field, n in bucket.items():
            total[field] = total.get(field, 0) + n
    return dict(sorted(total.items()))


def _inside(now: float) -> float:
    """The share of the minute before the current one that is still inside a window ending
    now whose length is a whole number of minutes."""
    return 1.0 - (now % 60) / 60


def _window(minutes: list[dict[str, int]], n: int, now: float) -> dict[str, int]:
    """The last ``n * 60`` seconds: the last ``n`` buckets (the current one included) and the
    one before them weighted by :func:`_inside`; fields that round to 0 are left out."""
    whole = _sum(minutes[-n:])
    inside = _inside(now)
    for field, count in minutes[-n - 1].items():
        whole[field] = whole.get(field, 0) + round(count * inside)
    return {field: count for field, count in sorted(whole.items()) if count}


def _latency(totals: dict[str, int]) -> dict[str, Any]:
    out = {}
    for surface in SURFACES:
        counts = [totals.get(f"{surface}_latency_{i}", 0) for i in range(len(LATENCY_BOUNDS_S) + 1)]
        if any(counts):
            bounds = [*map(str, LATENCY_BOUNDS_S), "+Inf"]
            out[surface] = {
                "count": sum(counts),
                "sum_s": totals.get(f"{surface}_latency_ms", 0) / 1000,
                "buckets": dict(zip(bounds, counts, strict=True)),  # per bucket, not cumulative
            }
    return out


def _surfaces(
    connection: redis.Redis,
    keys: Keys,
    settings: WorkerSettings,
    minutes: list[dict[str, int]],
    now: float,
) -> list[dict[str, Any]]:
    with connection.pipeline(transaction=False) as pipe:
        for surface in _LIMITS:
            pipe.pttl(keys.pause(surface))
        pauses = pipe.execute()
    inside = _inside(now)
    out = []
    for (surface, attr), pause in zip(_LIMITS.items(), pauses, strict=True):
        previous, current = minutes[-2], minutes[-1]

        def last_60s(
            field: str, previous: dict[str, int] = previous, current: dict[str, int] = current
        ) -> float:
            return previous.get(field, 0) * inside + current.get(field, 0)

        limit = float(getattr(settings, attr))
        rate = last_60s(f"{surface}_requests") / 60
        out.append(
            {
                "surface": surface,
                "limit_per_s": limit,
                "requests_per_s": round(rate, 3),
                "use": round(rate / limit, 4),
                "429_last_minute": round(last_60s(f"{surface}_429")),
                "paused_for_s": max(0, int(pause)) / 1000,
            }
        )
    return out


def snapshot(
    connection: redis.Redis, keys: Keys, settings: WorkerSettings, now: float | None = None
) -> dict[str, Any]:
    """Everything ``stats`` shows, as the stable JSON shape (docs/operating.md)."""
    now = time.time() if now is None else now
    minutes = _minutes(connection, keys, now)
    totals = _ints(connection.hgetall(keys.counters))
    queues = queue_stats(connection, keys, now)
    requests = totals.get("track_requests", 0)
    return {
        "version": VERSION,
        "at": now,
        "prefix": keys.prefix,
        "queues": queues,
        "dead_letters": sum(q["dead_letters"] for q in queues),
        "partitions": _partitions(connection, keys),
        "surfaces": _surfaces(connection, keys, settings, minutes, now),
        "counters": {
            **{f"last_{n}m": _window(minutes, n, now) for n in _WINDOWS},
            "total": dict(sorted(totals.items())),
        },
        "track_ops_per_request": round(totals.get("track_request_ops", 0) / requests, 2)
        if requests
        else None,
        "latency": _latency(totals),
        "delivered_per_minute": [
            sum(b.get(f"{s}_delivered", 0) for s in SURFACES) for b in minutes[-60:]
        ],
        "webhooks": {k: v for k, v in sorted(totals.items()) if k.startswith("webhook")},
        "workers": live_workers(connection, keys, now),
    }
