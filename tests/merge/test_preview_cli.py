"""``sluice merge check`` and ``sluice merge preview`` from the command line."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from datetime import datetime
from email.message import EmailMessage

import pytest

from desktop.cli import main
from desktop.merge.suppress import SuppressionList
from desktop.paths import profile_at
from tests.merge.merge_samples import ROWS, TEMPLATE, write_merge


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)


def test_check_clean_merge(tmp_path, capsys):
    template, data = write_merge(tmp_path)
    status = main(["--home", str(tmp_path / "home"), "merge", "check", str(template), str(data)])
    output = capsys.readouterr().out
    assert status == 0
    assert "2 messages will go out to 2 recipients; 0 suppressed; 0 rows with errors." in output


def test_check_problems_exit_one(tmp_path, capsys):
    rows = ROWS + [["Nobody", "", "17", "1", "2026-01-01", "no"], ["Bob again", "bob@example.net", "18", "1", "2026-01-01", "no"]]
    template, data = write_merge(tmp_path, rows=rows)
    home = tmp_path / "home"
    SuppressionList(profile_at(home).ensure()).add("maria@example.org", "unsubscribed")
    status = main(["--home", str(home), "merge", "check", str(template), str(data)])
    output = capsys.readouterr().out.splitlines()
    assert status == 1
    assert "error: row 3, column 'email': the address is empty; fill in the address or remove the row." in output
    assert any(line.startswith("error: row 4, column 'email': bob@example.net is also in row 2") for line in output)
    assert any(line.startswith("skipped: row 1, column 'email': maria@example.org is on the suppression list")
               for line in output)
    assert "invite: 4 rows (CSV, UTF-8, comma-separated); 1 message will go out to 1 recipient; 1 suppressed; " \
           "2 rows with errors." in output


def test_preview_row_prints_message(tmp_path, capsys):
    template, data = write_merge(tmp_path)
    status = main(["--home", str(tmp_path / "home"), "merge", "preview", str(template), str(data), "--row", "2"])
    captured = capsys.readouterr()
    assert status == 0
    message = parse(captured.out.encode("ascii"))
    assert message["To"] == "Bob Stone <bob@example.net>"
    assert message["Subject"] == "Your invoice 18, Bob"
    assert "Thank you" not in message.get_body(("plain",)).get_content()
    assert [part.get_filename() for part in message.iter_attachments()] == ["18.pdf"]
    assert "Row 2 to bob@example.net" in captured.err


def test_preview_bad_row(tmp_path, capsys):
    template, data = write_merge(tmp_path)
    status = main(["--home", str(tmp_path / "home"), "merge", "preview", str(template), str(data), "--row", "7"])
    assert status == 1
    assert "sluice: row 7: there is no row 7; the data has rows 1 to 2." in capsys.readouterr().err


def test_preview_out_writes_eml_files(tmp_path, capsys):
    rows = ROWS + [["Broken", "broken@", "17", "1", "2026-01-01", "no"]]
    template, data = write_merge(tmp_path, rows=rows)
    out = tmp_path / "previews"
    status = main(["--home", str(tmp_path / "home"), "merge", "preview", str(template), str(data), "--out", str(out)])
    output = capsys.readouterr().out
    assert status == 1
    assert "error: row 3, column 'email': 'broken@' in To is not a valid address" in output
    assert "Wrote 2 messages" in output
    files = sorted(out.glob("*.eml"))
    assert [path.name for path in files] == ["00001-maria@example.org.eml", "00002-bob@example.net.eml"]
    for path, invoice in zip(files, ("17", "18")):
        message = parse(path.read_bytes())
        assert message.get_body(("plain",)) is not None
        assert message.get_body(("html",)) is not None
        [attachment] = message.iter_attachments()
        assert attachment.get_content() == b"%PDF-1.4 invoice " + invoice.encode()


def test_template_error_names_file(tmp_path, capsys):
    template, data = write_merge(tmp_path, TEMPLATE.replace("{{ unsubscribe }}", "{{ name | nosuchfilter }}"))
    status = main(["--home", str(tmp_path / "home"), "merge", "check", str(template), str(data)])
    error = capsys.readouterr().err
    assert status == 1
    assert f"sluice: {template}:13: template syntax error: No filter named 'nosuchfilter'." in error


def test_command_end_to_end(tmp_path):
    template, data = write_merge(tmp_path)
    home = tmp_path / "home"
    check = subprocess.run([sys.executable, "-m", "desktop", "--home", str(home), "merge", "check", str(template),
                            str(data)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "2 messages will go out" in check.stdout
    preview = subprocess.run([sys.executable, "-m", "desktop", "--home", str(home), "merge", "preview", str(template),
                              str(data), "--row", "1"], capture_output=True, timeout=60)
    assert preview.returncode == 0, preview.stderr
    assert parse(preview.stdout)["Subject"] == "Your invoice 17, María"


def test_suppress_add_list_remove(tmp_path, capsys):
    home = str(tmp_path / "home")
    listing = tmp_path / "unsubscribed.txt"
    listing.write_text("# from the web form\nCarl@Example.org\n\n", encoding="utf-8")
    status = main(["--home", home, "merge", "suppress", "add", "ana@example.com", "--file", str(listing),
                   "--reason", "asked by phone"])
    assert status == 0
    assert "Added 2 addresses" in capsys.readouterr().out
    assert main(["--home", home, "merge", "suppress", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["ana@example.com", "carl@example.org"]
    assert all(line.endswith("\tasked by phone") for line in listed)
    assert main(["--home", home, "merge", "suppress", "remove", "ANA@example.com"]) == 0
    assert "Removed 1 address from the suppression list; 0 not on it." in capsys.readouterr().out
    assert SuppressionList(profile_at(tmp_path / "home")).addresses() == {"carl@example.org"}


def test_suppress_rejects_non_address(tmp_path, capsys):
    home = str(tmp_path / "home")
    assert main(["--home", home, "merge", "suppress", "add", "ana@example.com", "not-an-address"]) == 1
    assert "'not-an-address' is not an address" in capsys.readouterr().err
    assert SuppressionList(profile_at(tmp_path / "home")).entries() == []


def test_check_and_preview_xlsx_data(tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    template, _ = write_merge(tmp_path)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["name", "email", "id", "total", "due", "vip"])
    sheet.append(["Ana Pérez", "ana@example.org", 17, 1234.5, datetime(2026, 12, 24), "yes"])
    data = tmp_path / "people.xlsx"
    workbook.save(data)
    home = str(tmp_path / "home")
    assert main(["--home", home, "merge", "check", str(template), str(data)]) == 0
    assert "invite: 1 row (XLSX, first sheet 'Sheet'); 1 message will go out" in capsys.readouterr().out
    assert main(["--home", home, "merge", "preview", str(template), str(data)]) == 0
    message = parse(capsys.readouterr().out.encode("ascii"))
    assert message["Subject"] == "Your invoice 17, Ana"
    assert "your total is 1,234.50, due 24 December 2026." in message.get_body(("plain",)).get_content()
