"""The three surface limiters (Track, transactional sends, other App calls) built from settings."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from cio_pipeline.producer.keys import Keys, Surface
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ratelimit.limiter import RateLimiter

__all__ = ["SurfaceLimiters", "build_limiters"]


@dataclass(frozen=True)
class SurfaceLimiters:
    """One shared limiter per Customer.io API surface."""

    track: RateLimiter
    transactional: RateLimiter
    app: RateLimiter


def build_limiters(
    client: redis.Redis, settings: WorkerSettings, keys: Keys | None = None
) -> SurfaceLimiters:
    """Limiters at ``settings``' rates and burst, on the key names of ``keys``.

    Each limiter runs ``CIO_RATE_HEADROOM`` (a fraction, default 3 %) below its configured
    rate. The limiter's guarantee holds at the moment Redis grants a token; the requests
    reach Customer.io a few milliseconds later, each with its own delay, and evenly spaced
    grants sit exactly at the limit, so any jitter would put one request too many into some
    1-second window. The headroom absorbs that jitter (3 % at 100/s absorbs 30 ms; the jitter
    measured between workers is in docs/performance.md).

    ``keys`` defaults to the prefix and partition count of ``settings.queue``.
    """
    if keys is None:
        keys = Keys.of(settings.queue)

    def limiter(surface: Surface, rate: float) -> RateLimiter:
        return RateLimiter(
            client,
            state_key=keys.rate_limit(surface),
            pause_key=keys.pause(surface),
            rate=rate / (1.0 + settings.rate_headroom),
            burst=settings.rate_burst,
        )

    return SurfaceLimiters(
        track=limiter("track", settings.track_rate),
        transactional=limiter("transactional", settings.transactional_rate),
        app=limiter("app", settings.app_rate),
    )
