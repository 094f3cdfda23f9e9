"""Recipient data is read row by row each time it is needed: long files, row lookup, and a file that changes."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from desktop.merge.data import read_data
from desktop.merge.errors import MergeError
from tests.merge.merge_samples import write_csv

COLUMNS = ["email", "name", "note"]


def long_rows(count: int) -> list[list[str]]:
    # Every seventh note spans two lines, so records and lines drift apart as the file goes on.
    return [[f"person{number}@example.org", f"Person {number}", "two\nlines" if number % 7 == 0 else "x"]
            for number in range(1, count + 1)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_row_lookup_matches_iteration_in_long_files(tmp_path, encoding):
    rows = long_rows(3500)
    rows[2499] = ["", "", ""]  # a blank record keeps its number, but is no row
    path = write_csv(tmp_path / "people.csv", COLUMNS, rows, encoding=encoding, delimiter=";")
    table = read_data(path)
    by_number = {row.number: row for row in table.rows}
    assert len(table.rows) == 3499
    assert 2500 not in by_number
    for number in (1, 999, 1000, 1001, 1002, 2000, 2001, 2499, 2501, 3001, 3500):
        found = table.row(number)
        assert found == by_number[number]
        assert (found.number, found.line) == (by_number[number].number, by_number[number].line)
    assert table.row(2500) is None
    assert table.row(3501) is None
    assert table.row(0) is None
    assert table.last_number == 3500


def test_line_numbers_count_lines_of_multiline_records(tmp_path):
    path = write_csv(tmp_path / "people.csv", COLUMNS, long_rows(1500))
    table = read_data(path)
    # Rows 7, 14, ... take two lines each, so row 1400 starts 199 lines after line 1401.
    assert table.row(1400).line == 1401 + 199
    assert table.row(1400).line == {row.number: row.line for row in table.rows}[1400]


def test_xlsx_row_lookup_across_marks(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([])
    sheet.append(COLUMNS)
    for row in long_rows(2100):
        sheet.append(row)
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    table = read_data(path)
    assert len(table.rows) == 2100
    assert table.row(2050) == {"email": "person2050@example.org", "name": "Person 2050", "note": "x"}
    assert table.row(2050).line == 2052
    assert [row.number for row in table.rows][-3:] == [2098, 2099, 2100]


def test_changed_file_stops_the_rows(tmp_path):
    path = write_csv(tmp_path / "people.csv", COLUMNS, long_rows(10))
    table = read_data(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write("late@example.org,Late,x\n")
    with pytest.raises(MergeError) as caught:
        list(table.rows)
    assert str(path) in str(caught.value)
    assert "changed after the merge was opened" in str(caught.value)


def test_removed_file_names_the_fix(tmp_path):
    path = write_csv(tmp_path / "people.csv", COLUMNS, long_rows(10))
    table = read_data(path)
    os.remove(path)
    with pytest.raises(MergeError) as caught:
        table.row(3)
    assert "cannot be read any more" in str(caught.value)


def test_invalid_utf16_names_the_byte(tmp_path):
    path = tmp_path / "people.csv"
    good = "email,name\n".encode("utf-16")
    path.write_bytes(good + b"\x00\xd8a\x00")  # a lone high surrogate, then 'a'
    with pytest.raises(MergeError) as caught:
        read_data(path)
    assert f"invalid UTF-16 at byte {len(good)}" in str(caught.value)


def peak_while_reading(path) -> int:
    tracemalloc.start()
    try:
        table = read_data(path)
        for _ in table.rows:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_rows(tmp_path):
    small = write_csv(tmp_path / "small.csv", COLUMNS, long_rows(2000))
    large = write_csv(tmp_path / "large.csv", COLUMNS, long_rows(40000))
    small_peak, large_peak = peak_while_reading(small), peak_while_reading(large)
    # Held rows would take more than 150 bytes each: 5.7 MB more for the large file.
    assert large_peak - small_peak < 1_000_000, (small_peak, large_peak)


def test_row_numbers_without_reading_rows(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email\n\na@example.org\n\n\nb@example.org\nc@example.org\n\n", encoding="utf-8")
    table = read_data(path)
    numbers = table.rows.numbers
    assert list(numbers) == [row.number for row in table.rows] == [2, 5, 6]
    assert len(numbers) == 3
    assert numbers[-1] == 6
    assert 5 in numbers
    assert 4 not in numbers
    assert 7 not in numbers
    assert numbers.step(2, 1) == 5
    assert numbers.step(3, 1) == 5
    assert numbers.step(5, -1) == 2
    assert numbers.step(2, -1) is None
    assert numbers.step(6, 1) is None
    assert numbers.step(0, 1) == 2
    assert numbers.step(40, -1) == 6
