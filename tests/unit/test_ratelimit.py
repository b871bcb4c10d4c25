"""The GCRA limiter's Lua scripts on fakeredis[lua], with a controlled Redis clock.

fakeredis answers ``TIME`` (also from inside Lua) and expires keys from ``time.time()`` read
through its modules' ``time`` reference; the ``clock`` fixture points both at a fake clock, so
the scripts' maths is checked to the microsecond without sleeping. ``test_fake_clock_drives_*``
guards this against fakeredis changing its internals.
"""

from __future__ import annotations

import random
import time as real_time
import types
from collections.abc import Iterator

import fakeredis
import fakeredis._socket._base as fake_socket_base
import fakeredis.commands_mixins.server_mixin as fake_server_mixin
import pytest

import cio_pipeline.worker.ratelimit
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ratelimit import (
    RateLimiter,
    RateLimitTimeout,
    build_limiters,
    emission_interval_us,
)

START_US = 1_800_000_000_000_000  # an arbitrary Redis TIME, in microseconds
KEYS = Keys(prefix="t")


class FakeClock:
    """A wall clock that only moves when told to, in whole microseconds."""

    def __init__(self, start_us: int) -> None:
        self.now_us = start_us

    def time(self) -> float:
        return self.now_us / 1e6

    def advance(self, seconds: float) -> None:
        self.now_us += round(seconds * 1e6)

    def advance_us(self, us: int) -> None:
        self.now_us += us


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(START_US)
    fake_time = types.SimpleNamespace(
        **{name: getattr(real_time, name) for name in dir(real_time) if not name.startswith("_")}
    )
    fake_time.time = fake.time
    monkeypatch.setattr(fake_server_mixin, "time", fake_time)
    monkeypatch.setattr(fake_socket_base, "time", fake_time)
    return fake


@pytest.fixture
def client() -> Iterator[fakeredis.FakeRedis]:
    c = fakeredis.FakeRedis()
    yield c
    c.close()


def make_limiter(client: fakeredis.FakeRedis, rate: float = 20.0, burst: int = 0) -> RateLimiter:
    return RateLimiter(
        client,
        state_key=KEYS.rate_limit("track"),
        pause_key=KEYS.pause("track"),
        rate=rate,
        burst=burst,
    )


def test_fake_clock_drives_redis_time_inside_lua(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client)
    assert limiter.attempt().at_s == pytest.approx(START_US / 1e6, abs=1e-6)
    clock.advance(12.5)
    assert round(limiter.attempt().at_s * 1e6) == START_US + 12_500_000


@pytest.mark.parametrize(
    ("rate", "interval_us"),
    [
        (20, 50_001),
        (100, 10_001),
        (10, 100_001),
        (3, 333_334),
        (0.5, 2_000_001),
        (1_000_000, 2),
    ],
)
def test_emission_interval_is_one_over_rate_plus_one_microsecond(
    rate: float, interval_us: int
) -> None:
    assert emission_interval_us(rate) == interval_us
    # rate intervals always span more than one second: the closed-window guarantee
    assert emission_interval_us(rate) * rate > 1_000_000


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan")])
def test_bad_rate_is_refused(client: fakeredis.FakeRedis, rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        make_limiter(client, rate=rate)


def test_negative_burst_is_refused(client: fakeredis.FakeRedis) -> None:
    with pytest.raises(ValueError, match="burst"):
        make_limiter(client, burst=-1)


def test_burst_zero_spaces_grants_exactly_one_interval(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=20)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.050001, abs=1e-9)
    clock.advance_us(50_000)
    assert limiter.try_acquire() == pytest.approx(0.000001, abs=1e-9)
    clock.advance_us(1)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.050001, abs=1e-9)


def test_refusal_consumes_nothing(client: fakeredis.FakeRedis, clock: FakeClock) -> None:
    limiter = make_limiter(client, rate=20)
    assert limiter.try_acquire() == 0.0
    waits = [limiter.try_acquire() for _ in range(5)]
    assert waits == [pytest.approx(0.050001, abs=1e-9)] * 5
    clock.advance_us(50_001)
    assert limiter.try_acquire() == 0.0


