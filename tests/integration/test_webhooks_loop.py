"""Reporting webhooks end to end: the emulator signs and posts, the receiver (a subprocess)
verifies and enqueues, two workers process; then the whole suppression loop (send -> bounce
webhook -> suppression -> skipped send)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq import Queue
from support import WorkerFleet, queue_report, wait_until

from cio_pipeline.devtools.emulator_process import running_emulator
from cio_pipeline.devtools.receiver import running_receiver
from cio_pipeline.producer import APIClient, SendEmailRequest, Settings
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.webhooks.signature import sign

KEY = "integration-signing-key"
HERE = Path(__file__).resolve().parent


def _counters(client: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall("cio:counters").items()}


@pytest.fixture
def loop(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Any, WorkerFleet]]:
    """(receiver URL, emulator posting to it, a fleet whose workers run the test hook)."""
    base = {
        "REDIS_URL": redis_url,
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY": f"old-key,{KEY}",
        "LOG_FORMAT": "json",
    }
    with running_receiver(base, log_path=str(tmp_path / "receiver.log")) as url:
        hook_url = f"{url}/webhooks/customerio"
        with running_emulator(
            extra_args=["--webhook-url", hook_url, "--webhook-signing-key", KEY]
        ) as emulator:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
            }
            env.update(emulator.worker_env())
            env.update(base)
            env.update(
                {
                    "CIO_WEBHOOK_HOOK": "webhook_app_hook:record",
                    "PYTHONPATH": f"{HERE}:{env.get('PYTHONPATH', '')}",
                    "CIO_BACKOFF_BASE_S": "0.1",
                    "CIO_BACKOFF_CAP_S": "1",
                }
            )
            fleet = WorkerFleet(env, tmp_path, [])
            try:
                yield hook_url, emulator, fleet
            finally:
                fleet.stop_all()


def _event(n: int, metric: str, ts: int, object_type: str = "email") -> dict[str, Any]:
    key = "recipient" if object_type == "email" else "email_address"
    data: dict[str, Any] = {key: f"p{n}@example.com", "identifiers": {"id": str(n)}}
    if metric == "bounced":
        data["failure_message"] = "mailbox does not exist"
    return {
        "event_id": f"01TESTEVENT{n:015d}",
        "object_type": object_type,
        "metric": metric,
        "timestamp": ts,
        "data": data,
    }


def test_a_thousand_events_with_repeats_are_processed_exactly_once(
    loop: tuple[str, Any, WorkerFleet], redis_client: redis.Redis
) -> None:
    hook_url, emulator, fleet = loop
    now = int(time.time())
    metrics = ["delivered", "opened", "clicked", "bounced", "spammed", "sent"]
    distinct = [_event(n, metrics[n % len(metrics)], now - 1000 + n) for n in range(900)]
    repeats = distinct[::9]  # 100 repeats, sent again later
    events = distinct + repeats
    # out of order: the newer unsubscribed arrives first, the older subscribed after it
    events += [
        _event(5000, "unsubscribed", now, "customer"),
        _event(5001, "subscribed", now - 60, "customer"),
    ]
    events[-1]["data"]["email_address"] = "p5000@example.com"
    for start in range(0, len(events), 250):
        response = httpx.post(
            f"{emulator.url}/_emulator/webhooks/events",
            json={"events": events[start : start + 250]},
            timeout=10,
        )
        assert response.status_code == 200
    fleet.start(2)

    def settled() -> bool:
        sent = httpx.get(f"{emulator.url}/_emulator/webhooks", timeout=5).json()
        c = _counters(redis_client)
        return (
            sent["queued"] == 0
            and c.get("webhooks_processed", 0) == 902
            and c.get("webhooks_duplicate", 0) == 100
        )

    wait_until(
        settled,
        90,
        "every webhook processed",
        lambda: f"{_counters(redis_client)} {queue_report(redis_client, 'cio-webhooks')}",
    )
    calls = [c.decode() for c in redis_client.lrange("test:hook-calls", 0, -1)]
    assert len(calls) == len(set(calls)) == 902
    counters = _counters(redis_client)
    assert counters["webhook_metric_email_bounced"] == 150
    assert counters["webhook_metric_email_spammed"] == 150
    assert counters.get("webhooks_failed", 0) == 0

    api = APIClient("unused", settings=Settings(redis_url=_url(redis_client)))
    assert api.is_suppressed("p3@example.com") == "bounced"  # 3 % 6 == 3: bounced
    assert api.is_suppressed({"id": "4"}) == "spammed"
    assert api.is_suppressed("p0@example.com") is None
    assert api.is_suppressed("p5000@example.com") == "unsubscribed"

    # forged, replayed with a new timestamp but the old signature, stale: 401, no change
    before = (_counters(redis_client), redis_client.llen("rq:queue:cio-webhooks"))
    body = json.dumps(_event(7000, "bounced", now)).encode()
    stamp = int(time.time())
    forged = {"X-CIO-Timestamp": str(stamp), "X-CIO-Signature": sign(body, stamp, "not-it")}
    replayed = {"X-CIO-Timestamp": str(stamp + 5), "X-CIO-Signature": sign(body, stamp, KEY)}
    stale = {"X-CIO-Timestamp": str(stamp - 600), "X-CIO-Signature": sign(body, stamp - 600, KEY)}
    for headers in (forged, replayed, stale):
        assert httpx.post(hook_url, content=body, headers=headers, timeout=5).status_code == 401
    assert (_counters(redis_client), redis_client.llen("rq:queue:cio-webhooks")) == before
    assert api.is_suppressed("p7000@example.com") is None


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_send_bounce_suppression_skipped_send(
    loop: tuple[str, Any, WorkerFleet], redis_client: redis.Redis
) -> None:
    _, emulator, fleet = loop
    httpx.post(
        f"{emulator.url}/_emulator/webhooks/outcomes",
        json={"address": "loop@example.com", "outcome": "bounced"},
        timeout=5,
    )
    api = APIClient("unused", settings=Settings(redis_url=_url(redis_client)))
    request = SendEmailRequest(
        transactional_message_id=1, to="loop@example.com", identifiers={"id": "loop"}
    )
    api.send_email(request)  # the default: sent as Customer.io decides
    fleet.start(1)
    wait_until(
        lambda: api.is_suppressed("loop@example.com") == "bounced",
        60,
        "the bounce webhook to suppress the address",
        lambda: str(_counters(redis_client)),
    )
    guarded = api.send_email(request, skip_if_suppressed=True)
    queue = Queue("cio-transactional", connection=redis_client, serializer=SafeSerializer)

    def finished() -> bool:
        job = queue.fetch_job(guarded)
        return job is not None and job.get_status() == "finished"

    wait_until(finished, 30, "the guarded send to finish")
    job = queue.fetch_job(guarded)
    assert job is not None and job.return_value() == {"skipped": True, "reason": "bounced"}
    assert _counters(redis_client)["sends_skipped_suppressed"] == 1
    assert len(emulator.state()["sends"]) == 1  # only the first send reached Customer.io
