"""Rows of a CSV or JSON Lines file as Track operations, for bulk imports.

A bulk import reads a file row by row (:mod:`cio_pipeline.producer.rows.read`: streaming, constant
memory, every row with the line it starts on), turns each row into one v2 operation
(:mod:`cio_pipeline.producer.rows.build`: an identify, or an event when the file says so; values
stay strings unless the caller names a type; a :class:`RowBuilder` works out once per run what
is the same for every row), and hands it to the producer inside a ``pipeline()`` block
(``identify``/``track``, or ``batch`` when the SDK would misread the identifier), so that
the producer's own normalisation and validation decide what is sent: a bad row raises the
same :class:`~cio_pipeline.producer.errors.ValidationError` an application would get, naming the
field. Rejected rows go to a file of the same format that can be fixed and imported again
(:mod:`cio_pipeline.producer.rows.rejects`).

Nothing here talks to Redis: the import run (``cio_pipeline.worker.ops.imports``) does the writing,
backpressure and resuming.
"""

from cio_pipeline.producer.rows.build import (
    RowBuilder,
    RowMapping,
    RowsError,
    event_id_for,
    parse_types,
    row_operation,
)
from cio_pipeline.producer.rows.read import Row, RowSource, open_rows
from cio_pipeline.producer.rows.rejects import RejectWriter

__all__ = [
    "RejectWriter",
    "Row",
    "RowBuilder",
    "RowMapping",
    "RowSource",
    "RowsError",
    "event_id_for",
    "open_rows",
    "parse_types",
    "row_operation",
]
