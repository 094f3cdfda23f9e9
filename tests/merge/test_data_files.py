"""Recipient data files: every CSV dialect and encoding that spreadsheets write, and XLSX, give the same rows."""

from __future__ import annotations

import codecs
import sys
from datetime import datetime

import pytest

from desktop.merge.data import decode_text, detect_address_column, read_data
from desktop.merge.errors import MergeError
from tests.merge.merge_samples import write_csv

COLUMNS = ["Name", "E-mail", "City", "Note"]
ROWS = [
    ["María José", "maria@example.org", "Sevilla", "likes \"quotes\", commas; and semicolons"],
    ["Jürgen Groß", "juergen@example.de", "Köln", "line one\nline two"],
    ["Zoë Ñúñez", "zoe@example.com", "Málaga", "tab\tinside"],
    ["Bob", "bob@example.net", "", "€ 12"],
]


def expected_rows(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(COLUMNS, row)) for row in rows]


def plain(table) -> list[dict[str, str]]:
    return [dict(row) for row in table.rows]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize(("encoding", "described"), [
    ("utf-8", "UTF-8"),
    ("utf-8-sig", "UTF-8 with byte order mark"),
    ("utf-16", "UTF-16 with byte order mark"),
    ("cp1252", "Windows-1252"),
])
def test_csv_dialects_and_encodings_same_rows(tmp_path, delimiter, encoding, described):
    path = write_csv(tmp_path / "people.csv", COLUMNS, ROWS, encoding=encoding, delimiter=delimiter)
    table = read_data(path)
    assert table.columns == COLUMNS
    assert plain(table) == expected_rows(ROWS)
    assert described in table.source
    assert {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter] in table.source


def test_latin1_file_reads(tmp_path):
    rows = [row for row in ROWS if "€" not in row[3]]
    path = write_csv(tmp_path / "people.csv", COLUMNS, rows, encoding="latin-1", delimiter=";")
    assert plain(read_data(path)) == expected_rows(rows)


def test_latin1_control_byte_falls_back(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("Name,email\nA\x81b,a@example.org\n".encode("latin-1"))
    table = read_data(path)
    assert table.rows.first()["Name"] == "A\x81b"
    assert "ISO-8859-1" in table.source


def test_utf16_without_bom(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("Name\tE-mail\r\nJürgen\tj@example.de\r\n".encode("utf-16-le"))
    table = read_data(path)
    assert plain(table) == [{"Name": "Jürgen", "E-mail": "j@example.de"}]
    assert "UTF-16-LE without byte order mark" in table.source


def test_xlsx_same_rows(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Recipients"
    sheet.append(COLUMNS)
    for row in ROWS:
        sheet.append([value or None for value in row])
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    table = read_data(path)
    assert table.columns == COLUMNS
    assert plain(table) == expected_rows(ROWS)
    assert "XLSX" in table.source


def test_xlsx_numbers_and_dates_as_text(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["email", "id", "total", "due", "paid", "met"])
    sheet.append(["a@example.org", 17, 1234.5, datetime(2026, 12, 24), True, datetime(2026, 1, 2, 9, 30)])
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    row = read_data(path).rows.first()
    assert row == {"email": "a@example.org", "id": "17", "total": "1234.5", "due": "2026-12-24", "paid": "TRUE",
                   "met": "2026-01-02 09:30:00"}


def test_xlsx_without_openpyxl_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "people.xlsx"
    path.write_bytes(b"PK\x03\x04 not read")
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(MergeError) as caught:
        read_data(path)
    assert "needs openpyxl" in str(caught.value)
    assert "sluice-mail[xlsx]" in str(caught.value)


def test_row_numbers_keep_blank_records(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text('email,note\na@example.org,"two\nlines"\n\nb@example.org,x\n', encoding="utf-8")
    table = read_data(path)
    assert [(row.number, row.line) for row in table.rows] == [(1, 2), (3, 5)]


def test_extra_fields_reported_for_row(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,email\nAna,a@example.org\nSmith, Bob,b@example.org\n", encoding="utf-8")
    table = read_data(path)
    assert list(table.problems) == [2]
    assert "3 fields but the header names 2 columns" in table.problems[2].message


def test_short_rows_padded(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,name,city\na@example.org,Ana\n", encoding="utf-8")
    assert plain(read_data(path)) == [{"email": "a@example.org", "name": "Ana", "city": ""}]


@pytest.mark.parametrize(("content", "expected"), [
    ("", "the file is empty"),
    ("email,email\na@example.org,b\n", "column name 'email' appears twice"),
    ("email,,name\na,b,c\n", "column 2 has no name"),
    ('email,name\na@example.org,"unterminated\n', None),
])
def test_bad_csv_files(tmp_path, content, expected):
    path = tmp_path / "people.csv"
    path.write_text(content, encoding="utf-8")
    if expected is None:
        # An unterminated quote runs to the end of the file, as spreadsheets read it too.
        assert read_data(path).rows.first()["name"] == "unterminated\n"
        return
    with pytest.raises(MergeError) as caught:
        read_data(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_and_xls_files(tmp_path):
    with pytest.raises(MergeError, match="data file not found"):
        read_data(tmp_path / "nothing.csv")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(MergeError, match="save the sheet as .xlsx or .csv"):
        read_data(tmp_path / "old.xls")


@pytest.mark.parametrize(("columns", "expected"), [
    (["Name", "E-Mail"], "E-Mail"),
    (["name", "email_address"], "email_address"),
    (["Mail", "Address"], "Mail"),
    (["Name", "Work email"], "Work email"),
    (["Name", "Phone"], None),
])
def test_address_column_detection(columns, expected):
    assert detect_address_column(columns) == expected


def test_decode_reports_bom(tmp_path):
    text, name = decode_text(codecs.BOM_UTF8 + "a,b\n".encode(), tmp_path / "x.csv")
    assert text == "a,b\n"
    assert name == "UTF-8 with byte order mark"
