"""Dead letters on fakeredis (worker/deadletters/store.py and the dlq command): entries,
listing, show, replay, purge, the table, and the JOB_ID/--all argument rules. Failed jobs are
made with RQ's own API, as a worker leaves them (a FailedJobRegistry entry, a failure Result,
``meta["dead_letter"]``)."""

from __future__ import annotations

import argparse
from typing import Any

import fakeredis
import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.cli import build_parser
from cio_pipeline.worker.cli.dlq import _print_table, _targets, _when
from cio_pipeline.worker.cli.errors import CannotTell
from cio_pipeline.worker.deadletters.store import DeadLetters, NotADeadLetter

TX = "cio-transactional"
REQUEST = {
    "transactional_message_id": 1,
    "to": "ann@example.com",
    "identifiers": {"id": "1"},
    "message_data": {"order": 1234},
}


@pytest.fixture
def conn() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def dlq(conn: fakeredis.FakeRedis) -> DeadLetters:
    return DeadLetters(conn, Keys())


def _details(**overrides: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "reason": "Customer.io refused the send",
        "operation": "send email",
        "status": 400,
        "message": "message_data is invalid",
        "attempts": 1,
        "first_attempt_at": 1_700_000_000.0,
        "last_attempt_at": 1_700_000_060.0,
        "ambiguous": False,
        "queue": TX,
    }
    return {**details, **overrides}


def _dead(
    conn: fakeredis.FakeRedis,
    *,
    queue: str = TX,
    details: dict[str, Any] | None = None,
    exc_string: str = "dead letter: send email: Customer.io refused the send\nHTTP status: 400",
    key: str = "order-1234",
) -> Job:
    """A failed job as the worker leaves it in ``queue``'s FailedJobRegistry."""
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=(REQUEST,),
        kwargs={"idempotency_key": key},
        connection=conn,
        serializer=SafeSerializer,
        origin=queue,
        description="cio send email (message 1, person by id)",
        status=JobStatus.FAILED,
    )
    if details is not None:
        job.meta["dead_letter"] = details
    job.save()
    Result.create_failure(job, ttl=3600, exc_string=exc_string)
    FailedJobRegistry(queue, connection=conn, serializer=SafeSerializer).add(
        job, ttl=3600, exc_string=exc_string
    )
    return job


def _failed_ids(conn: fakeredis.FakeRedis, queue: str = TX) -> list[str]:
    return list(FailedJobRegistry(queue, connection=conn, serializer=SafeSerializer).get_job_ids())


# ---- entries, list, show -------------------------------------------------------------------


def test_entry_reads_the_dead_letter_record(conn: fakeredis.FakeRedis, dlq: DeadLetters) -> None:
    job = _dead(conn, details=_details())
    (entry,) = dlq.list()
    assert entry.job_id == job.id
    assert (entry.queue, entry.operation, entry.status, entry.attempts) == (
        TX,
        "send email",
        400,
        1,
    )
    assert entry.reason == "Customer.io refused the send"
    assert entry.message == "message_data is invalid"
    assert entry.ambiguous is False
    assert (entry.first_attempt_at, entry.last_attempt_at) == (1_700_000_000.0, 1_700_000_060.0)
    assert entry.description == "cio send email (message 1, person by id)"