def test_state_is_stored_to_the_microsecond_and_expires(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=20)
    assert limiter.try_acquire() == 0.0
    assert client.get(KEYS.rate_limit("track")) == str(START_US + 50_001).encode()
    assert 0 < client.pttl(KEYS.rate_limit("track")) <= 52
    clock.advance(0.1)
    assert client.exists(KEYS.rate_limit("track")) == 0


def test_idle_time_does_not_accumulate_with_burst_zero(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=20)
    assert limiter.try_acquire() == 0.0
    clock.advance(60)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() > 0.0


@pytest.mark.parametrize("burst", [1, 3, 10])
def test_burst_allows_that_many_extra_back_to_back(
    client: fakeredis.FakeRedis, clock: FakeClock, burst: int
) -> None:
    limiter = make_limiter(client, rate=20, burst=burst)
    assert [limiter.try_acquire() for _ in range(burst + 1)] == [0.0] * (burst + 1)
    assert limiter.try_acquire() == pytest.approx(0.050001, abs=1e-9)
    clock.advance_us(50_001)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() > 0.0


def max_in_closed_window(grants_us: list[int], window_us: int = 1_000_000) -> int:
    """The most grants in any closed window [t, t + window]."""
    best, lo = 0, 0
    for hi, t in enumerate(grants_us):
        while t - grants_us[lo] > window_us:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.parametrize(
    ("rate", "burst", "limit"),
    [(20, 0, 20), (7, 0, 7), (100, 0, 100), (20, 5, 25), (1, 0, 1)],
)
def test_no_closed_one_second_window_exceeds_rate_plus_burst(
    client: fakeredis.FakeRedis, clock: FakeClock, rate: int, burst: int, limit: int
) -> None:
    limiter = make_limiter(client, rate=rate, burst=burst)
    rng = random.Random(rate * 1000 + burst)
    grants_us: list[int] = []
    for _ in range(1500):
        attempt = limiter.attempt()
        if attempt.granted:
            grants_us.append(round(attempt.at_s * 1e6))
        # callers arrive at arbitrary moments: some exactly when told, some early, some idle
        step = rng.choice([attempt.wait_s, 0.0, rng.uniform(0, 0.01), rng.uniform(0, 2.0)])
        clock.advance_us(max(1, round(step * 1e6)) if step else 0)
    assert len(grants_us) > 100
    assert max_in_closed_window(grants_us) <= limit


@pytest.mark.parametrize(("rate", "burst"), [(20, 0), (7, 0), (100, 0), (20, 5)])
def test_a_caller_waiting_exactly_reaches_the_limit_but_never_passes_it(
    client: fakeredis.FakeRedis, clock: FakeClock, rate: int, burst: int
) -> None:
    limiter = make_limiter(client, rate=rate, burst=burst)
    grants_us: list[int] = []
    while len(grants_us) < 5 * rate:
        attempt = limiter.attempt()
        if attempt.granted:
            grants_us.append(round(attempt.at_s * 1e6))
        clock.advance(attempt.wait_s)
    assert max_in_closed_window(grants_us) == rate + burst
    interval_us = emission_interval_us(rate)
    assert grants_us[-1] - grants_us[0] == (5 * rate - 1 - burst) * interval_us


def test_acquire_sleeps_exactly_the_returned_waits(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=20)
    rival = make_limiter(client, rate=20)
    assert limiter.try_acquire() == 0.0
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        if len(sleeps) == 1:
            assert rival.try_acquire() == 0.0  # another worker takes the token first

    limiter.acquire(sleep=sleep)
    assert sleeps == [pytest.approx(0.050001, abs=1e-9)] * 2


def test_acquire_times_out_without_sleeping_in_vain(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=20)
    limiter.pause(10.0)
    sleeps: list[float] = []
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(timeout_s=1.0, sleep=sleeps.append, clock=lambda: 0.0)
    assert sleeps == []


def test_acquire_within_timeout_returns(client: fakeredis.FakeRedis, clock: FakeClock) -> None:
    limiter = make_limiter(client, rate=20)
    limiter.pause(0.5)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    limiter.acquire(timeout_s=1.0, sleep=sleep, clock=lambda: clock.now_us / 1e6)
    assert sleeps == [pytest.approx(0.5, abs=1e-9)]


