"""Rate limiting shared by every worker on every host: one GCRA limiter per API surface.

``gcra.lua`` takes tokens and honours the surface's pause; ``pause.lua`` extends (or reads) the
pause set after a 429. Both use Redis ``TIME`` as their only clock. See :mod:`.limiter` for the
exact boundary guarantee.

Modules:

- :mod:`.surfaces` the three surface limiters (Track, transactional sends, other App calls)
  built from settings
"""

from __future__ import annotations

from cio_pipeline.worker.ratelimit.limiter import (
    Attempt,
    RateLimiter,
    RateLimitTimeout,
    emission_interval_us,
)
from cio_pipeline.worker.ratelimit.surfaces import SurfaceLimiters, build_limiters

__all__ = [
    "Attempt",
    "RateLimitTimeout",
    "RateLimiter",
    "SurfaceLimiters",
    "build_limiters",
    "emission_interval_us",
]
