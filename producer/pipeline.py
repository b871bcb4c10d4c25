"""Writing a ``pipeline()`` block (or a long ``batch()``) of any size in bounded chunks.

:class:`ChunkedWriter` buffers prepared jobs and writes a chunk (one all-or-nothing Lua call,
bounded by :mod:`cio_pipeline.producer.chunks`) as soon as the next job would not fit, so a block of
a million calls holds two chunks at a time (the one being filled, and the request of the one in
flight), plus the ids already written (16 bytes each). It keeps the accounting that an
:class:`EnqueueError` reports: every job it was given is written, not written, or (its
request sent, the answer lost) of unknown fate.

The client and Redis work at the same time: a chunk's request is sent and its answer is left
unread while the application makes the next chunk's calls; the answer is read just before the
next chunk is sent (or when the block ends). So at most one chunk is ever in flight, and a
failure stays exact: if the in-flight chunk's answer is lost, its ids are unknown and the
chunk being filled is not written (it was never sent). Before this, the client sat idle for
each chunk's Redis time, a large share of a block's time (docs/performance.md). A single-connection
client (``single_connection_client=True``) writes each chunk synchronously instead: its one
connection must not carry an unread answer while the application uses the same client.

After a failed chunk nothing more is attempted: later jobs are "not written", and further
calls raise the same failure again, so an application that swallowed the first error inside
its block still cannot miss it.
"""

from __future__ import annotations

from collections.abc import Iterable

from cio_pipeline.producer.chunks import DEFAULT_BOUNDS, ChunkBounds
from cio_pipeline.producer.errors import EnqueueError
from cio_pipeline.producer.jobs import Enqueuer, PreparedJob, WriteInFlight

__all__ = ["ChunkedWriter", "PipelineReport"]


class PipelineReport:
    """What a ``pipeline()`` block has done so far: ``pipe.pipeline_report``.

    After the block ends, every job id it returned is in exactly one group: ``written_ids``
    (in Redis), ``not_written_ids`` (not in Redis: the block raised before its chunk was
    written, or a chunk failed before it) or ``unknown_ids`` (its chunk's answer was lost).
    While the block runs, the ids of the chunk being filled are in ``pending_ids``, and those
    of the chunk whose request went out, answer not yet read, in ``in_flight_ids``.
    """

    def __init__(self) -> None:
        # Raw 16-byte ids: a million written ids cost 16 MB here, not the ~90 MB of a list
        # of strings, which keeps the block's memory to two chunks plus the ids.
        self._written = bytearray()
        self.not_written_ids: list[str] = []
        self.unknown_ids: list[str] = []
        self.pending_ids: list[str] = []
        self.in_flight_ids: list[str] = []

    @property
    def written_count(self) -> int:
        """How many jobs are certainly in Redis."""
        return len(self._written) // 16

    @property
    def written_ids(self) -> list[str]:
        """Ids of the jobs certainly in Redis, in the order they were made."""
        raw = self._written
        return [raw[i : i + 16].hex() for i in range(0, len(raw), 16)]

    def summary(self) -> str:
        """Counts only (no ids, no values), for an exception note."""
        return (
            f"cio pipeline: {self.written_count} job(s) enqueued before this error, "
            f"{len(self.not_written_ids)} not enqueued, {len(self.unknown_ids)} of unknown "
            "fate (see pipe.pipeline_report)"
        )


