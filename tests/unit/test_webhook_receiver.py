"""The receiver app (Starlette TestClient, fakeredis): 200 and one job for a signed event;
401/400/413/503 and nothing enqueued otherwise; /healthz."""

from __future__ import annotations

import json
import time
from typing import Any

import fakeredis
import httpx
import pytest
import redis
from rq import Queue
from starlette.testclient import TestClient

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.clients.app import AppClient
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import WorkerContext
from cio_pipeline.worker.transactional.deliver import deliver_send
from cio_pipeline.worker.webhooks.receiver import create_receiver
from cio_pipeline.worker.webhooks.signature import sign
from cio_pipeline.worker.webhooks.store import SuppressionStore

KEY = "test-signing-key"
EVENT = {
    "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
    "object_type": "email",
    "metric": "bounced",
    "timestamp": 1613063089,
    "data": {"recipient": "ann@example.com"},
}


def _client(connection: Any = None, **settings: Any) -> tuple[TestClient, Any]:
    fake = connection if connection is not None else fakeredis.FakeRedis()
    config = WorkerSettings(webhook_signing_key=f"old-key,{KEY}", **settings)
    return TestClient(create_receiver(config, fake)), fake


def _post(
    client: TestClient,
    body: bytes,
    ts: int | None = None,
    key: str = KEY,
    path: str = "/webhooks/customerio",
) -> httpx.Response:
    ts = int(time.time()) if ts is None else ts
    headers = {
        "X-CIO-Timestamp": str(ts),
        "X-CIO-Signature": sign(body, ts, key),
        "Content-Type": "application/json",
    }
    return client.post(path, content=body, headers=headers)


def _queued(fake: Any) -> list[Any]:
    return Queue(Keys().webhooks_queue, connection=fake, serializer=SafeSerializer).get_jobs()


def test_a_signed_event_is_enqueued_once_and_answered_200() -> None:
    client, fake = _client()
    response = _post(client, json.dumps(EVENT).encode())
    assert response.status_code == 200
    (job,) = _queued(fake)
    assert job.func_name == "cio_pipeline.worker.jobs.process_webhook"
    assert job.args == (EVENT,)
    assert job.description == "cio webhook email bounced"


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda body, ts: (body, ts, "wrong-key"), 401),
        (lambda body, ts: (body, ts - 301, KEY), 401),
        (lambda body, ts: (body + b" ", ts, None), 401),  # body changed after signing
        (lambda body, ts: (b'{"hello": 1}', ts, KEY), 400),
        (lambda body, ts: (b"x" * 2_000_000, ts, KEY), 413),
    ],
    ids=["forged", "stale", "tampered", "not-an-event", "too-large"],
)
def test_refusals_enqueue_nothing(mutate: Any, status: int) -> None:
    client, fake = _client()
    body, ts = json.dumps(EVENT).encode(), int(time.time())
    new_body, new_ts, key = mutate(body, ts)
    if key is None:  # signed over the original body, sent with another
        headers = {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": sign(body, ts, KEY)}
        response = client.post("/webhooks/customerio", content=new_body, headers=headers)
    else:
        response = _post(client, new_body, new_ts, key)
    assert response.status_code == status
    assert _queued(fake) == []


def test_missing_headers_are_401() -> None:
    client, fake = _client()
    assert client.post("/webhooks/customerio", content=b"{}").status_code == 401
    assert _queued(fake) == []


def test_the_path_is_configurable_and_healthz_answers() -> None:
    client, _ = _client(webhook_path="/hooks/cio")
    assert _post(client, json.dumps(EVENT).encode(), path="/hooks/cio").status_code == 200
    assert _post(client, json.dumps(EVENT).encode()).status_code == 404
    assert client.get("/healthz").status_code == 200


def test_redis_unreachable_is_503() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    client, _ = _client(dead)
    assert _post(client, json.dumps(EVENT).encode()).status_code == 503


def _ctx(fake: Any, seen: list[httpx.Request]) -> WorkerContext:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"delivery_id": "d-1"})

    config = WorkerSettings(
        app_api_key="k", app_url="http://cio.test", rate_headroom=0, transactional_rate=1000
    )
    app = AppClient(config, transport=httpx.MockTransport(handler))
    return WorkerContext(config, fake, app_client=app)


def test_a_guarded_send_to_a_suppressed_address_is_skipped_and_counted() -> None:
    from rq.job import Job

    fake, seen = fakeredis.FakeRedis(), []
    ctx = _ctx(fake, seen)
    SuppressionStore(fake, Keys()).add("ann@example.com", "bounced")
    request = {"transactional_message_id": 1, "to": "ann@example.com", "identifiers": {"id": "1"}}
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=(request,),
        connection=fake,
        kwargs={"idempotency_key": "k1", "skip_if_suppressed": True},
        serializer=SafeSerializer,
    )
    job.save()
    assert deliver_send(ctx, job, "email", request, "k1", True) == {
        "skipped": True,
        "reason": "bounced",
    }
    assert seen == [] and fake.hget(Keys().counters, "sends_skipped_suppressed") == b"1"
    # the default is Customer.io's behaviour: a password reset still goes
    assert deliver_send(ctx, job, "email", request, "k2")["delivery_id"] == "d-1"
    assert len(seen) == 1