def test_entry_without_a_record_falls_back_to_the_failure_text(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    _dead(conn, details=None, exc_string="Traceback ...\nKeyError: 'x'\n")
    (entry,) = dlq.list()
    assert entry.reason == "KeyError: 'x'"  # the last line of what RQ stored
    assert (entry.status, entry.attempts, entry.operation, entry.message) == (None, None, None, "")
    assert entry.ambiguous is False


def test_entry_without_record_or_result_says_failed(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=(REQUEST,),
        kwargs={"idempotency_key": "k"},
        connection=conn,
        serializer=SafeSerializer,
        origin=TX,
    )
    job.save()
    FailedJobRegistry(TX, connection=conn, serializer=SafeSerializer).add(job, ttl=3600)
    assert dlq.entry(job).reason == "failed"


def test_list_spans_every_queue_and_filters_by_queue(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    send = _dead(conn, details=_details())
    track = _dead(conn, queue="cio-track-3", details=_details(operation="identify"))
    assert {(q, i) for q, i in dlq.ids()} == {(TX, send.id), ("cio-track-3", track.id)}
    assert {e.job_id for e in dlq.list()} == {send.id, track.id}
    assert [e.job_id for e in dlq.list(TX)] == [send.id]
    assert [e.job_id for e in dlq.list("cio-track-3")] == [track.id]
    assert dlq.list("cio-track-4") == []


def test_list_only_sees_queues_of_its_prefix(conn: fakeredis.FakeRedis) -> None:
    _dead(conn, queue="other-transactional", details=_details())
    assert DeadLetters(conn, Keys()).list() == []
    assert len(DeadLetters(conn, Keys(prefix="other")).list()) == 1


def test_list_skips_a_job_that_expired_after_the_listing(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    gone = _dead(conn, details=_details())
    kept = _dead(conn, details=_details(), key="other")
    conn.delete(gone.key)  # the job hash expired; its registry entry is still there
    assert [e.job_id for e in dlq.list()] == [kept.id]


def test_show_returns_the_entry_and_the_full_failure_text(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    job = _dead(conn, details=_details(), exc_string="dead letter: x\nHTTP status: 400")
    entry, text = dlq.show(job.id)
    assert entry.job_id == job.id
    assert text == "dead letter: x\nHTTP status: 400"


# ---- replay and purge ----------------------------------------------------------------------


def test_replay_requeues_the_same_job_with_its_idempotency_key(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    job = _dead(conn, details=_details())
    assert dlq.replay(job.id) == f"replayed {job.id} on {TX}"
    assert _failed_ids(conn) == []
    assert Queue(TX, connection=conn, serializer=SafeSerializer).job_ids == [job.id]
    again = Job.fetch(job.id, connection=conn, serializer=SafeSerializer)
    assert again.get_status() == JobStatus.QUEUED
    assert again.kwargs == {"idempotency_key": "order-1234"}
    assert again.args == (REQUEST,)


def test_replay_skips_an_ambiguous_send_unless_asked(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    job = _dead(conn, details=_details(ambiguous=True, status=504))
    record = Keys().delivery_record("order-1234")
    conn.set(record, f"ambiguous:{job.id}")
    out = dlq.replay(job.id)
    assert out.startswith(f"skipped {job.id}") and "--resend-ambiguous" in out
    assert _failed_ids(conn) == [job.id]
    assert conn.get(record) == f"ambiguous:{job.id}".encode()

    assert dlq.replay(job.id, resend_ambiguous=True) == f"replayed {job.id} on {TX}"
    # queued again: the worker may claim the key and send again (or a person cancel it)
    assert conn.get(record) == f"queued:{job.id}".encode()
    assert Queue(TX, connection=conn, serializer=SafeSerializer).job_ids == [job.id]


def test_resend_keeps_a_delivered_record(conn: fakeredis.FakeRedis, dlq: DeadLetters) -> None:
    job = _dead(conn, details=_details(ambiguous=True))
    record = Keys().delivery_record("order-1234")
    conn.set(record, "delivered:d-9")  # an operator found and recorded the delivery
    dlq.replay(job.id, resend_ambiguous=True)
    assert conn.get(record) == b"delivered:d-9"  # so the worker finishes without sending


def test_purge_deletes_the_dead_letter_and_its_job(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    job = _dead(conn, details=_details())
    other = _dead(conn, details=_details(), key="other")
    assert dlq.purge(job.id) == f"purged {job.id} from {TX}"
    assert _failed_ids(conn) == [other.id]
    assert not conn.exists(job.key)
    assert conn.exists(other.key)


def test_unknown_job_ids_raise_no_such_job(dlq: DeadLetters) -> None:
    from rq.exceptions import NoSuchJobError

    for action in (dlq.show, dlq.replay, dlq.purge):
        with pytest.raises(NoSuchJobError):
            action("no-such-job")


@pytest.mark.parametrize("status", ["queued", "finished"])
def test_show_replay_and_purge_refuse_a_job_that_is_not_a_dead_letter(
    conn: fakeredis.FakeRedis, dlq: DeadLetters, status: str
) -> None:
    queue = Queue(TX, connection=conn, serializer=SafeSerializer)
    job = queue.enqueue("cio_pipeline.worker.jobs.send_email", REQUEST, idempotency_key="k")
    if status == "finished":
        job.set_status(JobStatus.FINISHED)
    for action in (dlq.show, dlq.replay, dlq.purge):
        with pytest.raises(NotADeadLetter, match=job.id):
            action(job.id)
    assert conn.exists(job.key)
    assert job.get_status(refresh=True) == JobStatus(status)


# ---- output ---------------------------------------------------------------------------------


def test_when_formats_utc_seconds() -> None:
    assert _when(None) == "-"
    assert _when(1_700_000_060.0) == "2023-11-14T22:14:20Z"


def test_table_lists_entries_without_values(
    conn: fakeredis.FakeRedis, dlq: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _dead(conn, details=_details())
    _print_table(dlq.list())
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["JOB", "ID", "QUEUE"]
    assert out[1].startswith(job.id)
    assert TX in out[1] and "400" in out[1] and "2023-11-14T22:14:20Z" in out[1]
    assert "Customer.io refused the send [message_data is invalid]" in out[1]
    assert out[-1] == "1 dead letter(s)"
    text = "\n".join(out)
    assert "ann@example.com" not in text and "1234" not in text


def test_table_cuts_long_reasons_and_says_when_empty(
    conn: fakeredis.FakeRedis, dlq: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead(conn, details=_details(reason="r" * 200, message="", status=None, attempts=None))
    _print_table(dlq.list())
    row = capsys.readouterr().out.splitlines()[1]
    assert row.endswith("r" * 90) and "r" * 91 not in row
    assert " - " in row  # no status, no attempts
    _print_table([])
    assert capsys.readouterr().out == "no dead letters\n"


# ---- arguments: JOB_ID... or --all ----------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["dlq", *argv])


@pytest.mark.parametrize("action", ["replay", "purge"])
@pytest.mark.parametrize("argv", [(), ("--all", "some-id"), ("--queue", TX)])
def test_targets_need_job_ids_or_all_but_not_both(
    dlq: DeadLetters, action: str, argv: tuple[str, ...]
) -> None:
    with pytest.raises(CannotTell, match=r"JOB_ID\.\.\. or --all"):
        _targets(dlq, _args(action, *argv))


def test_targets_all_takes_every_dead_letter_or_one_queue(
    conn: fakeredis.FakeRedis, dlq: DeadLetters
) -> None:
    send = _dead(conn, details=_details())
    track = _dead(conn, queue="cio-track-0", details=_details())
    assert sorted(_targets(dlq, _args("purge", "--all"))) == sorted([send.id, track.id])
    assert _targets(dlq, _args("replay", "--all", "--queue", TX)) == [send.id]
    assert _targets(dlq, _args("replay", "a", "b")) == ["a", "b"]


def test_parser_accepts_the_documented_forms() -> None:
    listing = _args("list", "--queue", TX, "--json")
    assert (listing.dlq_command, listing.queue, listing.json) == ("list", TX, True)
    assert _args("show", "abc").job_id == "abc"
    replay = _args("replay", "--resend-ambiguous", "abc")
    assert (replay.job_ids, replay.resend_ambiguous, replay.all) == (["abc"], True, False)
    with pytest.raises(SystemExit):
        _args("purge", "--resend-ambiguous", "abc")  # only replay resends
    with pytest.raises(SystemExit):
        _args("show")
