"""A rate limiter shared by every worker process on every host: GCRA on Redis TIME.

One :class:`RateLimiter` guards one API surface (Track, transactional sends, other App calls).
Its state is one Redis key holding the theoretical arrival time (TAT) and the surface's pause
key ("blocked until", set after a 429); both are read and written only by the Lua scripts
``gcra.lua`` and ``pause.lua``, which take their clock from Redis ``TIME``.

The boundary, exactly. A rate of ``r`` requests/s gives an emission interval
``T = floor(1e6 / r) + 1`` microseconds: one microsecond *more* than ``1/r``. With burst 0
(tolerance 0) two grants are always at least ``T`` apart on Redis's clock, so ``r`` grants span
``(r - 1) * T`` and ``r + 1`` grants span ``r * T > 1 s``: no 1-second window, open *or closed*
at its edges, ever holds more than ``r`` grants (for an integral ``r``). Without the extra
microsecond, grants at 0, T, ..., rT would put ``r + 1`` grants in the closed window ``[0, 1 s]``.
The margin costs 20 ppm of throughput at 20 req/s. With burst ``b`` the tolerance is ``b * T``:
up to ``b`` extra back-to-back grants after an idle spell, so a window may hold ``r + b``.
The guarantee is about the moment Redis grants the token; network latency between the grant and
Customer.io is not covered, so set the rate a little below a limit the server counts strictly.

A caller that gets no token sleeps exactly the returned wait (no polling interval) and asks again;
asking consumes nothing. Redis 5 or later is needed (``TIME`` before a write in a script).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from cio_pipeline.worker.core.lua import LuaScript

__all__ = ["Attempt", "RateLimitTimeout", "RateLimiter"]

_US = 1_000_000
_GCRA = LuaScript("cio_pipeline.worker.ratelimit", "gcra.lua")
_PAUSE = LuaScript("cio_pipeline.worker.ratelimit", "pause.lua")


class RateLimitTimeout(TimeoutError):
    """:meth:`RateLimiter.acquire` could not get a token within its ``timeout_s``."""


@dataclass(frozen=True)
class Attempt:
    """One try at taking a token: ``wait_s`` is 0.0 when one was taken.

    ``at_s`` is the Redis ``TIME`` (unix seconds) at which the limiter decided: the one clock
    every host shares, which makes grants from many hosts comparable.
    """

    wait_s: float
    at_s: float

    @property
    def granted(self) -> bool:
        """True when a token was taken."""
        return self.wait_s == 0.0


def emission_interval_us(rate: float) -> int:
    """GCRA emission interval for ``rate`` requests/s: ``1/rate`` plus a 1 µs safety margin."""
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a finite number of requests per second > 0, got {rate}")
    return math.floor(_US / rate) + 1


class RateLimiter:
    """GCRA limiter for one API surface, shared through Redis by every worker everywhere."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        state_key: str,
        pause_key: str,
        rate: float,
        burst: int = 0,
    ) -> None:
        """Build a limiter of ``rate`` requests/s with ``burst`` extra back-to-back grants.

        ``state_key`` and ``pause_key`` come from :class:`cio_pipeline.producer.keys.Keys`
        (``rate_limit(surface)`` and ``pause(surface)``).
        """
        if burst < 0:
            raise ValueError(f"burst must be >= 0, got {burst}")
        self._interval_us = emission_interval_us(rate)
        self._tolerance_us = burst * self._interval_us
        self._client = client
        self._keys = [state_key, pause_key]
        self._pause_key = pause_key
        self.rate = rate
        self.burst = burst

    @property
    def interval_s(self) -> float:
        """The emission interval T in seconds (``1/rate`` plus the 1 µs margin)."""
        return self._interval_us / _US

    def attempt(self) -> Attempt:
        """Take a token if one is available now; otherwise say how long to wait."""
        reply: Any = _GCRA(
            self._client, keys=self._keys, args=[self._interval_us, self._tolerance_us]
        )
        wait_us, now_us = int(reply[0]), int(reply[1])
        return Attempt(wait_s=wait_us / _US, at_s=now_us / _US)

    def try_acquire(self) -> float:
        """0.0 when a token was taken, else the seconds to wait (nothing was consumed)."""
        return self.attempt().wait_s

    def acquire(
        self,
        timeout_s: float | None = None,
        sleep: Callable[[float], object] = time.sleep,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Block until a token is taken, sleeping exactly each returned wait.

        Raises :class:`RateLimitTimeout` as soon as the next wait would end after ``timeout_s``
        (measured on ``clock``), without sleeping in vain; ``None`` waits as long as it takes.
        """
        self._wait(self.try_acquire, timeout_s, sleep, clock)

    def wait_available(
        self,
        timeout_s: float | None = None,
        sleep: Callable[[float], object] = time.sleep,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Block until a token *could* be taken, taking none.

        The Track path waits here before it claims a batch (so that under rate pressure the
        batch fills while it waits) and takes the token right before the request, so the time
        spent reading the batch does not sit between the token and the request's arrival.
        """
        self._wait(self.peek, timeout_s, sleep, clock)

    def peek(self) -> float:
        """0.0 when a token is available now, else the seconds until one is; takes none."""
        reply: Any = _GCRA(
            self._client, keys=self._keys, args=[self._interval_us, self._tolerance_us, "peek"]
        )
        return int(reply[0]) / _US

    def _wait(
        self,
        ask: Callable[[], float],
        timeout_s: float | None,
        sleep: Callable[[float], object],
        clock: Callable[[], float],
    ) -> None:
        deadline = None if timeout_s is None else clock() + timeout_s
        while True:
            wait_s = ask()
            if wait_s == 0.0:
                return
            if deadline is not None and clock() + wait_s > deadline:
                raise RateLimitTimeout(
                    f"no rate-limit token within {timeout_s} s (next in {wait_s:.3f} s)"
                )
            sleep(wait_s)

    def pause(self, seconds: float) -> float:
        """Pause the surface for every worker for ``seconds``; returns the remaining pause.

        A pause is only extended, never shortened: a longer pause already in place stays.
        """
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"pause must be a finite number of seconds >= 0, got {seconds}")
        return self._pause_us(math.ceil(seconds * _US)) / _US

    def paused_for(self) -> float:
        """Seconds until the surface's pause ends (0.0 when not paused)."""
        return self._pause_us(0) / _US

    def _pause_us(self, requested_us: int) -> int:
        reply: Any = _PAUSE(self._client, keys=[self._pause_key], args=[requested_us])
        return int(reply)
