"""``Merge.check``: every problem of a merge, found before anything is sent."""

from __future__ import annotations

import logging
import sqlite3
from array import array
from dataclasses import dataclass, field

from desktop.merge.errors import RowError, SuppressedError

log = logging.getLogger(__name__)

# Kinds of problem that stop a send; the others are reported and the rows skipped or sent as they are.
ERROR_KINDS = ("address", "duplicate", "attachment", "header", "template", "data")


@dataclass(frozen=True)
class Problem:
    """One problem of one row.

    Attributes:
        row: The 1-based data row.
        column: The data column or header involved, or None.
        kind: ``address``, ``duplicate``, ``attachment``, ``header``, ``template``, ``data`` or ``suppressed``.
        message: What is wrong and how to fix it.
        line: The file line where the row starts, set where row numbers and lines no longer match because a quoted
            field joined lines into one record (see ``DataTable.joined_rows``); None otherwise.
    """

    row: int
    column: str | None
    kind: str
    message: str
    line: int | None = None

    @property
    def is_error(self) -> bool:
        """Whether the problem stops the merge (a suppressed row is only skipped)."""
        return self.kind in ERROR_KINDS

    def describe(self) -> str:
        """Return the problem as one line: ``row 3, column 'email': message``."""
        where = describe_rows([self.row], lines={self.row: self.line} if self.line else None)
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


@dataclass
class CheckReport:
    """The outcome of checking every row of a merge.

    Attributes:
        merge_name: The merge's name.
        source: How the data file was read (format, encoding, delimiter).
        total_rows: Non-blank data rows.
        sendable: Row numbers that render without problems and are not suppressed (4 bytes each).
        problems: Every problem, in row order.
        recipients: Envelope recipients of the sendable rows, counted with repeats.
    """

    merge_name: str
    source: str
    total_rows: int
    sendable: array = field(default_factory=lambda: array("I"))
    problems: list[Problem] = field(default_factory=list)
    recipients: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.is_error]

    @property
    def skipped(self) -> list[Problem]:
        """The suppressed rows."""
        return [problem for problem in self.problems if not problem.is_error]

    @property
    def ok(self) -> bool:
        """Whether nothing stops the merge."""
        return not self.errors

    def lines(self) -> list[str]:
        """Return the report as text lines: the problems (identical ones once, with their rows), then the totals."""
        lines = [f"error: {line}" for line in grouped_lines(self.errors)]
        lines += [f"skipped: {line}" for line in grouped_lines(self.skipped)]
        error_rows = len({problem.row for problem in self.errors})
        lines.append(
            f"{self.merge_name}: {_count(self.total_rows, 'row')} ({self.source}); "
            f"{_count(len(self.sendable), 'message')} will go out to {_count(self.recipients, 'recipient')}; "
            f"{len(self.skipped)} suppressed; {_count(error_rows, 'row')} with errors."
        )
        if self.errors:
            lines.append("Fix the errors above (or remove those rows), then check again.")
        return lines


def grouped_lines(problems) -> list[str]:
    """Return one line per distinct message: ``rows 1-3, 5 (and 12 more), column 'x': message``.

    ``problems`` are Problem or RowError objects; the lines keep the order of each message's first row.
    """
    groups: dict[tuple[str | None, str], list[int]] = {}
    file_lines: dict[int, int] = {}
    for problem in problems:
        rows = groups.setdefault((problem.column, problem.message), [])
        if not rows or rows[-1] != problem.row:
            rows.append(problem.row)
        if getattr(problem, "line", None):
            file_lines[problem.row] = problem.line
    lines = []
    for (column, message), rows in groups.items():
        where = describe_rows(rows, lines=file_lines or None)
        if column:
            where += f", column {column!r}"
        lines.append(f"{where}: {message}")
    return lines


