"""``Merge.check`` on a data file with every kind of problem."""

from __future__ import annotations

import pytest

from desktop.merge.render import open_merge
from desktop.merge.suppress import SuppressionList
from tests.merge.merge_samples import COLUMNS, profile_in, write_merge

PROBLEM_ROWS = [
    ["Good Person", "good@example.org", "17", "10", "2026-12-24", "no"],
    ["No Address", "", "17", "10", "2026-12-24", "no"],
    ["Bad Address", "bad.example.org", "17", "10", "2026-12-24", "no"],
    ["Second Good", "GOOD@example.org", "17", "10", "2026-12-24", "no"],
    ["No Invoice", "noinvoice@example.org", "99", "10", "2026-12-24", "no"],
    ["Bad Date", "baddate@example.org", "17", "10", "someday", "no"],
    ["Gone Away", "gone@example.org", "17", "10", "2026-12-24", "no"],
    ["Line\nBreak", "break@example.org", "17", "10", "2026-12-24", "no"],
    ["Too", "many@example.org", "17", "10", "2026-12-24", "no", "fields"],
    ["Also Good", "also@example.org", "18", "10", "2026-12-24", "yes"],
]


@pytest.fixture
def problem_merge(tmp_path):
    template_path, data_path = write_merge(tmp_path, rows=PROBLEM_ROWS)
    profile = profile_in(tmp_path)
    SuppressionList(profile).add("gone@example.org", "unsubscribed")
    return open_merge(template_path, data_path, profile=profile)


def test_check_finds_every_problem(problem_merge):
    report = problem_merge.check()
    kinds = {problem.row: problem.kind for problem in report.problems}
    assert kinds == {2: "address", 3: "address", 4: "duplicate", 5: "attachment", 6: "template", 7: "suppressed",
                     8: "header", 9: "data"}
    assert list(report.sendable) == [1, 10]
    assert report.recipients == 2
    assert report.total_rows == 10
    assert not report.ok


def test_check_messages_name_row_column_and_fix(problem_merge):
    problems = {problem.row: problem for problem in problem_merge.check().problems}
    assert problems[2].column == "email"
    assert "address is empty" in problems[2].message
    assert "'bad.example.org' in To is not a valid address" in problems[3].message
    assert "GOOD@example.org is also in row 1" in problems[4].message
    assert "invoices/99.pdf" in problems[5].message
    assert "'someday' is not a date" in problems[6].message
    assert "template line 8" in problems[6].message
    assert problems[7].describe() == ("row 7, column 'email': gone@example.org is on the suppression list "
                                      "(unsubscribed or bounced); the row is skipped.")
    assert problems[8].column == "name"
    assert "7 fields but the header names 6 columns" in problems[9].message


def test_check_report_lines(problem_merge):
    lines = problem_merge.check().lines()
    assert sum(line.startswith("error: row ") for line in lines) == 7
    assert sum(line.startswith("skipped: row 7") for line in lines) == 1
    assert ("invite: 10 rows (CSV, UTF-8, comma-separated); 2 messages will go out to 2 recipients; "
            "1 suppressed; 7 rows with errors.") in lines


def test_clean_merge_is_ok(tmp_path):
    template_path, data_path = write_merge(tmp_path)
    report = open_merge(template_path, data_path, profile=profile_in(tmp_path)).check()
    assert report.ok
    assert report.problems == []
    assert list(report.sendable) == [1, 2]


def test_suppressed_only_is_ok(tmp_path):
    template_path, data_path = write_merge(tmp_path)
    profile = profile_in(tmp_path)
    SuppressionList(profile).add("bob@example.net", "bounced: 550 no such user")
    report = open_merge(template_path, data_path, profile=profile).check()
    assert report.ok
    assert list(report.sendable) == [1]
    assert [problem.kind for problem in report.skipped] == ["suppressed"]


def test_columns_fixture_matches_rows():
    assert all(len(row) >= len(COLUMNS) for row in PROBLEM_ROWS)
