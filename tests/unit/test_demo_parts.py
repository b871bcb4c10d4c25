"""The demo's pure parts: the workload plan, the traffic summary, the printed Redis URL."""

from __future__ import annotations

import pytest

from worker.demo.progress import read_traffic
from worker.demo.redis_server import safe_url
from worker.demo.workload import MIN_OPERATIONS, plan_workload


@pytest.mark.parametrize("operations", [MIN_OPERATIONS, 41, 200, 2000, 5003])
def test_plan_has_exactly_the_operations_asked_one_poison_and_every_kind(operations: int) -> None:
    calls = [call for wave in plan_workload(operations) for call in wave]
    assert len(calls) == operations
    assert sum(call.poison for call in calls) == 1
    assert {call.kind for call in calls} == {
        "identify", "signup event", "anonymous event", "merge", "device", "page view",
        "purchase", "transactional send"}


def test_plan_identifies_each_person_before_tracking_them() -> None:
    seen: set[str] = set()
    for call in (c for wave in plan_workload(300) for c in wave):
        if call.method == "identify":
            seen.add(call.args[0])
        elif call.method in ("track", "pageview", "add_device"):
            assert call.args[0] in seen


def test_plan_refuses_too_few_operations() -> None:
    with pytest.raises(ValueError, match="at least"):
        plan_workload(MIN_OPERATIONS - 1)


def _request(at: float, status: int = 200, ops: int = 1, surface: str = "track",
             path: str = "/api/v2/batch") -> dict[str, object]:
    return {"at": at, "status": status, "ops": ops, "surface": surface, "path": path,
            "method": "POST"}


def test_traffic_counts_429s_batching_and_the_busiest_second() -> None:
    log = [_request(0.0, ops=10), _request(0.5, 429, ops=0), _request(0.9, ops=30),
           _request(2.0, ops=20), _request(2.1, surface="app", path="/v1/send/email")]
    traffic = read_traffic(log)
    assert traffic.rate_limited == 1
    assert traffic.batch_requests == 3 and traffic.ops_per_batch == 20.0
    assert traffic.peak_rate == 3
    assert (traffic.track_requests, traffic.app_requests, traffic.sends) == (4, 1, 1)


def test_printed_redis_url_hides_the_password() -> None:
    assert safe_url("redis://:s3cret@host:6380/2") == "redis://:***@host:6380/2"
    assert "s3cret" not in safe_url("redis://user:s3cret@host/0")
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
