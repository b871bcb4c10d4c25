"""CPython's json below its public API: the C encoder, built once.

``json.JSONEncoder.encode`` (and ``json.dumps`` with any option) builds CPython's C encoder
(``json.encoder.c_make_encoder``) anew on every call. The producer sizes every operation as
compact JSON before it is enqueued (Customer.io's limits), so it builds that encoder once:
the public ``json.dumps`` and a reused ``JSONEncoder`` cost a third to a half more per
operation, on every producer call (docs/performance.md). Where the C encoder is missing
(another Python implementation) the public encoder does the same job. Checked against the
running Python by ``tests/unit/test_compat_json.py`` (same text as ``json.dumps`` for
generated values), which ``.ci/deps`` runs on every supported Python.
"""

from __future__ import annotations

import json
import platform
from typing import Any, Final

__all__ = ["PYTHON_VERSION", "compact_json"]

#: The running Python, for messages.
PYTHON_VERSION: Final = f"{platform.python_implementation()} {platform.python_version()}"

_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
# Arguments: markers (None: no circular-reference check; values are normalised copies, which
# cannot be circular), default, string encoder, indent, key and item separators, sort_keys,
# skipkeys, allow_nan.
_C_COMPACT: Any = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None, _COMPACT.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


def compact_json(value: Any) -> str:
    """``value`` as ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` does."""
    if _C_COMPACT is None:
        return _COMPACT.encode(value)
    return "".join(_C_COMPACT(value, 0))
