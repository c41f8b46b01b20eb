"""Streaming writers for Talkstack batch-call files (SPEC §6, talkstack-api §5).

A batch file has two columns: ``number`` (E.164) and ``dynamicVariables`` (one JSON object per
row). Rows are streamed into files of at most ``max_rows`` rows, so memory is bounded by one
file, never by the size of the contact list. Pure: no DB, no HTTP.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field

import xlsxwriter

HEADER = ("number", "dynamicVariables")

CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# First characters that make Excel / LibreOffice / Sheets treat a cell as a formula (OWASP CSV
# injection list: = + - @ TAB CR), plus LF and NUL (ASVS 1.2.10 lists NUL) and the full-width
# forms of = + - @, which some locales/IMEs normalise to their ASCII twins. Over-neutralising
# only costs a visible leading quote; under-neutralising runs attacker formulas.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\0\uff1d\uff0b\uff0d\uff20")

# The one prefix OWASP recommends: spreadsheets read a leading ' as "this cell is text".
NEUTRALISING_PREFIX = "'"

# Strict E.164: the only shape allowed to skip neutralisation (its leading + is legitimate and
# "+<digits>" can at worst be read as a number, never as a function call).
E164_PATTERN = re.compile(r"\+[1-9][0-9]{1,14}")

# Excel's hard per-cell limit; xlsxwriter would silently truncate (and so corrupt the JSON).
XLSX_MAX_CELL_CHARS = 32767

XLSX_SHEET_NAME = "batch"


def neutralise_cell(value: str) -> str:
    """Return ``value`` made safe to place in a spreadsheet cell.

    Rule: if the value's first character is a formula trigger (``=``, ``+``, ``-``, ``@``, TAB,
    CR, LF, NUL, or a full-width ``＝ ＋ － ＠``), or its first character after leading
    whitespace is one, prefix a single quote ``'``. The whitespace case matters because CSV
    importers can trim cells (LibreOffice "Trim spaces") before deciding what is a formula; the
    quote goes in front of the whitespace so trimming cannot expose the trigger again.
    Everything else, including the empty string and values already starting with ``'``, is
    returned unchanged, so the function is idempotent.

    Not applied to the ``number`` column (validated E.164, legitimately starts with ``+``);
    the ``dynamicVariables`` cell always starts with ``{`` and every string inside it is
    neutralised before serialising (see :func:`variables_json`).
    """
    if not value:
        return value
    first_visible = value.lstrip()[:1]
    if value[0] in FORMULA_TRIGGERS or first_visible in FORMULA_TRIGGERS:
        return NEUTRALISING_PREFIX + value
    return value


def variables_json(variables: dict[str, object]) -> str:
    """Serialise per-row variables to the ``dynamicVariables`` cell, neutralising each string.

    Strings are neutralised so that no value a tool extracts from the JSON becomes a live
    formula. ``None``/bool/int/float pass through (JSON scalars, never formulas). Keys are
    variable names chosen by configuration, so a key that would need neutralising is a bug
    and raises ``ValueError`` rather than silently renaming the variable.
    """
    safe: dict[str, object] = {}
    for key, value in variables.items():
        if not isinstance(key, str) or neutralise_cell(key) != key:
            raise ValueError(f"unsafe dynamic-variable name: {key!r}")
        safe[key] = _safe_scalar(key, value)
    return json.dumps(safe, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _safe_scalar(key: str, value: object) -> object:
    if isinstance(value, str):
        return neutralise_cell(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(f"dynamic variable {key!r} must be a string or JSON scalar")


@dataclass(frozen=True)
class BatchFile:
    """One finished batch file, ready to upload as the multipart ``file`` part."""

    index: int  # 1-based position in the run
    rows: int  # data rows, header excluded
    filename: str
    content_type: str
    content: bytes = field(repr=False)


class _CsvSink:
    """One CSV file in memory; bounded by max_rows rows."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        self._writer.writerow(HEADER)

    def write_row(self, number: str, variables: str) -> None:
        self._writer.writerow((number, variables))

    def close(self) -> bytes:
        content = self._buffer.getvalue().encode("utf-8")
        self._buffer.close()
        return content

    def discard(self) -> None:
        self._buffer.close()


class _XlsxSink:
    """One XLSX file streamed to a temp file (constant_memory keeps only one row in RAM)."""

    def __init__(self, tmp_dir: str | None) -> None:
        handle, self._path = tempfile.mkstemp(suffix=".xlsx", dir=tmp_dir)
        os.close(handle)
        options = {
            "constant_memory": True,
            "in_memory": False,
            "tmpdir": tmp_dir,
            # Belt and braces: we only call write_string, but never let a string turn live.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        }
        self._workbook = xlsxwriter.Workbook(self._path, options)
        self._sheet = self._workbook.add_worksheet(XLSX_SHEET_NAME)
        self._next_row = 0
        self.write_row(*HEADER)

    def write_row(self, number: str, variables: str) -> None:
        self._sheet.write_string(self._next_row, 0, number)
        self._sheet.write_string(self._next_row, 1, variables)
        self._next_row += 1

    def close(self) -> bytes:
        try:
            self._workbook.close()
            with open(self._path, "rb") as finished:
                return finished.read()
        finally:
            self._remove_file()

    def discard(self) -> None:
        # Closing flushes xlsxwriter's own per-sheet temp files; the result is thrown away.
        with contextlib.suppress(Exception):
            self._workbook.close()
        self._remove_file()

    def _remove_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path)


class BatchFileWriter:
    """Stream (number, variables) rows into batch files of at most ``max_rows`` rows.

    ``add`` returns the file that the row just completed (that row included), else ``None``;
    ``finish`` returns the last, partial file (``None`` when no rows are pending). Row *k*
    of the run (0-based) lands in file ``k // max_rows + 1`` at data row ``k % max_rows``,
    which callers use to keep the row→contact mapping. Use as a context manager, or call
    ``close``, to drop temp files if the run is abandoned half-way.
    """

    def __init__(
        self,
        fmt: str = "csv",
        max_rows: int = 5000,
        basename: str = "batch",
        *,
        tmp_dir: str | None = None,
    ) -> None:
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"unsupported batch file format: {fmt!r} (use csv or xlsx)")
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if not basename or any(sep in basename for sep in ("/", "\\")):
            raise ValueError("basename must be a plain, non-empty file name stem")
        self.fmt = fmt
        self.max_rows = max_rows
        self.basename = basename
        self._tmp_dir = tmp_dir
        self._sink: _CsvSink | _XlsxSink | None = None
        self._rows_in_file = 0
        self._files_done = 0
        self._finished = False

    def add(self, number: str, variables: dict[str, object]) -> BatchFile | None:
        if self._finished:
            raise RuntimeError("BatchFileWriter already finished")
        if not E164_PATTERN.fullmatch(number):
            raise ValueError("number must be E.164 (+ then 2-15 digits)")
        variables_cell = variables_json(variables)
        if self.fmt == "xlsx" and len(variables_cell) > XLSX_MAX_CELL_CHARS:
            raise ValueError("dynamicVariables cell exceeds the 32767-character XLSX limit")
        if self._sink is None:
            self._sink = self._open_sink()
        self._sink.write_row(number, variables_cell)
        self._rows_in_file += 1
        if self._rows_in_file >= self.max_rows:
            return self._close_file()
        return None

    def finish(self) -> BatchFile | None:
        self._finished = True
        if self._sink is None:
            return None
        return self._close_file()

    def close(self) -> None:
        """Abandon any unfinished file and remove its temp files. Safe to call twice."""
        self._finished = True
        if self._sink is not None:
            self._sink.discard()
            self._sink = None
            self._rows_in_file = 0

    def __enter__(self) -> BatchFileWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_sink(self) -> _CsvSink | _XlsxSink:
        if self.fmt == "xlsx":
            return _XlsxSink(self._tmp_dir)
        return _CsvSink()

    def _close_file(self) -> BatchFile:
        assert self._sink is not None
        sink, rows = self._sink, self._rows_in_file
        self._sink, self._rows_in_file = None, 0
        self._files_done += 1
        return BatchFile(
            index=self._files_done,
            rows=rows,
            filename=f"{self.basename}-{self._files_done:03d}.{self.fmt}",
            content_type=CONTENT_TYPES[self.fmt],
            content=sink.close(),
        )
