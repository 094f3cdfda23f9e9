"""A value that a filter cannot read names its data column and the forms the filter reads."""

from __future__ import annotations

from tests.merge.send_helpers import run

DATA = "email,day,amount\na@example.org,12/05/2026,12.50\nb@example.org,2026-05-12,lots\n"


def write_files(folder, template_text: str) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "letter.md"
    template.write_text(template_text, encoding="utf-8")
    data = folder / "data.csv"
    data.write_text(DATA, encoding="utf-8")
    return template, data


def check_output(capsys, tmp_path, template_text: str) -> tuple[int, str]:
    template, data = write_files(tmp_path / "m", template_text)
    code, out, err = run(capsys, "merge", "check", str(template), str(data))
    return code, out + err


def test_date_error_names_column(tmp_path, capsys):
    code, output = check_output(capsys, tmp_path, "From: Ana <ana@example.com>\nTo: {{ email }}\nSubject: Hi\n\n"
                                                  "See you on {{ day | date }}.\n")

    assert code == 1
    assert ("error: row 1, column 'day': template line 5: '12/05/2026' is not a date the date filter reads. It "
            "reads YYYY-MM-DD (2026-12-05, a time may follow) and DD.MM.YYYY (05.12.2026). Dates with slashes are "
            "rejected because the order of day and month is ambiguous.") in output
    assert "row 2" not in output


def test_date_error_in_header_names_column(tmp_path, capsys):
    code, output = check_output(capsys, tmp_path, "From: Ana <ana@example.com>\nTo: {{ email }}\n"
                                                  "Subject: Your visit on {{ day | date('short') }}\n\nHello.\n")

    assert code == 1
    assert "error: row 1, column 'day': template line 3: '12/05/2026' is not a date" in output


def test_number_error_names_column(tmp_path, capsys):
    code, output = check_output(capsys, tmp_path, "From: Ana <ana@example.com>\nTo: {{ email }}\nSubject: Hi\n\n"
                                                  "You owe {{ amount | number(2) }}.\n")

    assert code == 1
    assert "error: row 2, column 'amount': template line 5: 'lots' is not a number" in output


def test_computed_value_names_no_column(tmp_path, capsys):
    code, output = check_output(capsys, tmp_path, "From: Ana <ana@example.com>\nTo: {{ email }}\nSubject: Hi\n\n"
                                                  "Day {{ ('x' ~ day) | date }}.\n")

    assert code == 1
    assert "error: row 1: template line 5: 'x12/05/2026' is not a date" in output
