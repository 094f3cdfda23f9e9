"""Sample merge files for the merge tests: a template, a CSV file and attachment files in one folder."""

from __future__ import annotations

import csv
from pathlib import Path

from desktop.merge.render import Merge, open_merge
from desktop.paths import Profile, profile_at

TEMPLATE = """\
From: Ana Pérez <ana@example.com>
To: {{ name }} <{{ email }}>
Subject: Your invoice {{ id }}, {{ name | first_name }}
Merge-Attach: invoices/{{ id }}.pdf

Hello **{{ name | first_name }}**,

your total is {{ total | number(2) }}, due {{ due | date }}.
{% if vip == "yes" %}
Thank you for being with us for years.
{% endif %}

{{ unsubscribe }}
"""

COLUMNS = ["name", "email", "id", "total", "due", "vip"]
ROWS = [
    ["López, María", "maria@example.org", "17", "1234.5", "2026-12-24", "yes"],
    ["Bob Stone", "bob@example.net", "18", "3.5", "2027-01-02", "no"],
]


def write_csv(path: Path, columns: list[str], rows: list[list[str]], *, encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    """Write a CSV file the way spreadsheet programs do (CRLF line ends, quotes where needed)."""
    with path.open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream, delimiter=delimiter)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_merge(folder: Path, template: str = TEMPLATE, columns: list[str] | None = None,
                rows: list[list[str]] | None = None, *, template_name: str = "invite.md",
                invoices: tuple[str, ...] = ("17", "18")) -> tuple[Path, Path]:
    """Write a template, a CSV file and invoice files into ``folder``; return the template and data paths."""
    folder.mkdir(parents=True, exist_ok=True)
    template_path = folder / template_name
    template_path.write_text(template, encoding="utf-8")
    data_path = write_csv(folder / "people.csv", columns or COLUMNS, ROWS if rows is None else rows)
    (folder / "invoices").mkdir(exist_ok=True)
    for number in invoices:
        (folder / "invoices" / f"{number}.pdf").write_bytes(b"%PDF-1.4 invoice " + number.encode())
    return template_path, data_path


def profile_in(folder: Path) -> Profile:
    return profile_at(folder / "profile").ensure()


def merge_in(folder: Path, template: str = TEMPLATE, columns: list[str] | None = None,
             rows: list[list[str]] | None = None, **options) -> Merge:
    """Write the sample files into ``folder`` and open them as a merge with a fresh profile."""
    template_path, data_path = write_merge(folder, template, columns, rows, **options)
    return open_merge(template_path, data_path, profile=profile_in(folder))
