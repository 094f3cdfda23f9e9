"""Problems a first-time user meets with merge data files, and the messages ``check`` and ``preview`` give."""

from __future__ import annotations

import zipfile

import pytest

from desktop.cli import main
from desktop.merge.data import read_data
from desktop.merge.errors import MergeError
from desktop.merge.render import open_merge
from tests.merge.merge_samples import ROWS, TEMPLATE, profile_in, write_merge

PLAIN_TEMPLATE = """\
From: Ana <ana@example.com>
To: {{ email }}
Subject: Hello {{ name }}

Hello {{ name }}.
"""


def run_cli(tmp_path, capsys, *args: str) -> tuple[int, str, str]:
    status = main(["--home", str(tmp_path / "home"), "merge", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("programme.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n" * 30, "a PDF document"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "a PNG image"),
    ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"x,y\n" * 40, "a JPEG image"),
    ("guests.csv", b"email,name\na@example.org,Ana\x00\x01\x02\n" * 10, "contains NUL bytes"),
])
def test_binary_file_is_named_not_csv(tmp_path, capsys, name, content, kind):
    template = tmp_path / "invitation.md"
    template.write_text(PLAIN_TEMPLATE, encoding="utf-8")
    data = tmp_path / name
    data.write_bytes(content)
    status, out, err = run_cli(tmp_path, capsys, "check", str(template), str(data))
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert f"{data}: " in err
    assert kind in err
    assert "not a CSV or XLSX file" in err


def test_zip_that_is_not_a_workbook(tmp_path):
    data = tmp_path / "guests.zip"
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("guests.csv", "email\na@example.org\n")
    with pytest.raises(MergeError) as caught:
        read_data(data)
    assert str(caught.value) == (f"{data}: is a zip archive, not a CSV or XLSX file; "
                                 "give the recipient list as .csv or .xlsx.")


def test_utf16_csv_with_nul_bytes_still_reads(tmp_path):
    data = tmp_path / "guests.csv"
    data.write_bytes("email,name\r\na@example.org,Ana\r\n".encode("utf-16-le"))
    table = read_data(data)
    assert [dict(row) for row in table.rows] == [{"email": "a@example.org", "name": "Ana"}]


def test_unquoted_comma_reported_before_address(tmp_path):
    template = tmp_path / "invitation.md"
    template.write_text("From: Ana <ana@example.com>\nTo: {{ name }} <{{ email }}>\nSubject: Hi\n\nHi.\n",
                        encoding="utf-8")
    data = tmp_path / "guests.csv"
    data.write_text("name,email,city\nSmith, Anne,anne@example.net,\nBob,bob@example.net,Rome\n", encoding="utf-8")
    report = open_merge(template, data, profile=profile_in(tmp_path)).check()
    [problem] = report.problems
    assert problem.row == 1
    assert problem.kind == "data"
    assert problem.describe() == ("row 1: has 4 fields but the header names 3 columns: "
                                  "put quotes around a value that contains a comma.")
    assert list(report.sendable) == [2]


def test_semicolon_file_names_its_delimiter(tmp_path):
    data = tmp_path / "guests.csv"
    data.write_text("name;email\nAna;a@example.org\nSmith; Anne;anne@example.net\nBob;b@example.org\n",
                    encoding="utf-8")
    table = read_data(data)
    assert list(table.problems) == [2]
    assert table.problems[2].message.endswith("a value that contains a semicolon.")


def test_header_ending_in_delimiter_is_no_problem(tmp_path):
    data = tmp_path / "guests.csv"
    data.write_text("name,email,\nAna,a@example.org,\nBob,b@example.org,\n", encoding="utf-8")
    table = read_data(data)
    assert table.columns == ["name", "email"]
    assert table.problems == {}
    assert len(table.rows) == 2


def test_identical_template_errors_grouped(tmp_path, capsys):
    rows = [[f"Person {index}", f"p{index}@example.org", "17", "1", "2026-01-01", "no"] for index in range(1, 31)]
    rows[3][1] = "broken@"
    template, data = write_merge(tmp_path, TEMPLATE.replace("{{ unsubscribe }}", "{{ nmae }}"), rows=rows)
    status, out, _ = run_cli(tmp_path, capsys, "check", str(template), str(data))
    lines = out.splitlines()
    assert status == 1
    nmae = [line for line in lines if "'nmae'" in line]
    assert len(nmae) == 1
    assert nmae[0].startswith("error: rows 1-3, 5-30, column 'nmae': template line ")
    assert "error: row 4, column 'email': 'broken@' in To is not a valid address; write it as name@example.com." in lines
    assert "30 rows with errors." in lines[-2]


