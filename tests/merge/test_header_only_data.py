"""A data file with a header but no recipients stops ``check``, ``preview`` and ``send`` with exit status 1."""

from __future__ import annotations

import pytest

from tests.merge.send_helpers import TEMPLATE, add_smtp_account, received_counts, run, send

HEADER_ONLY = {
    "header": "name,email,code,attachment\n",
    "header and blank lines": "name,email,code,attachment\n\n,,,\n\n",
}


def write_files(folder, data_text: str) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "results.md"
    template.write_text(TEMPLATE, encoding="utf-8")
    data = folder / "people.csv"
    data.write_text(data_text, encoding="utf-8")
    return template, data


@pytest.mark.parametrize("data_text", HEADER_ONLY.values(), ids=HEADER_ONLY.keys())
@pytest.mark.parametrize("command", [["check"], ["preview"], ["preview", "--out", "eml"]])
def test_header_only_stops_command(tmp_path, capsys, command, data_text):
    template, data = write_files(tmp_path / "m", data_text)
    extra = [str(tmp_path / part) if part == "eml" else part for part in command[1:]]

    code, out, err = run(capsys, "merge", command[0], str(template), str(data), *extra)

    assert code == 1
    assert f"{data}: has a header line but no rows; add recipients below the header." in err
    assert "0 rows" not in out
    assert not (tmp_path / "eml").exists()


def test_header_only_stops_send(tmp_path, server, capsys):
    add_smtp_account(server)
    template, data = write_files(tmp_path / "m", HEADER_ONLY["header"])

    code, out, err = send(capsys, template, data)

    assert code == 1
    assert f"{data}: has a header line but no rows; add recipients below the header." in err
    assert "Merge " not in out
    assert received_counts(server) == {}


def test_header_only_xlsx_names_row(tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    template, _ = write_files(tmp_path / "m", "")
    workbook = openpyxl.Workbook()
    workbook.active.append(["name", "email", "code"])
    data = tmp_path / "m" / "people.xlsx"
    workbook.save(data)

    code, _, err = run(capsys, "merge", "check", str(template), str(data))

    assert code == 1
    assert f"{data}: has a header row but no rows; add recipients below the header." in err