def test_pause_blocks_every_token_and_returns_the_remaining_pause(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=20)
    other_worker = make_limiter(client, rate=20)
    assert limiter.pause(1.0) == pytest.approx(1.0, abs=1e-9)
    assert other_worker.try_acquire() == pytest.approx(1.0, abs=1e-9)
    clock.advance(0.4)
    assert other_worker.try_acquire() == pytest.approx(0.6, abs=1e-9)
    assert other_worker.paused_for() == pytest.approx(0.6, abs=1e-9)
    clock.advance_us(599_999)
    assert other_worker.try_acquire() == pytest.approx(0.000001, abs=1e-9)
    clock.advance_us(1)
    assert other_worker.try_acquire() == 0.0
    assert limiter.paused_for() == 0.0


def test_pause_only_extends(client: fakeredis.FakeRedis, clock: FakeClock) -> None:
    limiter = make_limiter(client)
    limiter.pause(2.0)
    clock.advance(0.5)
    assert limiter.pause(0.1) == pytest.approx(1.5, abs=1e-9)  # shorter: unchanged
    assert limiter.paused_for() == pytest.approx(1.5, abs=1e-9)
    assert limiter.pause(3.0) == pytest.approx(3.0, abs=1e-9)  # longer: extended
    assert limiter.try_acquire() == pytest.approx(3.0, abs=1e-9)


def test_pause_key_expires_when_the_pause_ends(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client)
    limiter.pause(1.0)
    assert 0 < client.pttl(KEYS.pause("track")) <= 1000
    clock.advance(1.001)
    assert client.exists(KEYS.pause("track")) == 0


def test_reading_the_pause_writes_nothing(client: fakeredis.FakeRedis, clock: FakeClock) -> None:
    limiter = make_limiter(client)
    assert limiter.paused_for() == 0.0
    assert limiter.pause(0.0) == 0.0
    assert client.exists(KEYS.pause("track")) == 0


def test_wait_is_the_later_of_pause_and_spacing(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    limiter = make_limiter(client, rate=0.5)  # T = 2.000001 s
    assert limiter.try_acquire() == 0.0
    limiter.pause(1.0)
    assert limiter.try_acquire() == pytest.approx(2.000001, abs=1e-9)


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_bad_pause_is_refused(client: fakeredis.FakeRedis, seconds: float) -> None:
    with pytest.raises(ValueError, match="pause"):
        make_limiter(client).pause(seconds)


def test_build_limiters_uses_settings_and_keys(
    client: fakeredis.FakeRedis, clock: FakeClock
) -> None:
    settings = WorkerSettings(
        track_rate=50, transactional_rate=25, app_rate=5, rate_burst=2, rate_headroom=0.0
    )
    limiters = build_limiters(client, settings, KEYS)
    assert (limiters.track.rate, limiters.transactional.rate, limiters.app.rate) == (50, 25, 5)
    assert {limiters.track.burst, limiters.transactional.burst, limiters.app.burst} == {2}
    assert limiters.app.interval_s == pytest.approx(0.200001)
    # the default headroom runs each limiter 3 % below its rate
    assert build_limiters(client, WorkerSettings(app_rate=5), KEYS).app.interval_s == (
        pytest.approx(0.206001)
    )

    # surfaces are independent: a pause or an exhausted limiter on one leaves the others alone
    limiters.track.pause(5.0)
    assert limiters.track.try_acquire() == pytest.approx(5.0, abs=1e-9)
    assert [limiters.app.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiters.app.try_acquire() > 0.0
    assert limiters.transactional.try_acquire() == 0.0
    assert client.exists(KEYS.pause("track"), KEYS.rate_limit("app")) == 2


def test_build_limiters_defaults_to_the_settings_prefix(client: fakeredis.FakeRedis) -> None:
    limiters = build_limiters(client, WorkerSettings())
    limiters.app.try_acquire()
    assert client.exists(Keys().rate_limit("app")) == 1


def test_public_names() -> None:
    assert set(cio_pipeline.worker.ratelimit.__all__) == {
        "Attempt",
        "RateLimitTimeout",
        "RateLimiter",
        "SurfaceLimiters",
        "build_limiters",
        "emission_interval_us",
    }
