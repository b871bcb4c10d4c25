"""How many jobs go into one write: chunk bounds and the pure cutting rule.

Every write to Redis is one Lua call that is all-or-nothing. A ``pipeline()`` block of any
size, or a long ``batch()``, is written as a series of such chunks, each bounded

- in jobs, because Redis runs a script to completion while every other client waits: a chunk
  of :data:`MAX_CHUNK_JOBS` (250) holds the server for a couple of milliseconds, a pause the
  workers do not notice, and larger chunks cost more per job (docs/performance.md), so
  bigger is not faster;
- in bytes, because the chunk's request and its answer must fit ``CIO_REDIS_TIMEOUT_S``:
  :data:`MAX_CHUNK_BYTES` is 1 MiB, about 8 ms on a 1 Gbit/s link (typical jobs are 250-400
  bytes, so the job bound usually cuts first; large e-mail sends are cut by bytes).

Client throughput was the same at 250 and 1000 jobs per chunk (one round trip per chunk is
a microsecond or two per job at these sizes), so the bounds trade nothing for short pauses.
They are constants, not settings: nobody has needed to tune them, and a wrong value can only
hurt. Tests pass their own :class:`ChunkBounds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_BOUNDS", "MAX_CHUNK_BYTES", "MAX_CHUNK_JOBS", "ChunkBounds", "cut_chunks"]

#: Jobs per chunk (one Lua call): about 2.3 ms of Redis server time (see above).
MAX_CHUNK_JOBS: Final = 250
#: Request bytes per chunk: about 8 ms on a 1 Gbit/s link.
MAX_CHUNK_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class ChunkBounds:
    """At most ``max_jobs`` jobs and ``max_bytes`` request bytes per chunk (a single job over
    ``max_bytes`` still travels, alone)."""

    max_jobs: int = MAX_CHUNK_JOBS
    max_bytes: int = MAX_CHUNK_BYTES

    def __post_init__(self) -> None:
        if self.max_jobs < 1 or self.max_bytes < 1:
            raise ValueError("chunk bounds must be at least one job and one byte")

    def fits(self, jobs: int, size: int, next_size: int) -> bool:
        """Whether a job of ``next_size`` bytes may join a chunk of ``jobs`` jobs, ``size``
        bytes (an empty chunk takes any job)."""
        return jobs == 0 or (jobs < self.max_jobs and size + next_size <= self.max_bytes)


DEFAULT_BOUNDS: Final = ChunkBounds()


def cut_chunks(sizes: Sequence[int], bounds: ChunkBounds = DEFAULT_BOUNDS) -> list[range]:
    """Cut jobs of the given byte ``sizes``, in order, into consecutive chunks (as index
    ranges) that respect ``bounds``; greedy, so every chunk but the last is full."""
    chunks: list[range] = []
    start, size = 0, 0
    for i, job_size in enumerate(sizes):
        if not bounds.fits(i - start, size, job_size):
            chunks.append(range(start, i))
            start, size = i, 0
        size += job_size
    if start < len(sizes):
        chunks.append(range(start, len(sizes)))
    return chunks
