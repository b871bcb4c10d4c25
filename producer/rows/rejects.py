"""The rejects file: rows the import refused, in their own format, ready to fix and re-import.

A CSV rejects file has the input's header plus two columns, ``cio_import_line`` (where the row
was) and ``cio_import_error`` (field and reason, never a value); a JSON Lines one adds the
same two keys to each object (a line that was not a JSON object is kept as text under
``cio_import_raw``). The import ignores ``cio_import_*`` columns, so the fixed file imports as
it is. A resumed import (``--start-line``) appends to the file instead of replacing it.
"""

from __future__ import annotations

import csv
import json
import os
from typing import IO

from cio_pipeline.producer.rows.read import IMPORT_COLUMN_PREFIX, Format, Row

__all__ = ["RejectWriter"]

_LINE: str = IMPORT_COLUMN_PREFIX + "line"
_ERROR: str = IMPORT_COLUMN_PREFIX + "error"
_RAW: str = IMPORT_COLUMN_PREFIX + "raw"


class RejectWriter:
    """Writes rejected rows to ``path`` (appending when ``append``)."""

    def __init__(self, path: str, fmt: Format, header: list[str] | None, *, append: bool) -> None:
        self.path = path
        self.format = fmt
        fresh = not append or not os.path.exists(path) or os.path.getsize(path) == 0
        # surrogateescape: a row rejected for bytes that are not UTF-8 is written back as read
        self._file: IO[str] = open(
            path, "a" if append else "w", encoding="utf-8", errors="surrogateescape", newline=""
        )
        self._csv = csv.writer(self._file) if fmt == "csv" else None
        names = header or []
        self._width = len(names)
        # the input's own cio_import_* columns (a rejects file re-imported) are replaced
        self._skip = {i for i, c in enumerate(names) if c.startswith(IMPORT_COLUMN_PREFIX)}
        if self._csv is not None and fresh:
            self._csv.writerow([*self._kept(names), _LINE, _ERROR])

    def _kept(self, cells: list[str]) -> list[str]:
        return [cell for i, cell in enumerate(cells) if i not in self._skip]

    def write(self, row: Row, error: str) -> None:
        """Append one rejected row with its line and the reason."""
        if self._csv is not None:
            cells = row.raw if isinstance(row.raw, list) else [row.raw]
            # pad or cut to the header's width so the file stays a well-formed CSV
            cells = (cells + [""] * self._width)[: self._width] if self._width else cells
            self._csv.writerow([*self._kept(cells), row.line, error])
            return
        if row.values is not None:
            record = {**row.values, _LINE: row.line, _ERROR: error}
        else:
            record = {_LINE: row.line, _ERROR: error, _RAW: row.raw}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()
