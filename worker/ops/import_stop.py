"""Stopping an import at any point: a stop event that also interrupts a run waiting for input.

SIGINT/SIGTERM during ``cio-pipeline import`` call :meth:`StopSignal.request`. The run then
stops at its next row boundary, which it reaches quickly unless it is waiting for input (a
pipe that stalls, a huge header being checked). While it reads, and only then, ``request``
raises :class:`Interrupted` right there: no write to Redis is in progress during a read, so the
run settles its window and reports the line to resume from as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from cio_pipeline.producer.rows import Row

__all__ = ["Interrupted", "StopSignal", "read_guarded"]


class Interrupted(Exception):
    """Raised by :meth:`StopSignal.request` while the run waits for its next row."""


class StopSignal(threading.Event):
    """A stop event that also interrupts the run while it reads its input: set it with
    :meth:`request` (from a SIGINT/SIGTERM handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = False

    def request(self) -> None:
        """Ask the run to stop: at the next row boundary, or at once if it is reading."""
        self.set()
        if self.reading:
            self.reading = False
            raise Interrupted


def read_guarded(rows: Iterator[Row], signal: StopSignal) -> Iterator[Row]:
    """``rows``, with ``signal.reading`` set while the next row is read (and only then)."""
    while True:
        signal.reading = True
        try:
            if signal.is_set():
                # set just before this read (the run's row-boundary check came first): stop
                # here rather than wait on input that may never come; never by ending the
                # rows, which would look like the end of the file
                raise Interrupted
            row = next(rows, None)
        finally:
            signal.reading = False
        if row is None:
            return
        yield row
