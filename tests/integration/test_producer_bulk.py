"""Bulk producing against real Redis: pipeline() of any size, and exact accounting when a
chunk's request is not sent, its answer is lost, or Redis is full.

Faults come through the producer's ``redis=`` seam: a redis-py connection class that loses
the answer of (or refuses to send) the N-th enqueue request; the server itself is real.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, ClassVar

import pytest
import redis

from cio_pipeline.producer import CustomerIO, ProducerUnavailable, RedisFull, Settings
from cio_pipeline.producer.chunks import MAX_CHUNK_JOBS as C
from cio_pipeline.producer.chunks import ChunkBounds
from cio_pipeline.producer.jobs import Enqueuer, track_job
from cio_pipeline.producer.operations import person_op
from cio_pipeline.producer.pipeline import ChunkedWriter

pytestmark = pytest.mark.integration

SETTINGS = Settings(partitions=8)


class FaultyConnection(redis.Connection):
    """Fails the ``fail_at``-th enqueue request (1-based): ``mode`` "lose" sends it and then
    times out waiting for the answer; "refuse" raises before sending a byte."""

    fail_at: ClassVar[int] = 0
    mode: ClassVar[str] = "lose"
    seen: ClassVar[int] = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        losing = False
        if b"EVAL" in bytes(command[0][:64]):
            type(self).seen += 1
            if type(self).seen == self.fail_at:
                if self.mode == "refuse":
                    self.disconnect()
                    raise redis.ConnectionError("refused before sending (test fault)")
                losing = True
        super().send_packed_command(command, check_health)
        self._lose_next_answer = losing

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_lose_next_answer", False):
            self._lose_next_answer = False
            self.disconnect()
            raise redis.TimeoutError("Timeout reading from socket (test fault)")
        return super().read_response(*args, **kwargs)


def _faulty_client(redis_url: str, fail_at: int, mode: str) -> redis.Redis:
    FaultyConnection.fail_at, FaultyConnection.mode, FaultyConnection.seen = fail_at, mode, 0
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=FaultyConnection)
    client = redis.Redis(connection_pool=pool)
    # Load the script now, so that no NOSCRIPT round trip shifts the request count.
    client.script_load(
        (resources.files("cio_pipeline.producer") / "lua" / "enqueue.lua").read_text()
    )
    return client


def _in_redis(client: redis.Redis, ids: list[str]) -> set[str]:
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(f"rq:job:{job_id}")
        found = pipe.execute()
    queued = {
        job_id.decode()
        for p in range(SETTINGS.partitions)
        for job_id in client.lrange(f"rq:queue:cio-track-{p}", 0, -1)
    }
    hashed = {job_id for job_id, there in zip(ids, found, strict=True) if there}
    assert hashed <= queued, "a job hash without its queue entry: half-written"
    return hashed


def test_pipeline_of_200k_calls_enqueues_every_job(redis_client: redis.Redis) -> None:
    cio = CustomerIO(redis=redis_client, settings=SETTINGS)
    with cio.pipeline() as pipe:
        ids = [pipe.identify(str(n), n=n) for n in range(200_000)]
    queued = [
        job_id.decode()
        for p in range(SETTINGS.partitions)
        for job_id in redis_client.lrange(f"rq:queue:cio-track-{p}", 0, -1)
    ]
    assert len(queued) == 200_000
    assert set(queued) == set(ids)
    assert redis_client.exists(f"rq:job:{ids[0]}", f"rq:job:{ids[-1]}") == 2


def _run_block(client: redis.Redis, calls: int) -> tuple[list[str], ProducerUnavailable]:
    cio = CustomerIO(redis=client, settings=SETTINGS)
    handed_out: list[str] = []
    with pytest.raises(ProducerUnavailable) as raised, cio.pipeline() as pipe:
        for n in range(calls):
            handed_out.append(pipe.identify(str(n)))
    return handed_out, raised.value


@pytest.mark.parametrize(
    ("calls", "attempted", "unknown"),
    [(5 * C, 4 * C + 1, C), (2 * C + C // 2, 2 * C + C // 2, C // 2)],
)
def test_lost_answer_makes_its_chunk_unknown_and_stops_the_block(
    redis_url: str, redis_client: redis.Redis, calls: int, attempted: int, unknown: int
) -> None:
    # The third chunk's answer is lost: mid-block (5 chunks of calls) or at the block's end
    # (2.5). Mid-block it is read when the fourth chunk is full, so the fourth chunk (never
    # sent) and the call that filled it are not written.
    handed_out, error = _run_block(_faulty_client(redis_url, 3, "lose"), calls)
    groups = error.written_ids + error.unknown_ids + error.not_written_ids
    assert len(groups) == len(set(groups)) == attempted  # the call that failed is counted too
    assert set(handed_out) <= set(groups)
    assert (len(error.written_ids), len(error.unknown_ids)) == (2 * C, unknown)
    present = _in_redis(redis_client, groups)
    assert set(error.written_ids) <= present
    assert not set(error.not_written_ids) & present
    assert present <= set(error.written_ids) | set(error.unknown_ids)
    assert "may have been enqueued (request sent, answer lost" in str(error)


def test_lost_answer_of_the_chunk_in_flight_when_the_block_raises(
    redis_url: str, redis_client: redis.Redis
) -> None:
    # The second chunk is in flight (sent, answer unread) when the app's block raises: its
    # answer is read then, and lost; the chunk being filled was never sent.
    cio = CustomerIO(redis=_faulty_client(redis_url, 2, "lose"), settings=SETTINGS)
    ids: list[str] = []
    with pytest.raises(RuntimeError) as raised, cio.pipeline() as pipe:
        ids.extend(pipe.identify(str(n)) for n in range(2 * C + 7))
        raise RuntimeError("app error")
    report = pipe.pipeline_report
    assert report is not None
    assert report.written_ids == ids[:C]
    assert report.unknown_ids == ids[C : 2 * C]
    assert report.not_written_ids == ids[2 * C :]
    assert report.in_flight_ids == report.pending_ids == []
    assert (
        f"{C} job(s) enqueued before this error, 7 not enqueued, {C} of unknown"
        in (raised.value.__notes__[0])
    )
    present = _in_redis(redis_client, ids)
    assert set(report.written_ids) <= present <= set(report.written_ids + report.unknown_ids)


def test_request_not_sent_makes_its_chunk_not_written(
    redis_url: str, redis_client: redis.Redis
) -> None:
    handed_out, error = _run_block(_faulty_client(redis_url, 2, "refuse"), 5 * C)
    assert len(handed_out) == 2 * C  # the next call sent the second chunk, and raised
    assert len(error.written_ids) == C
    assert error.unknown_ids == []
    assert len(error.not_written_ids) == C + 1  # the refused chunk and the call that sent it
    present = _in_redis(redis_client, error.written_ids + error.not_written_ids)
    assert present == set(error.written_ids)


def test_single_call_whose_answer_is_lost_may_have_been_enqueued(
    redis_url: str, redis_client: redis.Redis
) -> None:
    cio = CustomerIO(redis=_faulty_client(redis_url, 1, "lose"), settings=SETTINGS)
    with pytest.raises(ProducerUnavailable, match="may have been enqueued") as raised:
        cio.identify("42", plan="pro")
    (job_id,) = raised.value.unknown_ids
    assert job_id in str(raised.value)
    assert raised.value.written_ids == raised.value.not_written_ids == []
    assert _in_redis(redis_client, [job_id]) == {job_id}  # here it was: Redis ran it
    assert "pro" not in str(raised.value) and "42" not in str(raised.value).replace(job_id, "")


def test_single_call_not_sent_is_not_enqueued(redis_url: str, redis_client: redis.Redis) -> None:
    cio = CustomerIO(redis=_faulty_client(redis_url, 1, "refuse"), settings=SETTINGS)
    with pytest.raises(ProducerUnavailable, match="not enqueued") as raised:
        cio.identify("42")
    (job_id,) = raised.value.not_written_ids
    assert "may have been" not in str(raised.value)
    assert _in_redis(redis_client, [job_id]) == set()


def test_full_redis_stops_a_chunked_pipeline_with_exact_groups(private_redis: Any) -> None:
    client = redis.Redis.from_url(private_redis.url)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 2_000_000)  # room for a few chunks, not all
    cio = CustomerIO(redis=client, settings=SETTINGS)
    with pytest.raises(RedisFull, match="maxmemory") as raised, cio.pipeline() as pipe:
        for n in range(20_000):
            pipe.identify(str(n), plan="pro", email="someone@example.com")
    error = raised.value
    assert error.written_ids and error.not_written_ids
    assert error.unknown_ids == []
    client.config_set("maxmemory", 0)  # let the checks below read freely
    present = _in_redis(client, error.written_ids + error.not_written_ids)
    assert present == set(error.written_ids)
    assert len(error.written_ids) % C == 0  # whole chunks only


def test_a_chunk_of_thousands_of_jobs_for_one_queue_keeps_their_order(
    redis_client: redis.Redis,
) -> None:
    # enqueue.lua pushes each queue's ids in slices of 1000 (Lua's unpack limit): a chunk
    # larger than one slice, with jobs for two queues interleaved, keeps each queue's order.
    cio = CustomerIO(redis=redis_client, settings=SETTINGS)
    specs = [track_job(person_op("delete", str(n % 2)), cio.keys) for n in range(2345)]
    enqueuer = Enqueuer(redis_client, 1.0)
    writer = ChunkedWriter(enqueuer, ChunkBounds(max_jobs=5000, max_bytes=1 << 30))
    jobs = [enqueuer.prepare(spec) for spec in specs]
    writer.add_all(jobs)
    writer.finish()
    assert writer.report.written_count == len(jobs)
    by_queue: dict[str, list[str]] = {}
    for spec, job in zip(specs, jobs, strict=True):
        by_queue.setdefault(spec.queue, []).append(job.id)
    assert len(by_queue) == 2  # "0" and "1" land on different partitions
    for queue, ids in by_queue.items():
        assert [i.decode() for i in redis_client.lrange(f"rq:queue:{queue}", 0, -1)] == ids
        assert redis_client.sismember("rq:queues", f"rq:queue:{queue}")
