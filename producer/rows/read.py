"""Streaming rows out of a CSV or JSON Lines file, each with its line numbers.

Rows are read one at a time from a buffered binary stream (a file, or stdin for ``-``), so a
file of any size costs the same memory. Every row knows the physical line it starts on
(``line``, what error reports and ``--start-line`` use) and the line after it
(``next_line``: where a resumed import starts so as to skip it); a quoted CSV value may span
lines. A row that cannot be read comes out with ``values=None`` and a ``problem``, never as
an exception, so the import reports it with its line and goes on: a CSV record of the wrong
width or malformed quoting, a quoted value never closed (the rest of the file would be one
value), a line that is not a JSON object, bytes that are not UTF-8 or text that is not valid
Unicode (a JSON ``"\\ud800"``), nesting deeper than :data:`MAX_DEPTH`. The file is decoded with
``surrogateescape``, so bad bytes spoil their row only and a rejects file gets them back as
they were. Only a file that cannot be used at all (an unreadable or repeated header) raises
:class:`RowsError`.

Columns named ``cio_import_*`` are the import's own (its rejects file adds the line and the
reason) and are dropped, so a fixed rejects file imports as it is.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Final, Literal

from cio_pipeline.producer.rows.build import RowsError

__all__ = ["IMPORT_COLUMN_PREFIX", "MAX_DEPTH", "Format", "Row", "RowSource", "open_rows"]

Format = Literal["csv", "jsonl"]
#: Columns the import itself writes into a rejects file; ignored when reading.
IMPORT_COLUMN_PREFIX: Final = "cio_import_"
_JSONL_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")
#: The deepest nesting a JSON Lines row may have; deeper rows are rejected before anything
#: recursive (the producer's normalisation, pickling) sees them.
MAX_DEPTH: Final = 32
_NOT_UNICODE: Final = "is not UTF-8 text (bytes that are not UTF-8, or a lone surrogate)"


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _csv_problem(names: list[str], cells: list[str]) -> str | None:
    """Why a CSV record's cells cannot be sent (a cell that is not UTF-8), or None."""
    if _is_text("".join(cells)):
        return None  # one check for the whole row: the common case costs one call
    bad = next(i for i, cell in enumerate(cells) if not _is_text(cell))
    column = names[bad] if bad < len(names) else f"column {bad + 1}"
    return f"{column}: {_NOT_UNICODE}"


