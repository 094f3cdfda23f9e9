"""A stray quote in a CSV file joins the following lines into one record, and ``check`` and ``send`` report it."""

from __future__ import annotations

import pytest

from desktop.merge import journal as jn
from desktop.merge.data import read_data
from desktop.paths import default_profile
from tests.merge.send_helpers import add_smtp_account, address, received_counts, run, send

TEMPLATE = """\
From: Ana <ana@example.com>
To: {{ name }} <{{ email }}>
Subject: Hello {{ name }}

Hello {{ name }} in {{ city }}.
"""
HEADER = "name;email;city;note"


def excel_lines(count: int) -> list[str]:
    """Return the lines of a semicolon CSV as Excel writes it; every tenth city is quoted for its semicolon."""
    lines = [HEADER]
    for number in range(1, count + 1):
        city = '"Hamburg; Altona"' if number % 10 == 5 else "Köln"
        lines.append(f"Zoë Müller {number};{address(number)};{city};x")
    return lines


def write_files(folder, lines: list[str]) -> tuple:
    """Write the template and the lines as a Windows-1252 CSV with CRLF line ends; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "letter.md"
    template.write_text(TEMPLATE, encoding="utf-8")
    data = folder / "data.csv"
    data.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return template, data


def check(capsys, template, data) -> tuple[int, str]:
    code, out, err = run(capsys, "merge", "check", str(template), str(data))
    return code, out + err


def test_stray_quote_names_lines(tmp_path, capsys):
    lines = excel_lines(3000)
    lines[61] = '"' + lines[61]  # line 62 of the file, the record of user61
    template, data = write_files(tmp_path / "m", lines)

    code, output = check(capsys, template, data)

    assert code == 1
    # The quote closes at the opening quote of "Hamburg; Altona" on line 66.
    assert ("error: row 61: the quote that starts a field on line 62 closes only on line 66, so lines 62 to 66 "
            'were read as one record; if the quote does not belong there, remove it, or double it ("") to keep it '
            "as a character.") in output
    assert "line break (CR)" not in output
    assert "2996 rows" in output
    assert "1 row with errors." in output


def test_rows_after_joined_record_name_line(tmp_path, capsys):
    lines = excel_lines(300)
    lines[61] = '"' + lines[61]
    lines[201] = lines[201].replace("@example.org", "@@example.org")  # line 202, user201
    template, data = write_files(tmp_path / "m", lines)

    code, output = check(capsys, template, data)

    assert code == 1
    assert "error: row 197 (line 202), column 'email': 'user201@@example.org' in To is not a valid address" in output
    table = read_data(data)
    assert table.joined_rows == [61]
    assert table.row(197).line == 202
    assert table.row(197)["email"] == "user201@@example.org"


def test_rows_before_joined_record_keep_plain_numbers(tmp_path, capsys):
    lines = excel_lines(100)
    lines[11] = lines[11].replace("@example.org", "@@example.org")
    lines[61] = '"' + lines[61]
    template, data = write_files(tmp_path / "m", lines)

    code, output = check(capsys, template, data)

    assert code == 1
    assert "error: row 11, column 'email': 'user11@@example.org'" in output


def test_quote_never_closed(tmp_path, capsys):
    lines = [HEADER] + [f"P {number};{address(number)};Köln;x" for number in range(1, 101)]
    lines[50] = '"' + lines[50]
    template, data = write_files(tmp_path / "m", lines)

    code, output = check(capsys, template, data)

    assert code == 1
    assert ("error: row 50: the quote that starts a field on line 51 is never closed, so lines 51 to 101 (the end "
            "of the file) were read as one record;") in output
    assert "50 rows" in output


def test_quote_in_later_field_found(tmp_path, capsys):
    lines = excel_lines(40)
    # The quote opens the third field of line 21 and closes at the quoted city of line 26 (user25).
    lines[20] = lines[20].replace(";Köln;", ';"Köln;')
    template, data = write_files(tmp_path / "m", lines)

    code, output = check(capsys, template, data)

    assert code == 1
    assert "error: row 20: the quote that starts a field on line 21 closes only on line 26, so lines 21 to 26" in output


@pytest.mark.parametrize("address_lines", [
    "Main St 1\r\n12345 Köln",
    "c/o Ana; Floor 2\r\nMain St 1\r\n12345 Köln",
    "Main St 1\r\n\r\n",
])
def test_multiline_addresses_still_pass(tmp_path, capsys, address_lines):
    lines = ["name;email;address"]
    quoted = '"' + address_lines + '"'
    lines += [f"P {number};{address(number)};{quoted}" for number in range(1, 31)]
    template, data = write_files(tmp_path / "m", lines)
    template.write_text(TEMPLATE.replace("{{ city }}", "{{ address }}"), encoding="utf-8")

    code, output = check(capsys, template, data)

    assert code == 0, output
    assert "30 messages will go out" in output
    assert read_data(data).joined_rows == []


def test_skip_errors_reports_joined_lines(tmp_path, server, capsys):
    add_smtp_account(server)
    lines = excel_lines(20)
    lines[11] = '"' + lines[11]  # user11 swallows user12 to user15, up to the quoted city of user15
    template, data = write_files(tmp_path / "m", lines)

    code, _, err = send(capsys, template, data, "--skip-errors")

    assert code == 1, err
    received = received_counts(server)
    assert len(received) == 15
    assert address(11) not in received
    assert address(12) not in received
    with jn.Journal(jn.journal_path(default_profile().data_dir)) as journal:
        merge = journal.merges()[0]
        rows = {row.row: row for row in journal.recipients(merge.id)}
    assert rows[11].state == jn.SKIPPED
    assert "closes only on line 16, so lines 12 to 16 were read as one record" in rows[11].reply
