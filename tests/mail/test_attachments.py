"""Attachment names from real-world encodings, safe save names and saving without surprise overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.mail.attachments import MAX_NAME_BYTES, safe_file_name, save_all, save_attachment, unique_path
from desktop.mail.parse import parse_message


def _message_with_part(disposition: str, content_type: str = "application/octet-stream") -> bytes:
    return (
        "From: Ana <ana@example.org>\r\nTo: b@example.org\r\nSubject: Files\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f"--b1\r\nContent-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b1--\r\n"
    ).encode("latin-1")


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20aus%20M%C3%BCnchen.pdf", "Grüße aus München.pdf"),
        ("attachment; filename*=iso-8859-1'de'Bericht%20f%FCr%20M%E4rz.txt", "Bericht für März.txt"),
        ('attachment; filename="=?UTF-8?B?0L7RgtGH0LXRgi5kb2N4?="', "отчет.docx"),
        ('attachment; filename="=?ISO-8859-1?Q?r=E9sum=E9=2Epdf?="', "résumé.pdf"),
        ("attachment;\r\n filename*0*=UTF-8''long%20name%20;\r\n filename*1*=part%20two.txt", "long name part two.txt"),
    ],
)
def test_attachment_names_are_decoded(disposition: str, expected: str) -> None:
    parsed = parse_message(_message_with_part(disposition), keep_payloads=True)

    (attachment,) = parsed.attachments
    assert attachment.filename == expected
    assert attachment.payload == b"hello"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../.bashrc", "bashrc"),
        ("..\\..\\Windows\\system32\\evil.dll", "evil.dll"),
        ("/etc/passwd", "passwd"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("tab\there\x00.txt", "tab here.txt"),
        ("report?.pdf", "report_.pdf"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("name. . ", "name"),
        ("..", "attachment"),
        ("", "attachment"),
        ("  spaced   out.txt ", "spaced out.txt"),
        ("Cafe\u0301.txt", "Café.txt"),
    ],
)
def test_safe_file_name(name: str, expected: str) -> None:
    assert safe_file_name(name) == expected


def test_safe_file_name_keeps_extension_when_shortened() -> None:
    name = "ü" * 300 + ".pdf"

    safe = safe_file_name(name)

    assert safe.endswith(".pdf")
    assert len(safe.encode("utf-8")) <= MAX_NAME_BYTES


def test_unique_path_numbers_copies(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"1")
    (tmp_path / "a (2).pdf").write_bytes(b"2")

    assert unique_path(tmp_path, "a.pdf") == tmp_path / "a (3).pdf"
    assert unique_path(tmp_path, "b.pdf") == tmp_path / "b.pdf"
    (tmp_path / "README").write_bytes(b"3")
    assert unique_path(tmp_path, "README") == tmp_path / "README (2)"


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "a.pdf"
    target.write_bytes(b"old")

    with pytest.raises(FileExistsError) as raised:
        save_attachment(b"new", target)

    assert str(target) in str(raised.value)
    assert target.read_bytes() == b"old"


def test_save_overwrites_when_confirmed(tmp_path: Path) -> None:
    target = tmp_path / "a.pdf"
    target.write_bytes(b"old")

    save_attachment(b"new", target, overwrite=True)

    assert target.read_bytes() == b"new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.pdf"]


def test_save_all_keeps_existing_files(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"old")

    paths = save_all([("a.pdf", b"one"), ("../a.pdf", b"two"), ("", b"three")], tmp_path)

    assert [path.name for path in paths] == ["a (2).pdf", "a (3).pdf", "attachment"]
    assert (tmp_path / "a.pdf").read_bytes() == b"old"
    assert [path.read_bytes() for path in paths] == [b"one", b"two", b"three"]
