import csv
import io
import json
import time
import tracemalloc
import zipfile

import pytest
from openpyxl import load_workbook

from domain.batch_files import (
    CONTENT_TYPES,
    FORMULA_TRIGGERS,
    BatchFile,
    BatchFileWriter,
    neutralise_cell,
    variables_json,
)

HYPERLINK = '=HYPERLINK("http://x","y")'
LIVE_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = CONTENT_TYPES["xlsx"]


def sample_rows(count: int) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"+1415555{i:04d}", {"name": f"Contact {i}", "hubspot_contact_id": str(1000 + i)})
        for i in range(count)
    ]


def write_all(fmt: str, rows, max_rows: int = 5000, **kwargs) -> list[BatchFile]:
    writer = BatchFileWriter(fmt, max_rows=max_rows, **kwargs)
    files = [done for number, variables in rows if (done := writer.add(number, variables))]
    last = writer.finish()
    return files + ([last] if last else [])


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def xlsx_cells(content: bytes) -> list[list]:
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    try:
        assert len(workbook.worksheets) == 1
        return [list(row) for row in workbook.worksheets[0].iter_rows()]
    finally:
        workbook.close()


def xlsx_rows(content: bytes) -> list[list[str]]:
    return [[cell.value for cell in row] for row in xlsx_cells(content)]


def read_back(batch: BatchFile) -> list[list[str]]:
    return csv_rows(batch.content) if batch.filename.endswith(".csv") else xlsx_rows(batch.content)


def expected_table(rows) -> list[list[str]]:
    return [["number", "dynamicVariables"]] + [[n, variables_json(v)] for n, v in rows]


# --- neutralise_cell -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+441234", "'+441234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\n=1", "'\n=1"),
        ("   =cmd|'/c calc'!A1", "'   =cmd|'/c calc'!A1"),
        ("\u00a0@x", "'\u00a0@x"),
        ("\uff1d1+1", "'\uff1d1+1"),
        (HYPERLINK, "'" + HYPERLINK),
    ],
)
def test_neutralise_cell_prefixes_formula_starts(raw, safe):
    assert neutralise_cell(raw) == safe


@pytest.mark.parametrize(
    "harmless", ["", "Maria", "O'Brien", "'=already", "a=b", "1-2", "{}", " x"]
)
def test_neutralise_cell_leaves_harmless_values_alone(harmless):
    assert neutralise_cell(harmless) == harmless


@pytest.mark.parametrize("trigger", sorted(FORMULA_TRIGGERS))
def test_neutralise_cell_is_idempotent_for_every_trigger(trigger):
    once = neutralise_cell(trigger + "x")
    assert once == "'" + trigger + "x"
    assert neutralise_cell(once) == once


def test_variables_json_neutralises_values_and_is_compact_and_sorted():
    cell = variables_json({"name": HYPERLINK, "hubspot_contact_id": "7", "score": 3, "x": None})
    assert cell.startswith("{")
    assert cell == (
        '{"hubspot_contact_id":"7","name":"\'=HYPERLINK(\\"http://x\\",\\"y\\")",'
        '"score":3,"x":null}'
    )
    assert json.loads(cell)["name"] == "'" + HYPERLINK


def test_variables_json_rejects_formula_keys_and_nested_values():
    with pytest.raises(ValueError):
        variables_json({"=name": "x"})
    with pytest.raises(TypeError):
        variables_json({"name": ["=1"]})


# --- round trips -----------------------------------------------------------------------------


def test_csv_round_trip_exact_rows_header_and_line_endings():
    rows = sample_rows(3)
    [batch] = write_all("csv", rows)
    assert (batch.index, batch.rows, batch.filename) == (1, 3, "batch-001.csv")
    assert batch.content_type == "text/csv"
    assert batch.content.startswith(b"number,dynamicVariables\r\n")
    assert batch.content.count(b"\r\n") == 4 and b"\n" not in batch.content.replace(b"\r\n", b"")
    assert csv_rows(batch.content) == expected_table(rows)
    # The JSON cell is quoted with doubled inner quotes, as in the vendor example.
    assert b'+14155550000,"{""hubspot_contact_id"":""1000"",""name"":""Contact 0""}"' in (
        batch.content
    )


def test_xlsx_round_trip_exact_rows_all_string_cells():
    rows = sample_rows(4)
    [batch] = write_all("xlsx", rows, basename="list-42")
    assert (batch.index, batch.rows, batch.filename) == (1, 4, "list-42-001.xlsx")
    assert batch.content_type == XLSX_TYPE
    assert xlsx_rows(batch.content) == expected_table(rows)
    assert all(cell.data_type == "s" for row in xlsx_cells(batch.content) for cell in row)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_unicode_names_survive(fmt):
    rows = [("+819012345678", {"name": "山田 太郎"}), ("+34600111222", {"name": "Zoë Ñandú 🙂"})]
    [batch] = write_all(fmt, rows)
    assert read_back(batch) == expected_table(rows)
    assert json.loads(read_back(batch)[2][1])["name"] == "Zoë Ñandú 🙂"
    if fmt == "csv":
        assert "山田 太郎".encode() in batch.content  # raw UTF-8, not \u escapes


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_chunking_12_rows_max_5(fmt):
    rows = sample_rows(12)
    files = write_all(fmt, rows, max_rows=5)
    assert [(f.index, f.rows) for f in files] == [(1, 5), (2, 5), (3, 2)]
    assert [f.filename for f in files] == [f"batch-00{i}.{fmt}" for i in (1, 2, 3)]
    for batch, start in zip(files, (0, 5, 10), strict=True):
        assert read_back(batch) == expected_table(rows[start : start + batch.rows])


