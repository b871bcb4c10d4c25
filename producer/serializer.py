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
- It is bounded, so that no stored value can hold a worker's CPU or memory: at most
  :data:`MAX_DATA_BYTES` of pickle, and a loaded value at most :data:`MAX_DEPTH` levels deep
  with at most :data:`MAX_ITEMS` items in its tree, counting a shared object each time it is
  reached (a 385-byte pickle can share one list 40 levels deep: 2**40 items once walked or
  JSON-encoded). Anything over raises :class:`DataRefused`, after a walk that stops at the
  bound. :func:`inflate` reads RQ's (optionally zlib-compressed) data field under the same
  size bound.

Pass ``cio_pipeline.worker.serializer`` paths as ``cio_pipeline.producer.serializer.SafeSerializer``
to RQ.
"""

from __future__ import annotations

import io
import pickle
import threading
import zlib
from typing import Any, Final, NoReturn

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "DataRefused",
    "ForbiddenGlobal",
    "SafeSerializer",
    "check_shape",
    "inflate",
]

#: Largest job data (pickle bytes, after decompression) a worker reads. The producer's
#: largest job, a send with 2 MB of attachments, is far below it.
MAX_DATA_BYTES: Final = 8 * 1024 * 1024
#: Deepest nesting of containers in a loaded value. The producer nests an operation's values
#: at most 32 levels deep, and a job adds 3 around the operation.
MAX_DEPTH: Final = 64
#: Most items (of lists, tuples, sets, and dict keys and values) in a loaded value's tree,
#: shared objects counted each time they are reached: ten times what the producer lets one
#: operation hold.
MAX_ITEMS: Final = 1_000_000
_CONTAINERS: Final = (list, tuple, dict, set, frozenset)

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle tried to load a global (class or function); refused."""


class DataRefused(pickle.UnpicklingError):
    """Job data over the size, depth or item bounds; refused unread (the message says which)."""


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
    than pickling a typical operation (docs/performance.md)."""

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
        """Unpickle ``data``; raises :class:`ForbiddenGlobal` if it names any global and
        :class:`DataRefused` if it is over the bounds (see the module docstring)."""
        if len(data) > MAX_DATA_BYTES:
            raise DataRefused(f"job data of {len(data)} bytes is over {MAX_DATA_BYTES}")
        value = _NoGlobalsUnpickler(io.BytesIO(data)).load()
        check_shape(value)
        return value


def check_shape(value: Any, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Raise :class:`DataRefused` if ``value`` nests deeper than ``max_depth`` or holds more
    than ``max_items`` items, counting a shared object each time it is reached.

    Each distinct container is walked once (its item count and height remembered), so a
    value built from a few shared lists is measured in microseconds however large it would
    be once encoded; a value that contains itself ends at the depth bound.
    """
    if type(value) in _CONTAINERS:
        _measure(value, 0, {}, (max_depth, max_items))


def _measure(
    node: Any, depth: int, seen: dict[int, tuple[int, int]], limits: tuple[int, int]
) -> tuple[int, int]:
    """(items in ``node``'s tree, its height); raises DataRefused over a bound."""
    max_depth, max_items = limits
    known = seen.get(id(node))  # ids are stable: ``value`` keeps every node alive
    if known is None:
        if depth >= max_depth:
            raise DataRefused(f"job data nests deeper than {max_depth} levels")
        children = (*node.keys(), *node.values()) if type(node) is dict else node
        items, height = len(children), 1
        for child in children:
            if type(child) in _CONTAINERS:
                size, below = _measure(child, depth + 1, seen, limits)
                items += size
                height = max(height, below + 1)
                if items > max_items:
                    raise DataRefused(f"job data holds more than {max_items} items")
        known = seen[id(node)] = (items, height)
    if depth + known[1] > max_depth:
        raise DataRefused(f"job data nests deeper than {max_depth} levels")
    return known


def inflate(data: bytes) -> bytes:
    """RQ's stored ``data`` field as pickle bytes: decompressed when it is zlib data (RQ
    reads uncompressed data too); raises :class:`DataRefused` over :data:`MAX_DATA_BYTES`
    before or after decompression, without inflating more than that."""
    if len(data) > MAX_DATA_BYTES:
        raise DataRefused(f"job data of {len(data)} bytes is over {MAX_DATA_BYTES}")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, MAX_DATA_BYTES)
    except zlib.error:
        return data
    if inflater.unconsumed_tail:
        raise DataRefused(f"job data inflates to more than {MAX_DATA_BYTES} bytes")
    if not inflater.eof:
        return data  # not a complete zlib stream: RQ takes such data as it is, so do we
    return raw
