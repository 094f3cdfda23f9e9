"""Errors of mail merge preparation: a whole merge that cannot be used, or one row that cannot be rendered."""

from __future__ import annotations


class MergeError(Exception):
    """The template or the data file cannot be used at all.

    The message names the file, the line, row or column where that applies,
    and the fix.
    """


class RowError(MergeError):
    """One data row cannot be rendered into a message; the other rows are not affected.

    Attributes:
        row: The 1-based data row (1 is the first recipient after the header).
        column: The data column or template header involved, or None when
            no single one is to blame.
        message: What is wrong and how to fix it.
        kind: The sort of problem, for reports: ``address``, ``attachment``,
            ``header``, ``template``, ``data`` or ``suppressed``.
    """

    def __init__(self, row: int, column: str | None, message: str, *, kind: str = "template") -> None:
        self.row = row
        self.column = column
        self.message = message
        self.kind = kind
        super().__init__(self.describe())

    def describe(self) -> str:
        """Return the error as one line: ``row 3, column 'email': message``."""
        where = f"row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class SuppressedError(RowError):
    """The row's recipient is on the profile's suppression list, so the row is skipped rather than sent.

    Attributes:
        addresses: The suppressed envelope recipients of the row.
    """

    def __init__(self, row: int, column: str | None, addresses: list[str]) -> None:
        self.addresses = addresses
        verb = "is" if len(addresses) == 1 else "are"
        super().__init__(row, column, f"{', '.join(addresses)} {verb} on the suppression list "
                         "(unsubscribed or bounced); the row is skipped.", kind="suppressed")
