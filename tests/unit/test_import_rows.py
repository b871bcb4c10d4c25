"""Rows to operations (producer/rows) and the import run (worker/ops/imports) on fakeredis:
no type guessing, dates through the producer's normalisation, bad rows with their lines,
the rejects file, backpressure, and exactly-once across a stop and a resume."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from cio_pipeline.producer import CustomerIO, Settings
from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.rows import RowMapping, RowsError, event_id_for, open_rows, parse_types
from cio_pipeline.producer.rows import row_operation as op_of
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.cli import build_parser
from cio_pipeline.worker.cli.import_cmd import resume_command
from cio_pipeline.worker.ops.import_view import PlainView
from cio_pipeline.worker.ops.imports import ImportOptions, ImportResult, run_import

CSV = (
    "id,email,zip,age,created_at,note\n"
    'p1,ann@example.com,02134,41,2024-01-02T03:04:05Z,"two\nlines"\n'
    "p2,,00501,x,2024-01-02,plain\n"
    ",,1,2,2024-01-02,nobody\n"
    "p3,bob@example.com,02134,7,not-a-date,ok\n"
    "p4,too,many,fields,here,now,extra\n"
    "p5,,02134,5,,last\n"
)


def _ops(client: fakeredis.FakeRedis) -> list[dict[str, Any]]:
    ops = []
    for p in range(8):
        for job_id in client.lrange(f"rq:queue:cio-track-{p}", 0, -1):
            data = client.hget(b"rq:job:" + job_id, "data")
            ops.append(SafeSerializer.loads(data)[2][0])
    return ops


def _run(
    tmp_path: Path,
    text: str,
    client: fakeredis.FakeRedis | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> tuple[ImportResult, str]:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    client = client if client is not None else fakeredis.FakeRedis()
    cio = CustomerIO(redis=client, settings=Settings())
    stream = io.StringIO()
    source = open_rows(str(path))
    try:
        result = run_import(
            ImportOptions(str(path), **options),
            cio,
            source,
            stop=stop or threading.Event(),
            view=PlainView(stream),
        )
    finally:
        source.close()
    return result, stream.getvalue()


def test_values_stay_strings_and_dates_become_unix_seconds(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    result, _ = _run(tmp_path, CSV, client, mapping=RowMapping(types={"age": "int"}))
    by_id = {op["identifiers"].get("id"): op for op in _ops(client)}
    assert by_id["p1"]["attributes"] == {
        "zip": "02134",
        "age": 41,
        "created_at": 1704164645,
        "note": "two\nlines",
        "email": "ann@example.com",
    }
    assert by_id["p5"]["attributes"] == {"zip": "02134", "age": 5, "note": "last"}
    assert result.finished and result.tally.enqueued == 2


def test_bad_rows_are_reported_with_their_line_and_field(tmp_path: Path) -> None:
    result, out = _run(tmp_path, CSV, mapping=RowMapping(types={"age": "int"}))
    lines = out.splitlines()
    assert lines == [
        "line 4: age: must be a valid int (--types age:int)",
        "line 5: id: the row has no identifier (a value in id, email or cio_id)",
        "line 6: attributes.created_at: must be a unix timestamp, a datetime or an ISO-8601 string",
        "line 7: row: has 7 fields; the header has 6",
    ]
    assert result.tally.rejected == 4 and sum(result.tally.reasons.values()) == 4
    assert "bob" not in out and "not-a-date" not in out  # never a value


def test_the_rejects_file_imports_again_once_fixed(tmp_path: Path) -> None:
    errors = tmp_path / "rejected.csv"
    _run(tmp_path, CSV, errors_path=str(errors), mapping=RowMapping(types={"age": "int"}))
    text = errors.read_text()
    assert (
        text.splitlines()[0] == "id,email,zip,age,created_at,note,cio_import_line,cio_import_error"
    )
    fixed = text.replace("p2,,00501,x", "p2,,00501,9").replace("not-a-date", "2024-05-06")
    client = fakeredis.FakeRedis()
    result, _ = _run(tmp_path, fixed, client, mapping=RowMapping(types={"age": "int"}))
    assert result.tally.enqueued == 2  # p2 and p3; the other two still need fixing
    assert all("cio_import_line" not in op["attributes"] for op in _ops(client))


def test_events_from_an_event_column_keep_their_id_across_runs(tmp_path: Path) -> None:
    text = "id,event,timestamp,amount\np1,purchase,2024-01-02T00:00:00Z,10\np1,,,\n"
    first, second = fakeredis.FakeRedis(), fakeredis.FakeRedis()
    _run(tmp_path, text, first)
    _run(tmp_path, text, second)
    events = [op for op in _ops(first) if op["action"] == "event"]
    assert len(events) == 1 and len(_ops(first)) == 2
    assert events[0]["name"] == "purchase" and events[0]["attributes"] == {"amount": "10"}
    assert events[0]["timestamp"] == 1704153600
    assert events[0]["id"] == next(op["id"] for op in _ops(second) if op["action"] == "event")
    assert event_id_for(2, {"a": 1}) != event_id_for(3, {"a": 1})


def test_an_email_shaped_id_stays_an_id() -> None:
    op = op_of({"id": "x@y.z", "plan": "a"}, 2, RowMapping())
    assert op["identifiers"] == {"id": "x@y.z"}


def test_an_email_that_starts_like_a_cio_id_stays_an_email(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    _run(tmp_path, "id,email,plan\n,cio_ann@example.com,a\n", client)
    assert [op["identifiers"] for op in _ops(client)] == [{"email": "cio_ann@example.com"}]


def test_the_first_bad_typed_column_of_the_row_is_reported() -> None:
    mapping = RowMapping(types={"vip": "bool", "age": "int"})
    with pytest.raises(ValidationError) as caught:
        op_of({"id": "1", "age": "x", "vip": "maybe"}, 2, mapping)
    assert caught.value.field == "age"  # the file's order, not the order of --types


def test_types_are_checked() -> None:
    assert parse_types("a:int, b:json") == {"a": "int", "b": "json"}
    with pytest.raises(RowsError):
        parse_types("a:date")
    with pytest.raises(ValidationError) as caught:
        op_of({"id": "1", "vip": "maybe"}, 2, RowMapping(types={"vip": "bool"}))
    assert caught.value.field == "vip"


def test_jsonl_rows_keep_their_types(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "p1", "zip": "02134", "n": 3}\n\nnot json\n[1]\n')
    source = open_rows(str(path))
    rows = list(source.rows())
    source.close()
    assert [(r.line, r.problem) for r in rows] == [
        (1, None),
        (3, "row: not valid JSON"),
        (4, "row: not a JSON object"),
    ]
    assert op_of(rows[0].values or {}, 1, RowMapping())["attributes"] == {"zip": "02134", "n": 3}


def test_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, CSV, strict=True, mapping=RowMapping(types={"age": "int"}))
    # the resume hint points past the rejected row (line 4), not at it again
    assert result.resume_line == 5 and result.tally.enqueued == 1
    assert result.stop_reason == "line 4 was rejected (--strict)"


def test_a_stop_and_a_resume_enqueue_every_row_exactly_once(tmp_path: Path) -> None:
    text = "id,n\n" + "".join(f"p{n % 7},{n}\n" for n in range(1000))
    client = fakeredis.FakeRedis()
    stop = threading.Event()
    stop.set()  # as if Ctrl-C came during the first row
    first, _ = _run(tmp_path, text, client, stop=stop, window_rows=100)
    assert first.stop_reason == "interrupted" and first.resume_line == 3
    second, _ = _run(tmp_path, text, client, start_line=first.resume_line, window_rows=100)
    assert second.finished
    numbers = sorted(int(op["attributes"]["n"]) for op in _ops(client))
    assert numbers == list(range(1000))


def test_backpressure_waits_for_workers_and_a_stop_ends_the_wait(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    client.rpush("rq:queue:cio-track-0", *[f"x{n}" for n in range(50)])
    stop = threading.Event()
    waits: list[int] = []

    class StopWhenWaiting(PlainView):
        def show(self, tally: Any) -> None:
            if tally.waiting_backlog is not None:
                waits.append(tally.waiting_backlog)
                stop.set()

    path = tmp_path / "rows.csv"
    path.write_text("id\np1\np2\n")
    source = open_rows(str(path))
    result = run_import(
        ImportOptions(str(path), max_backlog=40),
        CustomerIO(redis=client),
        source,
        stop=stop,
        view=StopWhenWaiting(io.StringIO()),
    )
    source.close()
    assert waits == [50] and result.resume_line == 1 and result.tally.enqueued == 0


def test_the_resume_command_repeats_the_options() -> None:
    args = build_parser().parse_args(
        ["import", "my rows.csv", "--types", "age:int", "--start-line", "9", "--strict"]
    )
    assert resume_command(args, 120) == (
        "cio-pipeline import 'my rows.csv' --types age:int --strict --start-line 120"
    )
