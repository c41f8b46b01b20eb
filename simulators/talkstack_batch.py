"""Batch-call files as the simulator reads them (reference §5): CSV or XLSX, with a `number`
column and an optional `dynamicVariables` column holding one JSON object per row."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from openpyxl import load_workbook

from simulators.talkstack_calls import E164

NUMBER_COLUMN = "number"
VARIABLES_COLUMN = "dynamicvariables"  # compared case-insensitively
XLSX_MAGIC = b"PK\x03\x04"  # XLSX files are zip archives
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")


class BatchFileError(ValueError):
    """The file as a whole cannot be used (unreadable, no `number` column)."""


@dataclass(frozen=True)
class BatchRow:
    line: int  # 1-based data row, header excluded
    number: str
    variables: dict


@dataclass
class SimBatch:
    batch_id: str
    agent_id: str
    filename: str
    content: bytes
    sids: list[str]
    rejected: list[dict]


def parse_batch_file(filename: str, content: bytes) -> tuple[list[BatchRow], list[dict]]:
    """Valid rows, and the rejected ones as {"row", "reason"}."""
    table = _read_table(filename, content)
    if not table:
        raise BatchFileError("the file is empty")
    header = [str(cell or "").strip().lower() for cell in table[0]]
    if NUMBER_COLUMN not in header:
        raise BatchFileError("the file has no 'number' column")
    number_at = header.index(NUMBER_COLUMN)
    variables_at = header.index(VARIABLES_COLUMN) if VARIABLES_COLUMN in header else None
    rows: list[BatchRow] = []
    rejected: list[dict] = []
    for line, cells in enumerate(table[1:], start=1):
        if not any(str(cell or "").strip() for cell in cells):
            continue  # blank lines are not rows
        row_or_reason = _parse_row(line, cells, number_at, variables_at)
        if isinstance(row_or_reason, BatchRow):
            rows.append(row_or_reason)
        else:
            rejected.append({"row": line, "reason": row_or_reason})
    return rows, rejected


def _parse_row(line: int, cells: list, number_at: int, variables_at: int | None):
    number = _cell(cells, number_at)
    if not E164.match(number):
        return "invalid number"
    raw_variables = _cell(cells, variables_at) if variables_at is not None else ""
    if not raw_variables:
        return BatchRow(line, number, {})
    try:
        variables = json.loads(raw_variables)
    except ValueError:
        return "dynamicVariables is not JSON"
    if not isinstance(variables, dict):
        return "dynamicVariables is not a JSON object"
    return BatchRow(line, number, variables)


def _cell(cells: list, index: int) -> str:
    if index >= len(cells) or cells[index] is None:
        return ""
    return str(cells[index]).strip()


def _read_table(filename: str, content: bytes) -> list[list]:
    if content.startswith(XLSX_MAGIC) or filename.lower().endswith(EXCEL_SUFFIXES):
        return _read_xlsx(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchFileError("the CSV file is not UTF-8") from exc
    return [row for row in csv.reader(io.StringIO(text, newline=""))]


def _read_xlsx(content: bytes) -> list[list]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise BatchFileError("the Excel file cannot be read") from exc
    try:
        return [list(row) for row in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()
