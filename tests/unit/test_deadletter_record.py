"""The dead-letter record (worker/deadletters/record.py): one type, one stored form."""

from __future__ import annotations

from cio_pipeline.worker.deadletters.record import META_KEY, DeadLetter, DeadLetterRecord


def test_the_record_round_trips_through_job_meta() -> None:
    record = DeadLetterRecord(
        reason="Customer.io refused it",
        operation="identify",
        status=400,
        message="attributes.created_at: invalid",
        attempts=1,
        first_attempt_at=1.5,
        last_attempt_at=2.5,
        ambiguous=False,
        queue="cio-track-3",
    )
    meta = {META_KEY: record.to_meta(), "other": 1}
    assert all(isinstance(v, str | int | float | bool | None) for v in meta[META_KEY].values())
    assert DeadLetterRecord.from_meta(meta) == record


def test_an_older_or_partial_record_still_reads() -> None:
    meta = {META_KEY: {"reason": "gave up", "status": 500, "unknown_field": "x"}}
    record = DeadLetterRecord.from_meta(meta)
    assert record == DeadLetterRecord(reason="gave up", operation="unknown", status=500)


def test_no_record_reads_as_none() -> None:
    assert DeadLetterRecord.from_meta({}) is None
    assert DeadLetterRecord.from_meta({META_KEY: "not a record"}) is None


def test_the_failure_text_names_what_a_person_needs() -> None:
    text = DeadLetterRecord(
        reason="may have been sent", operation="send email", status=502, attempts=1, ambiguous=True
    ).text()
    assert text.splitlines() == [
        "dead letter: send email: may have been sent",
        "HTTP status: 502",
        "Customer.io said: -",
        "attempts: 1",
        "ambiguous: yes",
    ]


def test_the_exception_carries_the_record() -> None:
    record = DeadLetterRecord(reason="forbidden job function 'os.system'", operation="unknown")
    error = DeadLetter(record)
    assert error.record is record and str(error) == record.reason
