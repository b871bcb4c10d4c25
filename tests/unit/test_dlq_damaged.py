"""Dead letters that cannot be read, and queues that are not ours (issue 18, item 8), on
fakeredis: a damaged record or job shows as damaged and never stops the listing; ``--queue``
is checked against this project's queues; another application's failed jobs are never
touched."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.cli.dlq import _print_table
from cio_pipeline.worker.deadletters.record import DeadLetterRecord
from cio_pipeline.worker.deadletters.store import DeadLetters, NotADeadLetter, UnknownQueue

TX = "cio-transactional"
GOOD = {
    "reason": "Customer.io refused the send",
    "operation": "send email",
    "status": 400,
    "message": "bad",
    "attempts": 1,
    "first_attempt_at": 1_700_000_000.0,
    "last_attempt_at": 1_700_000_060.0,
    "ambiguous": False,
    "queue": TX,
}


@pytest.fixture
def conn() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def _dead(conn: fakeredis.FakeRedis, details: Any, queue: str = TX) -> Job:
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=({"to": "ann@example.com"},),
        connection=conn,
        serializer=SafeSerializer,
        origin=queue,
        description="cio send email",
        status=JobStatus.FAILED,
    )
    if details is not None:
        job.meta["dead_letter"] = details
    job.save()
    Result.create_failure(job, ttl=3600, exc_string="dead letter")
    FailedJobRegistry(queue, connection=conn, serializer=SafeSerializer).add(job, ttl=3600)
    return job


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("last_attempt_at", 1e300),
        ("last_attempt_at", float("nan")),
        ("first_attempt_at", 10**400),
        ("first_attempt_at", -5),
        ("reason", None),
        ("reason", ""),
        ("status", "500"),
        ("status", True),
        ("attempts", -1),
        ("ambiguous", "yes"),
        ("message", b"bytes"),
        ("operation", ["a list"]),
        ("queue", 7),
    ],
)
def test_one_damaged_record_field_shows_as_damaged_and_the_rest_lists(
    conn: fakeredis.FakeRedis, field: str, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _dead(conn, GOOD)
    bad = _dead(conn, {**GOOD, field: value})
    entries = {e.job_id: e for e in DeadLetters(conn, Keys()).list()}
    assert set(entries) == {good.id, bad.id}
    assert entries[good.id].damaged is None
    assert entries[bad.id].damaged == f"record fields: {field}"
    _print_table(list(entries.values()))
    out = capsys.readouterr().out
    assert "2 dead letter(s)" in out and f"[damaged record fields: {field}]" in out


def test_a_record_with_missing_fields_reads_with_defaults_and_is_not_damaged() -> None:
    record, damaged = DeadLetterRecord.read({"dead_letter": {"status": 502}})
    assert damaged == []
    assert record == DeadLetterRecord(reason="dead letter", operation="unknown", status=502)


def test_text_that_cannot_be_printed_is_escaped(conn: fakeredis.FakeRedis) -> None:
    _dead(conn, {**GOOD, "reason": "bad \ud800 text", "message": "x" * 10_000})
    (entry,) = DeadLetters(conn, Keys()).list()
    assert entry.reason == "bad \\ud800 text"
    assert len(entry.message) == 500
    entry.reason.encode()  # printable


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ({"created_at": "not a date"}, "the job cannot be read (ValueError)"),
        ({"data": b"\x80\x04garbage"}, None),
        ({"meta": b"not a pickle"}, "the job's meta cannot be read"),
        ({"timeout": "soon"}, "the job cannot be read (AssertionError)"),
    ],
    ids=["created_at", "data", "meta", "timeout"],
)
def test_an_unreadable_job_is_listed_as_damaged_shown_and_purged(
    conn: fakeredis.FakeRedis, damage: dict[str, Any], expected: str | None
) -> None:
    good = _dead(conn, GOOD)
    bad = _dead(conn, GOOD)
    conn.hset(bad.key, mapping=damage)
    dlq = DeadLetters(conn, Keys())
    entries = {e.job_id: e for e in dlq.list()}
    assert set(entries) == {good.id, bad.id}
    # RQ reads data lazily: the listing itself is fine with garbage data (the worker's
    # refusal of a forged job is what dead-letters it)
    assert entries[bad.id].damaged == expected
    assert dlq.show(bad.id)[0].damaged == expected
    assert "purged" in dlq.purge(bad.id)
    assert not conn.exists(bad.key)
    assert [e.job_id for e in dlq.list()] == [good.id]


def test_a_queue_that_is_not_ours_is_an_error_naming_ours(conn: fakeredis.FakeRedis) -> None:
    dlq = DeadLetters(conn, Keys(partitions=2))
    for call in (lambda: dlq.list("cio-transactionl"), lambda: dlq.ids("otherapp")):
        with pytest.raises(UnknownQueue) as info:
            call()
        assert "cio-track-0, cio-track-1, cio-transactional, cio-webhooks" in str(info.value)


def test_another_applications_failed_jobs_are_never_touched(conn: fakeredis.FakeRedis) -> None:
    theirs = _dead(conn, GOOD, queue="otherapp")
    dlq = DeadLetters(conn, Keys())
    assert dlq.list() == []
    for action in (dlq.purge, dlq.replay, dlq.show):
        with pytest.raises(NotADeadLetter, match="another application"):
            action(theirs.id)
    with pytest.raises(UnknownQueue):
        dlq.ids("otherapp")  # what purge --all --queue otherapp asks first
    assert conn.exists(theirs.key)
    registry = FailedJobRegistry("otherapp", connection=conn, serializer=SafeSerializer)
    assert theirs.id in registry
