"""Table models of the merge composer: the check report's problems and the final send report."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from desktop.merge.check import Problem
from desktop.merge.journal import RecipientRecord

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex
_Item = TypeVar("_Item")


class _RowTableModel(QAbstractTableModel, Generic[_Item]):
    """A flat table with one item per row under the column titles ``_titles``. Subclasses implement ``data``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[_Item] = []
        self._titles: tuple[str, ...] = ()

    def _set_items(self, items: Sequence[_Item]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def _item_at(self, index: _Index) -> _Item | None:
        """Return the item of ``index``'s row, or None for an invalid index or a row out of range."""
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        return self._items[index.row()]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._titles)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._titles):
            return self._titles[section]
        return None


class ProblemModel(_RowTableModel[Problem]):
    """The problems of a merge check, one per table row: data row, column, problem.

    ``Qt.UserRole`` on any cell returns the problem's data row number, so a view can jump to it.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._titles = (self.tr("Row"), self.tr("Column"), self.tr("Problem"))

    def set_problems(self, problems: Sequence[Problem]) -> None:
        self._set_items(problems)

    def problem(self, row: int) -> Problem:
        return self._items[row]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        problem = self._item_at(index)
        if problem is None:
            return None
        if role == Qt.ItemDataRole.UserRole:
            return problem.row
        if role == Qt.ItemDataRole.ToolTipRole:
            return problem.describe()
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if index.column() == 0:
            return str(problem.row)
        if index.column() == 1:
            return problem.column or ""
        prefix = "" if problem.is_error else self.tr("skipped: ")
        return prefix + problem.message


class ReportModel(_RowTableModel[RecipientRecord]):
    """The journal's recipient rows of one merge: row, address, state, Message-ID, server reply."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._titles = (self.tr("Row"), self.tr("Address"), self.tr("State"), self.tr("Message-ID"),
                        self.tr("Server reply"))

    def set_records(self, records: Sequence[RecipientRecord]) -> None:
        self._set_items(records)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        record = self._item_at(index)
        if record is None:
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        values = (str(record.row), record.address, record.state, record.message_id, record.reply)
        return values[index.column()] if 0 <= index.column() < len(values) else None