def test_add_returns_the_file_the_row_completes_and_finish_handles_exact_multiples():
    writer = BatchFileWriter("csv", max_rows=2)
    first, second = sample_rows(2)
    assert writer.add(*first) is None
    full = writer.add(*second)
    assert full is not None and full.rows == 2
    assert writer.finish() is None
    with pytest.raises(RuntimeError):
        writer.add(*first)


def test_finish_on_empty_writer_returns_none():
    assert BatchFileWriter("xlsx").finish() is None


def test_value_newlines_never_split_a_csv_record():
    rows = [("+14155550100", {"name": "line1\r\n=cmd|' /c calc'!A1"})]
    [batch] = write_all("csv", rows)
    assert batch.content.count(b"\r\n") == 2  # header + one record
    assert json.loads(csv_rows(batch.content)[1][1])["name"] == "line1\r\n=cmd|' /c calc'!A1"


# --- formula injection -----------------------------------------------------------------------


def hostile_rows() -> list[tuple[str, dict[str, str]]]:
    return [
        ("+14155550100", {"name": HYPERLINK, "hubspot_contact_id": "1"}),
        ("+14155550101", {"name": "@SUM(1,2)", "company": "-2+3", "city": " =1"}),
        ("+14155550102", {"name": "\t+1", "note": "\r=2", "hubspot_contact_id": "3"}),
    ]


def assert_table_is_inert(table: list[list[str]]) -> None:
    for number, variables in table[1:]:
        assert number.startswith("+") and number[1:].isdigit()
        assert variables.startswith("{")
        for value in json.loads(variables).values():
            assert not value.lstrip().startswith(LIVE_STARTS)
            assert not value.startswith(LIVE_STARTS)


def test_csv_hyperlink_contact_cannot_become_a_formula():
    [batch] = write_all("csv", hostile_rows())
    table = csv_rows(batch.content)
    assert json.loads(table[1][1])["name"] == "'" + HYPERLINK
    assert_table_is_inert(table)
    for line in batch.content.decode("utf-8").split("\r\n")[1:-1]:
        assert line.startswith("+1415555010")  # no record starts with anything else


def test_xlsx_hyperlink_contact_cannot_become_a_formula():
    [batch] = write_all("xlsx", hostile_rows())
    cells = xlsx_cells(batch.content)
    for row in cells:
        for cell in row:
            assert cell.data_type == "s"  # never "f" (formula) or "n" (number)
    table = [[cell.value for cell in row] for row in cells]
    assert json.loads(table[1][1])["name"] == "'" + HYPERLINK
    assert_table_is_inert(table)
    with zipfile.ZipFile(io.BytesIO(batch.content)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml


# --- validation and cleanup ------------------------------------------------------------------


def test_bad_format_number_and_size_are_rejected():
    with pytest.raises(ValueError):
        BatchFileWriter("xls")
    with pytest.raises(ValueError):
        BatchFileWriter("csv", max_rows=0)
    writer = BatchFileWriter("xlsx")
    for bad_number in ("=1+1", "4155550100", "+0123", "+1415555010 ", "+1 415 555 0100"):
        with pytest.raises(ValueError):
            writer.add(bad_number, {})
    with pytest.raises(ValueError):
        writer.add("+14155550100", {"blob": "x" * 40000})  # Excel's cell limit is 32767
    assert writer.finish() is None


def test_xlsx_temp_files_are_removed(tmp_path):
    files = write_all("xlsx", sample_rows(7), max_rows=3, tmp_dir=str(tmp_path))
    assert [f.rows for f in files] == [3, 3, 1]
    assert list(tmp_path.iterdir()) == []
    with BatchFileWriter("xlsx", tmp_dir=str(tmp_path)) as abandoned:
        abandoned.add("+14155550100", {"name": "x"})
        assert list(tmp_path.iterdir()) != []
    assert list(tmp_path.iterdir()) == []


def test_20k_row_xlsx_is_fast_and_memory_flat(tmp_path):
    tracemalloc.start()
    started = time.monotonic()
    try:
        writer = BatchFileWriter("xlsx", max_rows=20_000, tmp_dir=str(tmp_path))
        finished = [
            done
            for i in range(20_000)
            if (done := writer.add(f"+1415{i:07d}", {"name": f"N {i}", "id": str(i)}))
        ]
        assert writer.finish() is None  # the 20,000th row completed the only file
        [batch] = finished
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert batch.rows == 20_000
    assert elapsed < 15
    # ~0.4 MB measured; without constant_memory xlsxwriter peaks near 14 MB for this run.
    assert peak < 8 * 1024 * 1024
    assert list(tmp_path.iterdir()) == []
