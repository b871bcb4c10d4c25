"""Readers bound what they read: the safe serializer, the Track item reader and the check of
a job hash before RQ parses it each turn hostile data into a reason, quickly, never a crash."""

from __future__ import annotations

import math
import pickle
import time
import zlib
from typing import Any

import pytest

from cio_pipeline.producer.jobs import TRACK_OPERATION_FUNC, rq_timestamp
from cio_pipeline.producer.serializer import (
    MAX_DATA_BYTES,
    MAX_DEPTH,
    DataRefused,
    SafeSerializer,
    inflate,
)
from cio_pipeline.worker.runner.unreadable import problem
from cio_pipeline.worker.track.items import Item, Unreadable, decode_item


def _bomb(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value, value]
    return value


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def _job(value: Any) -> bytes:
    op = {"type": "person", "identifiers": {"id": "1"}, "action": "identify"}
    return pickle.dumps((TRACK_OPERATION_FUNC, None, ({**op, "attributes": {"v": value}},), {}))


def test_a_shared_reference_bomb_is_refused_in_well_under_a_second() -> None:
    data = _job(_bomb(40))
    assert len(data) < 500
    started = time.monotonic()
    with pytest.raises(DataRefused, match="items"):
        SafeSerializer.loads(data)
    assert time.monotonic() - started < 1.0


def test_depth_is_bounded_and_a_value_that_contains_itself_ends() -> None:
    with pytest.raises(DataRefused, match="deeper"):
        SafeSerializer.loads(pickle.dumps(_deep(MAX_DEPTH + 1)))
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(DataRefused, match="deeper"):
        SafeSerializer.loads(pickle.dumps(loop))
    shared = _deep(MAX_DEPTH - 2)  # shallow first, then deep: the height still counts
    with pytest.raises(DataRefused, match="deeper"):
        SafeSerializer.loads(pickle.dumps([shared, [[shared]]]))
    assert SafeSerializer.loads(pickle.dumps(_deep(MAX_DEPTH - 1))) is not None


def test_a_zlib_bomb_is_refused_without_inflating_it() -> None:
    bomb = zlib.compress(b"\0" * (MAX_DATA_BYTES * 4), 9)
    with pytest.raises(DataRefused, match="inflates"):
        inflate(bomb)
    assert inflate(zlib.compress(b"abc")) == b"abc"
    assert inflate(b"\x80\x05plain") == b"\x80\x05plain"  # RQ reads uncompressed data too


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (10**5000, "cannot be encoded as JSON (ValueError)"),
        ("Jos\ud800", "cannot be encoded as JSON (UnicodeEncodeError)"),
        (b"\x00", "cannot be encoded as JSON (TypeError)"),
        ({1, 2}, "cannot be encoded as JSON (TypeError)"),
        (math.nan, "cannot be encoded as JSON (ValueError)"),
        ("x" * 40_000, "over Customer.io's 32000-byte limit"),
        (_bomb(40), "unreadable job data: job data holds more than"),
        (_deep(200), "unreadable job data: job data nests deeper"),
    ],
    ids=["huge int", "surrogate", "bytes", "set", "nan", "over 32 KB", "bomb", "deep"],
)
def test_a_track_item_that_cannot_be_sent_is_unreadable_with_its_reason(
    value: Any, reason: str
) -> None:
    item = decode_item("j1", _job(value))
    assert isinstance(item, Unreadable) and reason in item.reason, item


def test_a_good_track_item_still_reads() -> None:
    item = decode_item("j1", zlib.compress(_job([1, {"a": "é"}])))
    assert isinstance(item, Item) and item.encoded.endswith(
        b'"attributes":{"v":[1,{"a":"\xc3\xa9"}]}}'
    )


GOOD_HASH = {
    b"data": _job(1),
    b"created_at": rq_timestamp().encode(),
    b"enqueued_at": rq_timestamp().encode(),
    b"status": b"queued",
    b"timeout": b"180",
    b"origin": b"cio-transactional",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (b"timeout", b"forever"),
        (b"timeout", b"-5"),
        (b"created_at", b"yesterday"),
        (b"enqueued_at", b"\xff"),
        (b"result_ttl", b"1.5"),
        (b"ttl", b"ten"),
        (b"failure_ttl", b"[]"),
        (b"dependency_ids", b"{not json"),
        (b"dependency_ids", b"[1, 2]"),
        (b"retry_intervals", b'["soon"]'),
        (b"last_heartbeat", b"2026-13-45"),
        (b"status", b"exploded"),
        (b"enqueue_at_front", b""),
    ],
)
def test_each_damaged_field_rq_parses_is_named(field: bytes, value: bytes) -> None:
    reason = problem({**GOOD_HASH, field: value})
    assert reason is not None and reason.startswith(f"damaged job field {field.decode()!r}")


def test_a_readable_hash_has_no_problem_and_missing_or_huge_data_does() -> None:
    assert problem(GOOD_HASH) is None
    assert problem({**GOOD_HASH, b"data": b""}) == "the job has no data"
    bomb = zlib.compress(b"\0" * (MAX_DATA_BYTES * 2), 9)
    assert "inflates" in (problem({**GOOD_HASH, b"data": bomb}) or "")
