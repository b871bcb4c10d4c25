"""Contract test: cio_pipeline.producer.compat.json's C encoder, built once, writes what the
public ``json.dumps`` writes, on the running Python (``.ci/deps`` runs it on each supported
one). A CPython release that changes ``c_make_encoder``'s arguments fails here, naming it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cio_pipeline.producer.compat.json import PYTHON_VERSION, compact_json
from cio_pipeline.producer.normalize import encoded_size

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(values)
def test_compact_json_is_json_dumps(value: Any) -> None:
    public = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert compact_json(value) == public, (
        f"{PYTHON_VERSION} changed json.encoder.c_make_encoder (producer/compat/json.py)"
    )
    assert encoded_size(value) == len(public.encode())
