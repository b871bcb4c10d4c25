"""What a Track drain leaves in Redis: delivered jobs deleted by default (or kept with a TTL
when asked), and no stray job keys for ids whose hash is gone. fakeredis[lua], MockTransport."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import httpx
import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from cio_pipeline.producer import CustomerIO, Settings
from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.clients.track import TrackClient
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import WorkerContext
from cio_pipeline.worker.track.drainer import TrackDrainer

QUEUE = "cio-track-0"
KEYS = Keys(partitions=1)


def _drain(fake: fakeredis.FakeRedis, **settings: Any) -> list[dict[str, Any]]:
    """Drain partition 0 with a Track API that accepts everything; returns the operations."""
    sent: list[dict[str, Any]] = []

    def accept(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.extend(body.get("batch", [body]))
        return httpx.Response(200, json={})

    worker_settings = WorkerSettings(
        queue=Settings(partitions=1),
        site_id="s",
        api_key="k",
        track_url="http://cio.test",
        rate_headroom=0.0,
        track_rate=100_000,
        batch_linger_ms=0,
        **settings,
    )
    ctx = WorkerContext(worker_settings, fake)
    ctx.__dict__["track"] = TrackClient(worker_settings, transport=httpx.MockTransport(accept))
    drainer = TrackDrainer(ctx, "w1", burst=True)
    drainer.leases.heartbeat()
    drainer.run()
    return sent


def _job_keys(fake: fakeredis.FakeRedis) -> set[bytes]:
    return set(fake.scan_iter(match="rq:job:*"))


def test_delivered_jobs_are_deleted_by_default() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    ids = [cio.identify(f"p{n}", n=n) for n in range(50)]
    assert len(_job_keys(fake)) == 50
    sent = _drain(fake)
    assert [op["attributes"]["n"] for op in sent] == list(range(50))
    assert _job_keys(fake) == set()
    assert FinishedJobRegistry(QUEUE, connection=fake).count == 0
    assert fake.hget(KEYS.counters, "track_delivered") == b"50"
    assert not Job.exists(ids[0], connection=fake)


def test_delivered_jobs_are_kept_as_finished_when_asked() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    ids = [cio.identify(f"p{n}") for n in range(5)]
    _drain(fake, track_keep_delivered_s=60)
    assert set(FinishedJobRegistry(QUEUE, connection=fake).get_job_ids()) == set(ids)
    for job_id in ids:
        job = Job.fetch(job_id, connection=fake, serializer=SafeSerializer)
        assert job.get_status() == JobStatus.FINISHED
        assert 0 < fake.ttl(job.key) <= 60
    assert fake.hget(KEYS.counters, "track_delivered") == b"5"


def test_a_claimed_id_whose_hash_is_gone_leaves_no_key() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    ids = [cio.identify(f"p{n}", n=n) for n in range(3)]
    fake.delete(f"rq:job:{ids[1]}")  # expired or deleted while queued
    sent = _drain(fake)
    assert [op["attributes"]["n"] for op in sent] == [0, 2]
    assert not fake.exists(f"rq:job:{ids[1]}")
    assert _job_keys(fake) == set()
    assert FailedJobRegistry(QUEUE, connection=fake).count == 0  # nothing left to keep
    assert fake.llen(KEYS.claimed(0)) == 0


def test_claiming_alone_creates_no_key_for_a_missing_hash() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    kept, gone = cio.identify("a"), cio.identify("b")
    fake.delete(f"rq:job:{gone}")
    ctx = WorkerContext(WorkerSettings(queue=Settings(partitions=1)), fake)
    drainer = TrackDrainer(ctx, "w1", burst=True)
    drainer.leases.heartbeat()
    claim = drainer.ledger.claim(0, 10)
    assert [item.job_id for item in claim.items] == [kept, gone]
    assert _job_keys(fake) == {f"rq:job:{kept}".encode()}
    assert fake.hget(f"rq:job:{kept}", "status") == b"started"


def test_keep_delivered_setting_is_read_and_range_checked() -> None:
    assert WorkerSettings.from_env({}).track_keep_delivered_s == 0
    env = {"CIO_TRACK_KEEP_DELIVERED_S": "600"}
    assert WorkerSettings.from_env(env).track_keep_delivered_s == 600
    for bad in ("-1", "604801", "soon"):
        with pytest.raises(SettingsError, match="CIO_TRACK_KEEP_DELIVERED_S"):
            WorkerSettings.from_env({"CIO_TRACK_KEEP_DELIVERED_S": bad})
