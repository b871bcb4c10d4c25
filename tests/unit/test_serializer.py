"""The safe serializer: primitive-only pickles out, no globals in."""

from __future__ import annotations

import os
import pickle
from datetime import datetime
from typing import Any

import pytest

from producer.serializer import ForbiddenGlobal, SafeSerializer


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        1,
        1.5,
        "text",
        b"raw",
        [1, "a", None],
        (1, 2),
        {"a": {"b": [1, {"c": None}]}},
        ("worker.jobs.track_operation", None, ({"type": "person"},), {}),
    ],
)
def test_primitives_round_trip(value: Any) -> None:
    assert SafeSerializer.loads(SafeSerializer.dumps(value)) == value


@pytest.mark.parametrize("value", [datetime(2024, 1, 1), object(), {"when": datetime.now()}])
def test_non_primitives_are_refused_when_dumping(value: Any) -> None:
    with pytest.raises(TypeError, match="primitive"):
        SafeSerializer.dumps(value)


class _Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_Exploit()),
        pickle.dumps(datetime(2024, 1, 1)),
        pickle.dumps(("f", None, (_Exploit(),), {})),
    ],
)
def test_any_global_is_refused_when_loading(payload: bytes) -> None:
    with pytest.raises(ForbiddenGlobal, match="refusing to load global"):
        SafeSerializer.loads(payload)
