"""The Track drainer isolates what it cannot send: a hostile item is dead-lettered and its
partition goes on in order; an unexpected error in one partition never stops the others."""

from __future__ import annotations

import pickle
from typing import Any

import httpx
from rq.job import JobStatus
from test_track_delivery import Fixture, ok

from cio_pipeline.producer import Settings
from cio_pipeline.producer.ids import partition_for
from cio_pipeline.producer.jobs import TRACK_OPERATION_FUNC
from cio_pipeline.producer.keys import Keys


def _forge(f: Fixture, job_id: str, value: Any) -> None:
    op = {"type": "person", "identifiers": {"id": "x"}, "action": "identify"}
    data = pickle.dumps((TRACK_OPERATION_FUNC, None, ({**op, "attributes": {"v": value}},), {}))
    f.redis.hset(f"rq:job:{job_id}", "data", data)


def test_an_item_that_cannot_be_encoded_is_dead_lettered_and_the_rest_go_in_order() -> None:
    f = Fixture(ok)
    ids = [f.cio.identify("p1", n=n) for n in range(5)]
    _forge(f, ids[1], "Jos\ud800")
    _forge(f, ids[3], 10**5000)
    f.drainer().run()
    assert [op["attributes"]["n"] for batch in f.requests for op in batch] == [0, 2, 4]
    assert [f.status(i) for i in ids] == [
        JobStatus.FINISHED,
        JobStatus.FAILED,
        JobStatus.FINISHED,
        JobStatus.FAILED,
        JobStatus.FINISHED,
    ]
    assert "UnicodeEncodeError" in f.dead_letter(ids[1])["reason"]
    assert "cannot be encoded as JSON (ValueError)" in f.dead_letter(ids[3])["reason"]
    assert f.redis.llen(Keys(partitions=1).claimed(0)) == 0


def test_an_error_in_one_partition_does_not_stop_the_others() -> None:
    def failing_for_a(request: httpx.Request) -> httpx.Response:
        if b'"id":"a"' in request.content:
            raise RuntimeError("a bug while sending")  # not an HTTP failure: a bug
        return httpx.Response(200, json={})

    f = Fixture(failing_for_a, queue=Settings(partitions=2))
    a_part = partition_for("id", "a", 2)
    other = next(p for p in ("b", "c", "d", "e") if partition_for("id", p, 2) != a_part)
    f.cio.identify("a", n=1)
    good = f.cio.identify(other, n=2)
    drainer = f.drainer()
    assert drainer.pass_over_partitions()
    assert f.status(good) == JobStatus.FINISHED
    assert f.redis.exists(Keys(partitions=2).partition_pause(a_part))  # held back a while
    assert f.redis.llen(Keys(partitions=2).claimed(a_part)) == 1  # still claimed, in order
