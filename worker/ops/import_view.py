"""How an import shows its progress: a ``rich`` bar in a terminal, plain lines otherwise.

Both report each rejected row as one line on stderr (``line N: field: reason``; never a
value). :class:`RichView` needs ``rich`` (the ``demo`` extra); without it, or when stderr is
not a terminal, :class:`PlainView` prints a progress line every few seconds instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from cio_pipeline.worker.ops.imports import ImportTally

__all__ = ["PlainView", "RichView", "describe", "eta_s", "make_view"]


def eta_s(tally: ImportTally) -> float | None:
    """Seconds left, from the share of the file read so far (None without a file size)."""
    if not tally.total_bytes or not tally.bytes_read or tally.elapsed_s <= 0:
        return None
    done = min(1.0, tally.bytes_read / tally.total_bytes)
    return tally.elapsed_s * (1 - done) / done


def describe(tally: ImportTally) -> str:
    """One line: rows, enqueued, rejected, rows/s, ETA, and a backlog wait if any."""
    rate = tally.rows / tally.elapsed_s if tally.elapsed_s > 0 else 0.0
    eta = eta_s(tally)
    text = (
        f"{tally.rows:,} rows: {tally.enqueued:,} enqueued, {tally.rejected:,} rejected, "
        f"{rate:,.0f} rows/s" + (f", ETA {eta:,.0f} s" if eta is not None else "")
    )
    if tally.waiting_backlog is not None:
        text += f"; waiting for workers (Track backlog {tally.waiting_backlog:,})"
    return text


class PlainView:
    """A progress line on ``stream`` at most every ``interval_s`` seconds."""

    def __init__(
        self,
        stream: TextIO | None = None,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # sys.stderr as it is now (a default argument would bind the one of import time)
        self.stream = sys.stderr if stream is None else stream
        self.interval_s = interval_s
        self.clock = clock
        self._last = clock()

    def show(self, tally: ImportTally) -> None:
        """Print the tally if ``interval_s`` has passed since the last line."""
        now = self.clock()
        if now - self._last >= self.interval_s:
            self._last = now
            print(f"import: {describe(tally)}", file=self.stream, flush=True)

    def rejected(self, line: int, error: str) -> None:
        """One line per rejected row."""
        print(f"line {line}: {error}", file=self.stream)

    def close(self) -> None:
        """Nothing to tear down."""


class RichView:
    """A live ``rich`` progress bar over the file's bytes, with the counts beside it."""

    def __init__(self, total_bytes: int | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("import"),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: Any = self._progress.add_task("import", total=total_bytes, counts="")
        self._progress.start()

    def show(self, tally: ImportTally) -> None:
        """Move the bar to the bytes read; refresh the counts."""
        self._progress.update(self._task, completed=tally.bytes_read, counts=describe(tally))

    def rejected(self, line: int, error: str) -> None:
        """Printed above the bar."""
        self._progress.console.print(f"line {line}: {error}", markup=False, highlight=False)

    def close(self) -> None:
        """Stop the live display."""
        self._progress.stop()


def make_view(kind: str, total_bytes: int | None) -> PlainView | RichView:
    """``kind``: ``rich``, ``plain`` or ``auto`` (rich when it is installed and stderr is a
    terminal)."""
    if kind == "auto":
        import importlib.util

        rich = importlib.util.find_spec("rich") is not None and sys.stderr.isatty()
        kind = "rich" if rich else "plain"
    return RichView(total_bytes) if kind == "rich" else PlainView()