def describe_rows(rows: list[int], shown: int = 5, lines: dict[int, int] | None = None) -> str:
    """Return ``row 4`` or ``rows 1-3, 5, 9 (and N more)``: at most ``shown`` runs, then how many rows are left.

    ``lines`` maps row numbers to the file lines they start on; a run of such rows reads ``62-64 (lines 65-67)``.
    """
    lines = lines or {}
    if len(rows) == 1:
        return f"row {_with_lines(rows[0], rows[0], lines)}"
    runs: list[list[int]] = []
    for number in sorted(set(rows)):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    parts = [_with_lines(first, last, lines) for first, last in runs[:shown]]
    text = "rows " + ", ".join(parts)
    left = sum(last - first + 1 for first, last in runs[shown:])
    if left:
        text += f" (and {left} more)"
    return text


def _with_lines(first: int, last: int, lines: dict[int, int]) -> str:
    """Return ``first-last`` (or ``first`` alone) followed by the file lines of those rows where ``lines`` has them."""
    text = str(first) if first == last else f"{first}-{last}"
    if first not in lines and last not in lines:
        return text
    if first == last:
        return f"{text} (line {lines[first]})"
    if first in lines and last in lines:
        return f"{text} (lines {lines[first]}-{lines[last]})"
    return f"{text} (from line {lines[first]})" if first in lines else f"{text} (to line {lines[last]})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def check_merge(merge) -> CheckReport:
    """Render every row of ``merge`` (without building the MIME message) and collect the problems."""
    report = CheckReport(merge.name, merge.table.source, len(merge.rows))
    for number, prepared, problem in scan_rows(merge):
        if problem is not None:
            report.problems.append(problem)
            continue
        report.sendable.append(number)
        report.recipients += len(prepared.recipients)
    log.info("Checked merge %r: %d rows, %d sendable, %d problems", merge.name, report.total_rows,
             len(report.sendable), len(report.problems))
    return report


def scan_rows(merge, last: int | None = None):
    """Yield ``(row number, PreparedRow or None, Problem or None)`` for each row, up to row ``last`` if given.

    Both ``check`` and ``preview --out`` use it, so they agree on which rows are errors: a row whose
    recipient is already in an earlier row is a ``duplicate`` problem.
    """
    joined = merge.table.joined_rows
    with _FirstRows() as first_rows:
        for row in merge.rows:
            if last is not None and row.number > last:
                break
            # After a record that a quote joined over several lines, row N is no longer line N + 1: name the line.
            line = row.line if joined and row.number > joined[0] else None
            try:
                prepared = merge.prepare(row)
            except SuppressedError as error:
                yield row.number, None, Problem(error.row, error.column, "suppressed", error.message, line)
                continue
            except RowError as error:
                yield row.number, None, Problem(error.row, error.column, error.kind, error.message, line)
                continue
            duplicates = _duplicates(prepared.recipients, row.number, first_rows)
            if duplicates:
                yield row.number, None, Problem(row.number, merge.address_column, "duplicate", duplicates, line)
                continue
            yield row.number, prepared, None


class _FirstRows:
    """The first row of each recipient address seen so far, kept in a temporary file, not in memory.

    SQLite keeps the table in a private temporary file with a small page cache, so a list of a million
    recipients is checked for repeats in the same memory as a list of ten.
    """

    def __enter__(self) -> _FirstRows:
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.execute("PRAGMA cache_size = -1024")
        self._db.execute("CREATE TABLE first_rows (address TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._db.close()

    def setdefault(self, address: str, row: int) -> int:
        """Record ``row`` for ``address`` unless an earlier row has it; return the first row that has it."""
        if self._db.execute("INSERT OR IGNORE INTO first_rows VALUES (?, ?)", (address, row)).rowcount:
            return row
        return self._db.execute("SELECT row FROM first_rows WHERE address = ?", (address,)).fetchone()[0]


def _duplicates(recipients: list[str], row: int, first_row_of: _FirstRows) -> str:
    """Record the row's recipients; return a message naming the earlier rows that have one of them already."""
    repeats = []
    for address in recipients:
        earlier = first_row_of.setdefault(address.lower(), row)
        if earlier != row:
            repeats.append(f"{address} is also in row {earlier}")
    if not repeats:
        return ""
    return "; ".join(repeats) + "; remove the repeated row, or the recipient gets the message twice."
