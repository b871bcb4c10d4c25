"""Counters: the tally, its Lua and pipeline writes, the windows stats reads, and what
``stats`` and ``metrics`` show of them."""

from __future__ import annotations

from typing import Any

import fakeredis
from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ops.counters import MINUTE_TTL_S, Tally, count, flush, latency_field
from cio_pipeline.worker.ops.metrics import SnapshotCollector
from cio_pipeline.worker.ops.stats import snapshot
from cio_pipeline.worker.ops.view import plain_lines, sparkline
from cio_pipeline.worker.track.ledger import Ledger

KEYS = Keys()
NOW = 1_800_000_000.0  # a whole minute


def test_latency_fields_fall_in_their_buckets() -> None:
    assert latency_field("track", 0.01) == "track_latency_0"
    assert latency_field("track", 0.05) == "track_latency_0"  # upper bounds are inclusive
    assert latency_field("track", 0.06) == "track_latency_1"
    assert latency_field("track", 10_000) == "track_latency_12"  # +Inf


def test_a_disabled_tally_counts_nothing() -> None:
    tally = Tally(enabled=False)
    tally.add("track_requests")
    tally.latency("track", NOW - 1, NOW)
    assert tally.take() == {}


def test_counts_go_to_the_total_and_the_minute_and_windows_sum_minutes() -> None:
    fake = fakeredis.FakeRedis()
    count(fake, KEYS, {"track_delivered": 5}, now_s=NOW - 30 * 60)
    count(fake, KEYS, {"track_delivered": 2, "track_dead": 1}, now_s=NOW - 3 * 60)
    count(fake, KEYS, {"track_delivered": 1}, now_s=NOW + 10)
    assert 0 < fake.ttl(KEYS.counters_minute(int(NOW // 60))) <= MINUTE_TTL_S
    s = snapshot(fake, KEYS, WorkerSettings(), now=NOW + 20)
    assert s["counters"]["total"] == {"track_dead": 1, "track_delivered": 8}
    assert s["counters"]["last_1m"] == {"track_delivered": 1}
    assert s["counters"]["last_5m"] == {"track_dead": 1, "track_delivered": 3}
    assert s["counters"]["last_60m"]["track_delivered"] == 8
    assert s["delivered_per_minute"][-1] == 1 and sum(s["delivered_per_minute"]) == 8


def test_last_1m_is_the_last_60_seconds_not_the_current_bucket() -> None:
    fake = fakeredis.FakeRedis()
    count(fake, KEYS, {"track_delivered": 8}, now_s=NOW - 30)  # the previous minute
    # just after the minute turned, nearly all of the previous minute is in the last 60 s
    assert snapshot(fake, KEYS, WorkerSettings(), now=NOW + 1)["counters"]["last_1m"] == {
        "track_delivered": 8
    }
    # three quarters of it at 15 s past, none of it at the end of the current minute
    s = snapshot(fake, KEYS, WorkerSettings(), now=NOW + 15)
    assert s["counters"]["last_1m"] == {"track_delivered": 6}
    assert s["counters"]["last_5m"] == {"track_delivered": 8}
    assert snapshot(fake, KEYS, WorkerSettings(), now=NOW + 59.9)["counters"]["last_1m"] == {}


def test_flush_keeps_counts_when_redis_fails() -> None:
    server = fakeredis.FakeServer()
    fake = fakeredis.FakeRedis(server=server)
    tally = Tally(clock=lambda: NOW)
    tally.add("transactional_requests")
    server.connected = False
    flush(fake, KEYS, tally, "transactional_retried")
    server.connected = True
    flush(fake, KEYS, tally, "transactional_dead")
    assert fake.hgetall(KEYS.counters) == {
        b"transactional_requests": b"1",
        b"transactional_retried": b"1",
        b"transactional_dead": b"1",
    }


def test_rate_now_weights_the_previous_minute_and_counts_429s() -> None:
    fake = fakeredis.FakeRedis()
    count(fake, KEYS, {"track_requests": 600, "track_429": 2}, now_s=NOW - 30)
    count(fake, KEYS, {"track_requests": 300}, now_s=NOW + 1)
    s = snapshot(fake, KEYS, WorkerSettings(), now=NOW + 30)  # half the previous minute
    track = next(x for x in s["surfaces"] if x["surface"] == "track")
    assert track["requests_per_s"] == (600 * 0.5 + 300) / 60
    assert track["429_last_minute"] == 1
    assert track["limit_per_s"] == 100


def test_sparkline_scales_to_the_largest() -> None:
    assert sparkline([0, 4, 8]) == " ▄█"
    assert sparkline([0, 0]) == "  "


def _operations(s: dict[str, Any]) -> dict[tuple[str, str], float]:
    """``cio_operations_total`` as ``/metrics`` serves it for snapshot ``s``, by (surface,
    outcome)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: s))
    return {
        (sample.labels["surface"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if sample.name == "cio_operations_total"
    }


def _erase_two_track_jobs_at_the_claim(fake: fakeredis.FakeRedis, tally: Tally) -> None:
    """A worker's claim drops two erased jobs of partition 0 (claim_batch.lua)."""
    fake.set(KEYS.lease(0), "w1")
    fake.rpush(f"rq:queue:{KEYS.track_queue(0)}", "erased-1", "erased-2", "kept")
    fake.sadd(KEYS.erased_jobs, "erased-1", "erased-2")
    claimed = Ledger(fake, KEYS, "w1", tally).claim(0, 10)
    assert [item.job_id for item in claimed.items] == ["kept"]


def test_erased_and_cancelled_operations_show_in_stats_and_metrics() -> None:
    fake = fakeredis.FakeRedis()
    tally = Tally(clock=lambda: NOW + 5)
    _erase_two_track_jobs_at_the_claim(fake, tally)
    tally.add("sends_cancelled")  # what a cancelled send's job writes (worker/transactional)
    flush(fake, KEYS, tally, "transactional_cancelled")
    count(fake, KEYS, {"sends_skipped_suppressed": 1, "transactional_skipped": 1}, now_s=NOW)
    s = snapshot(fake, KEYS, WorkerSettings(), now=NOW + 10)
    counted = {
        "sends_cancelled": 1,
        "sends_skipped_suppressed": 1,
        "track_erased": 2,
        "transactional_cancelled": 1,
        "transactional_skipped": 1,
    }
    assert s["counters"]["total"] == counted
    assert s["counters"]["last_1m"] == counted  # the minute hash too, not only all time
    assert 0 < fake.ttl(KEYS.counters_minute(int(NOW // 60))) <= MINUTE_TTL_S
    (row,) = [line for line in plain_lines(s) if line.startswith("counters last_1m ")]
    assert row.endswith(
        "  sends_cancelled 1, sends_skipped_suppressed 1, track_erased 2, "
        "transactional_cancelled 1, transactional_skipped 1"
    )
    ops = _operations(s)
    assert ops[("track", "erased")] == 2
    assert ops[("transactional", "cancelled")] == 1
    assert ops[("transactional", "skipped")] == 1  # the suppressed send only: one outcome each
    assert ops[("track", "cancelled")] == 0 and ops[("transactional", "erased")] == 0


def test_with_counting_off_a_claim_still_counts_erased_jobs_all_time_only() -> None:
    fake = fakeredis.FakeRedis()
    _erase_two_track_jobs_at_the_claim(fake, Tally(enabled=False, clock=lambda: NOW))
    assert fake.hgetall(KEYS.counters) == {b"track_erased": b"2"}
    assert not fake.exists(KEYS.counters_minute(int(NOW // 60)))
