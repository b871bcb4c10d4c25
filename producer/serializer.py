"""The job serializer: RQ's pickle format, restricted to primitive values both ways.

Why pickle and not JSON (measured; docs/design.md, the job contract): rq-dashboard reads jobs with
plain pickle and re-saves ``meta`` as pickle on Requeue, so a JSON serializer breaks its Workers
page and its Requeue button. Plain pickle, however, would let anyone who can write to Redis run code
in a worker. So:

- :meth:`SafeSerializer.dumps` pickles only ``None``, bools, numbers, strings, bytes, lists,
  tuples, dicts and sets; anything else (an object, a ``datetime``) raises ``TypeError`` at
  produce time instead of becoming a job no worker can read.
- :meth:`SafeSerializer.loads` uses an unpickler whose ``find_class`` refuses every global, so a
  forged job whose pickle names ``os.system`` (or anything else) fails to load and never runs.

Pass ``cio_pipeline.worker.serializer`` paths as ``cio_pipeline.producer.serializer.SafeSerializer``
to RQ.
"""

from __future__ import annotations

import io
import pickle
import threading
from typing import Any, NoReturn

__all__ = ["ForbiddenGlobal", "SafeSerializer"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle tried to load a global (class or function); refused."""


class _PrimitivePickler(pickle.Pickler):
    # The C pickler handles None, bools, int, float, str, bytes, list, tuple, dict, set and
    # frozenset itself and calls reducer_override only for everything else.
    def reducer_override(self, obj: Any) -> NoReturn:
        raise TypeError(
            f"job data may only hold primitive values; got {type(obj).__module__}."
            f"{type(obj).__qualname__}"
        )


class _Pickling(threading.local):
    """One buffer and pickler per thread, reused: building a ``Pickler`` subclass costs more
    than pickling a typical operation (measured, 2.2 vs 0.8 us per job data with reuse)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.pickler = _PrimitivePickler(self.buffer, protocol=_PROTOCOL)


_pickling = _Pickling()


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> NoReturn:
        raise ForbiddenGlobal(f"refusing to load global {module}.{name} from a job")


class SafeSerializer:
    """RQ serializer (``dumps``/``loads``) for primitive-only pickles."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        """Pickle ``obj``; raises ``TypeError`` for anything but primitive values."""
        local = _pickling
        buffer, pickler = local.buffer, local.pickler
        buffer.seek(0)
        buffer.truncate()
        try:
            pickler.dump(obj)
        finally:
            # Each dump stands alone (as a fresh pickler's would), and the memo must not keep
            # the operation alive until the next one.
            pickler.clear_memo()
        return buffer.getvalue()

    @staticmethod
    def loads(data: bytes) -> Any:
        """Unpickle ``data``; raises :class:`ForbiddenGlobal` if it names any global."""
        return _NoGlobalsUnpickler(io.BytesIO(data)).load()