def _json_problem(values: dict[str, Any]) -> str | None:
    """Why a JSON row's values cannot be sent (text that is not valid Unicode, nesting deeper
    than :data:`MAX_DEPTH`), or None; iterative, so no row can exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(values, "row", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if not _is_text(value):
                return f"{where}: {_NOT_UNICODE}"
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return f"{where}: nested more than {MAX_DEPTH} levels deep"
            if isinstance(value, dict):
                for key, child in value.items():
                    name = key if depth == 0 and _is_text(key) else where
                    if not _is_text(key):
                        return f"{where}: a key {_NOT_UNICODE}"
                    stack.append((child, name, depth + 1))
            else:
                stack.extend((child, where, depth + 1) for child in value)
    return None


@dataclass(slots=True)
class Row:
    """One record of the file: its values by column, or why it could not be read.

    ``raw`` is what the rejects file writes back: the CSV cells, or the JSON line's text.
    Treat it as read-only; it is not frozen because a frozen dataclass's ``__init__`` costs
    several times a plain one's, a third of parsing the CSV record (docs/performance.md).
    """

    line: int
    next_line: int
    values: dict[str, Any] | None
    raw: list[str] | str
    problem: str | None = None


class RowSource:
    """An open file of rows: iterate :meth:`rows`; :attr:`bytes_read` and :attr:`size`
    (``None`` for a pipe) give progress; :attr:`header` is the CSV header (``None`` for
    JSON Lines)."""

    def __init__(self, binary: IO[bytes], fmt: Format, size: int | None) -> None:
        self.format: Format = fmt
        self.size = size
        self.header: list[str] | None = None
        self._binary = binary
        self._text = io.TextIOWrapper(
            binary, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )

    @property
    def bytes_read(self) -> int:
        """Bytes consumed so far (to within one read buffer)."""
        try:
            return int(self._binary.tell())
        except (OSError, ValueError):
            return 0

    def rows(self, start_line: int = 1) -> Iterator[Row]:
        """Every row starting on ``start_line`` or later, in file order."""
        reader = self._csv_rows() if self.format == "csv" else self._jsonl_rows()
        if start_line <= 1:
            return reader  # no filter to pass each row through
        return (row for row in reader if row.line >= start_line)

    def close(self) -> None:
        """Close the file (not stdin's descriptor)."""
        self._text.detach()
        if self._binary is not sys.stdin.buffer:
            self._binary.close()

    def _csv_rows(self) -> Iterator[Row]:
        # strict: malformed quoting is an error, and so is a quote never closed (else the
        # rest of the file silently becomes one value)
        reader = csv.reader(self._text, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise RowsError(f"line 1: the CSV header cannot be read ({exc})") from None
        if header is None:
            return
        names = [name.strip() for name in header]
        if not _is_text("".join(names)):
            raise RowsError(f"line 1: the header {_NOT_UNICODE}")
        # Counter: linear (list.count per name was quadratic: 100,000 columns took 98 s)
        duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
        if duplicates:
            shown = ", ".join(duplicates[:10]) + (", ..." if len(duplicates) > 10 else "")
            raise RowsError(f"line 1: the header repeats column(s) {shown}")
        self.header = names
        keep = [i for i, name in enumerate(names) if not name.startswith(IMPORT_COLUMN_PREFIX)]
        width = len(names)
        last = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line, last = last + 1, reader.line_num
                if "unexpected end of data" in str(exc):
                    problem = (
                        f"row: a quoted value opened on line {line} is never closed "
                        f"(lines {line}-{last}, the rest of the file, are not imported)"
                    )
                else:
                    problem = f"row: unreadable CSV ({exc})"
                yield Row(line, last + 1, None, [], problem)
                continue
            line, last = last + 1, reader.line_num
            if not cells:
                continue  # a blank line
            if len(cells) != width:
                problem = f"row: has {len(cells)} fields; the header has {width}"
                yield Row(line, last + 1, None, cells, problem)
                continue
            unusable = _csv_problem(names, cells)
            if unusable is not None:
                yield Row(line, last + 1, None, cells, unusable)
                continue
            yield Row(line, last + 1, {names[i]: cells[i] for i in keep}, cells)

    def _jsonl_rows(self) -> Iterator[Row]:
        line = 0
        while True:
            text = self._text.readline()
            if not text:
                return
            line += 1
            stripped = text.strip()
            if not stripped:
                continue
            try:
                values = json.loads(stripped)
            except RecursionError:
                problem = f"row: nested more than {MAX_DEPTH} levels deep"
                yield Row(line, line + 1, None, stripped, problem)
                continue
            except ValueError:
                yield Row(line, line + 1, None, stripped, "row: not valid JSON")
                continue
            if not isinstance(values, dict):
                yield Row(line, line + 1, None, stripped, "row: not a JSON object")
                continue
            unusable = _json_problem(values)
            if unusable is not None:
                yield Row(line, line + 1, None, stripped, unusable)
                continue
            for name in [k for k in values if k.startswith(IMPORT_COLUMN_PREFIX)]:
                del values[name]
            yield Row(line, line + 1, values, stripped)


def open_rows(path: str, fmt: Format | None = None) -> RowSource:
    """Open ``path`` (``-``: stdin) as rows of ``fmt``; without ``fmt`` the extension
    decides (``.jsonl``, ``.ndjson``, ``.json``: JSON Lines), else the first byte (``{``).
    Raises :class:`RowsError` for a file that cannot be opened."""
    if path == "-":
        binary: IO[bytes] = sys.stdin.buffer
        size = None
    else:
        try:
            binary = open(path, "rb")  # RowSource.close closes it
        except OSError as exc:
            raise RowsError(f"{path}: {exc.strerror or exc}") from None
        size = os.fstat(binary.fileno()).st_size
    if fmt is None:
        fmt = _guess_format(path, binary)
    return RowSource(binary, fmt, size)


def _guess_format(path: str, binary: IO[bytes]) -> Format:
    if path.lower().endswith(_JSONL_SUFFIXES):
        return "jsonl"
    if path.lower().endswith(".csv"):
        return "csv"
    peek = getattr(binary, "peek", None)
    head = peek(64) if peek is not None else b""
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"