class ChunkedWriter:
    """Writes jobs in chunks as they come; :meth:`finish` writes the rest."""

    def __init__(self, enqueuer: Enqueuer, bounds: ChunkBounds = DEFAULT_BOUNDS) -> None:
        self.enqueuer = enqueuer
        self.bounds = bounds
        self.report = PipelineReport()
        self._chunk: list[PreparedJob] = []
        self._chunk_bytes = 0
        self._in_flight: WriteInFlight | None = None
        # Leaving an answer unread across application code is safe only on a connection
        # of our own, borrowed from the pool (see the module docstring).
        self._overlap = enqueuer.connection.connection is None
        self.failure: EnqueueError | None = None

    def check(self) -> None:
        """Raise the earlier failure, if a chunk has failed (nothing more is written)."""
        if self.failure is not None:
            raise self.failure

    def add(self, job: PreparedJob) -> None:
        """Buffer ``job``, writing the buffered chunk first if ``job`` would not fit in it."""
        size = job.size
        if self._chunk and not self.bounds.fits(len(self._chunk), self._chunk_bytes, size):
            self.add_all((job,))  # the slow path, with the failure accounting
            return
        self._chunk.append(job)
        self._chunk_bytes += size
        self.report.pending_ids.append(job.id)

    def add_all(self, jobs: Iterable[PreparedJob]) -> None:
        """:meth:`add` each of ``jobs``; if a chunk fails, the rest are not written."""
        self.check()
        remaining = iter(jobs)
        for job in remaining:
            size = job.size
            if not self.bounds.fits(len(self._chunk), self._chunk_bytes, size):
                try:
                    self._flush()
                except EnqueueError as exc:
                    ids = [job.id, *(later.id for later in remaining)]
                    raise self._not_attempted(exc, ids) from None
            self._chunk.append(job)
            self._chunk_bytes += size
            self.report.pending_ids.append(job.id)

    def finish(self) -> None:
        """Write what is buffered; raise the failure if any chunk failed."""
        self.check()
        self._flush()
        self._settle_or_fail()

    def abandon(self) -> None:
        """The block raised: the buffered jobs are not written (earlier chunks stay; the one
        in flight, if any, is settled so that its ids land in their group)."""
        report = self.report
        try:
            self._settle()
        except EnqueueError as exc:
            report.not_written_ids.extend(exc.not_written_ids)
            report.unknown_ids.extend(exc.unknown_ids)
        report.not_written_ids.extend(report.pending_ids)
        self._drop_chunk()

    def _not_attempted(self, failure: EnqueueError, ids: list[str]) -> EnqueueError:
        self.report.not_written_ids.extend(ids)
        self.failure = failure.regroup(not_written_ids=ids)
        return self.failure

    def _drop_chunk(self) -> None:
        self._chunk = []
        self._chunk_bytes = 0
        self.report.pending_ids = []

    def _fail(self, exc: EnqueueError, unsent: list[str]) -> EnqueueError:
        """Record a failed chunk (its ids are in ``exc``) and the ``unsent`` buffered ids."""
        report = self.report
        before = report.written_ids
        # Written but not replicated enough (NotReplicated): written, all the same.
        report._written += bytes.fromhex("".join(exc.written_ids))
        report.not_written_ids.extend(exc.not_written_ids)
        report.unknown_ids.extend(exc.unknown_ids)
        report.not_written_ids.extend(unsent)
        self._drop_chunk()
        self.failure = exc.regroup(written_ids=before, not_written_ids=unsent)
        return self.failure

    def _settle(self) -> None:
        """Read the in-flight chunk's answer; its ids become written, or raise."""
        write = self._in_flight
        if write is None:
            return
        self._in_flight = None
        report = self.report
        report.in_flight_ids = []
        self.enqueuer.settle(write)
        report._written += bytes.fromhex("".join(write.ids))

    def _settle_or_fail(self) -> None:
        try:
            self._settle()
        except EnqueueError as exc:
            raise self._fail(exc, list(self.report.pending_ids)) from None

    def _flush(self) -> None:
        """Settle the chunk in flight, then send the buffered one (it is now in flight)."""
        if not self._chunk:
            return
        self._settle_or_fail()
        chunk = self._chunk
        try:
            self._in_flight = self.enqueuer.send(chunk)
        except EnqueueError as exc:
            raise self._fail(exc, []) from None
        self.report.in_flight_ids = self.report.pending_ids
        self._drop_chunk()
        if not self._overlap:
            self._settle_or_fail()
