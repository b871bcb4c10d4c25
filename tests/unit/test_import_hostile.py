"""Bulk import against hostile files (issue 18, item 7), on fakeredis: text that is not
Unicode, nesting too deep, an unterminated quote, a 100,000-column header, and a stop at any
point. Every bad row is a line-numbered reject and the run goes on."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from cio_pipeline.producer import CustomerIO, Settings
from cio_pipeline.producer.rows import RowsError, open_rows
from cio_pipeline.producer.rows.read import RowSource
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.ops.import_stop import StopSignal
from cio_pipeline.worker.ops.import_view import PlainView
from cio_pipeline.worker.ops.imports import ImportOptions, ImportResult, run_import


def _ops(client: fakeredis.FakeRedis) -> list[dict[str, Any]]:
    ops = []
    for p in range(8):
        for job_id in client.lrange(f"rq:queue:cio-track-{p}", 0, -1):
            data = client.hget(b"rq:job:" + job_id, "data")
            ops.append(SafeSerializer.loads(data)[2][0])
    return ops


def _run(
    source: RowSource,
    client: fakeredis.FakeRedis,
    stop: threading.Event | None = None,
    **options: Any,
) -> tuple[ImportResult, list[str]]:
    stream = io.StringIO()
    try:
        result = run_import(
            ImportOptions("rows", **options),
            CustomerIO(redis=client, settings=Settings()),
            source,
            stop=stop or threading.Event(),
            view=PlainView(stream),
        )
    finally:
        source.close()
    return result, [line for line in stream.getvalue().splitlines() if line.startswith("line")]


def _file(tmp_path: Path, name: str, data: bytes) -> RowSource:
    path = tmp_path / name
    path.write_bytes(data)
    return open_rows(str(path))


def _jsonl(good: int, bad_at: dict[int, str]) -> bytes:
    """``good`` identify lines, with the raw text ``bad_at[n]`` as line n (1-based)."""
    lines, n = [], 0
    while n < good or len(lines) + 1 in bad_at:
        line = len(lines) + 1
        if line in bad_at:
            lines.append(bad_at[line])
        else:
            lines.append(json.dumps({"id": f"p{n}", "n": n}))
            n += 1
    return ("\n".join(lines) + "\n").encode()


def test_jsonl_text_that_is_not_unicode_and_deep_nesting_are_rejects_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    bad = {
        600: '{"id": "x1", "name": "Jos\\ud800"}',  # a lone surrogate, escaped
        700: '{"id": "x2", "k\\udc80": 1}',  # in a key
        800: '{"id": "x3", "deep": ' + "[" * 900 + "]" * 900 + "}",
        900: '{"id": "x4", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}",
        950: '{"id": "x5", "big": ' + "9" * 5000 + "}",
    }
    client = fakeredis.FakeRedis()
    result, rejects = _run(_file(tmp_path, "rows.jsonl", _jsonl(1000, bad)), client)
    assert result.finished
    assert rejects == [
        "line 600: name: is not UTF-8 text (bytes that are not UTF-8, or a lone surrogate)",
        "line 700: row: a key is not UTF-8 text (bytes that are not UTF-8, or a lone surrogate)",
        "line 800: deep: nested more than 32 levels deep",
        "line 900: row: nested more than 32 levels deep",
        "line 950: row: not valid JSON",
    ]
    assert (result.tally.enqueued, result.tally.rejected) == (1000, 5)
    assert sorted(op["attributes"]["n"] for op in _ops(client)) == list(range(1000))


def test_csv_bytes_that_are_not_utf8_spoil_their_row_only_and_are_kept_in_the_rejects(
    tmp_path: Path,
) -> None:
    data = b"id,name\np1,ann\np2,Jos\xe9\np3,\xed\xa0\x80\np4,bob\n"
    client = fakeredis.FakeRedis()
    errors = tmp_path / "rejects.csv"
    result, rejects = _run(_file(tmp_path, "rows.csv", data), client, errors_path=str(errors))
    assert result.finished
    assert rejects == [
        "line 3: name: is not UTF-8 text (bytes that are not UTF-8, or a lone surrogate)",
        "line 4: name: is not UTF-8 text (bytes that are not UTF-8, or a lone surrogate)",
    ]
    assert sorted(op["identifiers"]["id"] for op in _ops(client)) == ["p1", "p4"]
    written = errors.read_bytes()
    assert b"p2,Jos\xe9,3," in written and b"p3,\xed\xa0\x80,4," in written  # bytes as read


def test_an_unterminated_quote_is_a_reject_with_its_line_not_a_swallowed_file(
    tmp_path: Path,
) -> None:
    data = b'id,name\np1,ann\np2,"bob\np3,cy\np4,dee\n'
    client = fakeredis.FakeRedis()
    result, rejects = _run(_file(tmp_path, "rows.csv", data), client)
    assert result.finished and result.tally.rejected == 1
    assert rejects == [
        "line 3: row: a quoted value opened on line 3 is never closed "
        "(lines 3-5, the rest of the file, are not imported)"
    ]
    assert [op["identifiers"]["id"] for op in _ops(client)] == ["p1"]


def test_malformed_quoting_is_a_reject_and_the_next_line_reads(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    result, rejects = _run(_file(tmp_path, "rows.csv", b'id,name\np1,"a"b\np2,c\n'), client)
    assert result.finished
    assert rejects == ["line 2: row: unreadable CSV (',' expected after '\"')"]
    assert [op["identifiers"]["id"] for op in _ops(client)] == ["p2"]


def test_the_header_check_is_linear(tmp_path: Path) -> None:
    columns = [f"c{n}" for n in range(100_000)]
    started = time.monotonic()
    source = _file(tmp_path, "wide.csv", (",".join([*columns, "c5"]) + "\n").encode())
    with pytest.raises(RowsError, match=r"repeats column\(s\) c5$"):
        next(source.rows())
    source.close()
    wide = _file(tmp_path, "ok.csv", (",".join(["id", *columns]) + "\n").encode())
    assert list(wide.rows()) == [] and wide.header is not None and len(wide.header) == 100_001
    wide.close()
    # was 98 s (list.count per column); linear takes well under a second
    assert time.monotonic() - started < 10


class _StallingFile(io.BytesIO):
    """A file whose second read is where a signal arrives (as while a pipe stalls)."""

    def __init__(self, data: bytes, stop: StopSignal) -> None:
        super().__init__(data)
        self.stop = stop
        self.reads = 0

    def read1(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 2:
            self.stop.request()  # what the SIGTERM handler calls
        return super().read1(min(size, 64) if size > 0 else 64)


def test_a_stop_while_reading_input_ends_the_run_at_once_with_a_resume_line() -> None:
    stop = StopSignal()
    data = ("id,n\n" + "".join(f"p{n},{n}\n" for n in range(100))).encode()
    source = RowSource(_StallingFile(data, stop), "csv", None)
    client = fakeredis.FakeRedis()
    result, _ = _run(source, client, stop=stop)
    assert result.stop_reason == "interrupted"
    enqueued = sorted(int(op["attributes"]["n"]) for op in _ops(client))
    assert enqueued == list(range(len(enqueued)))  # a prefix of the file
    assert result.resume_line == len(enqueued) + 2  # the first row not enqueued
    assert result.tally.enqueued == len(enqueued)


def test_a_stop_between_rows_is_not_mistaken_for_the_end_of_the_file(tmp_path: Path) -> None:
    stop = StopSignal()
    stop.request()  # before the run reads anything: not while reading, so no raise
    data = ("id,n\n" + "".join(f"p{n},{n}\n" for n in range(50))).encode()
    result, _ = _run(_file(tmp_path, "rows.csv", data), fakeredis.FakeRedis(), stop=stop)
    assert not result.finished and result.stop_reason == "interrupted"
