"""The demo's parts: the workload plan, the traffic summary, the printed Redis URL, the
children's environment, the webhook loop's reading and verdict, and the clean-up."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import fakeredis
import httpx
import pytest
from rq import Queue

from cio_pipeline.devtools.demo.cleanup import delete_demo_keys
from cio_pipeline.devtools.demo.privacy import Privacy
from cio_pipeline.devtools.demo.processes import child_environment
from cio_pipeline.devtools.demo.progress import read_traffic
from cio_pipeline.devtools.demo.redis_server import open_redis, redis_environment, safe_url
from cio_pipeline.devtools.demo.webhook_loop import (
    PLANNED_OUTCOMES,
    GuardedSend,
    LoopState,
    plan_outcomes,
    read_loop,
)
from cio_pipeline.devtools.demo.workload import MIN_OPERATIONS, plan_workload
from cio_pipeline.producer import SettingsError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.webhooks.store import SuppressionStore

KEYS = Keys("ciodemo", 8)


@pytest.mark.parametrize("operations", [MIN_OPERATIONS, 41, 200, 2000, 5003])
def test_plan_has_exactly_the_operations_asked_one_poison_and_every_kind(operations: int) -> None:
    calls = [call for wave in plan_workload(operations) for call in wave]
    assert len(calls) == operations
    assert sum(call.poison for call in calls) == 1
    assert {call.kind for call in calls} == {
        "identify",
        "signup event",
        "anonymous event",
        "merge",
        "device",
        "page view",
        "purchase",
        "transactional send",
    }


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


def _request(
    at: float, status: int = 200, ops: int = 1, surface: str = "track", path: str = "/api/v2/batch"
) -> dict[str, object]:
    return {
        "at": at,
        "status": status,
        "ops": ops,
        "surface": surface,
        "path": path,
        "method": "POST",
    }


def test_traffic_counts_429s_batching_and_the_busiest_second() -> None:
    log = [
        _request(0.0, ops=10),
        _request(0.5, 429, ops=0),
        _request(0.9, ops=30),
        _request(2.0, ops=20),
        _request(2.1, surface="app", path="/v1/send/email"),
    ]
    traffic = read_traffic(log)
    assert traffic.rate_limited == 1
    assert traffic.batch_requests == 3 and traffic.ops_per_batch == 20.0
    assert traffic.peak_rate == 3
    assert (traffic.track_requests, traffic.app_requests, traffic.sends) == (4, 1, 1)


def test_printed_redis_url_hides_the_password() -> None:
    assert safe_url("redis://:s3cret@host:6380/2") == "redis://***@host:6380/2"
    assert "s3cret" not in safe_url("redis://host:6380/2?password=s3cret")
    assert "s3cret" not in safe_url("redis://user:s3cret@host/0")
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("operations", [MIN_OPERATIONS, 200, 2000])
def test_plan_sends_a_receipt_to_every_address_the_loop_bounces_or_spams(operations: int) -> None:
    recipients = {
        call.args[0].to
        for wave in plan_workload(operations)
        for call in wave
        if call.method == "send_email"
    }
    assert set(PLANNED_OUTCOMES) <= recipients


def test_children_get_the_redis_variables_and_a_fresh_signing_key_not_the_users_own() -> None:
    users = {
        "HOME": "/home/u",
        "CIO_QUEUE_PREFIX": "prod",
        "CIO_REDIS_TLS_CA_FILE": "/mine",
        "CUSTOMERIO_API_KEY": "real",
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY": "real-key",
        "REDIS_URL": "redis://elsewhere/0",
        "LOG_LEVEL": "debug",
    }
    redis_env = {
        "REDIS_URL": "rediss://r:6380/0",
        "CIO_REDIS_TLS_CA_FILE": "/ca.pem",
        "CIO_REDIS_SENTINELS": "s:26379",
    }
    first = child_environment(users, redis_env, "ciodemo")
    second = child_environment(users, redis_env, "ciodemo")
    assert first["HOME"] == "/home/u" and "LOG_LEVEL" not in first
    assert {k: first[k] for k in redis_env} == redis_env
    assert first["CIO_QUEUE_PREFIX"] == "ciodemo"
    assert first["CUSTOMERIO_API_KEY"] != "real"
    key = first["CUSTOMERIO_WEBHOOK_SIGNING_KEY"]
    assert len(key) >= 32 and key not in ("real-key", second["CUSTOMERIO_WEBHOOK_SIGNING_KEY"])


def test_redis_environment_is_redis_url_and_the_cio_redis_variables() -> None:
    environ = {
        "REDIS_URL": "rediss://h/0",
        "CIO_REDIS_TLS_CA_FILE": "/ca",
        "CIO_REDIS_SENTINELS": "a:1",
        "CIO_QUEUE_PREFIX": "x",
        "REDIS_HOST": "h",
    }
    assert redis_environment(environ) == {
        "REDIS_URL": "rediss://h/0",
        "CIO_REDIS_TLS_CA_FILE": "/ca",
        "CIO_REDIS_SENTINELS": "a:1",
    }


@pytest.mark.parametrize(
    "environ, names",
    [
        # TLS files with a plain URL, checked before any connection is tried
        (
            {"REDIS_URL": "redis://127.0.0.1:1/0", "CIO_REDIS_TLS_CA_FILE": "/ca.pem"},
            "CIO_REDIS_TLS_CA_FILE",
        ),
        (
            {"REDIS_URL": "redis://127.0.0.1:1/0", "CIO_REDIS_SENTINELS": "127.0.0.1:1"},
            "CIO_REDIS_SENTINEL_MASTER",
        ),
        (
            {"REDIS_URL": "redis://127.0.0.1:1/0", "CIO_REDIS_TLS_CA_FIEL": "/ca.pem"},
            "CIO_REDIS_TLS_CA_FIEL",
        ),
    ],
)
def test_wrong_redis_settings_are_a_settings_error_not_a_private_redis(
    environ: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError, match=names):
        open_redis(environ)


def _state(**changes: Any) -> LoopState:
    fields: dict[str, Any] = {
        "received": 5,
        "waiting_at_emulator": 0,
        "processed": 4,
        "duplicates": 1,
        "failed": 0,
        "skipped_sends": 0,
        "suppressed": dict(PLANNED_OUTCOMES),
    }
    return LoopState(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes, settled",
    [
        ({}, True),
        ({"processed": 3}, False),  # one event still queued for the workers
        ({"waiting_at_emulator": 1}, False),
        ({"received": 0, "processed": 0, "duplicates": 0}, False),
        ({"suppressed": {next(iter(PLANNED_OUTCOMES)): "bounced"}}, False),
        ({"processed": 3, "failed": 1}, True),  # settled, and the verdict names the failure
    ],
)
def test_the_loop_settles_when_every_event_is_processed_and_the_suppressions_hold(
    changes: dict[str, Any], settled: bool
) -> None:
    assert _state(**changes).settled is settled


def test_a_guarded_send_is_as_planned_only_when_skipped_for_the_bounce() -> None:
    address = next(a for a, o in PLANNED_OUTCOMES.items() if o == "bounced")
    assert GuardedSend("j", address, {"skipped": True, "reason": "bounced"}).skipped_as_planned
    assert not GuardedSend("j", address, {"skipped": True, "reason": "spammed"}).skipped_as_planned
    assert not GuardedSend("j", address, {"delivery_id": "d"}).skipped_as_planned
    assert not GuardedSend("j", address).skipped_as_planned


_PRIVACY = Privacy(
    cancel_result="cancelled",
    reminder_sent=False,
    queued_for_erased=3,
    dropped=3,
    dropped_in_all=5,
    delete_delivered=True,
    person_gone=True,
)


def test_the_cancel_is_as_planned_only_when_cancelled_and_never_sent() -> None:
    assert _PRIVACY.cancel_as_planned
    assert not replace(_PRIVACY, reminder_sent=True).cancel_as_planned
    assert not replace(_PRIVACY, cancel_result="in_flight").cancel_as_planned


@pytest.mark.parametrize(
    "changes",
    [{"dropped": 2}, {"delete_delivered": False}, {"person_gone": False}],
)
def test_the_erase_is_as_planned_only_when_all_dropped_and_the_delete_delivered(
    changes: dict[str, Any],
) -> None:
    assert _PRIVACY.erase_as_planned
    assert not replace(_PRIVACY, **changes).erase_as_planned


def _emulator(seen: list[tuple[str, Any]], counters: dict[str, int]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.url.path, body))
        if request.method == "GET":
            return httpx.Response(200, json=counters)
        return httpx.Response(200, json=body)

    return httpx.Client(base_url="http://emulator", transport=httpx.MockTransport(handler))


def test_read_loop_combines_the_emulator_counters_with_the_workers_counters() -> None:
    fake = fakeredis.FakeRedis()
    fake.hset(
        KEYS.counters,
        mapping={
            "webhooks_processed": 6,
            "webhooks_duplicate": 1,
            "sends_skipped_suppressed": 1,
            "track_delivered": 99,
        },
    )
    store = SuppressionStore(fake, KEYS)
    store.change(["email:a@example.com", "id:a"], "set", ["bounced"], 100, "e1")
    store.change(["email:a@example.com"], "set", ["spammed"], 101, "e2")
    store.change(["email:b@example.com"], "set", ["unsubscribed"], 102, "e3")
    seen: list[tuple[str, Any]] = []
    with _emulator(
        seen, {"queued": 2, "delivered": 7, "attempts": 9, "failed_attempts": 2}
    ) as control:
        state = read_loop(fake, KEYS, control)
        plan_outcomes(control)
    assert (
        state.received,
        state.waiting_at_emulator,
        state.processed,
        state.duplicates,
        state.failed,
        state.skipped_sends,
    ) == (7, 2, 6, 1, 0, 1)
    # per address, the most serious reason; id: subjects are not addresses
    assert state.suppressed == {"a@example.com": "spammed", "b@example.com": "unsubscribed"}
    posted = [body for path, body in seen if path == "/_emulator/webhooks/outcomes"]
    assert posted == [{"address": a, "outcome": o} for a, o in PLANNED_OUTCOMES.items()]


def test_cleanup_deletes_the_jobs_the_demos_registries_list_and_nothing_else() -> None:
    fake = fakeredis.FakeRedis()
    ours = Queue("ciodemo-webhooks", connection=fake, serializer=SafeSerializer)
    theirs = Queue("cio-webhooks", connection=fake, serializer=SafeSerializer)
    listed = ours.enqueue("cio_pipeline.worker.jobs.process_webhook", {"event_id": "e"})
    finished = ours.enqueue("cio_pipeline.worker.jobs.process_webhook", {"event_id": "f"})
    fake.lrem(ours.key, 0, finished.id)
    fake.zadd("rq:finished:ciodemo-webhooks", {finished.id: 1})
    other = theirs.enqueue("cio_pipeline.worker.jobs.process_webhook", {"event_id": "g"})
    fake.hset("ciodemo:counters", "webhooks_processed", 2)
    fake.set("users-own-key", "kept")
    delete_demo_keys(fake, "ciodemo", [])
    for job in (listed, finished):
        assert not fake.exists(job.key)
    assert fake.exists(other.key) and fake.exists("users-own-key")
    assert not fake.exists("ciodemo:counters")