def test_grouped_rows_shorten_after_five_runs(tmp_path, capsys):
    rows = [[f"Person {index}", f"p{index}@example.org", "17", "1", "2026-01-01", "no"] for index in range(1, 21)]
    for index in range(0, 20, 2):
        rows[index][2] = "99"
    template, data = write_merge(tmp_path, rows=rows)
    status, out, _ = run_cli(tmp_path, capsys, "check", str(template), str(data))
    missing = [line for line in out.splitlines() if "attachment not found" in line]
    assert status == 1
    assert len(missing) == 1
    assert missing[0].startswith("error: rows 1, 3, 5, 7, 9 (and 5 more): attachment not found: invoices/99.pdf")


def test_folder_as_data_says_folder(tmp_path, capsys):
    template = tmp_path / "invitation.md"
    template.write_text(PLAIN_TEMPLATE, encoding="utf-8")
    folder = tmp_path / "tickets"
    folder.mkdir()
    status, _, err = run_cli(tmp_path, capsys, "check", str(template), str(folder))
    assert status == 1
    assert err == f"sluice: {folder}: is a folder; give the path of a .csv or .xlsx file.\n"


def test_line_break_from_template_subject(tmp_path):
    template = tmp_path / "invitation.md"
    template.write_text("From: Ana <ana@example.com>\nTo: {{ email }}\nSubject: Hello {{ name }}{{ '\\n' }}again\n\n"
                        "Hi.\n", encoding="utf-8")
    data = tmp_path / "guests.csv"
    data.write_text("name,email\nAna,a@example.org\n", encoding="utf-8")
    [problem] = open_merge(template, data, profile=profile_in(tmp_path)).check().problems
    assert problem.kind == "header"
    assert problem.column is None
    assert problem.message == ("template line 3: the template's Subject line makes a line break (LF), which a header "
                               "cannot hold; remove it from the Subject line of the template.")


def test_line_break_from_data_still_names_column(tmp_path):
    template, data = write_merge(tmp_path, rows=[["Line\nBreak", "lb@example.org", "17", "1", "2026-01-01", "no"]])
    [problem] = open_merge(template, data, profile=profile_in(tmp_path)).check().problems
    assert problem.column == "name"
    assert "remove it from the data" in problem.message


def test_preview_out_and_check_agree_on_duplicates(tmp_path, capsys):
    rows = ROWS + [["Bob again", "BOB@example.net", "18", "1", "2026-01-01", "no"],
                   ["Broken", "broken@", "17", "1", "2026-01-01", "no"]]
    template, data = write_merge(tmp_path, rows=rows)
    check_status, check_out, _ = run_cli(tmp_path, capsys, "check", str(template), str(data))
    out = tmp_path / "previews"
    status, preview_out, _ = run_cli(tmp_path, capsys, "preview", str(template), str(data), "--out", str(out))
    assert check_status == status == 1
    check_errors = sorted(line for line in check_out.splitlines() if line.startswith("error: "))
    preview_errors = sorted(line for line in preview_out.splitlines() if line.startswith("error: "))
    assert check_errors == preview_errors
    assert any(line.startswith("error: row 3, column 'email': BOB@example.net is also in row 2") for line in preview_errors)
    assert "Wrote 2 messages" in preview_out
    assert "2 rows with errors." in preview_out
    assert sorted(path.name for path in out.glob("*.eml")) == ["00001-maria@example.org.eml",
                                                               "00002-bob@example.net.eml"]


def test_preview_out_single_duplicate_row(tmp_path, capsys):
    rows = ROWS + [["Bob again", "bob@example.net", "18", "1", "2026-01-01", "no"]]
    template, data = write_merge(tmp_path, rows=rows)
    out = tmp_path / "previews"
    status, preview_out, _ = run_cli(tmp_path, capsys, "preview", str(template), str(data), "--out", str(out),
                                     "--row", "3")
    assert status == 1
    assert "error: row 3, column 'email': bob@example.net is also in row 2" in preview_out
    assert list(out.glob("*.eml")) == []
