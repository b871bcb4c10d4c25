"""``identify_op`` (the bulk hot path) gives exactly what ``person_op("identify", ...)`` gives:
the same operation, route and description, or the same error; and its size bound never
lets an operation over Customer.io's 32 KB limit through."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import pytest

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.normalize import encoded_size, plain_attributes
from cio_pipeline.producer.operations import identify_op, person_op


class Level(IntEnum):
    HIGH = 3


IDS: list[Any] = ["1", 42, "ann@example.com", "cio_abc", "é" * 40, "", " ", True, None, 1.5]
IDS += ["x" * 151, '"q\\\n', "\udc80"]
ATTRIBUTES: list[dict[str, Any]] = [
    {},
    {"plan": "pro", "email": "ann@example.com"},
    {"n": 10**40, "m": -(10**300), "b": True, "f": False, "z": None, "zero": 0},
    {"created_at": 1700000000, "signed_up_at": None},
    {"created_at": "2024-01-01T00:00:00Z", "seen_at": True},
    {"quote": '"\\\n\x01\x1f' * 40, "é": "ü✓😀"},
    {"lone": "\udc80"},
    {"x" * 37: "v", "y" * 38: "v"},
    {"s": "a" * 250},
    {"s": "a" * 251},
    {"s": "é" * 251},
    {"f": 1.5, "nan": math.nan},
    {"inf": math.inf},
    {"when": datetime(2024, 1, 1, tzinfo=UTC)},
    {"level": Level.HIGH},
    {"nested": {"a": [1, 2, {"b": "c"}]}},
    {"tags": ("a", "b")},
    {"bad": {1, 2}},
    {f"k{i}": i for i in range(300)},
    {f"k{i}": i for i in range(301)},
    # Under the per-attribute limits, over the 32 KB operation limit.
    {f"k{i:03d}": "\x01" * 250 for i in range(30)},
    {f"k{i:03d}": "a" * 250 for i in range(130)},
    {f"k{i:03d}": "a" * 250 for i in range(120)},
]


def _outcome(build: Any) -> Any:
    try:
        op = build()
    except Exception as exc:  # the type and the message must match, whatever they are
        return type(exc), str(exc)
    return op


@pytest.mark.parametrize("customer_id", IDS, ids=repr)
@pytest.mark.parametrize("attributes", ATTRIBUTES, ids=lambda a: repr(a)[:40])
def test_identify_op_is_person_op(customer_id: Any, attributes: dict[str, Any]) -> None:
    fast = _outcome(lambda: identify_op(customer_id, dict(attributes)))
    full = _outcome(lambda: person_op("identify", customer_id, attributes=dict(attributes)))
    assert fast == full


def test_an_operation_over_32_kb_is_refused() -> None:
    attributes = {f"k{i:03d}": "a" * 250 for i in range(130)}
    with pytest.raises(ValidationError, match="32000-byte limit"):
        identify_op("1", attributes)


def test_plain_attributes_bound_is_an_upper_bound() -> None:
    rng = random.Random(7)
    alphabet = 'ab"\\\n\x01\x7f~'
    for _ in range(2000):
        attributes: dict[str, Any] = {}
        for i in range(rng.randrange(0, 12)):
            kind = rng.randrange(4)
            key = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 35))) + str(i)
            if kind == 0:
                attributes[key] = "".join(rng.choice(alphabet) for _ in range(rng.randrange(250)))
            elif kind == 1:
                attributes[key] = rng.randrange(-(2**63), 2**63) >> rng.randrange(64)
            elif kind == 2:
                attributes[key] = rng.choice([True, False])
            else:
                attributes[key] = None
        plain = plain_attributes(attributes)
        assert plain is not None
        normalized, bound = plain
        assert normalized == attributes
        assert encoded_size(normalized) <= bound
