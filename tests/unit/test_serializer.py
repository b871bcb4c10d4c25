"""The safe serializer: primitive-only pickles out, no globals in."""

from __future__ import annotations

import os
import pickle
import threading
from datetime import datetime
from typing import Any

import pytest

from cio_pipeline.producer.serializer import ForbiddenGlobal, SafeSerializer


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
        ("cio_pipeline.worker.jobs.track_operation", None, ({"type": "person"},), {}),
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


def test_dumps_after_a_refusal_is_a_clean_pickle() -> None:
    # The pickler is reused: a dump refused half-way must leave nothing behind.
    with pytest.raises(TypeError):
        SafeSerializer.dumps({"a": "x" * 100, "b": object()})
    value = {"a": "x" * 100, "b": ["x" * 100]}
    assert SafeSerializer.dumps(value) == pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def test_dumps_from_many_threads_gives_each_its_own_pickle() -> None:
    values = [{"n": n, "s": str(n) * 50} for n in range(8)]
    barrier = threading.Barrier(len(values))
    results: dict[int, list[bytes]] = {}

    def dump_many(n: int) -> None:
        barrier.wait(timeout=10)
        results[n] = [SafeSerializer.dumps(values[n]) for _ in range(2000)]

    threads = [threading.Thread(target=dump_many, args=(n,)) for n in range(len(values))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for n, dumped in results.items():
        assert set(dumped) == {pickle.dumps(values[n], pickle.HIGHEST_PROTOCOL)}
    assert len(results) == len(values)
