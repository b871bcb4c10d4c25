"""Cutting claimed Track items into requests, and reading them from job data. Tables."""

from __future__ import annotations

import pickle
import zlib

import pytest

from cio_pipeline.producer.jobs import ANONYMOUS_EVENT_FUNC, TRACK_OPERATION_FUNC
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.clients.base import encode_json
from cio_pipeline.worker.track.items import Item, Unreadable, cut_segments, decode_item


def _item(n: int, size: int = 10, anonymous: bool = False) -> Item:
    op = {"n": n, "pad": "x" * size}
    return Item(f"j{n}", op, encode_json(op), anonymous)


def _cut(items: list[Item], max_ops: int = 1000, max_bytes: int = 475_000) -> list[list[int]]:
    return [
        [item.operation["n"] for item in segment]
        for segment in cut_segments(items, max_ops=max_ops, max_bytes=max_bytes)
    ]


def test_everything_fits_in_one_request() -> None:
    assert _cut([_item(n) for n in range(5)]) == [[0, 1, 2, 3, 4]]


def test_count_limit() -> None:
    assert _cut([_item(n) for n in range(5)], max_ops=2) == [[0, 1], [2, 3], [4]]


def test_byte_limit_counts_the_envelope_and_commas() -> None:
    items = [_item(n, size=100) for n in range(4)]
    one = len(items[0].encoded)
    # the envelope is 12 bytes; two items need one comma
    assert _cut(items, max_bytes=12 + 2 * one + 1) == [[0, 1], [2, 3]]
    assert _cut(items, max_bytes=12 + 2 * one) == [[0], [1], [2], [3]]


def test_an_item_larger_than_the_limit_goes_alone() -> None:
    items = [_item(0), _item(1, size=1000), _item(2)]
    assert _cut(items, max_bytes=200) == [[0], [1], [2]]


def test_anonymous_events_go_alone_in_their_place() -> None:
    items = [_item(0), _item(1), _item(2, anonymous=True), _item(3), _item(4, anonymous=True)]
    assert _cut(items) == [[0, 1], [2], [3], [4]]


def test_order_is_kept() -> None:
    items = [_item(n, size=n % 7 * 50, anonymous=n % 11 == 0) for n in range(200)]
    flat = [n for segment in _cut(items, max_ops=9, max_bytes=600) for n in segment]
    assert flat == list(range(200))


def _data(func: str, op: object, compress: bool = False) -> bytes:
    data = SafeSerializer.dumps((func, None, (op,), {}))
    return zlib.compress(data) if compress else data


@pytest.mark.parametrize("compress", [False, True])
def test_decodes_what_the_producer_and_rq_write(compress: bool) -> None:
    op = {"type": "person", "action": "identify", "identifiers": {"id": "1"}}
    item = decode_item("j", _data(TRACK_OPERATION_FUNC, op, compress))
    assert item == Item("j", op, encode_json(op), False)
    anonymous = decode_item("j", _data(ANONYMOUS_EVENT_FUNC, {"name": "visit"}))
    assert isinstance(anonymous, Item) and anonymous.anonymous


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "gone"),
        (b"not a pickle", "unreadable"),
        (
            pickle.dumps(("cio_pipeline.worker.jobs.track_operation", None, (object(),), {})),
            "unreadable",
        ),
        (pickle.dumps("just a string"), "unreadable"),
        (_data("cio_pipeline.worker.jobs.send_email", {"x": 1}), "forbidden job function"),
        (_data("os.system", "touch pwned"), "forbidden job function 'os.system'"),
        (_data(TRACK_OPERATION_FUNC, ["not", "a", "dict"]), "one dict argument"),
    ],
)
def test_undeliverable_jobs_say_why(data: bytes | None, reason: str) -> None:
    item = decode_item("j", data)
    assert isinstance(item, Unreadable)
    assert reason in item.reason
