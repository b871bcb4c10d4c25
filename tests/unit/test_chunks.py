"""Chunk cutting (pure), the enqueue errors' accounting, and pipeline() on fakeredis."""

from __future__ import annotations

import fakeredis
import pytest

from cio_pipeline.producer import CustomerIO, EnqueueError, ProducerUnavailable, RedisFull, Settings
from cio_pipeline.producer.chunks import MAX_CHUNK_JOBS, ChunkBounds, cut_chunks

C = MAX_CHUNK_JOBS


@pytest.mark.parametrize(
    ("sizes", "bounds", "expected"),
    [
        ([], ChunkBounds(3, 100), []),
        ([10] * 7, ChunkBounds(3, 100), [range(0, 3), range(3, 6), range(6, 7)]),
        ([10] * 6, ChunkBounds(3, 100), [range(0, 3), range(3, 6)]),
        # the byte bound cuts first: 40 + 40 fits 100, a third 40 would not
        ([40] * 5, ChunkBounds(10, 100), [range(0, 2), range(2, 4), range(4, 5)]),
        # exactly at the byte bound still fits
        ([50, 50, 50], ChunkBounds(10, 100), [range(0, 2), range(2, 3)]),
        # a job over the byte bound travels alone
        ([10, 500, 10], ChunkBounds(10, 100), [range(0, 1), range(1, 2), range(2, 3)]),
        ([500], ChunkBounds(10, 100), [range(0, 1)]),
        ([1] * 4, ChunkBounds(1, 100), [range(0, 1), range(1, 2), range(2, 3), range(3, 4)]),
    ],
)
def test_cut_chunks(sizes: list[int], bounds: ChunkBounds, expected: list[range]) -> None:
    chunks = cut_chunks(sizes, bounds)
    assert chunks == expected
    assert [i for chunk in chunks for i in chunk] == list(range(len(sizes)))


@pytest.mark.parametrize(("jobs", "size"), [(0, 1), (1, 0), (-1, 5)])
def test_chunk_bounds_must_be_positive(jobs: int, size: int) -> None:
    with pytest.raises(ValueError, match="at least one"):
        ChunkBounds(jobs, size)


def test_single_job_errors_say_whether_it_may_have_been_enqueued() -> None:
    lost = ProducerUnavailable("Redis did not answer within 1.0 s", unknown_ids=["a1"])
    assert "job a1 may have been enqueued" in str(lost)
    refused = RedisFull("Redis is full", not_written_ids=["b2"])
    assert "job b2 not enqueued" in str(refused)
    assert "may have been" not in str(refused)


def test_regroup_keeps_the_type_and_adds_up() -> None:
    failed = ProducerUnavailable("no answer", unknown_ids=["c"])
    whole = failed.regroup(written_ids=["a", "b"], not_written_ids=["d"])
    assert type(whole) is ProducerUnavailable
    assert whole.written_ids == ["a", "b"]
    assert (whole.unknown_ids, whole.not_written_ids) == (["c"], ["d"])
    assert "2 job(s) enqueued, 1 not enqueued" in str(whole)
    assert "1 may have been enqueued" in str(whole)


def _queued(fake: fakeredis.FakeRedis) -> list[str]:
    return [i.decode() for i in fake.lrange("rq:queue:cio-track-0", 0, -1)]


def test_pipeline_writes_chunks_as_it_goes() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    with cio.pipeline() as pipe:
        ids = [pipe.identify(str(i)) for i in range(2 * C + C // 2)]
        assert _queued(fake) == ids[: 2 * C]  # two full chunks sent so far
        report = pipe.pipeline_report
        assert report is not None
        # The second chunk's answer is read when the third is sent: until then it is in flight.
        assert report.written_ids == ids[:C]
        assert report.in_flight_ids == ids[C : 2 * C]
        assert report.pending_ids == ids[2 * C :]
    assert _queued(fake) == ids
    assert report.written_count == len(ids)
    assert report.pending_ids == report.in_flight_ids == []
    assert cio.pipeline_report is None  # the client itself stays unbuffered


def test_block_raising_midway_keeps_written_chunks_and_reports_the_rest() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    ids: list[str] = []
    with pytest.raises(RuntimeError) as raised, cio.pipeline() as pipe:
        for i in range(2 * C + C // 2):
            ids.append(pipe.identify(str(i)))
        raise RuntimeError("app error")
    report = pipe.pipeline_report
    assert report is not None
    assert _queued(fake) == ids[: 2 * C] == report.written_ids
    assert report.not_written_ids == ids[2 * C :]
    assert report.unknown_ids == []
    note = f"{2 * C} job(s) enqueued before this error, {C // 2} not enqueued"
    assert note in raised.value.__notes__[0]


def test_batch_longer_than_a_chunk_is_written_in_chunks() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    ops = [
        {"type": "person", "identifiers": {"id": str(i)}, "action": "delete"}
        for i in range(2 * C + 45)
    ]
    ids = cio.batch(ops)
    assert len(ids) == 2 * C + 45
    assert _queued(fake) == ids


def test_enqueue_error_is_the_base_of_both_failures() -> None:
    assert issubclass(ProducerUnavailable, EnqueueError)
    assert issubclass(RedisFull, EnqueueError)


def test_single_connection_client_writes_each_chunk_before_the_next_call() -> None:
    # Its one connection must not carry an unread answer while the app uses the client.
    fake = fakeredis.FakeRedis(single_connection_client=True)
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    with cio.pipeline() as pipe:
        ids = [pipe.identify(str(i)) for i in range(2 * C + 1)]
        report = pipe.pipeline_report
        assert report is not None
        assert report.written_ids == ids[: 2 * C] and report.in_flight_ids == []
        assert fake.get("other") is None  # the app's own command reads its own answer
    assert _queued(fake) == ids


def test_block_raising_with_a_chunk_in_flight_settles_it_as_written() -> None:
    fake = fakeredis.FakeRedis()
    cio = CustomerIO(redis=fake, settings=Settings(partitions=1))
    with pytest.raises(RuntimeError), cio.pipeline() as pipe:
        ids = [pipe.identify(str(i)) for i in range(C + 3)]
        raise RuntimeError("app error")
    report = pipe.pipeline_report
    assert report is not None
    assert report.written_ids == ids[:C] == _queued(fake)
    assert report.not_written_ids == ids[C:]
    assert report.in_flight_ids == report.unknown_ids == []
