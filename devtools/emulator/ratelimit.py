"""A per-surface sliding-window rate limit, the way a strict server would apply one.

At most ``capacity`` requests are admitted in any window of ``capacity / rate`` seconds (one
second for rates >= 1): "never more than the limit in any 1-second window", the guarantee the
pipeline's own limiter promises. Rejected requests do not use up the window, so a client that
honours ``Retry-After`` gets through on its next attempt.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """Admits at most ``rate`` requests per second; ``rate`` 0 admits everything."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._capacity = max(1, math.floor(rate)) if rate else 0
        self._window_s = self._capacity / rate if rate else 0.0
        self._admitted: deque[float] = deque()

    def try_acquire(self) -> float | None:
        """Admit one request (None) or return the seconds until one would be admitted."""
        if not self.rate:
            return None
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - self._window_s:
                self._admitted.popleft()
            if len(self._admitted) < self._capacity:
                self._admitted.append(now)
                return None
            return self._admitted[0] + self._window_s - now

    def reset(self) -> None:
        """Forget every admitted request."""
        with self._lock:
            self._admitted.clear()
