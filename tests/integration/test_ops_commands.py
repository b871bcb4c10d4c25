"""`stats --json`, `health` and `/metrics` against real Redis, real workers and the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families
from rq.suspension import resume, suspend
from support import WorkerFleet, enqueue_sends, free_port, track_drained, wait_until

from cio_pipeline.producer import APIClient, CustomerIO, SendEmailRequest, Settings


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _produce(redis_url: str) -> None:
    cio = CustomerIO("s", "k", settings=Settings(redis_url=redis_url))
    with cio.pipeline() as pipe:
        for n in range(200):
            pipe.identify(str(n), plan="pro")
    cio.identify("poison", created_at=-1)  # Customer.io refuses it: one Track dead letter
    cio.close()


def _cancelled_send(redis_url: str) -> None:
    """A send cancelled while queued: its job finishes as cancelled, nothing sent."""
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    request = SendEmailRequest(
        transactional_message_id=1, to="c@example.com", identifiers={"id": "c"}
    )
    api.send_email(request, idempotency_key="ops-cancelled")
    assert api.cancel_send("ops-cancelled").message == "cancelled"
    api.close()


def test_stats_health_and_metrics_agree_with_what_happened(
    redis_url: str, redis_client: redis.Redis, fleet: WorkerFleet
) -> None:
    env = {**fleet.env}
    assert _cli(env, "health").returncode == 1  # no worker yet
    _produce(redis_url)
    enqueue_sends(redis_url, 5)
    _cancelled_send(redis_url)
    fleet.start(1)
    wait_until(
        lambda: (
            track_drained(redis_client)
            and redis_client.llen("rq:queue:cio-transactional") == 0
            and redis_client.hget("cio:counters", "transactional_delivered") == b"5"
            and redis_client.hget("cio:counters", "transactional_cancelled") == b"1"
        ),
        60,
        "everything delivered",
    )
    result = _cli(env, "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats: dict[str, Any] = json.loads(result.stdout)
    total = stats["counters"]["total"]
    assert total["track_delivered"] == 200
    assert total["track_dead"] == 1
    assert total["transactional_delivered"] == 5
    assert total["transactional_cancelled"] == total["sends_cancelled"] == 1
    assert "transactional_skipped" not in total  # one outcome per operation
    assert stats["counters"]["last_60m"]["track_delivered"] == 200
    assert stats["counters"]["last_60m"]["transactional_delivered"] == 5
    assert stats["counters"]["last_60m"]["transactional_cancelled"] == 1
    text = _cli(env, "stats")
    assert text.returncode == 0, text.stderr
    (last_hour,) = [
        line for line in text.stdout.splitlines() if line.startswith("counters last_60m")
    ]
    assert "sends_cancelled 1" in last_hour and "transactional_cancelled 1" in last_hour
    assert total["track_requests"] >= 1 and total["track_request_ops"] == 201
    assert stats["latency"]["track"]["count"] == 200
    assert stats["dead_letters"] == 1
    assert sum(q["depth"] for q in stats["queues"]) == 0
    assert len(stats["workers"]) == 1
    assert {p["lease_holder"] for p in stats["partitions"]} == {stats["workers"][0]["name"]}

    assert _cli(env, "health").returncode == 0
    assert _cli(env, "health", "--worker", stats["workers"][0]["name"]).returncode == 0
    assert _cli(env, "health", "--worker", "nobody").returncode == 1
    assert _cli(env, "health", "--this-host").returncode == 0

    # The webhook receiver's fields show up when present.
    redis_client.hset(
        "cio:counters", mapping={"webhooks_processed": 3, "webhook_metric_email_opened": 2}
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cio_pipeline.worker.cli",
            "metrics",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        body = ""

        def scraped() -> bool:
            nonlocal body
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    body = r.read().decode()
                return True
            except OSError:
                return False

        wait_until(scraped, 30, "/metrics answering")
    finally:
        server.terminate()
        server.wait(timeout=10)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert (
        samples[("cio_operations_total", (("outcome", "delivered"), ("surface", "track")))]
        == total["track_delivered"]
    )
    assert samples[("cio_operations_total", (("outcome", "dead"), ("surface", "track")))] == 1
    cancelled = ("cio_operations_total", (("outcome", "cancelled"), ("surface", "transactional")))
    assert samples[cancelled] == 1
    skipped = ("cio_operations_total", (("outcome", "skipped"), ("surface", "transactional")))
    assert samples[skipped] == 0
    assert samples[("cio_http_requests_total", (("surface", "track"),))] == total["track_requests"]
    assert samples[("cio_delivery_latency_seconds_count", (("surface", "track"),))] == 200
    assert samples[("cio_live_workers", ())] == 1
    dead = sum(v for (name, _), v in samples.items() if name == "cio_dead_letters")
    assert dead == stats["dead_letters"]
    assert samples[("cio_webhook_events_total", (("field", "webhooks_processed"),))] == 3

    # A queued job older than --max-lag-s while workers hold still (`rq suspend`).
    suspend(redis_client)
    try:
        enqueue_sends(redis_url, 1, 100)
        wait_until(
            lambda: _cli(env, "health", "--max-lag-s", "0.5").returncode == 1,
            30,
            "health to report the lag",
        )
        lagging = _cli(env, "health", "--max-lag-s", "0.5")
        assert "cio-transactional" in lagging.stderr and "max-lag-s" in lagging.stderr
        assert _cli(env, "health", "--max-lag-s", "3600").returncode == 0
    finally:
        resume(redis_client)
